/**
 * A pid names its node as well as its process, `<42@nodeA>`, so that it can address a
 * process on another node once nodes are connected. It is a plain string on purpose:
 * pids live inside process state, which must survive structuredClone and JSON.
 */
import type { MessageMap } from './message-map.ts';

declare const protocolBrand: unique symbol;

/** `M` is a phantom type: it lets `call` and `cast` check messages at compile time. */
export type Pid<M extends MessageMap = MessageMap> = string & { readonly [protocolBrand]?: M };

export function formatPid(id: number, node: string): Pid {
  return `<${id}@${node}>` as Pid;
}

/** The number in a pid of this runtime's form (`42` in `<42@nodeA>`). */
export function pidSerial(pid: Pid): number {
  return Number(pid.slice(1, pid.indexOf('@')));
}

export function pidNode(pid: Pid): string | undefined {
  const at = pid.indexOf('@');
  if (pid.charCodeAt(0) !== 60 /* < */ || at < 0 || !pid.endsWith('>')) return undefined;
  return pid.slice(at + 1, -1);
}

export function isPid(value: unknown): value is Pid {
  return typeof value === 'string' && /^<\d+@[^>]+>$/.test(value);
}
