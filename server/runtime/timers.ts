/**
 * Runtime-owned timers. Callback code never hands the runtime a closure to run later:
 * it names a message, and the message is delivered when the timer fires, so the code that
 * handles it is whatever version the process runs at that moment (see README: stale funs).
 */
import type { TimerRef } from './behaviour.ts';
import type { Clock } from './clock.ts';
import type { Kernel } from './kernel.ts';
import { type Pid, pidNode } from './pid.ts';

export class Timers {
  readonly #k: Kernel;
  readonly #clock: Clock;
  #seq = 0;
  #active = new Map<TimerRef, { handle: unknown; owner: Set<TimerRef> | null }>();

  constructor(kernel: Kernel) {
    this.#k = kernel;
    this.#clock = kernel.clock;
  }

  /** Deliver `message` to `to` as an info message after `ms`. Cancelled if `to` ends first. */
  sendAfter(ms: number, message: unknown, to: Pid | string): TimerRef {
    const k = this.#k;
    const isPidString = to.charCodeAt(0) === 60; /* < */
    const dest = isPidString ? k.table.get(to as Pid) : undefined;
    // A local pid that has already ended: the timer is cancelled at once, as in OTP.
    if (isPidString && dest === undefined && pidNode(to as Pid) === k.node) return this.spent();
    return this.start(
      ms,
      () => {
        try {
          k.dispatch.deliver(to, 'info', message);
        } catch {
          // A name nobody holds any more when the timer fires: dropped, as in OTP.
        }
      },
      dest === undefined ? null : dest.timerSet(),
    );
  }

  /**
   * Start a timer. `owner` (the destination process's timer set) holds the ref while the
   * timer runs: it is removed when the timer fires or is cancelled, so the set never grows.
   */
  start(ms: number, fire: (ref: TimerRef) => void, owner: Set<TimerRef> | null = null): TimerRef {
    const ref = ++this.#seq;
    const handle = this.#clock.setTimeout(() => {
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
    this.#clock.clearTimeout(entry.handle);
    this.#active.delete(ref);
    entry.owner?.delete(ref);
    return true;
  }

  get active(): number {
    return this.#active.size;
  }
}
