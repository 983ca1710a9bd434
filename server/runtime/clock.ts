/**
 * The runtime never reads time or sets timers directly: it goes through a Clock, so tests
 * can replace it with a SimulatedClock and move time by hand (as XState's simulated clock).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers overflow past 2^31-1 ms (about 24.8 days) and fire at once; chain instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const handle: { timer?: NodeJS.Timeout } = {};
    const arm = (left: number) => {
      const step = Math.min(left, MAX_TIMER_MS);
      handle.timer = setTimeout(() => (left > step ? arm(left - step) : fn()), step);
      // A pending runtime timer must not keep a stopping process alive.
      handle.timer.unref();
    };
    arm(ms);
    return handle;
  },
  clearTimeout: (handle) => clearTimeout((handle as { timer?: NodeJS.Timeout }).timer),
};

interface SimTimer {
  id: number;
  due: number;
  fn: () => void;
}

/** A clock whose time moves only when `advance` is called. Timers fire in due order. */
export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: SimTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: ++this.#seq, due: this.#now + Math.max(0, ms), fn };
    // Keep due order stable for equal due times: insert after the last timer due no later.
    let i = this.#timers.length;
    while (i > 0 && (this.#timers[i - 1] as SimTimer).due > timer.due) i--;
    this.#timers.splice(i, 0, timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    const i = this.#timers.findIndex((t) => t.id === handle);
    if (i >= 0) this.#timers.splice(i, 1);
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`time only moves forward (advance(${ms}))`);
    const end = this.#now + ms;
    for (;;) {
      const next = this.#timers[0];
      if (!next || next.due > end) break;
      this.#timers.shift();
      this.#now = next.due;
      next.fn();
    }
    this.#now = end;
  }

  get pending(): number {
    return this.#timers.length;
  }
}
