/**
 * The node's watchdog: a worker thread (watchdog-worker.ts), which has an event loop of its
 * own, watches a heartbeat this thread writes into shared memory from a timer. When the
 * event loop has not turned for `watchdogMs` — a handler that loops for ever — the worker
 * writes down what was running (the runtime's shared record of the callback now running,
 * and the release on probation) in `<data-dir>/watchdog.log` and ends the node with
 * WATCHDOG_SIGNAL: Node.js cannot safely interrupt a thread's JavaScript from another
 * thread, so the whole node goes and a supervisor starts it again (see recovery.ts).
 */
import { Worker } from 'node:worker_threads';
import { bundledWorkerScript } from '../release/worker-script.ts';
import { Heartbeat, newBeatBuffer } from './watchdog-beat.ts';
import { watchdogLogPath } from './watchdog-log.ts';
import type { WatchdogJob } from './watchdog-worker.ts';

export interface Watchdog {
  /** Tell the watchdog the release on probation now (it is written down if it fires). */
  probation(version: string | null): void;
  stop(): Promise<void>;
}

export interface WatchdogOptions {
  /** How long the event loop may not turn; 0: no watchdog. */
  watchdogMs: number;
  dataDir: string;
  node: string;
  /** The runtime's record of the callback running (Runtime.running). */
  running: SharedArrayBuffer;
}

/** Beat and look this often: a tenth of the setting, within bounds. */
const checkMsFor = (watchdogMs: number): number => Math.min(500, Math.max(10, Math.round(watchdogMs / 10)));

const workerScript = bundledWorkerScript(new URL('./watchdog-worker.ts', import.meta.url));

/** Start watching; resolves once the worker watches (undefined when `watchdogMs` is 0). */
export async function startWatchdog(o: WatchdogOptions): Promise<Watchdog | undefined> {
  if (o.watchdogMs === 0) return undefined;
  const checkMs = checkMsFor(o.watchdogMs);
  const heart = new Heartbeat(newBeatBuffer());
  const job: WatchdogJob = {
    watchdogMs: o.watchdogMs,
    checkMs,
    node: o.node,
    logPath: watchdogLogPath(o.dataDir),
    beat: heart.buffer,
    running: o.running,
    killAfterMs: 1000,
  };
  const worker = new Worker(await workerScript(), { eval: true, workerData: job, execArgv: [] });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`the watchdog's worker exited (${code}) before it watched`)),
    );
  });
  worker.removeAllListeners();
  // Neither keeps the node alive: a node that ends on its own ends.
  worker.unref();
  const beating = setInterval(() => heart.beat(), checkMs);
  beating.unref();
  return {
    probation: (version) => heart.probation(version),
    async stop() {
      clearInterval(beating);
      await worker.terminate();
    },
  };
}
