/**
 * Moves live processes from one code to another without stopping them: suspend at a message
 * boundary → codeChange → resume, in batches, in time slices of a few ms with I/O and the
 * scheduler's traffic in between. Also the dry run of those moves on copies of the states
 * (the preflight), with the GC tuning that keeps the real move's pauses short. It talks to
 * the runtime through its release API only.
 */
import { performance } from 'node:perf_hooks';
import {
  type AnyBehaviour,
  type ChangeCodeOptions,
  migrate,
  type Pid,
  type ReleaseApi,
} from '../runtime/index.ts';

/** Where the processes on each old behaviour object go. */
export type Moves = ReadonlyMap<AnyBehaviour, ChangeCodeOptions>;

/** The dry run of a migration: the old code object's copy and the new one's, and the real pair. */
export interface DryRun {
  dry: { from: AnyBehaviour; to: AnyBehaviour };
  real: { from: AnyBehaviour; to: AnyBehaviour };
  direction: 'up' | 'down';
  extra: unknown;
}

export interface MoverHooks {
  /** A slice of work took `ms` of the event loop. */
  sliced(ms: number): void;
  /** Between two slices of a dry run or a move: a moment to report progress. */
  between(): void;
  /** A process's codeChange threw (dry or real); a real one keeps its code and state. */
  failed(pid: Pid, module: string, error: unknown): void;
}

/** Processes handled between two looks at the time (a look costs more than a process). */
const BATCH = 32;
/** Turns a slice waits at most for a scheduler that is behind (see #yield). */
const TRAFFIC_FIRST_TURNS = 8;
/** Quick retries for a process inside an async callback, before waiting on its boundary. */
const QUICK_RETRIES = 3;
/** Dry-run copies migrated by the real code and kept until the move (see dryRun). */
const WARM_STATES = 16_384;
/** How long a move waits for a busy process's boundary (sys:suspend's default in OTP). */
export const SUSPEND_TIMEOUT_MS = 5000;

const yieldToIo = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Mover {
  readonly #api: ReleaseApi;
  readonly #sliceMs: number;
  readonly #hooks: MoverHooks;
  /** Migrated copies kept alive from the dry run to the move, so V8 pretenures the move's states. */
  #warm: unknown[] = [];

  constructor(api: ReleaseApi, sliceMs: number, hooks: MoverHooks) {
    this.#api = api;
    this.#sliceMs = sliceMs;
    this.#hooks = hooks;
  }

  /**
   * Yield to I/O and the scheduler, and go on yielding while the scheduler is behind:
   * messages to sessions come first. A few turns at most, so that a move still goes on
   * on a node whose traffic alone keeps the scheduler busy.
   */
  async #yield(): Promise<void> {
    await yieldToIo();
    for (let i = 0; i < TRAFFIC_FIRST_TURNS && this.#api.behind; i++) await yieldToIo();
  }

  /** Run `each` over `items` in batches, a slice of at most sliceMs at a time. */
  async #sliced(items: readonly Pid[], each: (batch: readonly Pid[]) => void): Promise<void> {
    let i = 0;
    while (i < items.length) {
      const t0 = performance.now();
      do {
        each(items.slice(i, i + BATCH));
        i += BATCH;
      } while (i < items.length && performance.now() - t0 < this.#sliceMs);
      this.#hooks.sliced(performance.now() - t0);
      if (i < items.length) {
        this.#hooks.between();
        await this.#yield();
      }
    }
  }

  /** Pids of the live processes running one of `code`'s behaviour objects, gathered in slices. */
  async collect(code: ReadonlySet<AnyBehaviour>): Promise<Pid[]> {
    const scan = this.#api.scan(code);
    for (;;) {
      const t0 = performance.now();
      const done = scan.step(this.#sliceMs);
      this.#hooks.sliced(performance.now() - t0);
      if (done) return scan.pids;
      await this.#yield();
    }
  }

  /**
   * Dry run: codeChange on a copy of the state of each of `pids` whose code `runs` names.
   * Resolves with the number that failed (none: go). Processes on other code are not run.
   *
   * A sample of the copies (every few pids, up to WARM_STATES) is migrated by the move's own
   * code instead of the dry-run copy, and the results are kept until the move is done (see
   * `moved`). V8 sees those allocation sites' objects survive the dry run's many young-
   * generation GCs and pretenures them: the move then allocates its migrated states straight
   * in the old generation, and no GC pause has to copy 100,000 fresh states (twice) in the
   * middle of its slices. The other copies run a separately loaded copy of the code, whose
   * object literals are other allocation sites, so what V8 learns from them (that their
   * states die young) does not undo this.
   */
  async dryRun(pids: readonly Pid[], runs: ReadonlyMap<AnyBehaviour, DryRun>): Promise<number> {
    let failures = 0;
    const every = Math.max(1, Math.ceil(pids.length / WARM_STATES));
    let i = 0;
    await this.#sliced(pids, (batch) => {
      for (const pid of batch) {
        const warm = i++ % every === 0;
        const snap = this.#api.snapshot(pid);
        const run = snap === undefined ? undefined : runs.get(snap.code);
        if (snap === undefined || run === undefined) continue;
        const { from, to } = warm ? run.real : run.dry;
        try {
          const next = migrate(from, to, run.direction, snap.state, run.extra);
          structuredClone(next);
          if (warm) this.#warm.push(next);
        } catch (err) {
          failures++;
          this.#hooks.failed(pid, snap.code.name, err);
        }
      }
    });
    return failures;
  }

  /** The move the dry run prepared for is over: its warm copies can go. */
  moved(): void {
    this.#warm = [];
  }

  /**
   * Switch each of `pids` still on code `moves` names, at a message boundary. A process inside
   * an async callback is tried again a few slices later, then waited for (at most
   * SUSPEND_TIMEOUT_MS on the runtime's clock). `stopped` ends the move early; `counted` hears
   * how many moved, batch by batch. A process suspended by someone else (one the crash guard
   * holds) is moved and left suspended.
   */
  async move(
    pids: readonly Pid[],
    moves: Moves,
    stopped: () => boolean,
    counted: (n: number) => void,
  ): Promise<void> {
    const code = new Set(moves.keys());
    const failed = this.#hooks.failed;
    const retry: Pid[] = [];
    const batch = (part: readonly Pid[]) => {
      if (stopped()) return;
      const { suspended, busy, held } = this.#api.suspend(part, code);
      for (const pid of busy) retry.push(pid);
      const n = this.#api.changeCode(suspended, moves, failed) + this.#api.changeCode(held, moves, failed);
      this.#api.resume(suspended);
      if (n > 0) counted(n);
    };
    await this.#sliced(pids, batch);
    for (let round = 0; retry.length > 0 && round < QUICK_RETRIES && !stopped(); round++) {
      const again = retry.splice(0);
      await this.#yield();
      await this.#sliced(again, batch);
    }
    // Still busy: a process kept busy by a stream of async callbacks may never be seen at a
    // boundary by a retry; wait for its next one, as sys:suspend does.
    await Promise.all(
      (stopped() ? [] : retry.splice(0)).map(async (pid) => {
        try {
          await this.#api.suspendAtBoundary(pid, SUSPEND_TIMEOUT_MS);
        } catch (err) {
          const was = this.#api.codeOf(pid);
          if (was !== undefined) failed(pid, was.name, err);
          return;
        }
        const n = stopped() ? 0 : this.#api.changeCode([pid], moves, failed);
        this.#api.resume([pid]);
        if (n > 0) counted(n);
      }),
    );
  }
}
