/**
 * Runtime-owned timers. Callback code never hands the runtime a closure to run later:
 * it names a message, and the message is delivered when the timer fires, so the code that
 * handles it is whatever version the process runs at that moment (see README: stale funs).
 */
import type { TimerRef } from './behaviour.ts';
import type { Clock } from './clock.ts';

export class Timers {
  #seq = 0;
  #active = new Map<TimerRef, unknown>();

  constructor(private readonly clock: Clock) {}

  start(ms: number, fire: (ref: TimerRef) => void): TimerRef {
    const ref = ++this.#seq;
    const handle = this.clock.setTimeout(() => {
      if (this.#active.delete(ref)) fire(ref);
    }, ms);
    this.#active.set(ref, handle);
    return ref;
  }

  cancel(ref: TimerRef): boolean {
    const handle = this.#active.get(ref);
    if (handle === undefined) return false;
    this.clock.clearTimeout(handle);
    this.#active.delete(ref);
    return true;
  }

  get active(): number {
    return this.#active.size;
  }
}
