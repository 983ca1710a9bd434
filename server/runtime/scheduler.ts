/**
 * Fair scheduling of many processes on one event loop. Runnable processes wait in a FIFO
 * run queue; each turn handles a bounded number of one process's messages, then the
 * process goes to the back if it has more. A slice runs turns until its time budget is spent and then yields
 * through setImmediate, so sockets and timers are serviced between slices however many
 * messages are waiting.
 */
import { performance } from 'node:perf_hooks';
import { Fifo } from './fifo.ts';

export interface Schedulable {
  queued: boolean;
}

/** Check the time every this many messages: performance.now() is cheap, not free. */
const MESSAGES_PER_CLOCK_CHECK = 16;

export class Scheduler<P extends Schedulable> {
  #queue = new Fifo<P>();
  #scheduled = false;
  #idleWaiters: (() => void)[] = [];
  /** Longest slice so far, in ms: what the event loop waited on us at most. */
  maxSliceMs = 0;
  slices = 0;

  constructor(
    /** Runs one turn of `p`; returns how many messages it handled. */
    private readonly turn: (p: P) => number,
    private readonly sliceMs: number,
    /** Runs once a slice has run its turns. */
    private readonly sliceDone: () => void = () => {},
  ) {}

  enqueue(p: P): void {
    if (p.queued) return;
    p.queued = true;
    this.#queue.push(p);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  get runnable(): number {
    return this.#queue.length;
  }

  /** Whether the last slice ran out of time with processes still runnable: messages are waiting. */
  behind = false;

  /** Resolves once the run queue is empty (async callbacks may still be in flight). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && !this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #run = (): void => {
    this.#scheduled = false;
    const start = performance.now();
    const deadline = start + this.sliceMs;
    let handled = 0;
    let nextCheck = MESSAGES_PER_CLOCK_CHECK;
    for (let p = this.#queue.shift(); p !== undefined; p = this.#queue.shift()) {
      p.queued = false;
      handled += this.turn(p);
      if (handled >= nextCheck) {
        nextCheck = handled + MESSAGES_PER_CLOCK_CHECK;
        if (performance.now() >= deadline) break;
      }
    }
    this.sliceDone();
    this.behind = this.#queue.length > 0;
    const took = performance.now() - start;
    if (took > this.maxSliceMs) this.maxSliceMs = took;
    this.slices++;
    if (this.#queue.length > 0) {
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#run);
      }
    } else if (this.#idleWaiters.length > 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  };
}
