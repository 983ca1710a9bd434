/**
 * Where a node keeps its releases: `<dataDir>/releases/<version>.release.json` for each
 * unpacked artifact (verified before it is stored, verified again when loaded) and
 * `history.json` for which release is current and permanent and what happened. Every
 * write replaces its file whole and durably (server/files): a crash leaves the old file or
 * the new one, never half of one, and a write that has returned survives a power cut.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type HotlineError, hotlineError, hotlineErrorWithCause } from '../errors/catalogue.ts';
import { replaceDurably, replaceDurablyAsync } from '../files/durable-write.ts';
import type { Artifact } from './artifact.ts';
import { checkVersion } from './version.ts';

export type HistoryEventType =
  | 'unpacked'
  | 'installed'
  | 'aborted'
  | 'rolled_back'
  | 'permanent'
  | 'removed'
  | 'marked';

export interface HistoryEvent {
  at: string;
  type: HistoryEventType;
  version: string;
  from?: string;
  reason?: string;
}

export interface History {
  /** What runs now. */
  current: string | null;
  /** What a restarted node boots. */
  permanent: string | null;
  /**
   * Releases refused from now on unless forced, and why (a watchdog found one stuck in a
   * handler while on probation). Kept apart from the events, which are trimmed.
   */
  marked?: Record<string, { at: string; reason: string }>;
  events: HistoryEvent[];
}

/** Enough to see what happened lately without the file growing for ever. */
const KEPT_EVENTS = 500;

/** What a failed history write is reported to (the store goes on: the next write writes it all again). */
export type HistoryWriteFailed = (err: HotlineError<'HOT_ERR_HISTORY_WRITE'>, event: HistoryEvent) => void;

const reportToStderr: HistoryWriteFailed = (err, event) =>
  console.error(`hotline: ${err.message} (event ${event.type} ${event.version})`, err.cause);

export class ReleaseStore {
  readonly dir: string;
  #history: History;
  /** Every write so far, in order; never rejects (a failure is reported, and each caller gets its own). */
  #writes: Promise<void> = Promise.resolve();
  readonly #failed: HistoryWriteFailed;

  constructor(dataDir: string, onWriteFailed: HistoryWriteFailed = reportToStderr) {
    this.dir = join(dataDir, 'releases');
    this.#failed = onWriteFailed;
    mkdirSync(this.dir, { recursive: true });
    let history: History = { current: null, permanent: null, events: [] };
    try {
      history = JSON.parse(readFileSync(join(this.dir, 'history.json'), 'utf8')) as History;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.#history = history;
  }

  get history(): Readonly<History> {
    return this.#history;
  }

  #path(version: string): string {
    return join(this.dir, `${checkVersion(version)}.release.json`);
  }

  save(artifact: Artifact): void {
    replaceDurably(this.#path(artifact.manifest.version), JSON.stringify(artifact));
  }

  /** The stored artifact as text (verified again by whoever loads it). */
  read(version: string): string {
    try {
      return readFileSync(this.#path(version), 'utf8');
    } catch {
      throw hotlineError('HOT_ERR_UNKNOWN_RELEASE', version);
    }
  }

  has(version: string): boolean {
    return this.versions().includes(checkVersion(version));
  }

  remove(version: string): void {
    rmSync(this.#path(version), { force: true });
  }

  versions(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.release.json'))
      .map((f) => f.slice(0, -'.release.json'.length));
  }

  /**
   * Change the history now; it reaches the disk in order, off the event loop (an fsync can
   * take a while on a busy disk, and installs happen under traffic). The promise resolves
   * once this change is on disk, or rejects with HOT_ERR_HISTORY_WRITE; a caller that does
   * not wait for it leaves no unhandled rejection behind (the failure is reported to
   * `onWriteFailed` either way). The change stays in memory when its write fails, and the
   * next write that succeeds carries it.
   */
  record(
    change: Partial<Pick<History, 'current' | 'permanent' | 'marked'>>,
    event: Omit<HistoryEvent, 'at'>,
  ): Promise<void> {
    const stamped = { at: new Date().toISOString(), ...event };
    const events = [...this.#history.events, stamped].slice(-KEPT_EVENTS);
    this.#history = { ...this.#history, ...change, events };
    const text = JSON.stringify(this.#history, null, 2);
    const written = this.#writes
      .then(() => replaceDurablyAsync(join(this.dir, 'history.json'), text))
      .catch((cause: unknown) => {
        const err = hotlineErrorWithCause(
          cause,
          'HOT_ERR_HISTORY_WRITE',
          cause instanceof Error ? cause.message : String(cause),
        );
        this.#failed(err, stamped);
        throw err;
      });
    // This handler marks `written` handled; whoever awaits it still gets the rejection.
    this.#writes = written.catch(() => undefined);
    return written;
  }

  /** Resolves once every recorded change has been written, or has failed and been reported. */
  get flushed(): Promise<void> {
    return this.#writes;
  }
}
