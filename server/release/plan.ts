/**
 * An install as an explicit plan, as OTP's release_handler_1 script: the named steps from
 * one release to another, the point of no return among them, and what each module does. It
 * is data: built from the two releases and the process counts, printed by a dry run, and
 * run step by step by the installer. It knows nothing of calls.
 */
import { type HotlineError, hotlineError } from '../errors/catalogue.ts';
import type { AnyBehaviour } from '../runtime/index.ts';
import type { AppupEntry, ReleaseModule } from './module.ts';

export type Direction = 'up' | 'down';
export type InstallMode = 'full' | 'canary';

/**
 * What one appup edge does to one module: migrated (codeChange with the extra, OTP's
 * `{update, M, {advanced, Extra}}`) or only reloaded (the same state shape, switched at a
 * message boundary with no codeChange, OTP's `{load_module, M}`). A module an edge does not
 * name is unchanged: its processes are left alone.
 */
export type ModuleChange =
  | { module: string; action: 'migrate'; extra?: unknown }
  | { module: string; action: 'reload' };

/** One appup edge: its direction, and the entry that says what it does to each module it names. */
export interface Edge {
  direction: Direction;
  entry: AppupEntry;
}

/** The appup edge that allows moving `from` → `to`, or why none does. */
export function edgeBetween(from: ReleaseModule, to: ReleaseModule): Edge | HotlineError {
  const up = to.upgradeFrom.find((e) => e.version === from.version);
  const down = up === undefined ? from.downgradeTo.find((e) => e.version === to.version) : undefined;
  const entry = up ?? down;
  if (entry === undefined) return hotlineError('HOT_ERR_NO_UPGRADE_PATH', from.version, to.version);
  const direction = up === undefined ? 'down' : 'up';
  return { direction, entry };
}

/** The way there and the way back: an install that cannot be rolled back is refused. */
export function edgesBetween(from: ReleaseModule, to: ReleaseModule): { forward: Edge; back: Edge } {
  const forward = edgeBetween(from, to);
  if (forward instanceof Error) throw forward;
  const back = edgeBetween(to, from);
  if (back instanceof Error) throw back;
  return { forward, back };
}

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

export type StepName =
  | 'load'
  | 'check'
  | 'preflight'
  | 'point_of_no_return'
  | 'move'
  | 'move_canary'
  | 'await_promote'
  | 'move_rest'
  | 'watch'
  | 'make_current'
  | 'roll_back';

export interface PlanStep {
  name: StepName;
  /** What the step does, for whoever reads the plan. */
  does: string;
  /** Processes the step would move (at the time the plan was made), for the steps that move any. */
  moves?: number;
  /** What a failure in the step leads to: before the point of no return nothing has changed. */
  onFailure: 'abort' | 'roll_back';
}

export interface PlannedModule {
  module: string;
  /** `added`: only the new release has it; it is loaded, and nothing runs it yet. */
  action: ModuleChange['action'] | 'unchanged' | 'added';
  /** The version processes run now (null: added), and the one they move to (unchanged: the same). */
  from: string | null;
  to: string | null;
  /** Processes on the old code of the module now. */
  processes: number;
  extra?: unknown;
}

export interface InstallPlan {
  from: string;
  to: string;
  direction: Direction;
  mode: InstallMode;
  modules: PlannedModule[];
  /** The steps in the order they run, when nothing fails. */
  steps: PlanStep[];
  /** What runs instead of the rest once a step after the point of no return fails. */
  rollback: PlanStep;
  /** Processes the install would move. */
  moves: number;
}

const byName = (r: ReleaseModule) => new Map(r.behaviours.map((b) => [b.name, b]));

/** The modules an edge changes must exist on both sides, and come back the way they went. */
function checkEdges(from: ReleaseModule, to: ReleaseModule, forward: Edge, back: Edge): void {
  const toCode = byName(to);
  const fromCode = byName(from);
  const backChanges = new Map(back.entry.changes.map((c) => [c.module, c]));
  for (const c of forward.entry.changes) {
    if (!toCode.has(c.module))
      throw hotlineError(
        'HOT_ERR_RELEASE_LOAD_FAILED',
        to.version,
        `its appup changes ${c.module}, which it lacks`,
      );
    if (fromCode.has(c.module) && backChanges.get(c.module)?.action !== c.action)
      throw hotlineError(
        'HOT_ERR_RELEASE_LOAD_FAILED',
        to.version,
        `its appup ${c.action === 'migrate' ? 'migrates' : 'reloads'} ${c.module} from ${from.version} but not back`,
      );
  }
}

const processes = (n: number) => `${n} process${n === 1 ? '' : 'es'}`;

/**
 * The plan of an install of `to` over `from` along `edges`, with `running(code)` the number of
 * processes on a behaviour object now. Throws when the edges cannot be run.
 */
export function planInstall(
  from: ReleaseModule,
  to: ReleaseModule,
  edges: { forward: Edge; back: Edge },
  options: Partial<InstallOptions>,
  running: (code: AnyBehaviour) => number,
): InstallPlan {
  const { forward, back } = edges;
  checkEdges(from, to, forward, back);
  const o = { ...defaultInstallOptions, ...options };
  const fromCode = byName(from);
  const toCode = byName(to);
  const changed = new Map(forward.entry.changes.map((c) => [c.module, c]));
  const modules: PlannedModule[] = [];
  for (const [name, old] of fromCode) {
    const c = changed.get(name);
    const now = { module: name, from: old.version, processes: running(old) };
    if (c === undefined) modules.push({ ...now, action: 'unchanged', to: old.version });
    else
      modules.push({
        ...now,
        action: c.action,
        to: (toCode.get(name) as AnyBehaviour).version,
        ...(c.action === 'migrate' && c.extra !== undefined ? { extra: c.extra } : {}),
      });
  }
  for (const [name, b] of toCode)
    if (!fromCode.has(name))
      modules.push({ module: name, action: 'added', from: null, to: b.version, processes: 0 });

  const moving = modules.filter((m) => m.action === 'migrate' || m.action === 'reload');
  const moves = moving.reduce((n, m) => n + m.processes, 0);
  const migrated = moving.filter((m) => m.action === 'migrate');
  const names = (ms: PlannedModule[]) => (ms.length === 0 ? 'none' : ms.map((m) => m.module).join(', '));
  const loaded = [...moving, ...modules.filter((m) => m.action === 'added')];
  const moveDoes = (n: number, of: string) =>
    `suspend at a message boundary, change code, resume ${of}${processes(n)}, in slices of ${o.sliceMs} ms`;
  const canary = Math.round(moves * o.canaryFraction);
  const moveSteps: PlanStep[] =
    o.mode === 'canary'
      ? [
          { name: 'move_canary', does: moveDoes(canary, 'about '), moves: canary, onFailure: 'roll_back' },
          {
            name: 'await_promote',
            does: `wait for promote (or a rollback) while ${to.version} serves the canary share`,
            onFailure: 'roll_back',
          },
          {
            name: 'move_rest',
            does: moveDoes(moves - canary, 'the other '),
            moves: moves - canary,
            onFailure: 'roll_back',
          },
        ]
      : [{ name: 'move', does: moveDoes(moves, ''), moves, onFailure: 'roll_back' }];
  const tolerated =
    `${o.maxCrashes} crash(es), ${o.maxErrors} error(s)` +
    (o.maxErrorRate > 0 ? ` + ${o.maxErrorRate} per process on it` : '');
  return {
    from: from.version,
    to: to.version,
    direction: forward.direction,
    mode: o.mode,
    modules,
    moves,
    steps: [
      {
        name: 'load',
        does: `the code of ${to.version}, and a copy of both releases for the dry runs`,
        onFailure: 'abort',
      },
      {
        name: 'check',
        does: `appup ${forward.direction} ${from.version} → ${to.version} and back; migrated: ${names(migrated)}; reloaded: ${names(moving.filter((m) => m.action === 'reload'))}; unchanged: ${names(modules.filter((m) => m.action === 'unchanged'))}`,
        onFailure: 'abort',
      },
      {
        name: 'preflight',
        does: `dry-run codeChange on a copy of the state of each process of ${names(migrated)}; one failure aborts with nothing changed`,
        onFailure: 'abort',
      },
      {
        name: 'point_of_no_return',
        does: `new processes of ${names(loaded)} start on ${to.version}; crashes and errors on it are watched from here`,
        onFailure: 'roll_back',
      },
      ...moveSteps,
      {
        name: 'watch',
        does: `for ${o.watchMs} ms, more than ${tolerated} on ${to.version} rolls back`,
        onFailure: 'roll_back',
      },
      { name: 'make_current', does: `${to.version} becomes the current release`, onFailure: 'roll_back' },
    ],
    rollback: {
      name: 'roll_back',
      does: `new processes start on ${from.version} again; every process on ${to.version} moves back (${back.direction})`,
      onFailure: 'roll_back',
    },
  };
}

/** The plan as text, a line per module and per step. */
export function formatPlan(plan: InstallPlan): string {
  const width = Math.max(...plan.modules.map((m) => m.module.length), 6);
  const lines = [
    `install ${plan.to} over ${plan.from} (${plan.direction === 'up' ? 'upgrade' : 'downgrade'}, ${plan.mode}): ${processes(plan.moves)} to move`,
    'modules:',
    ...plan.modules.map(
      (m) =>
        `  ${m.module.padEnd(width)}  ${m.action.padEnd(9)}  ${m.from ?? '-'} → ${m.to ?? '-'}  ${processes(m.processes)}` +
        (m.extra === undefined ? '' : `  extra ${JSON.stringify(m.extra)}`),
    ),
    'steps:',
    ...plan.steps.map(
      (s, i) =>
        `  ${String(i + 1).padStart(2)}. ${s.name.padEnd(18)} ${s.does}` +
        (s.name === 'point_of_no_return' ? '  [from here a failure rolls back]' : ''),
    ),
    `  on failure: ${plan.rollback.name} — ${plan.rollback.does}`,
  ];
  return `${lines.join('\n')}\n`;
}
