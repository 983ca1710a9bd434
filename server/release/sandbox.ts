/**
 * A release's code is loaded first in a disposable worker thread, never first in the node:
 * the same loader, host modules and contract checks as the node's (loader.ts), with a time
 * and a memory limit. Top-level code that exits, loops or allocates without bound ends or
 * fills that thread and is refused with HOT_ERR_RELEASE_UNSAFE; code that throws or breaks
 * the contract is refused with the loader's own error. One worker per check, ended at once.
 * Its cost (measured in server/release/README.md): the worker's script is bundled once per
 * node process (the first check takes 0.6–1 s), then each check about 150–250 ms of another
 * thread's time; the node's own thread only starts the worker and hears its answer.
 */
import { Worker } from 'node:worker_threads';
import { errorFromNode, hotlineError } from '../errors/catalogue.ts';
import type { Artifact } from './artifact.ts';
import { loadingManifest } from './loader.ts';
import type { ReleaseManifest } from './manifest.ts';
import { bundledWorkerScript } from './worker-script.ts';

export interface SandboxLimits {
  /** How long the release's top-level code and contract check may run, in ms. */
  timeoutMs: number;
  /** The worker's heap (V8 old generation), in MB: the host modules take about 30 of it. */
  memoryMb: number;
  /** How long the worker may take to start and load the host modules, before any release code runs. */
  startupMs: number;
}

/** The limits a node checks releases with. */
export const RELEASE_CHECK_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  timeoutMs: 2_000,
  memoryMb: 128,
  startupMs: 30_000,
});

/** What the worker is given. */
export interface SandboxJob {
  code: string;
  manifest: ReleaseManifest | string;
}

/** What the worker says, in this order: it is about to run the code, then how that went. */
export type SandboxReport =
  | { kind: 'evaluating' }
  | { kind: 'loaded' }
  | { kind: 'refused'; code: string | undefined; message: string };

/**
 * The worker's script: sandbox-worker.ts and the node's modules it imports (loader, runtime,
 * errors, TypeBox), bundled once per node process.
 */
const workerScript = bundledWorkerScript(new URL('./sandbox-worker.ts', import.meta.url));

/**
 * Load a release's code in a worker thread and check it as the loader does. Resolves when it
 * loaded; rejects with HOT_ERR_RELEASE_UNSAFE (it exited, ran out of time or of memory), the
 * loader's error (it threw, or broke the contract), or a plain error when the worker itself
 * could not start (the node's fault).
 */
export async function checkInWorker(
  version: string,
  job: SandboxJob,
  limits: Readonly<SandboxLimits> = RELEASE_CHECK_LIMITS,
): Promise<void> {
  const worker = new Worker(await workerScript(), {
    eval: true,
    workerData: job,
    // Not the node's flags (--import tsx, --expose-gc, an inspector): the script needs none.
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: limits.memoryMb },
  });
  return new Promise<void>((resolve, reject) => {
    let evaluating = false;
    let timer = setTimeout(() => {
      settle(new Error(`the release check's worker did not start within ${limits.startupMs} ms`));
    }, limits.startupMs);
    const settle = (err?: Error) => {
      clearTimeout(timer);
      worker.removeAllListeners();
      // An error the thread raises while it ends (its heap filling up meanwhile) is no longer news.
      worker.on('error', () => {});
      // Whatever the code left running (timers, a loop) ends with its thread.
      void worker.terminate();
      if (err === undefined) resolve();
      else reject(err);
    };
    const unsafe = (why: string) => settle(hotlineError('HOT_ERR_RELEASE_UNSAFE', version, why));
    worker.on('message', (r: SandboxReport) => {
      if (r.kind === 'evaluating') {
        evaluating = true;
        clearTimeout(timer);
        timer = setTimeout(() => unsafe(`ran for more than ${limits.timeoutMs} ms`), limits.timeoutMs);
      } else if (r.kind === 'loaded') settle();
      // The loader's own refusal, rebuilt from its code and message on this side.
      else settle(errorFromNode(r.code, r.message));
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') unsafe(`ran out of its ${limits.memoryMb} MB of memory`);
      else if (evaluating)
        settle(hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', version, `its code threw: ${err}`));
      else settle(err);
    });
    // process.exit() in a worker ends the worker, not the node: an exit before a report is the code's.
    worker.on('exit', (code) => unsafe(`exited (exit code ${code})`));
  });
}

/** checkInWorker for a verified artifact, by its format's rules. */
export const checkArtifactInWorker = (artifact: Artifact, limits?: Readonly<SandboxLimits>): Promise<void> =>
  checkInWorker(
    artifact.manifest.version,
    { code: artifact.code, manifest: loadingManifest(artifact) },
    limits,
  );
