/**
 * One VU in a thread of its own, as k6 gives each VU its own runtime: its globals (__ENV,
 * __VU, __ITER), its own copy of the script's modules and metrics, its own event loop. The
 * thread evaluates the script (the init context), says which options and metrics it found,
 * then runs iterations of one exported function as the runner's plan says, or handleSummary.
 */
import { register } from 'node:module';
import { format } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { resolveHookUrl } from './hooks.ts';
import { describe, vu } from './vu-context.ts';
import type { FromWorker, RunPlan, ToWorker, WorkerInit } from './wire.ts';

const init = workerData as WorkerInit;
const port = parentPort;
if (port === null) throw new Error('vu-worker runs as a worker thread');
const post = (m: FromWorker): void => port.postMessage(m);

register(resolveHookUrl());

const k6Globals = globalThis as unknown as { __ENV: Record<string, string>; __VU: number; __ITER: number };
k6Globals.__ENV = { ...init.env };
k6Globals.__VU = init.vu;
k6Globals.__ITER = 0;
vu.id = init.vu;
vu.tags = { ...init.tags };

// k6 prints a VU's console to its log; here it goes to the runner, which keeps it for the test.
for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const)
  console[level] = (...args: unknown[]) => post({ kind: 'log', vu: init.vu, level, text: format(...args) });

type Exports = Record<string, unknown>;
let script: Exports;
try {
  script = (await import(init.script)) as Exports;
} catch (err) {
  post({ kind: 'failed', error: `init of VU ${init.vu} failed: ${describe(err)}` });
  throw err;
}
vu.phase = 'run';
post({
  kind: 'ready',
  // Options are plain data in k6 (they go through JSON there too).
  options: JSON.parse(JSON.stringify(script.options ?? {})) as unknown,
  exports: Object.keys(script),
  metrics: [...vu.metrics.values()],
});

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function iteration(fn: (...args: unknown[]) => unknown): Promise<void> {
  try {
    await fn();
  } catch (err) {
    vu.errors.push(`VU ${vu.id} iteration ${vu.iter}: ${describe(err)}`);
  }
  // k6 ends an iteration when its event loop is empty: sockets closed, timers done.
  await vu.drained();
}

async function run(plan: RunPlan): Promise<void> {
  const fn = script[plan.exec];
  if (typeof fn !== 'function') throw new Error(`the script exports no function '${plan.exec}'`);
  await wait(plan.startAt - Date.now());
  let done = 0;
  let interrupted = false;
  while ((plan.iterations === null || done < plan.iterations) && Date.now() < plan.endAt) {
    vu.iter = done;
    k6Globals.__ITER = done;
    const startedAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<'cut'>((resolve) => {
      timer = setTimeout(() => resolve('cut'), plan.hardStopAt - startedAt);
    });
    const outcome = await Promise.race([iteration(fn as () => unknown).then(() => 'done' as const), cut]);
    clearTimeout(timer);
    if (outcome === 'cut') {
      interrupted = true;
      vu.errors.push(
        `VU ${vu.id} iteration ${done} was still running at the hard stop, waiting on: ${vu.pending().join(', ') || 'its promise'}`,
      );
      break;
    }
    vu.emit('iteration_duration', Date.now() - startedAt);
    vu.emit('iterations', 1);
    done++;
  }
  post({ kind: 'done', samples: vu.samples, errors: vu.errors, iterations: done, interrupted });
}

port.on('message', (m: ToWorker) => {
  if (m.kind === 'run') {
    run(m).catch((err: unknown) => post({ kind: 'failed', error: describe(err) }));
    return;
  }
  try {
    const handle = script.handleSummary;
    const result = typeof handle === 'function' ? (handle(m.data) as Record<string, string>) : null;
    post({ kind: 'summary', result });
  } catch (err) {
    post({ kind: 'failed', error: `handleSummary threw: ${describe(err)}` });
  }
});
