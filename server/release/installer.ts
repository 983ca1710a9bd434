/**
 * One install: runs the steps of its plan (plan.ts) in order, moving live processes from one
 * release to another without stopping them.
 *
 *   load, check           done when the install is made (the code is in hand, the appup
 *                         edge and its module changes are checked): a refusal changes nothing
 *   preflight             dry-run codeChange on a copy of every affected process's state;
 *                         any failure aborts and nothing has changed
 *   point_of_no_return    new processes start on the new code; the probation watch begins
 *   move                  every affected process switches at a message boundary, in slices
 *                         (canary mode: move_canary, await_promote, move_rest)
 *   watch                 a window on the runtime's clock; over the thresholds, roll_back
 *   make_current          the outcome: installed
 *
 * Modules the edge does not change are left alone. The moves are mover.ts's, the watch is
 * watch.ts's; the runtime is reached through its release API only. It knows nothing of calls.
 */
import { errorText, hotlineError } from '../errors/catalogue.ts';
import type { AnyBehaviour, ChangeCodeOptions, Pid, ReleaseApi, Runtime } from '../runtime/index.ts';
import type { ReleaseModule } from './module.ts';
import { type DryRun, Mover, type Moves } from './mover.ts';
import {
  defaultInstallOptions,
  type Edge,
  edgesBetween,
  type InstallMode,
  type InstallOptions,
  type InstallPlan,
  planInstall,
  type StepName,
} from './plan.ts';
import { ProbationWatch } from './watch.ts';

export { defaultInstallOptions, type InstallMode, type InstallOptions, type StepName };

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
  /** The plan's step running now (the last one run, once the install has ended). */
  step: StepName;
  /** The plan's steps, in order. */
  steps: StepName[];
  outcome: InstallOutcome | null;
  reason: string | null;
  /** Processes the install applies to, and how many moved so far. */
  total: number;
  moved: number;
  /** Processes per release version, for the modules this install touches. */
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

/**
 * An install that waits (a canary for its promote, or its watch window) as it goes to another
 * node process with the processes (a handoff): the other side's `Install.resumed` goes on from it.
 */
export interface InstallImage {
  readonly options: InstallOptions;
  readonly progress: InstallProgress;
  /** What is left of the watch window (step `watch`); 0 once it ended while the install was held. */
  readonly watchLeftMs: number | null;
  /** Processes started on the new code since the watch began. */
  readonly startedOnNew: number;
  /** A rollback the watch asked for while the install was held: it runs once the install is whole again. */
  readonly rollback: string | null;
}

/** The steps an install waits at: held there, it can move to another node process. */
const WAITING_STEPS: readonly StepName[] = ['await_promote', 'watch'];

/** At most this many failures are kept in a report; the count is exact. */
const REPORTED_FAILURES = 100;

/** The phase (the install's coarser, older view) each step that has one begins. */
const PHASE_OF: Partial<Record<StepName, InstallPhase>> = {
  move: 'commit',
  move_canary: 'commit',
  await_promote: 'canary',
  move_rest: 'promote',
  watch: 'watch',
  roll_back: 'rolling_back',
};

/** Where each old behaviour object's processes go along `edge`, with `code` the other side's by name. */
function movesAlong(edge: Edge, from: Map<string, AnyBehaviour>, to: Map<string, AnyBehaviour>): Moves {
  const moves = new Map<AnyBehaviour, ChangeCodeOptions>();
  for (const c of edge.entry.changes) {
    const old = from.get(c.module);
    const next = to.get(c.module);
    if (old === undefined || next === undefined) continue;
    moves.set(
      old,
      c.action === 'reload'
        ? { to: next, direction: edge.direction, reload: true }
        : { to: next, direction: edge.direction, extra: c.extra },
    );
  }
  return moves;
}

const byName = (r: ReleaseModule) => new Map(r.behaviours.map((b) => [b.name, b]));

/** What a step did: go on with the next, or stop here (an outcome, or a wait for promote or the window). */
type StepResult = 'next' | 'stop';
/** The steps the install runs: load and check are done when it is made, roll_back replaces the rest. */
type RunStep = Exclude<StepName, 'load' | 'check' | 'roll_back'>;

export class Install {
  readonly progress: InstallProgress;
  readonly plan: InstallPlan;
  readonly #api: ReleaseApi;
  readonly #options: InstallOptions;
  readonly #hooks: InstallHooks;
  /** The changed modules' code each way: old → new, and new → old. */
  readonly #forward: Moves;
  readonly #back: Moves;
  /** The dry run of each migrated module's old code. */
  readonly #dryRuns: Map<AnyBehaviour, DryRun>;
  /** The code new processes of the changed (and added) modules start on, each side. */
  readonly #fromLoad: AnyBehaviour[];
  readonly #toLoad: AnyBehaviour[];
  readonly #mover: Mover;
  readonly #watch: ProbationWatch;
  #targets: Pid[] = [];
  #watchTimer: unknown = undefined;
  /** When the watch window ends, on the runtime's clock. */
  #watchDue = 0;
  /** Held (see hold): the window's end and a rollback the watch asks for wait until unhold. */
  #held = false;
  #windowEnded = false;
  #pendingRollback: string | null = null;
  #rollingBack: Promise<void> | undefined;
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
     * Separately loaded copies of both releases for the preflight's dry runs (see Mover.dryRun):
     * what V8 learns from the dry runs' states must not be learnt on the real code's sites.
     */
    dryRun: { from: ReleaseModule; to: ReleaseModule } = { from, to },
  ) {
    const edges = edgesBetween(from, to);
    this.#api = rt.release;
    this.#options = { ...defaultInstallOptions, ...options };
    this.#hooks = hooks;
    this.plan = planInstall(from, to, edges, this.#options, (b) => this.#api.count(b));
    const fromCode = byName(from);
    const toCode = byName(to);
    this.#forward = movesAlong(edges.forward, fromCode, toCode);
    this.#back = movesAlong(edges.back, toCode, fromCode);
    const dryFrom = byName(dryRun.from);
    const dryTo = byName(dryRun.to);
    this.#dryRuns = new Map();
    for (const [old, move] of this.#forward) {
      if (move.reload === true) continue;
      this.#dryRuns.set(old, {
        dry: { from: dryFrom.get(old.name) as AnyBehaviour, to: dryTo.get(old.name) as AnyBehaviour },
        real: { from: old, to: move.to },
        direction: move.direction,
        extra: move.extra,
      });
    }
    const loaded = this.plan.modules.filter((m) => m.action !== 'unchanged').map((m) => m.module);
    this.#toLoad = loaded.flatMap((m) => toCode.get(m) ?? []);
    this.#fromLoad = loaded.flatMap((m) => fromCode.get(m) ?? []);
    const now = this.#api.clock.now();
    this.progress = {
      id,
      from: from.version,
      to: to.version,
      direction: edges.forward.direction,
      mode: this.#options.mode,
      phase: 'preflight',
      step: 'preflight',
      steps: this.plan.steps.map((s) => s.name),
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
    this.#mover = new Mover(this.#api, this.#options.sliceMs, {
      sliced: (ms) => {
        this.progress.longestSliceMs = Math.max(this.progress.longestSliceMs, ms);
      },
      between: () => this.#report(),
      failed: (pid, module, err) => this.#fail(pid, module, err),
    });
    this.#watch = new ProbationWatch(
      this.#api,
      {
        code: new Set(this.#toLoad),
        versions: new Map(this.#toLoad.map((b) => [b.name, b.version])),
        release: to.version,
        moved: () => this.progress.moved,
      },
      this.#options,
      this.progress,
      (reason) => void this.#rollback(reason),
    );
    this.done = new Promise((resolve) => {
      this.#finished = () => resolve(this.progress);
    });
  }

  #report(): void {
    const processes: Record<string, number> = {};
    const touched = new Set(this.#toLoad.map((b) => b.name));
    for (const v of this.#api.versions())
      if (touched.has(v.module) && v.processes > 0)
        processes[v.version] = (processes[v.version] ?? 0) + v.processes;
    this.progress.processes = processes;
    this.#hooks.progress?.(this.progress);
  }

  /** A step begins: its name, and the phase it starts if it starts one. */
  #step(step: StepName): void {
    this.progress.step = step;
    const phase = PHASE_OF[step];
    if (phase !== undefined) this.#enter(phase);
    else this.#report();
  }

  #enter(phase: InstallPhase): void {
    const now = this.#api.clock.now();
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

  /**
   * The preflight alone: collect the processes on the old code and dry-run codeChange on each.
   * Nothing changes, so a cluster orchestrator can ask every node before any of them moves.
   */
  async dryRun(): Promise<{ total: number; failed: number }> {
    const failed = await this.#preflight();
    return { total: this.#targets.length, failed };
  }

  /** Collect the targets and dry-run their migrations; resolves with the failures. */
  async #preflight(): Promise<number> {
    // Processes started on the old code while the collection and the dry runs yield are
    // checked too, until none is new; the point of no return comes right after the last look,
    // with no yield between.
    let late: Pid[] = [];
    const offSpawn = this.#api.on('spawn', (e) => {
      const code = this.#api.codeOf(e.pid);
      if (code !== undefined && this.#forward.has(code)) late.push(e.pid);
    });
    let failures = 0;
    try {
      const targets = await this.#mover.collect(new Set(this.#forward.keys()));
      this.#targets = targets;
      if (late.length > 0) {
        // The collection saw those spawned before it ended, at its end (the table keeps spawn order).
        const seen = new Set(targets.slice(-late.length));
        late = late.filter((pid) => !seen.has(pid));
      }
      this.progress.total = targets.length;
      failures = await this.#mover.dryRun(targets, this.#dryRuns);
      while (failures === 0 && late.length > 0) {
        const fresh = late.splice(0);
        for (const pid of fresh) targets.push(pid);
        failures += await this.#mover.dryRun(fresh, this.#dryRuns);
      }
    } finally {
      offSpawn();
    }
    this.progress.total = this.#targets.length;
    return failures;
  }

  /** What each step of the plan does. */
  readonly #steps: Record<RunStep, () => Promise<StepResult> | StepResult> = {
    preflight: async () => {
      const t0 = performance.now();
      const failures = await this.#preflight();
      if (failures > 0) {
        this.#finish('aborted', hotlineError('HOT_ERR_PREFLIGHT_FAILED', this.progress.to, failures).message);
        return 'stop';
      }
      this.#hooks.phaseDone?.('preflight', performance.now() - t0);
      return 'next';
    },
    point_of_no_return: () => {
      this.#api.load(this.#toLoad);
      this.#watch.start();
      return 'next';
    },
    move: () => this.#moveForward(this.#targets),
    move_canary: () =>
      this.#moveForward(this.#targets.filter(() => Math.random() < this.#options.canaryFraction)),
    // Resumed by promote().
    await_promote: () => 'stop',
    move_rest: async () => this.#moveForward(await this.#mover.collect(new Set(this.#forward.keys()))),
    watch: () => {
      this.#armWatch(this.#options.watchMs);
      return 'stop';
    },
    make_current: () => {
      this.#finish('installed', null);
      return 'stop';
    },
  };

  #armWatch(ms: number): void {
    this.#watchDue = this.#api.clock.now() + ms;
    this.#watchTimer = this.#api.clock.setTimeout(() => {
      this.#watchTimer = undefined;
      if (this.#held) this.#windowEnded = true;
      else void this.#runFrom('make_current');
    }, ms);
  }

  /**
   * Keep the install where it waits (a canary for its promote, or its watch window) while its
   * processes are split between two node processes (a handoff): the window's end and a
   * rollback the watch asks for wait until `unhold`. Refused while it moves processes.
   */
  hold(): void {
    if (this.progress.outcome === null && !WAITING_STEPS.includes(this.progress.step))
      throw hotlineError('HOT_ERR_INSTALL_RUNNING', this.progress.id);
    this.#held = true;
  }

  /** What was held back runs now: a rollback the watch asked for, or the window's end. */
  unhold(): void {
    if (!this.#held) return;
    this.#held = false;
    if (this.#pendingRollback !== null) void this.#rollback(this.#pendingRollback);
    else if (this.#windowEnded) void this.#runFrom('make_current');
  }

  /** The held install as data, for `resumed` on the other side. */
  image(): InstallImage {
    const left = this.progress.step === 'watch' ? this.#watchDue - this.#api.clock.now() : null;
    return structuredClone({
      options: this.#options,
      progress: this.progress,
      watchLeftMs: left === null ? null : this.#windowEnded ? 0 : Math.max(0, left),
      startedOnNew: this.#watch.startedOnNew,
      rollback: this.#pendingRollback,
    });
  }

  /**
   * The install `image` describes, going on here where it waited, held: its processes are
   * arriving with their code (the same releases, loaded here). `unhold` lets it act.
   */
  static resumed(
    rt: Runtime,
    from: ReleaseModule,
    to: ReleaseModule,
    image: InstallImage,
    hooks: InstallHooks = {},
  ): Install {
    const install = new Install(rt, image.progress.id, from, to, image.options, hooks);
    Object.assign(install.progress, image.progress);
    install.#held = true;
    install.#pendingRollback = image.rollback;
    if (image.progress.outcome === null) {
      install.#watch.start(image.startedOnNew);
      if (image.watchLeftMs !== null) install.#armWatch(image.watchLeftMs);
    }
    return install;
  }

  async #moveForward(pids: Pid[]): Promise<StepResult> {
    // Once a rollback has begun, a forward move still in its slices must stop: what it moved
    // after the rollback listed the processes on new code would stay there.
    await this.#mover.move(
      pids,
      this.#forward,
      () => this.#rollingBack !== undefined,
      (n) => {
        this.progress.moved += n;
      },
    );
    this.#mover.moved();
    return 'next';
  }

  /** Run the plan's steps from `first` on, until one stops; a step that throws rolls back. */
  async #runFrom(first: RunStep): Promise<void> {
    const steps = this.progress.steps;
    try {
      for (let i = steps.indexOf(first); i < steps.length; i++) {
        // A rollback (the watch's, or an operator's) has taken over.
        if (this.#rollingBack !== undefined || this.progress.outcome !== null) return;
        const step = steps[i] as RunStep;
        this.#step(step);
        if ((await this.#steps[step]()) === 'stop') return;
      }
    } catch (err) {
      await this.#rollback(`install failed: ${String(err)}`);
    }
  }

  /** Run the plan up to its first wait: the watch window, or (canary mode) the promote. */
  start(): Promise<void> {
    return this.#runFrom('preflight');
  }

  /** Canary mode: move everyone else, then watch. */
  async promote(): Promise<void> {
    if (this.progress.step !== 'await_promote' || this.progress.outcome !== null)
      throw hotlineError('HOT_ERR_NO_INSTALL', 'promote (no canary waiting)');
    await this.#runFrom('move_rest');
  }

  /** Move every process back to the old release (an operator's decision, or the watch's). */
  rollback(reason = 'rolled back by request'): Promise<void> {
    if (this.progress.outcome !== null) throw hotlineError('HOT_ERR_NO_INSTALL', 'roll back (it has ended)');
    return this.#rollback(reason);
  }

  #rollback(reason: string): Promise<void> {
    if (this.#held) {
      this.#pendingRollback ??= reason;
      return Promise.resolve();
    }
    this.#rollingBack ??= (async () => {
      this.progress.reason = reason;
      this.#watch.pause();
      this.#step('roll_back');
      this.#api.load(this.#fromLoad);
      const onNew = await this.#mover.collect(new Set(this.#back.keys()));
      await this.#mover.move(
        onNew,
        this.#back,
        () => false,
        () => {},
      );
      this.#finish('rolled_back', reason);
      // One the guard holds whose move back failed must not stay suspended for ever: it runs on
      // (unguarded now) on the code it has.
      this.#api.resume(this.#watch.held);
      this.#watch.held.clear();
    })();
    return this.#rollingBack;
  }

  #finish(outcome: InstallOutcome, reason: string | null): void {
    if (this.progress.outcome !== null) return;
    if (this.#watchTimer !== undefined) this.#api.clock.clearTimeout(this.#watchTimer);
    this.#mover.moved();
    this.#watch.stop();
    this.progress.outcome = outcome;
    if (reason !== null) this.progress.reason = reason;
    this.#enter(outcome);
    const last = this.progress.phases.at(-1) as PhaseTiming;
    last.ms = 0;
    this.progress.endedAt = this.#api.clock.now();
    this.#report();
    this.#finished?.();
  }
}
