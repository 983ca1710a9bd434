/**
 * Runtime-owned timers. Callback code never hands the runtime a closure to run later:
 * it names a message, and the message is delivered when the timer fires, so the code that
 * handles it is whatever version the process runs at that moment (see README: stale funs).
 * Because a timer is only (due time, destination, message), a process that moves to
 * another runtime takes its timers along (move.ts).
 */
import type { TimerRef } from './behaviour.ts';
import type { Clock } from './clock.ts';
import type { Kernel } from './kernel.ts';
import { type Pid, pidNode } from './pid.ts';
import type { Process } from './process.ts';

interface Timer {
  handle: unknown;
  /** The destination process's timer set while it holds the ref (null: a name or another node's pid). */
  owner: Set<TimerRef> | null;
  due: number;
  to: Pid | string;
  message: unknown;
}

/** A running timer of a process, as a process image carries it. */
export interface TimerImage {
  readonly ref: TimerRef;
  /** Time left on the runtime's clock when it was taken. */
  readonly ms: number;
  readonly message: unknown;
}

export class Timers {
  readonly #k: Kernel;
  readonly #clock: Clock;
  #seq: number;
  #active = new Map<TimerRef, Timer>();

  constructor(kernel: Kernel, firstRef: number) {
    this.#k = kernel;
    this.#clock = kernel.clock;
    this.#seq = firstRef - 1;
  }

  /** The last ref issued. */
  get lastRef(): number {
    return this.#seq;
  }

  /** Deliver `message` to `to` as an info message after `ms`. Cancelled if `to` ends first. */
  sendAfter(ms: number, message: unknown, to: Pid | string): TimerRef {
    const k = this.#k;
    const isPidString = to.charCodeAt(0) === 60; /* < */
    const dest = isPidString ? k.table.get(to as Pid) : undefined;
    // A local pid that has already ended: the timer is cancelled at once, as in OTP. One that
    // a move holds or took elsewhere is not ended: the timer fires here and follows it.
    if (isPidString && dest === undefined && pidNode(to as Pid) === k.node && !k.move.reaches(to as Pid))
      return this.spent();
    return this.#arm(++this.#seq, ms, to, message, dest === undefined ? null : dest.timerSet());
  }

  /**
   * Start timer `ref`. `owner` (the destination process's timer set) holds the ref while the
   * timer runs: it is removed when the timer fires or is cancelled, so the set never grows.
   */
  #arm(ref: TimerRef, ms: number, to: Pid | string, message: unknown, owner: Set<TimerRef> | null): TimerRef {
    const handle = this.#clock.setTimeout(() => this.#fire(ref), ms);
    this.#active.set(ref, { handle, owner, due: this.#clock.now() + ms, to, message });
    owner?.add(ref);
    return ref;
  }

  #fire(ref: TimerRef): void {
    const timer = this.#active.get(ref);
    if (timer === undefined) return;
    this.#active.delete(ref);
    timer.owner?.delete(ref);
    try {
      this.#k.dispatch.deliver(timer.to, 'info', timer.message);
    } catch {
      // A name nobody holds any more when the timer fires: dropped, as in OTP.
    }
  }

  /** A ref that names no running timer: for a timer cancelled before it starts. */
  spent(): TimerRef {
    return ++this.#seq;
  }

  cancel(ref: TimerRef): boolean {
    const timer = this.#active.get(ref);
    if (timer === undefined) return false;
    this.#clock.clearTimeout(timer.handle);
    this.#active.delete(ref);
    timer.owner?.delete(ref);
    return true;
  }

  /** Stop the timers running for `p` and say what each had left: `p` is moving. */
  take(p: Process): TimerImage[] {
    const images: TimerImage[] = [];
    if (p.timers === null) return images;
    const now = this.#clock.now();
    for (const ref of [...p.timers]) {
      const timer = this.#active.get(ref) as Timer;
      images.push({ ref, ms: Math.max(0, timer.due - now), message: timer.message });
      this.cancel(ref);
    }
    return images;
  }

  /** Run a timer of `p` again under its own ref, so that `cancelTimer(ref)` still finds it. */
  rearm(p: Process, timer: TimerImage, ms: number): void {
    this.#arm(timer.ref, ms, p.self, timer.message, p.timerSet());
  }

  get active(): number {
    return this.#active.size;
  }
}
