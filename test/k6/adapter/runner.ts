/**
 * `k6 run` for the test suite: evaluates a k6 script's options in an init VU, starts one
 * worker thread per VU of each scenario (constant-vus, per-vu-iterations), starts them all
 * together once every VU's init context has run, gathers their samples, computes the summary
 * and the thresholds as k6 does, and hands the summary data to the script's handleSummary.
 */
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { durationMs } from '../../../loadtest/k6/lib/config.ts';
import type { SummaryCheck, SummaryData, SummaryMetric } from '../../../loadtest/k6/lib/summary.ts';
import { compare, DEFAULT_TREND_STATS, matches, parseThresholds, statistic, summaryValues } from './stats.ts';
import type { FromWorker, MetricDecl, RunPlan, Sample, ToWorker, WorkerInit } from './wire.ts';

export interface ScenarioOptions {
  executor: string;
  exec?: string;
  vus?: number;
  duration?: string;
  iterations?: number;
  startTime?: string;
  gracefulStop?: string;
  maxDuration?: string;
  env?: Record<string, string>;
  tags?: Record<string, string>;
}

export interface ScriptOptions {
  scenarios?: Record<string, ScenarioOptions>;
  thresholds?: Record<string, (string | { threshold: string })[]>;
  summaryTrendStats?: string[];
}

export interface LogLine {
  vu: number;
  level: string;
  text: string;
}

export interface ThresholdVerdict {
  key: string;
  expression: string;
  value: number;
  ok: boolean;
}

export interface K6Run {
  options: ScriptOptions;
  exports: string[];
  samples: Sample[];
  /** What handleSummary got. */
  data: SummaryData;
  thresholds: ThresholdVerdict[];
  /** Every threshold held (k6 would exit 0). */
  passed: boolean;
  /** Exceptions in iterations or handlers, iterations cut off at a hard stop, dead workers. */
  errors: string[];
  logs: LogLine[];
  /** handleSummary's return value, or null without one. */
  summary: Record<string, string> | null;
  /** Iterations completed, per scenario. */
  iterations: Record<string, number>;
  /** Sum of a metric's sample values, optionally only those with `tags`. */
  total(metric: string, tags?: Record<string, string>): number;
  values(metric: string, tags?: Record<string, string>): number[];
}

export interface RunOptions {
  /** Path (or file: URL) of the k6 script. */
  script: string;
  /** __ENV: k6 run -e NAME=value. */
  env?: Record<string, string>;
  /** Print the VUs' console lines as they come. */
  echoLogs?: boolean;
}

interface Vu {
  worker: Worker;
  /** Terminate the thread; its exit is then no failure. */
  stop(): Promise<number>;
  /** Resolves with the worker's next message of the given kind. */
  next<K extends FromWorker['kind']>(kind: K): Promise<Extract<FromWorker, { kind: K }>>;
}

const VU_START_MS = 20_000;

function startVu(init: WorkerInit, logs: LogLine[], errors: string[], echo: boolean): Vu {
  // The bootstrap is plain ESM in a data: URL: it loads tsx so the VU (and the script) can be TypeScript.
  const boot = `
import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
register();
await import(${JSON.stringify(new URL('./vu-worker.ts', import.meta.url).href)});
`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), {
    workerData: init,
    // A VU's stdout is its console, forwarded as messages; keep the thread's own quiet.
    stdout: false,
    stderr: false,
  });
  const waiting = new Map<string, ((m: FromWorker) => void)[]>();
  const queued: FromWorker[] = [];
  let failure: string | null = null;
  let stopping = false;
  const fail = (why: string) => {
    if (failure !== null || stopping) return;
    failure = why;
    errors.push(why);
    for (const list of waiting.values()) for (const w of list) w({ kind: 'failed', error: why });
    waiting.clear();
  };
  worker.on('message', (m: FromWorker) => {
    if (m.kind === 'log') {
      logs.push({ vu: m.vu, level: m.level, text: m.text });
      if (echo) process.stdout.write(`[VU ${m.vu} ${m.level}] ${m.text}\n`);
      return;
    }
    if (m.kind === 'failed') {
      fail(m.error);
      return;
    }
    const list = waiting.get(m.kind);
    const w = list?.shift();
    if (w === undefined) queued.push(m);
    else w(m);
  });
  worker.on('error', (err) => fail(`VU ${init.vu} (${init.scenario}) died: ${err.stack ?? err.message}`));
  worker.on('exit', (code) => fail(`VU ${init.vu} (${init.scenario}) exited with ${code}`));
  return {
    worker,
    stop() {
      stopping = true;
      return worker.terminate();
    },
    next(kind) {
      type M = Extract<FromWorker, { kind: typeof kind }>;
      const i = queued.findIndex((m) => m.kind === kind);
      if (i >= 0) return Promise.resolve(queued.splice(i, 1)[0] as M);
      return new Promise<M>((resolve, reject) => {
        if (failure !== null) {
          reject(new Error(failure));
          return;
        }
        const list = waiting.get(kind) ?? [];
        list.push((m) => (m.kind === 'failed' ? reject(new Error(m.error)) : resolve(m as M)));
        waiting.set(kind, list);
      });
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const id = (s: string) => createHash('md5').update(s).digest('hex');

interface Planned {
  name: string;
  scenario: ScenarioOptions;
  exec: string;
  vus: number;
  startMs: number;
  endMs: number;
  hardStopMs: number;
  iterations: number | null;
}

function plan(scenarios: Record<string, ScenarioOptions>): Planned[] {
  return Object.entries(scenarios).map(([name, s]) => {
    const startMs = durationMs(s.startTime ?? '0s');
    const graceMs = durationMs(s.gracefulStop ?? '30s');
    const exec = s.exec ?? 'default';
    let endMs: number;
    let iterations: number | null;
    if (s.executor === 'constant-vus') {
      if (s.duration === undefined) throw new Error(`scenario ${name}: constant-vus needs a duration`);
      endMs = startMs + durationMs(s.duration);
      iterations = null;
    } else if (s.executor === 'per-vu-iterations') {
      endMs = startMs + durationMs(s.maxDuration ?? '10m');
      iterations = s.iterations ?? 1;
    } else {
      throw new Error(`scenario ${name}: the adapter does not run the ${s.executor} executor`);
    }
    return {
      name,
      scenario: s,
      exec,
      vus: s.vus ?? 1,
      startMs,
      endMs,
      hardStopMs: endMs + graceMs,
      iterations,
    };
  });
}

/** Run a k6 script to the end, as `k6 run` would, and report what k6 would. */
export async function runK6(opts: RunOptions): Promise<K6Run> {
  const script = opts.script.startsWith('file:') ? opts.script : pathToFileURL(opts.script).href;
  const env = opts.env ?? {};
  const logs: LogLine[] = [];
  const errors: string[] = [];
  const echo = opts.echoLogs ?? false;
  const vus: Vu[] = [];
  try {
    // VU 0: the init context k6 evaluates for the options; later it runs handleSummary.
    const initVu = startVu({ script, vu: 0, env, scenario: '', tags: {} }, logs, errors, echo);
    vus.push(initVu);
    const ready = await withTimeout(initVu.next('ready'), VU_START_MS, 'the init context');
    const options = ready.options as ScriptOptions;
    const declared = new Map<string, MetricDecl>(ready.metrics.map((m) => [m.name, m]));
    const thresholds = parseThresholds(options.thresholds ?? {}, declared);
    const trendStats = options.summaryTrendStats ?? DEFAULT_TREND_STATS;
    const scenarios = plan(options.scenarios ?? { default: { executor: 'per-vu-iterations' } });
    for (const s of scenarios)
      if (!ready.exports.includes(s.exec))
        throw new Error(`scenario ${s.name}: the script exports no ${s.exec}`);

    // Every VU runs the init context before the test starts, as in k6.
    let nextVu = 1;
    const running: { vu: Vu; plan: Planned }[] = [];
    for (const s of scenarios)
      for (let i = 0; i < s.vus; i++) {
        const vu = startVu(
          {
            script,
            vu: nextVu++,
            env: { ...env, ...(s.scenario.env ?? {}) },
            scenario: s.name,
            tags: { scenario: s.name, ...(s.scenario.tags ?? {}) },
          },
          logs,
          errors,
          echo,
        );
        vus.push(vu);
        running.push({ vu, plan: s });
      }
    await withTimeout(
      Promise.all(running.map((r) => r.vu.next('ready'))),
      VU_START_MS,
      'every VU to run its init context',
    );

    const t0 = Date.now() + 50;
    const dones = running.map(({ vu, plan: p }) => {
      const msg: RunPlan = {
        kind: 'run',
        exec: p.exec,
        startAt: t0 + p.startMs,
        endAt: t0 + p.endMs,
        hardStopAt: t0 + p.hardStopMs,
        iterations: p.iterations,
      };
      vu.worker.postMessage(msg satisfies ToWorker);
      return vu.next('done').then(
        (d) => ({ scenario: p.name, ...d }),
        (err: unknown) => ({
          scenario: p.name,
          samples: [] as Sample[],
          errors: [String(err)],
          iterations: 0,
          interrupted: true,
        }),
      );
    });
    const lastStop = Math.max(0, ...scenarios.map((s) => s.hardStopMs));
    const results = await withTimeout(Promise.all(dones), lastStop + 10_000, 'the scenarios to end');
    const testRunDurationMs = Date.now() - t0;

    const samples = results.flatMap((r) => r.samples);
    for (const r of results) errors.push(...r.errors);
    const iterations: Record<string, number> = {};
    for (const r of results) iterations[r.scenario] = (iterations[r.scenario] ?? 0) + r.iterations;

    const valuesOf = (metric: string, tags: Record<string, string> = {}) =>
      samples.filter((s) => s.metric === metric && matches(s, tags)).map((s) => s.value);

    const verdicts: ThresholdVerdict[] = thresholds.map((t) => {
      const type = (declared.get(t.metric) as MetricDecl).type;
      const value = statistic(type, valuesOf(t.metric, t.tags), t.stat, testRunDurationMs);
      return { key: t.key, expression: t.expression, value, ok: compare(value, t.op, t.limit) };
    });

    // data.metrics: every metric with samples, and every thresholded (sub)metric.
    const metrics: Record<string, SummaryMetric> = {};
    const keys = new Set<string>([...new Set(samples.map((s) => s.metric))].sort());
    for (const t of thresholds) keys.add(t.key);
    for (const key of keys) {
      const t = thresholds.find((x) => x.key === key);
      const name = t?.metric ?? key;
      const decl = declared.get(name);
      if (decl === undefined) continue;
      const entry: SummaryMetric = {
        type: decl.type,
        contains: decl.contains,
        values: summaryValues(decl, valuesOf(name, t?.tags ?? {}), trendStats, testRunDurationMs),
      };
      const own = verdicts.filter((v) => v.key === key);
      if (own.length > 0) entry.thresholds = Object.fromEntries(own.map((v) => [v.expression, { ok: v.ok }]));
      metrics[key] = entry;
    }

    const checkSamples = samples.filter((s) => s.metric === 'checks');
    const checks: SummaryCheck[] = [...new Set(checkSamples.map((s) => s.tags.check ?? ''))].map((name) => {
      const mine = checkSamples.filter((s) => s.tags.check === name);
      const passes = mine.filter((s) => s.value !== 0).length;
      return { name, path: `::${name}`, id: id(`::${name}`), passes, fails: mine.length - passes };
    });

    const data: SummaryData = {
      metrics,
      root_group: { name: '', path: '', id: id(''), groups: [], checks },
      options: { summaryTrendStats: trendStats, summaryTimeUnit: '', noColor: false },
      state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs },
    };
    initVu.worker.postMessage({ kind: 'summary', data } satisfies ToWorker);
    const summary = (await withTimeout(initVu.next('summary'), 10_000, 'handleSummary')).result;

    return {
      options,
      exports: ready.exports,
      samples,
      data,
      thresholds: verdicts,
      passed: verdicts.every((v) => v.ok),
      errors: [...errors],
      logs,
      summary,
      iterations,
      total: (metric, tags) => valuesOf(metric, tags).reduce((a, b) => a + b, 0),
      values: valuesOf,
    };
  } finally {
    await Promise.all(vus.map((v) => v.stop()));
  }
}

export interface ScriptInit {
  options: ScriptOptions;
  exports: string[];
  /** Every metric the init context declared, k6's own included. */
  metrics: Map<string, MetricDecl>;
  /** The script's handleSummary on `data`, in the init VU. */
  handleSummary(data: SummaryData): Promise<Record<string, string> | null>;
  close(): Promise<void>;
}

/** Evaluate a script's init context only: its options, metrics and handleSummary, without a run. */
export async function initScript(opts: Omit<RunOptions, 'echoLogs'>): Promise<ScriptInit> {
  const script = opts.script.startsWith('file:') ? opts.script : pathToFileURL(opts.script).href;
  const errors: string[] = [];
  const vu = startVu({ script, vu: 0, env: opts.env ?? {}, scenario: '', tags: {} }, [], errors, false);
  try {
    const ready = await withTimeout(vu.next('ready'), VU_START_MS, 'the init context');
    return {
      options: ready.options as ScriptOptions,
      exports: ready.exports,
      metrics: new Map(ready.metrics.map((m) => [m.name, m])),
      async handleSummary(data) {
        vu.worker.postMessage({ kind: 'summary', data } satisfies ToWorker);
        return (await withTimeout(vu.next('summary'), 10_000, 'handleSummary')).result;
      },
      async close() {
        await vu.stop();
      },
    };
  } catch (err) {
    await vu.stop();
    throw err;
  }
}
