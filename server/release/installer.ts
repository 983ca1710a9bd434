/**
 * One install: moves live processes from one release to another without stopping them.
 *
 *   preflight  dry-run codeChange on a copy of every process's state; any failure aborts
 *              and nothing has changed
 *   commit     each process switches at a message boundary: suspended (its mailbox keeps
 *              queueing), migrated, resumed — in slices of a few ms, so no process waits
 *              and the event loop never stalls longer than a slice
 *   canary     (canary mode) only a fraction moves; promote moves the rest, rollback
 *              moves the fraction back
 *   watch      for a window after the commit, a crash on the new code is caught (state
 *              and message put back) and rolls every process back through codeChange
 *              `{ down }`, as do errors its processes report above a threshold; the node
 *              never restarts
 *
 * New processes start on the new code from the commit on. It knows nothing of calls.
 */
import { errorText, type HotlineError, hotlineError } from '../errors/catalogue.ts';
import {
  type AnyBehaviour,
  type ChangeCodeOptions,
  type CrashGuard,
  isAbnormal,
  migrate,
  type Pid,
  type Runtime,
} from '../runtime/index.ts';
import type { ReleaseModule } from './module.ts';

export type InstallMode = 'full' | 'canary';
export type InstallPhase =
  | 'preflight'
  | 'commit'
  | 'canary'
  | 'promote'
  | 'watch'
  | 'rolling_back'
  | 'installed'
  | 'aborted'
  | 'rolled_back';
export type InstallOutcome = 'installed' | 'aborted' | 'rolled_back';

export interface InstallOptions {
  mode: InstallMode;
  /** Canary mode: the share of live processes moved first (0..1). */
  canaryFraction: number;
  /** How long the new code is watched after the commit (or the promote). */
  watchMs: number;
  /** Crashes on the new code tolerated during the watch; one more rolls back. */
  maxCrashes: number;
  /**
   * Errors processes on the new code may report during the watch (`ctx.reportError`: a failure
   * they contained and answered, not a crash), however many processes run it; maxErrorRate adds to it.
   */
  maxErrors: number;
  /**
   * Errors tolerated on top of maxErrors per process that has run the new code in this install
   * (moved to it, or started on it), 0..1: the watch rolls back once
   * errors > maxErrors + maxErrorRate × those processes.
   */
  maxErrorRate: number;
  /** Longest synchronous stretch of work before yielding to I/O. */
  sliceMs: number;
}

export const defaultInstallOptions: InstallOptions = {
  mode: 'full',
  canaryFraction: 0.05,
  watchMs: 30_000,
  maxCrashes: 0,
  maxErrors: 0,
  maxErrorRate: 0,
  // Not the scheduler's 4 ms: its slice and ours run back to back in one turn of the event
  // loop (both yield through setImmediate), so a stall is their sum plus any GC pause.
  sliceMs: 2,
};

export interface ProcessFailure {
  pid: Pid;
  module: string;
  error: string;
}

export interface PhaseTiming {
  phase: InstallPhase;
  startedAt: number;
  ms: number | null;
}

export interface InstallProgress {
  id: string;
  from: string;
  to: string;
  direction: 'up' | 'down';
  mode: InstallMode;
  phase: InstallPhase;
  outcome: InstallOutcome | null;
  reason: string | null;
  /** Processes the install applies to, and how many moved so far. */
  total: number;
  moved: number;
  /** Processes per version of the modules this install changes. */
  processes: Record<string, number>;
  crashes: number;
  /** Errors processes on the new code reported during the watch. */
  errors: number;
  failures: ProcessFailure[];
  phases: PhaseTiming[];
  /** Longest synchronous slice of install work, ms. */
  longestSliceMs: number;
  startedAt: number;
  endedAt: number | null;
}

export interface InstallHooks {
  progress?(p: InstallProgress): void;
  phaseDone?(phase: InstallPhase, ms: number): void;
  codeChangeFailed?(failure: ProcessFailure): void;
}

/** At most this many failures are kept in a report; the count is exact. */
const REPORTED_FAILURES = 100;

const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Turns an install slice waits at most for a scheduler that is behind (see #yield). */
const TRAFFIC_FIRST_TURNS = 8;

/** Quick retries for a process inside an async callback, before waiting on its boundary. */
const QUICK_RETRIES = 3;
/** Preflight copies migrated by the commit's code and kept until the commit (see #preflight). */
const WARM_STATES = 16_384;
/** How long a move waits for a busy process's boundary (sys:suspend's default in OTP). */
const SUSPEND_TIMEOUT_MS = 5000;

/** A way from one release to another: its direction and the `extra` codeChange gets, per module. */
interface Path {
  direction: 'up' | 'down';
  extra: Map<string, unknown>;
}

/** The appup entry that allows moving `from` → `to`, or why none does. */
export function pathBetween(from: ReleaseModule, to: ReleaseModule): Path | HotlineError {
  const up = to.upgradeFrom.find((e) => e.version === from.version);
  const down = up === undefined ? from.downgradeTo.find((e) => e.version === to.version) : undefined;
  const entry = up ?? down;
  if (entry === undefined) return hotlineError('HOT_ERR_NO_UPGRADE_PATH', from.version, to.version);
  // Every module still moves here; only the entry's `migrate` changes carry an extra.
  const extra = new Map(entry.changes.map((c) => [c.module, c.action === 'migrate' ? c.extra : undefined]));
  return { direction: up === undefined ? 'down' : 'up', extra };
}

const byName = (r: ReleaseModule) => new Map(r.behaviours.map((b) => [b.name, b]));

export class Install {
  readonly progress: InstallProgress;
  readonly #rt: Runtime;
  readonly #to: ReleaseModule;
  readonly #options: InstallOptions;
  readonly #hooks: InstallHooks;
  readonly #forward: Path;
  readonly #back: Path;
  readonly #fromCode: Map<string, AnyBehaviour>;
  readonly #toCode: Map<string, AnyBehaviour>;
  readonly #dryFrom: Map<string, AnyBehaviour>;
  readonly #dryTo: Map<string, AnyBehaviour>;
  readonly #newCode: Set<AnyBehaviour>;
  #watchTimer: unknown = undefined;
  #unwatch: (() => void) | undefined;
  #rollingBack: Promise<void> | undefined;
  /** Processes the guard caught and holds suspended until the rollback moves them. */
  readonly #held = new Set<Pid>();
  /** Processes started on the new code since the commit began (maxErrorRate's share counts them). */
  #startedOnNew = 0;
  /** Migrated copies kept alive through the preflight, so V8 pretenures the commit's states. */
  #warm: unknown[] = [];
  #finished: (() => void) | undefined;
  /** Resolves when the install has an outcome. */
  readonly done: Promise<InstallProgress>;

  constructor(
    rt: Runtime,
    id: string,
    from: ReleaseModule,
    to: ReleaseModule,
    options: Partial<InstallOptions> = {},
    hooks: InstallHooks = {},
    /**
     * Separately loaded copies of both releases for the preflight's dry runs. Their object
     * literals are other allocation sites, so what V8 learns from the dry run (that its
     * states die young) does not stop it from allocating the commit's states, which all
     * survive, straight in the old generation: fewer survivors to copy, shorter GC pauses.
     * The preflight teaches the commit's sites the opposite on a sample (see #preflight).
     */
    dryRun: { from: ReleaseModule; to: ReleaseModule } = { from, to },
  ) {
    const forward = pathBetween(from, to);
    if (forward instanceof Error) throw forward;
    const back = pathBetween(to, from);
    if (back instanceof Error) throw back;
    this.#rt = rt;
    this.#to = to;
    this.#options = { ...defaultInstallOptions, ...options };
    this.#hooks = hooks;
    this.#forward = forward;
    this.#back = back;
    this.#fromCode = byName(from);
    this.#toCode = byName(to);
    this.#dryFrom = byName(dryRun.from);
    this.#dryTo = byName(dryRun.to);
    this.#newCode = new Set(to.behaviours);
    const now = Date.now();
    this.progress = {
      id,
      from: from.version,
      to: to.version,
      direction: forward.direction,
      mode: this.#options.mode,
      phase: 'preflight',
      outcome: null,
      reason: null,
      total: 0,
      moved: 0,
      processes: {},
      crashes: 0,
      errors: 0,
      failures: [],
      phases: [],
      longestSliceMs: 0,
      startedAt: now,
      endedAt: null,
    };
    this.done = new Promise((resolve) => {
      this.#finished = () => resolve(this.progress);
    });
  }

  /** Processes running the old release's code, by pid. */
  #targets(): Promise<Pid[]> {
    return this.#collect((b) => this.#fromCode.get(b.name) === b);
  }

  /**
   * Pids of the live processes whose code `on` picks. In slices like the rest: one pass over
   * 100,000 processes takes 15-25 ms. A Map iterator sees processes added while it yields.
   */
  async #collect(on: (b: AnyBehaviour) => boolean): Promise<Pid[]> {
    const out: Pid[] = [];
    const it = this.#rt.processes();
    for (;;) {
      const t0 = performance.now();
      let n = 0;
      for (let r = it.next(); ; r = it.next()) {
        if (r.done === true) {
          this.#sliceTook(t0);
          return out;
        }
        const p = r.value;
        if (!p.dead && on(p.behaviour)) out.push(p.self);
        if ((++n & 255) === 0 && performance.now() - t0 >= this.#options.sliceMs) break;
      }
      this.#sliceTook(t0);
      await this.#yield();
    }
  }

  /**
   * Yield to I/O and the scheduler, and go on yielding while the scheduler is behind:
   * messages to sessions come first. A few turns at most, so that an install still moves
   * on a node whose traffic alone keeps the scheduler busy.
   */
  async #yield(): Promise<void> {
    await yieldToIo();
    for (let i = 0; i < TRAFFIC_FIRST_TURNS && this.#rt.scheduler.behind; i++) await yieldToIo();
  }

  #sliceTook(t0: number): void {
    this.progress.longestSliceMs = Math.max(this.progress.longestSliceMs, performance.now() - t0);
  }

  #report(): void {
    const processes: Record<string, number> = {};
    // The modules the appup changes: one it leaves alone runs one version on both sides.
    for (const v of this.#rt.modules.versions())
      if (this.#forward.extra.has(v.module) && v.processes > 0)
        processes[v.version] = (processes[v.version] ?? 0) + v.processes;
    this.progress.processes = processes;
    this.#hooks.progress?.(this.progress);
  }

  #enter(phase: InstallPhase): void {
    const now = Date.now();
    const last = this.progress.phases.at(-1);
    if (last && last.ms === null) {
      last.ms = now - last.startedAt;
      this.#hooks.phaseDone?.(last.phase, last.ms);
    }
    this.progress.phase = phase;
    this.progress.phases.push({ phase, startedAt: now, ms: null });
    this.#report();
  }

  #fail(pid: Pid, module: string, err: unknown): void {
    const failure = { pid, module, error: errorText(err) };
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined) failure.error += `: ${errorText(cause)}`;
    if (this.progress.failures.length < REPORTED_FAILURES) this.progress.failures.push(failure);
    this.#hooks.codeChangeFailed?.(failure);
  }

  /** Run `each` over `items` in slices of at most sliceMs, yielding to I/O between slices. */
  async #sliced<T>(items: T[], each: (item: T) => void): Promise<void> {
    let i = 0;
    while (i < items.length) {
      const t0 = performance.now();
      do {
        each(items[i] as T);
        i++;
      } while (i < items.length && ((i & 31) !== 0 || performance.now() - t0 < this.#options.sliceMs));
      this.#sliceTook(t0);
      if (i < items.length) {
        this.#report();
        await this.#yield();
      }
    }
  }

  /**
   * Dry run: codeChange on a copy of each state. Resolves with the failures (none: go).
   *
   * A sample of the copies (every few targets, up to WARM_STATES) is migrated by the commit's
   * own code instead of the dry-run copy, and the results are kept until the commit is done.
   * V8 sees those allocation sites' objects survive the preflight's many young-generation
   * GCs and pretenures them: the commit then allocates its migrated states straight in the
   * old generation, and no GC pause has to copy 100,000 fresh states (twice) in the middle
   * of the commit's slices.
   */
  async #preflight(targets: Pid[]): Promise<number> {
    let failures = 0;
    const every = Math.max(1, Math.ceil(targets.length / WARM_STATES));
    let i = 0;
    await this.#sliced(targets, (pid) => {
      const warm = i++ % every === 0;
      const p = this.#rt.lookup(pid);
      if (p === undefined || p.dead) return;
      const name = p.behaviour.name;
      try {
        const next = migrate(
          (warm ? this.#fromCode : this.#dryFrom).get(name) as AnyBehaviour,
          (warm ? this.#toCode : this.#dryTo).get(name) as AnyBehaviour,
          this.#forward.direction,
          structuredClone(p.state),
          this.#forward.extra.get(name),
        );
        structuredClone(next);
        if (warm) this.#warm.push(next);
      } catch (err) {
        failures++;
        this.#fail(pid, p.behaviour.name, err);
      }
    });
    return failures;
  }

  /** Switch each process still on `code` to the other side of `path`, at a message boundary. */
  async #move(
    pids: Pid[],
    fromCode: Map<string, AnyBehaviour>,
    toCode: Map<string, AnyBehaviour>,
    path: Path,
    count: boolean,
  ): Promise<void> {
    // Once a rollback has begun, a forward move still in its slices must stop: what it moved
    // after the rollback listed the processes on new code would stay there.
    const stopped = () => path === this.#forward && this.#rollingBack !== undefined;
    const retry: Pid[] = [];
    // One options object per module for the whole move, not one per process (young garbage).
    const changes = new Map(
      [...toCode].map(([name, to]) => [name, { to, direction: path.direction, extra: path.extra.get(name) }]),
    );
    /** `ours`: suspended by the wait below, so resumed here whatever happens. */
    const one = (pid: Pid, ours = false) => {
      const p = this.#rt.lookup(pid);
      if (p === undefined || p.dead) return;
      if (stopped() || fromCode.get(p.behaviour.name) !== p.behaviour) {
        if (ours) this.#rt.sys.resume(pid);
        return;
      }
      const wasSuspended = p.suspended && !ours;
      if (!p.suspended && !this.#rt.sys.trySuspend(pid)) {
        retry.push(pid); // inside an async callback: try again next slice
        return;
      }
      try {
        this.#rt.sys.changeCode(pid, changes.get(p.behaviour.name) as ChangeCodeOptions);
        if (count) this.progress.moved++;
      } catch (err) {
        // It keeps its code and state: old and new code simply coexist for it.
        this.#fail(pid, p.behaviour.name, err);
      } finally {
        // A process the guard caught stays suspended until its code is rolled back.
        if (!wasSuspended || !this.#newCode.has(p.behaviour)) this.#rt.sys.resume(pid);
      }
    };
    await this.#sliced(pids, one);
    for (let round = 0; retry.length > 0 && round < QUICK_RETRIES && !stopped(); round++) {
      const again = retry.splice(0);
      await this.#yield();
      await this.#sliced(again, one);
    }
    // Still busy: a process kept busy by a stream of async callbacks may never be seen at a
    // boundary by a retry; suspend waits for the next one, as sys:suspend does.
    await Promise.all(
      (stopped() ? [] : retry.splice(0)).map(async (pid) => {
        try {
          await this.#rt.sys.suspend(pid, SUSPEND_TIMEOUT_MS);
        } catch (err) {
          const p = this.#rt.lookup(pid);
          if (p !== undefined) this.#fail(pid, p.behaviour.name, err);
          return;
        }
        one(pid, true);
      }),
    );
  }

  #switchCurrent(code: Map<string, AnyBehaviour>): void {
    for (const b of code.values()) this.#rt.modules.load(b);
  }

  /**
   * The preflight alone: collect the processes on the old code and dry-run codeChange on each.
   * Nothing changes, so a cluster orchestrator can ask every node before any of them moves.
   */
  async dryRun(): Promise<{ total: number; failed: number }> {
    const { targets, failures } = await this.#check();
    return { total: targets.length, failed: failures };
  }

  async #check(): Promise<{ targets: Pid[]; failures: number }> {
    // Processes started on the old code while the collection and the preflight yield are
    // checked too, until none is new; the module table switches right after the last look
    // (in start), with no yield between.
    let late: Pid[] = [];
    const offSpawn = this.#rt.events.on('spawn', (e) => {
      if (this.#rt.lookup(e.pid)?.behaviour === this.#fromCode.get(e.module)) late.push(e.pid);
    });
    let failures = 0;
    let targets: Pid[] = [];
    try {
      targets = await this.#targets();
      if (late.length > 0) {
        // The collection saw those spawned before it ended, at its end (the table keeps spawn order).
        const seen = new Set(targets.slice(-late.length));
        late = late.filter((pid) => !seen.has(pid));
      }
      this.progress.total = targets.length;
      failures = await this.#preflight(targets);
      while (failures === 0 && late.length > 0) {
        const fresh = late.splice(0);
        for (const pid of fresh) targets.push(pid);
        failures += await this.#preflight(fresh);
      }
    } finally {
      offSpawn();
    }
    this.progress.total = targets.length;
    return { targets, failures };
  }

  /** Preflight, commit (all, or the canary share), then watch. Resolves at the first decision point. */
  async start(): Promise<void> {
    try {
      const t0 = performance.now();
      const { targets, failures } = await this.#check();
      if (failures > 0) {
        this.#finish('aborted', hotlineError('HOT_ERR_PREFLIGHT_FAILED', this.#to.version, failures).message);
        return;
      }
      this.#hooks.phaseDone?.('preflight', performance.now() - t0);
      // From here new processes begin on the new release.
      this.#switchCurrent(this.#toCode);
      this.#watch();
      if (this.#options.mode === 'canary') {
        this.#enter('commit');
        const share = targets.filter(() => Math.random() < this.#options.canaryFraction);
        await this.#move(share, this.#fromCode, this.#toCode, this.#forward, true);
        this.#warm = [];
        if (this.#rollingBack === undefined) this.#enter('canary');
        return;
      }
      this.#enter('commit');
      await this.#move(targets, this.#fromCode, this.#toCode, this.#forward, true);
      this.#warm = [];
      // A crash during the commit has rolled back (or is rolling back): there is nothing to watch.
      if (this.#rollingBack === undefined) this.#beginWatchWindow();
    } catch (err) {
      await this.#rollback(`install failed: ${String(err)}`);
    }
  }

  /** Canary mode: move everyone else, then watch. */
  async promote(): Promise<void> {
    if (this.progress.phase !== 'canary')
      throw hotlineError('HOT_ERR_NO_INSTALL', 'promote (no canary waiting)');
    this.#enter('promote');
    await this.#move(await this.#targets(), this.#fromCode, this.#toCode, this.#forward, true);
    if (this.progress.outcome === null && this.#rollingBack === undefined) this.#beginWatchWindow();
  }

  /** Move every process back to the old release (an operator's decision, or the watch's). */
  rollback(reason = 'rolled back by request'): Promise<void> {
    if (this.progress.outcome !== null) throw hotlineError('HOT_ERR_NO_INSTALL', 'roll back (it has ended)');
    return this.#rollback(reason);
  }

  #rollback(reason: string): Promise<void> {
    this.#rollingBack ??= (async () => {
      this.progress.reason = reason;
      this.#enter('rolling_back');
      this.#switchCurrent(this.#fromCode);
      const onNew = await this.#collect((b) => this.#newCode.has(b));
      await this.#move(onNew, this.#toCode, this.#fromCode, this.#back, false);
      this.#finish('rolled_back', reason);
      // One the guard holds whose move back failed must not stay suspended for ever: it runs on
      // (unguarded now) on the code it has.
      for (const pid of this.#held) if (this.#rt.lookup(pid)?.suspended) this.#rt.sys.resume(pid);
      this.#held.clear();
    })();
    return this.#rollingBack;
  }

  /** Catch crashes on the new code from the commit on, count abnormal exits and reported errors. */
  #watch(): void {
    // Crashes the guard counted and let happen: their exit events must not count them again.
    const counted = new Set<Pid>();
    const guard: CrashGuard = {
      covers: (b) => this.#newCode.has(b),
      caught: (pid, error) => {
        this.progress.crashes++;
        if (this.progress.crashes <= this.#options.maxCrashes) {
          counted.add(pid);
          return false;
        }
        // Over the threshold: the process waits, suspended, for the rollback to move it back.
        this.#held.add(pid);
        void this.#rollback(
          `${this.progress.crashes} crash(es) on ${this.#to.version}; last: ${errorText(error)}`,
        );
        return true;
      },
    };
    this.#rt.guard = guard;
    const onNew = (e: { module: string; version: string }) =>
      e.version === this.#to.version && this.#toCode.has(e.module);
    const watching = () => this.#rt.guard === guard && this.progress.phase !== 'rolling_back';
    const offExit = this.#rt.events.on('exit', (e) => {
      if (counted.delete(e.pid)) return;
      // Abnormal exits the guard could not catch (an async callback, a kill by a link).
      if (!onNew(e) || !isAbnormal(e.reason) || !watching()) return;
      this.progress.crashes++;
      if (this.progress.crashes > this.#options.maxCrashes)
        void this.#rollback(`${this.progress.crashes} abnormal exit(s) on ${this.#to.version}`);
    });
    const offSpawn = this.#rt.events.on('spawn', (e) => {
      if (onNew(e)) this.#startedOnNew++;
    });
    const offError = this.#rt.events.on('error_report', (e) => {
      if (!onNew(e) || !watching()) return;
      const errors = ++this.progress.errors;
      const exposed = this.progress.moved + this.#startedOnNew;
      const tolerated = this.#options.maxErrors + this.#options.maxErrorRate * exposed;
      if (errors > tolerated)
        void this.#rollback(
          `${errors} error(s) reported on ${this.#to.version} by ${exposed} process(es) on it, ` +
            `over the ${Math.floor(tolerated)} tolerated; last: ${errorText(e.error)}`,
        );
    });
    this.#unwatch = () => {
      offExit();
      offSpawn();
      offError();
      if (this.#rt.guard === guard) this.#rt.guard = undefined;
    };
  }

  #beginWatchWindow(): void {
    this.#enter('watch');
    this.#watchTimer = this.#rt.clock.setTimeout(() => {
      if (this.progress.outcome === null && this.#rollingBack === undefined) this.#finish('installed', null);
    }, this.#options.watchMs);
  }

  #finish(outcome: InstallOutcome, reason: string | null): void {
    if (this.progress.outcome !== null) return;
    if (this.#watchTimer !== undefined) this.#rt.clock.clearTimeout(this.#watchTimer);
    this.#warm = [];
    this.#unwatch?.();
    this.progress.outcome = outcome;
    if (reason !== null) this.progress.reason = reason;
    this.#enter(outcome);
    const last = this.progress.phases.at(-1) as PhaseTiming;
    last.ms = 0;
    this.progress.endedAt = Date.now();
    this.#report();
    this.#finished?.();
  }
}
