/**
 * The state of the one VU a worker thread runs: what k6 keeps per VU (its id, iteration,
 * tags), the samples its metrics recorded, and what its event loop still waits on (sockets,
 * timers), since k6 ends an iteration only when those are done.
 */
import type { MetricDecl, MetricType, Sample } from './wire.ts';

/** The metrics k6 itself records, which thresholds may name. */
const BUILTIN: [string, MetricType, MetricDecl['contains']][] = [
  ['checks', 'rate', 'default'],
  ['iterations', 'counter', 'default'],
  ['iteration_duration', 'trend', 'time'],
  ['vus', 'gauge', 'default'],
  ['http_reqs', 'counter', 'default'],
  ['http_req_duration', 'trend', 'time'],
  ['http_req_failed', 'rate', 'default'],
  ['ws_sessions', 'counter', 'default'],
  ['ws_connecting', 'trend', 'time'],
  ['ws_session_duration', 'trend', 'time'],
  ['ws_msgs_sent', 'counter', 'default'],
  ['ws_msgs_received', 'counter', 'default'],
];

export const BUILTIN_METRICS: readonly MetricDecl[] = BUILTIN.map(([name, type, contains]) => ({
  name,
  type,
  contains,
}));

const METRIC_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/;

class VuState {
  /** 'init' while the script's module code runs: k6 allows declaring metrics only then. */
  phase: 'init' | 'run' = 'init';
  id = 0;
  iter = 0;
  group = '';
  tags: Record<string, string> = {};
  readonly samples: Sample[] = [];
  readonly errors: string[] = [];
  readonly metrics = new Map<string, MetricDecl>(BUILTIN_METRICS.map((m) => [m.name, m]));
  readonly #pending = new Map<number, string>();
  #nextHold = 1;
  #waiters: (() => void)[] = [];

  declare(name: string, type: MetricType, isTime: boolean): void {
    if (this.phase !== 'init')
      throw new Error(`metric ${name}: metrics must be declared in the init context`);
    if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name '${name}'`);
    const had = this.metrics.get(name);
    if (had !== undefined && had.type !== type)
      throw new Error(`metric ${name} is already a ${had.type}, cannot redeclare it as a ${type}`);
    this.metrics.set(name, { name, type, contains: isTime ? 'time' : 'default' });
  }

  emit(metric: string, value: number | boolean, tags: Record<string, string> = {}): void {
    if (this.phase === 'init')
      throw new Error(`metric ${metric}: metrics cannot be added in the init context`);
    if (!this.metrics.has(metric)) throw new Error(`metric ${metric} was never declared`);
    const v = typeof value === 'boolean' ? Number(value) : value;
    if (!Number.isFinite(v)) throw new Error(`metric ${metric}: not a finite number: ${String(value)}`);
    const all = { ...this.tags, ...(this.group === '' ? {} : { group: this.group }), ...tags };
    this.samples.push({ metric, value: v, tags: all, time: Date.now() });
  }

  /** Something the iteration must wait for (an open socket, a pending timer); call the result when it is done. */
  hold(what: string): () => void {
    const id = this.#nextHold++;
    this.#pending.set(id, what);
    return () => {
      if (!this.#pending.delete(id) || this.#pending.size > 0) return;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    };
  }

  /** What the event loop still waits on, for an interrupted iteration's error. */
  pending(): string[] {
    return [...this.#pending.values()];
  }

  /** Resolves when nothing is pending: when k6 would end the iteration. */
  drained(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** An exception in an event handler or timer: k6 reports it and fails the iteration. */
  uncaught(where: string, err: unknown): void {
    this.errors.push(`VU ${this.id} iteration ${this.iter}: uncaught in ${where}: ${describe(err)}`);
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

export const vu = new VuState();

/** Run a callback the script registered, the way k6's event loop would: errors are the iteration's. */
export function callback<A extends unknown[]>(where: string, fn: (...args: A) => unknown, ...args: A): void {
  try {
    const r = fn(...args);
    if (r instanceof Promise) r.catch((err: unknown) => vu.uncaught(where, err));
  } catch (err) {
    vu.uncaught(where, err);
  }
}
