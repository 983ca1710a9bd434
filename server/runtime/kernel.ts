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
import { Move } from './move.ts';
import { PendingCalls } from './pending-calls.ts';
import { ProcessTable } from './process-table.ts';
import { Registry } from './registry.ts';
import { Remote } from './remote.ts';
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
  /**
   * The id of the first pid spawned (1 by default). A successor that takes over this node's
   * processes starts far above its predecessor's `rt.move.nextIds()`, so no pid is issued twice.
   */
  firstPid?: number;
  /** The first ref of calls, monitors and timers, for the same reason (1 by default). */
  firstRef?: number;
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
  readonly move: Move;
  #nextRef: number;

  constructor(options: RuntimeOptions) {
    this.node = options.node ?? 'nonode';
    this.clock = options.clock ?? systemClock;
    this.checkState = options.checkState ?? false;
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
    this.#nextRef = (options.firstRef ?? 1) - 1;
    // The parts keep this object and reach each other through it once all exist; the
    // dispatch loop, made last, keeps the parts it uses for every message itself.
    this.timers = new Timers(this, options.firstRef ?? 1);
    this.table = new ProcessTable(this, options.firstPid ?? 1);
    this.links = new Links(this);
    this.calls = new PendingCalls(this);
    this.remote = new Remote(this);
    this.move = new Move(this);
    this.dispatch = new Dispatch(this, options.sliceMs ?? 4, options.turnObserver);
  }

  /** Refs of calls and monitors, from one sequence. */
  nextRef(): number {
    return ++this.#nextRef;
  }

  /** The ids this runtime would issue next: a successor starts above them (RuntimeOptions.firstPid). */
  nextIds(): { pid: number; ref: number } {
    return { pid: this.table.nextId, ref: Math.max(this.#nextRef, this.timers.lastRef) + 1 };
  }
}
