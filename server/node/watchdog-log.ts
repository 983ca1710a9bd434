/**
 * `<data-dir>/watchdog.log`: one JSON line each time the watchdog ended the node (`fired`,
 * written by the watchdog's thread while the main thread is stuck) and each time a node
 * started after that and dealt with it (`recovered`). Every line is fsync'd before the
 * writer goes on, so a fire is on disk before the node ends.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendDurably } from '../files/durable-write.ts';
import type { RunningCallback } from '../runtime/index.ts';

export const watchdogLogPath = (dataDir: string): string => join(dataDir, 'watchdog.log');

/** How the watchdog ends the node: a worker cannot set the process's exit code, a signal it can send. */
export const WATCHDOG_SIGNAL = 'SIGALRM';

export interface WatchdogFired extends RunningCallback {
  type: 'fired';
  at: string;
  node: string;
  /** The operating system's process id of the node. */
  osPid: number;
  watchdogMs: number;
  /** How long no heartbeat had been seen when it fired. */
  stalledMs: number;
  /** The release on probation then, if any. */
  probation: string | null;
}

export interface WatchdogRecovered {
  type: 'recovered';
  at: string;
  /** `at` of the fire dealt with. */
  fired: string;
  /** The release the node booted. */
  booted: string;
  /** The release marked as refused, if one was. */
  marked: string | null;
  why: string;
}

export type WatchdogRecord = WatchdogFired | WatchdogRecovered;

/** One line, on disk when this returns. */
export function appendWatchdogRecord(path: string, record: WatchdogRecord): void {
  appendDurably(path, `${JSON.stringify(record)}\n`);
}

/** Every record in the log; a torn or foreign line is skipped. */
export function readWatchdogLog(path: string): WatchdogRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const records: WatchdogRecord[] = [];
  for (const line of text.split('\n')) {
    try {
      const r = JSON.parse(line) as WatchdogRecord;
      if (r.type === 'fired' || r.type === 'recovered') records.push(r);
    } catch {
      // A line cut by a crash mid-write, or an empty one.
    }
  }
  return records;
}

/** The last fire no start has dealt with yet, if any. */
export function pendingFire(path: string): WatchdogFired | undefined {
  const records = readWatchdogLog(path);
  const last = records.at(-1);
  return last?.type === 'fired' ? last : undefined;
}
