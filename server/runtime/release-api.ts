/**
 * What the release layer may do to a running node, and nothing more (OTP's release_handler
 * talks to `sys` and the code server only): find the processes running some code, suspend
 * them in batches at a message boundary, change their code, resume them, snapshot a state
 * for a dry run, load modules, guard new code, and hear of the events a probation watch
 * needs. Pids and behaviour objects go out; no Process does.
 */
import { performance } from 'node:perf_hooks';
import type { AnyBehaviour } from './behaviour.ts';
import type { Clock } from './clock.ts';
import type { RuntimeEventMap } from './events.ts';
import type { Kernel } from './kernel.ts';
import type { ModuleVersionInfo } from './module-table.ts';
import type { Pid } from './pid.ts';
import type { ProcessView } from './process-view.ts';
import type { CrashGuard } from './runtime.ts';
import type { ChangeCodeOptions, Sys } from './sys.ts';

/** What a batch suspend did with each pid it was given (dead ones and others' code are left out). */
export interface SuspendedBatch {
  /** Suspended by this call at a message boundary: the caller resumes them. */
  suspended: Pid[];
  /** Inside a callback (or exiting): not suspended. Try again, or wait with `suspendAtBoundary`. */
  busy: Pid[];
  /** Suspended already by someone else (the crash guard, a `sys` user): left to whoever did it. */
  held: Pid[];
}

/** The events a probation watch hears of. */
export type WatchedEvent = 'spawn' | 'exit' | 'error_report';

/** Processes checked between two looks at the time in a scan (a look costs more than a check). */
const SCAN_CHECK_EVERY = 256;

/**
 * The pids of the live processes running some code, gathered in steps the caller paces: one
 * pass over 100,000 processes takes 15-25 ms. The table is a Map, so a step sees the
 * processes added while the caller yielded, in spawn order.
 */
export class ProcessScan {
  readonly pids: Pid[] = [];
  readonly #it: IterableIterator<ProcessView>;
  readonly #code: ReadonlySet<AnyBehaviour>;

  constructor(it: IterableIterator<ProcessView>, code: ReadonlySet<AnyBehaviour>) {
    this.#it = it;
    this.#code = code;
  }

  /** Scan on for at most about `sliceMs`; true once every process has been seen. */
  step(sliceMs: number): boolean {
    const t0 = performance.now();
    let n = 0;
    for (let r = this.#it.next(); r.done !== true; r = this.#it.next()) {
      const p = r.value;
      if (!p.dead && this.#code.has(p.behaviour)) this.pids.push(p.self);
      if (++n % SCAN_CHECK_EVERY === 0 && performance.now() - t0 >= sliceMs) return false;
    }
    return true;
  }
}

export class ReleaseApi {
  readonly #k: Kernel;
  readonly #sys: Sys;

  constructor(k: Kernel, sys: Sys) {
    this.#k = k;
    this.#sys = sys;
  }

  get clock(): Clock {
    return this.#k.clock;
  }

  /** The scheduler's last slice ran out of time with processes still runnable: traffic is waiting. */
  get behind(): boolean {
    return this.#k.dispatch.scheduler.behind;
  }

  /** A scan of the process table for the processes running one of `code`'s behaviour objects. */
  scan(code: ReadonlySet<AnyBehaviour>): ProcessScan {
    return new ProcessScan(this.#k.table.values(), code);
  }

  /** The code a live process runs, or undefined when it is gone. */
  codeOf(pid: Pid): AnyBehaviour | undefined {
    const p = this.#k.table.get(pid);
    return p === undefined || p.dead ? undefined : p.behaviour;
  }

  /** A structured clone of a live process's state and the code it runs, for a dry run; undefined when it is gone. */
  snapshot(pid: Pid): { code: AnyBehaviour; state: unknown } | undefined {
    const p = this.#k.table.get(pid);
    if (p === undefined || p.dead) return undefined;
    return { code: p.behaviour, state: structuredClone(p.state) };
  }

  /** Processes running exactly this behaviour object. */
  count(code: AnyBehaviour): number {
    return this.#k.modules.count(code);
  }

  /** Every version that is current or still runs somewhere. */
  versions(): ModuleVersionInfo[] {
    return this.#k.modules.versions();
  }

  /** Make these the code new processes of their names start on. */
  load(code: Iterable<AnyBehaviour>): void {
    for (const b of code) this.#k.modules.load(b);
  }

  /**
   * Suspend, at a message boundary, each live process of `pids` that runs one of `code`'s
   * behaviour objects. None waits: one inside a callback is reported busy.
   */
  suspend(pids: readonly Pid[], code: ReadonlySet<AnyBehaviour>): SuspendedBatch {
    const batch: SuspendedBatch = { suspended: [], busy: [], held: [] };
    for (const pid of pids) {
      const p = this.#k.table.get(pid);
      if (p === undefined || p.dead || !code.has(p.behaviour)) continue;
      if (p.suspended) batch.held.push(pid);
      else if (this.#sys.trySuspend(pid)) batch.suspended.push(pid);
      else batch.busy.push(pid);
    }
    return batch;
  }

  /** Suspend one process at its next message boundary, waiting at most `timeoutMs` on the runtime's clock. */
  suspendAtBoundary(pid: Pid, timeoutMs: number): Promise<void> {
    return this.#sys.suspend(pid, timeoutMs);
  }

  /**
   * Move each suspended process of `pids` to where `moves` sends the code it runs (processes
   * on code `moves` does not name are left alone). One whose change throws keeps its code and
   * state, and is told to `failed`. Returns how many moved.
   */
  changeCode(
    pids: readonly Pid[],
    moves: ReadonlyMap<AnyBehaviour, ChangeCodeOptions>,
    failed: (pid: Pid, module: string, error: unknown) => void,
  ): number {
    let moved = 0;
    for (const pid of pids) {
      const p = this.#k.table.get(pid);
      if (p === undefined || p.dead) continue;
      const move = moves.get(p.behaviour);
      if (move === undefined) continue;
      try {
        this.#sys.changeCode(pid, move);
        moved++;
      } catch (err) {
        failed(pid, p.behaviour.name, err);
      }
    }
    return moved;
  }

  /** Resume the live processes of `pids` that are suspended. */
  resume(pids: Iterable<Pid>): void {
    for (const pid of pids) {
      const p = this.#k.table.get(pid);
      if (p !== undefined && !p.dead && p.suspended) this.#sys.resume(pid);
    }
  }

  /** Guard the code `guard` covers (one guard at a time: this one replaces any other). */
  setGuard(guard: CrashGuard): void {
    this.#k.dispatch.guard = guard;
  }

  /** Take `guard` off, unless another has replaced it. */
  clearGuard(guard: CrashGuard): void {
    if (this.#k.dispatch.guard === guard) this.#k.dispatch.guard = undefined;
  }

  /** Whether `guard` is the one guarding. */
  guarding(guard: CrashGuard): boolean {
    return this.#k.dispatch.guard === guard;
  }

  /** Subscribe to one of the events a watch needs; returns the function that unsubscribes. */
  on<K extends WatchedEvent>(type: K, listener: (event: RuntimeEventMap[K]) => void): () => void {
    return this.#k.events.on(type, listener);
  }
}
