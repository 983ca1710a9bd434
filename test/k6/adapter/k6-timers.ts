/** `k6/timers`: Node's timers, held open in the VU so an iteration ends only when they are done. */
import { callback, vu } from './vu-context.ts';

type Fn = (...args: unknown[]) => unknown;

const live = new Map<number, { handle: NodeJS.Timeout; release: () => void; interval: boolean }>();
let nextId = 1;

export function setTimeout(fn: Fn, delay = 0, ...args: unknown[]): number {
  const id = nextId++;
  const release = vu.hold(`setTimeout #${id}`);
  const handle = globalThis.setTimeout(() => {
    live.delete(id);
    callback('setTimeout', fn, ...args);
    release();
  }, delay);
  live.set(id, { handle, release, interval: false });
  return id;
}

export function setInterval(fn: Fn, delay = 0, ...args: unknown[]): number {
  const id = nextId++;
  const release = vu.hold(`setInterval #${id}`);
  const handle = globalThis.setInterval(() => callback('setInterval', fn, ...args), delay);
  live.set(id, { handle, release, interval: true });
  return id;
}

function clear(id: number | undefined): void {
  if (id === undefined) return;
  const t = live.get(id);
  if (t === undefined) return;
  live.delete(id);
  if (t.interval) globalThis.clearInterval(t.handle);
  else globalThis.clearTimeout(t.handle);
  t.release();
}

export const clearTimeout = clear;
export const clearInterval = clear;

export default { setTimeout, setInterval, clearTimeout, clearInterval };
