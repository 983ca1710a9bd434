/**
 * The watchdog's thread (see watchdog.ts). It watches the heartbeat the node's main thread
 * bumps; when no beat has come for the set time, it writes down what the main thread was
 * running (from the runtime's shared record) and ends the node with WATCHDOG_SIGNAL. It
 * writes to files and stderr itself: anything it posted or logged through the main thread
 * would wait for that thread for ever.
 */
import { writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { readRunning } from '../runtime/running.ts';
import { readBeat, readProbation } from './watchdog-beat.ts';
import { appendWatchdogRecord, WATCHDOG_SIGNAL, type WatchdogFired } from './watchdog-log.ts';

/** What the worker is given. */
export interface WatchdogJob {
  watchdogMs: number;
  /** How often the main thread beats and the worker looks. */
  checkMs: number;
  node: string;
  logPath: string;
  beat: SharedArrayBuffer;
  running: SharedArrayBuffer;
  /** How long after the signal to send SIGKILL, should the signal not end the node. */
  killAfterMs: number;
}

const job = workerData as WatchdogJob;
let last = readBeat(job.beat);
let lastChange = performance.now();

function fire(stalledMs: number): void {
  clearInterval(timer);
  const record: WatchdogFired = {
    type: 'fired',
    at: new Date().toISOString(),
    node: job.node,
    osPid: process.pid,
    watchdogMs: job.watchdogMs,
    stalledMs: Math.round(stalledMs),
    ...readRunning(job.running),
    probation: readProbation(job.beat),
  };
  try {
    appendWatchdogRecord(job.logPath, record);
  } finally {
    // Whatever happened to the record, a node stuck for good must end: a supervisor restarts it.
    writeSync(
      2,
      `hotline watchdog: the event loop has not turned for ${record.stalledMs} ms; ending the node: ${JSON.stringify(record)}\n`,
    );
    process.kill(process.pid, WATCHDOG_SIGNAL);
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), job.killAfterMs);
  }
}

let lastTick = lastChange;
const timer = setInterval(() => {
  const now = performance.now();
  const beat = readBeat(job.beat);
  // This thread itself did not run for a long while: the whole process was paused (SIGSTOP,
  // a suspended machine, starved of CPU), not its loop stuck. Give the main thread its time again.
  const paused = now - lastTick > job.watchdogMs / 2;
  lastTick = now;
  if (beat !== last || paused) {
    last = beat;
    lastChange = now;
  } else if (now - lastChange >= job.watchdogMs + job.checkMs) fire(now - lastChange);
}, job.checkMs);

parentPort?.postMessage('watching');
