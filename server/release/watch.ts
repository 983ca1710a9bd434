/**
 * The probation watch of an install: from the point of no return until the install ends, new
 * code is on probation. A crash on it is caught by the runtime's crash guard (the state and
 * the message put back, the process held suspended); abnormal exits the guard cannot catch
 * and errors its processes report count too. Over the thresholds, the watch asks for a
 * rollback, and the node never restarts.
 */
import { errorText } from '../errors/catalogue.ts';
import {
  type AnyBehaviour,
  type CrashGuard,
  isAbnormal,
  type Pid,
  type ReleaseApi,
} from '../runtime/index.ts';

export interface WatchLimits {
  /** Crashes tolerated; one more rolls back. */
  maxCrashes: number;
  /** Reported errors tolerated, however many processes run the new code. */
  maxErrors: number;
  /** And this many more per process that has run the new code (moved to it or started on it), 0..1. */
  maxErrorRate: number;
}

/** Where the watch keeps its counts (the install's progress). */
export interface WatchCounts {
  crashes: number;
  errors: number;
}

export interface WatchSubject {
  /** The new code's behaviour objects: what the guard covers. */
  code: ReadonlySet<AnyBehaviour>;
  /** The new code's version of each module it covers: events name a module and a version. */
  versions: ReadonlyMap<string, string>;
  /** The release on probation, for the reasons given. */
  release: string;
  /** Processes moved to the new code so far. */
  moved(): number;
}

export class ProbationWatch {
  /** Processes the guard caught and holds suspended until a rollback moves them. */
  readonly held = new Set<Pid>();
  readonly #api: ReleaseApi;
  readonly #subject: WatchSubject;
  readonly #limits: WatchLimits;
  readonly #counts: WatchCounts;
  readonly #rollback: (reason: string) => void;
  /** Processes started on the new code since the watch began (maxErrorRate's share counts them). */
  #startedOnNew = 0;

  get startedOnNew(): number {
    return this.#startedOnNew;
  }
  #stopped = false;
  #off: (() => void)[] = [];

  constructor(
    api: ReleaseApi,
    subject: WatchSubject,
    limits: WatchLimits,
    counts: WatchCounts,
    rollback: (reason: string) => void,
  ) {
    this.#api = api;
    this.#subject = subject;
    this.#limits = limits;
    this.#counts = counts;
    this.#rollback = rollback;
  }

  #onNew(e: { module: string; version: string }): boolean {
    return this.#subject.versions.get(e.module) === e.version;
  }

  /** Guard the new code and count what goes wrong on it; `startedOnNew` goes on from another node process's watch. */
  start(startedOnNew = 0): void {
    this.#startedOnNew = startedOnNew;
    const { maxCrashes, maxErrors, maxErrorRate } = this.#limits;
    const counts = this.#counts;
    const release = this.#subject.release;
    // Crashes the guard counted and let happen: their exit events must not count them again.
    const counted = new Set<Pid>();
    const guard: CrashGuard = {
      covers: (b) => this.#subject.code.has(b),
      caught: (pid, error) => {
        counts.crashes++;
        if (counts.crashes <= maxCrashes) {
          counted.add(pid);
          return false;
        }
        // Over the threshold: the process waits, suspended, for the rollback to move it back.
        this.held.add(pid);
        this.#rollback(`${counts.crashes} crash(es) on ${release}; last: ${errorText(error)}`);
        return true;
      },
    };
    this.#api.setGuard(guard);
    const watching = () => !this.#stopped && this.#api.guarding(guard);
    this.#off = [
      () => this.#api.clearGuard(guard),
      this.#api.on('exit', (e) => {
        if (counted.delete(e.pid)) return;
        // Abnormal exits the guard could not catch (an async callback, a kill by a link).
        if (!this.#onNew(e) || !isAbnormal(e.reason) || !watching()) return;
        counts.crashes++;
        if (counts.crashes > maxCrashes) this.#rollback(`${counts.crashes} abnormal exit(s) on ${release}`);
      }),
      this.#api.on('spawn', (e) => {
        if (this.#onNew(e)) this.#startedOnNew++;
      }),
      this.#api.on('error_report', (e) => {
        if (!this.#onNew(e) || !watching()) return;
        const errors = ++counts.errors;
        const exposed = this.#subject.moved() + this.#startedOnNew;
        const tolerated = maxErrors + maxErrorRate * exposed;
        if (errors > tolerated)
          this.#rollback(
            `${errors} error(s) reported on ${release} by ${exposed} process(es) on it, ` +
              `over the ${Math.floor(tolerated)} tolerated; last: ${errorText(e.error)}`,
          );
      }),
    ];
  }

  /** A rollback has begun: what happens from now on is not the new code's probation any more. */
  pause(): void {
    this.#stopped = true;
  }

  /** Take the guard off and stop listening. */
  stop(): void {
    this.#stopped = true;
    for (const off of this.#off.splice(0)) off();
  }
}
