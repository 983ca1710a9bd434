/**
 * What k6 computes at the end of a run, from the samples: each metric's summary values, and
 * each threshold's verdict. Percentiles interpolate between ranks as k6's trend sink does.
 */
import type { SummaryMetric } from '../../../loadtest/k6/lib/summary.ts';
import type { MetricDecl, MetricType, Sample } from './wire.ts';

export const DEFAULT_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'];

/** k6's percentile: sorted values, linear interpolation at pct × (n − 1). */
export function percentile(sorted: readonly number[], pct: number): number {
  if (sorted.length === 0) return 0;
  const i = pct * (sorted.length - 1);
  const lo = sorted[Math.floor(i)] ?? 0;
  const hi = sorted[Math.ceil(i)] ?? lo;
  return lo + (hi - lo) * (i - Math.floor(i));
}

/** One statistic of a metric's samples: `count`, `rate`, `value`, `avg`, `min`, `max`, `med`, `p(N)`, `passes`, `fails`. */
export function statistic(
  type: MetricType,
  values: readonly number[],
  stat: string,
  durationMs: number,
): number {
  const sum = values.reduce((a, b) => a + b, 0);
  switch (type) {
    case 'counter':
      if (stat === 'count') return sum;
      if (stat === 'rate') return durationMs > 0 ? sum / (durationMs / 1000) : 0;
      break;
    case 'gauge':
      if (stat === 'value') return values.at(-1) ?? 0;
      if (stat === 'min') return Math.min(...values);
      if (stat === 'max') return Math.max(...values);
      break;
    case 'rate': {
      const passes = values.filter((v) => v !== 0).length;
      if (stat === 'rate') return values.length === 0 ? Number.NaN : passes / values.length;
      if (stat === 'passes') return passes;
      if (stat === 'fails') return values.length - passes;
      break;
    }
    case 'trend': {
      if (values.length === 0) return Number.NaN;
      const sorted = [...values].sort((a, b) => a - b);
      if (stat === 'count') return values.length;
      if (stat === 'avg') return sum / values.length;
      if (stat === 'min') return sorted[0] ?? Number.NaN;
      if (stat === 'max') return sorted.at(-1) ?? Number.NaN;
      if (stat === 'med') return percentile(sorted, 0.5);
      const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(stat);
      if (p !== null) return percentile(sorted, Number(p[1]) / 100);
      break;
    }
  }
  throw new Error(`'${stat}' is not a statistic of a ${type} metric`);
}

export interface Threshold {
  /** The key in options.thresholds: a metric name, maybe with a tag filter `name{k:v}`. */
  key: string;
  metric: string;
  tags: Record<string, string>;
  stat: string;
  op: string;
  limit: number;
  expression: string;
}

const EXPRESSION =
  /^\s*(count|rate|value|avg|min|max|med|p\(\d+(?:\.\d+)?\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;
const VALID: Record<MetricType, RegExp> = {
  counter: /^(count|rate)$/,
  gauge: /^value$/,
  rate: /^rate$/,
  trend: /^(avg|min|max|med|p\(.*\))$/,
};

/** Parse options.thresholds as k6 does at start: an unknown metric or a bad expression is an error. */
export function parseThresholds(
  thresholds: Record<string, (string | { threshold: string })[]>,
  metrics: ReadonlyMap<string, MetricDecl>,
): Threshold[] {
  const out: Threshold[] = [];
  for (const [key, list] of Object.entries(thresholds)) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)(?:\{(.*)\})?$/.exec(key);
    const name = m?.[1];
    if (m === null || name === undefined) throw new Error(`invalid threshold key '${key}'`);
    const decl = metrics.get(name);
    if (decl === undefined) throw new Error(`threshold on '${key}': no metric named '${name}'`);
    const tags = Object.fromEntries(
      (m[2] ?? '')
        .split(',')
        .filter((t) => t.trim() !== '')
        .map((t) => {
          const [k = '', ...v] = t.split(':');
          return [k.trim(), v.join(':').trim()];
        }),
    );
    for (const item of list) {
      const expression = typeof item === 'string' ? item : item.threshold;
      const e = EXPRESSION.exec(expression);
      if (e === null) throw new Error(`threshold '${expression}' on ${key} does not parse`);
      const [, stat = '', op = '', limit = ''] = e;
      if (!VALID[decl.type].test(stat))
        throw new Error(`threshold '${expression}': ${stat} is no statistic of a ${decl.type}`);
      out.push({ key, metric: name, tags, stat, op, limit: Number(limit), expression });
    }
  }
  return out;
}

export function compare(value: number, op: string, limit: number): boolean {
  switch (op) {
    case '<':
      return value < limit;
    case '<=':
      return value <= limit;
    case '>':
      return value > limit;
    case '>=':
      return value >= limit;
    case '==':
    case '===':
      return value === limit;
    case '!=':
      return value !== limit;
    default:
      throw new Error(`unknown operator ${op}`);
  }
}

export function matches(sample: Sample, tags: Record<string, string>): boolean {
  return Object.entries(tags).every(([k, v]) => sample.tags[k] === v);
}

/** A metric's summary values, as k6's `data.metrics[name].values`. */
export function summaryValues(
  decl: MetricDecl,
  values: readonly number[],
  trendStats: readonly string[],
  durationMs: number,
): SummaryMetric['values'] {
  const stats =
    decl.type === 'trend'
      ? trendStats
      : decl.type === 'rate'
        ? ['rate', 'passes', 'fails']
        : decl.type === 'gauge'
          ? ['value', 'min', 'max']
          : ['count', 'rate'];
  return Object.fromEntries(stats.map((s) => [s, statistic(decl.type, values, s, durationMs)]));
}
