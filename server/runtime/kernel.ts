/**
 * The kernel's parts, put together. Each part owns one concern and reaches the others
 * through this object; `Runtime` is the facade over it. Nothing here loads a behaviour:
 * the supervisors come in by the boot step (boot.ts).
 */
import { type Clock, systemClock } from './clock.ts';
import { Dispatch } from './dispatch.ts';
import { RuntimeEvents } from './events.ts';
import { Links } from './links.ts';
import { ModuleTable } from './module-table.ts';
import { PendingCalls } from './pending-calls.ts';
import { ProcessTable } from './process-table.ts';
import { Registry } from './registry.ts';
import { Remote } from './remote.ts';
import { RunningRecord } from './running.ts';
import { Timers } from './timers.ts';

export interface RuntimeOptions {
  /** Node name, part of every pid. */
  node?: string;
  clock?: Clock;
  /** Time budget of one scheduler slice before yielding to I/O. */
  sliceMs?: number;
  /** Check that state survives structuredClone after init and every callback (tests turn it on). */
  checkState?: boolean;
  /** Default call timeout, as gen_server's 5 s. */
  callTimeoutMs?: number;
  /** Told how long each message of one module took to handle (its synchronous part), for metrics. */
  turnObserver?: { module: string; observe(ms: number, version: string): void };
}

export class Kernel {
  readonly node: string;
  readonly clock: Clock;
  readonly checkState: boolean;
  readonly callTimeoutMs: number;
  readonly events = new RuntimeEvents();
  readonly modules = new ModuleTable();
  readonly registry = new Registry();
  readonly timers: Timers;
  readonly table: ProcessTable;
  readonly dispatch: Dispatch;
  readonly links: Links;
  readonly calls: PendingCalls;
  readonly remote: Remote;
  /** The callback running now, readable from another thread (running.ts). */
  readonly running: RunningRecord;
  #nextRef = 0;

  constructor(options: RuntimeOptions) {
    this.node = options.node ?? 'nonode';
    this.clock = options.clock ?? systemClock;
    this.checkState = options.checkState ?? false;
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
    // The parts keep this object and reach each other through it once all exist; the
    // dispatch loop, made last, keeps the parts it uses for every message itself.
    this.timers = new Timers(this);
    this.table = new ProcessTable(this);
    this.links = new Links(this);
    this.calls = new PendingCalls(this);
    this.remote = new Remote(this);
    this.running = new RunningRecord(this.node);
    this.dispatch = new Dispatch(this, options.sliceMs ?? 4, options.turnObserver);
  }

  /** Refs of calls and monitors, from one sequence. */
  nextRef(): number {
    return ++this.#nextRef;
  }
}
