/**
 * The release check's worker thread (see sandbox.ts): loads one release's code with the
 * node's own loader and host modules, and says whether it loaded. Whatever the code does
 * at top level happens to this thread, which the node then throws away.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorText, HotlineError } from '../errors/catalogue.ts';
import { evaluateRelease } from './loader.ts';
import type { SandboxJob, SandboxReport } from './sandbox.ts';

const port = parentPort;
if (port === null) throw new Error('sandbox-worker.ts runs only as a worker thread');
const { code, manifest } = workerData as SandboxJob;
const report = (r: SandboxReport) => port.postMessage(r);
// The node's time limit starts here: starting this thread and its modules is not the release's time.
report({ kind: 'evaluating' });
try {
  evaluateRelease(code, manifest);
  report({ kind: 'loaded' });
} catch (err) {
  report({ kind: 'refused', code: HotlineError.is(err) ? err.code : undefined, message: errorText(err) });
}
