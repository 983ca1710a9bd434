/**
 * Runtime-owned timers. Callback code never hands the runtime a closure to run later:
 * it names a message, and the message is delivered when the timer fires, so the code that
 * handles it is whatever version the process runs at that moment (see README: stale funs).
 */
import type { TimerRef } from './behaviour.ts';
import type { Clock } from './clock.ts';

export class Timers {
  #seq = 0;
  #active = new Map<TimerRef, { handle: unknown; owner: Set<TimerRef> | null }>();

  constructor(private readonly clock: Clock) {}

  /**
   * Start a timer. `owner` (the destination process's timer set) holds the ref while the
   * timer runs: it is removed when the timer fires or is cancelled, so the set never grows.
   */
  start(ms: number, fire: (ref: TimerRef) => void, owner: Set<TimerRef> | null = null): TimerRef {
    const ref = ++this.#seq;
    const handle = this.clock.setTimeout(() => {
      const entry = this.#active.get(ref);
      if (entry === undefined) return;
      this.#active.delete(ref);
      entry.owner?.delete(ref);
      fire(ref);
    }, ms);
    this.#active.set(ref, { handle, owner });
    owner?.add(ref);
    return ref;
  }

  /** A ref that names no running timer: for a timer cancelled before it starts. */
  spent(): TimerRef {
    return ++this.#seq;
  }

  cancel(ref: TimerRef): boolean {
    const entry = this.#active.get(ref);
    if (entry === undefined) return false;
    this.clock.clearTimeout(entry.handle);
    this.#active.delete(ref);
    entry.owner?.delete(ref);
    return true;
  }

  get active(): number {
    return this.#active.size;
  }
}
