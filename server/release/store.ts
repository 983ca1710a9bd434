/**
 * Where a node keeps its releases: `<dataDir>/releases/<version>.release.json` for each
 * unpacked artifact (verified before it is stored, verified again when loaded) and
 * `history.json` for which release is current and permanent and what happened. Every
 * write goes to a temporary file, is fsync'd and renamed, so a crash leaves the old file
 * or the new one, never half of one.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { hotlineError } from '../errors/catalogue.ts';
import type { Artifact } from './artifact.ts';
import { checkVersion } from './version.ts';

export type HistoryEventType = 'unpacked' | 'installed' | 'aborted' | 'rolled_back' | 'permanent' | 'removed';

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
  events: HistoryEvent[];
}

/** Enough to see what happened lately without the file growing for ever. */
const KEPT_EVENTS = 500;

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

async function writeAtomicAsync(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
}

export class ReleaseStore {
  readonly dir: string;
  #history: History;
  #writes: Promise<void> = Promise.resolve();

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'releases');
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
    writeAtomic(this.#path(artifact.manifest.version), JSON.stringify(artifact));
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
   * take a while on a busy disk, and installs happen under traffic). `flushed` waits for it.
   */
  record(change: Partial<Pick<History, 'current' | 'permanent'>>, event: Omit<HistoryEvent, 'at'>): void {
    const events = [...this.#history.events, { at: new Date().toISOString(), ...event }].slice(-KEPT_EVENTS);
    this.#history = { ...this.#history, ...change, events };
    const text = JSON.stringify(this.#history, null, 2);
    this.#writes = this.#writes.then(() => writeAtomicAsync(join(this.dir, 'history.json'), text));
  }

  /** Resolves once every recorded change is on disk. */
  get flushed(): Promise<void> {
    return this.#writes;
  }
}
