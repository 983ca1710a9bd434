/** Read-only views of a runtime for the admin API and the observer. */
import type { ProcessStatus } from './behaviour.ts';
import type { Pid } from './pid.ts';
import type { Process } from './process.ts';
import type { Runtime } from './runtime.ts';

export interface ProcessInfo {
  pid: Pid;
  name: string | undefined;
  module: string;
  version: string;
  status: ProcessStatus;
  mailbox: number;
  handled: number;
  parent: Pid | undefined;
  links: number;
  monitors: number;
  timers: number;
  trapExit: boolean;
}

export function processInfo(p: Process): ProcessInfo {
  return {
    pid: p.self,
    name: p.name,
    module: p.behaviour.name,
    version: p.behaviour.version,
    status: p.status,
    mailbox: p.mailboxLength,
    handled: p.handled,
    parent: p.parent,
    links: p.links?.size ?? 0,
    monitors: p.watchers?.size ?? 0,
    timers: p.timers?.size ?? 0,
    trapExit: p.trapExits,
  };
}

export function listProcesses(rt: Runtime, filter?: (info: ProcessInfo) => boolean): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const p of rt.processes()) {
    const info = processInfo(p);
    if (!filter || filter(info)) out.push(info);
  }
  return out;
}

/** The processes with the longest mailboxes: where a node is falling behind. */
export function longestMailboxes(rt: Runtime, limit: number): ProcessInfo[] {
  const top: Process[] = [];
  for (const p of rt.processes()) {
    if (p.mailboxLength === 0) continue;
    top.push(p);
    if (top.length > limit * 4) {
      top.sort((a, b) => b.mailboxLength - a.mailboxLength);
      top.length = limit;
    }
  }
  return top
    .sort((a, b) => b.mailboxLength - a.mailboxLength)
    .slice(0, limit)
    .map(processInfo);
}

export interface TreeNode {
  pid: Pid;
  name: string | undefined;
  module: string;
  version: string;
  status: ProcessStatus;
  children: TreeNode[];
  /** Children not listed (over maxChildren), counted by module@version. */
  more?: Record<string, number>;
}

/**
 * The process tree by parent (supervision tree, plus processes spawned by others).
 * A supervisor of 100,000 sessions lists `maxChildren` of them and counts the rest.
 */
export function supervisionTree(rt: Runtime, options: { maxChildren?: number } = {}): TreeNode[] {
  const maxChildren = options.maxChildren ?? 50;
  const byParent = new Map<Pid | undefined, Process[]>();
  for (const p of rt.processes()) {
    const parent = p.parent !== undefined && rt.isAlive(p.parent) ? p.parent : undefined;
    let list = byParent.get(parent);
    if (list === undefined) {
      list = [];
      byParent.set(parent, list);
    }
    list.push(p);
  }
  const build = (p: Process): TreeNode => {
    const kids = byParent.get(p.self) ?? [];
    const node: TreeNode = {
      pid: p.self,
      name: p.name,
      module: p.behaviour.name,
      version: p.behaviour.version,
      status: p.status,
      children: kids.slice(0, maxChildren).map(build),
    };
    if (kids.length > maxChildren) {
      const more: Record<string, number> = {};
      for (const k of kids.slice(maxChildren)) {
        const key = `${k.behaviour.name}@${k.behaviour.version}`;
        more[key] = (more[key] ?? 0) + 1;
      }
      node.more = more;
    }
    return node;
  };
  return (byParent.get(undefined) ?? []).map(build);
}
