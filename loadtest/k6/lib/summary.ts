/**
 * handleSummary for the Hotline scripts: a plain-text report on stdout (thresholds first,
 * then every metric and check) and the whole of k6's summary data as JSON. Written here
 * rather than taken from k6's remote jslib so that it runs offline and can be tested.
 * Plain code with no k6 import: the Node test suite calls it too.
 */

/** The shape of the `data` k6 passes to handleSummary (the parts this file reads). */
export interface SummaryMetric {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  contains: 'default' | 'time' | 'data';
  /** counter: count, rate; gauge: value, min, max; rate: rate, passes, fails; trend: the summaryTrendStats. */
  values: Record<string, number>;
  /** Each threshold expression of the metric and whether it held. */
  thresholds?: Record<string, { ok: boolean }>;
}

export interface SummaryCheck {
  name: string;
  path: string;
  id: string;
  passes: number;
  fails: number;
}

export interface SummaryGroup {
  name: string;
  path: string;
  id: string;
  groups: SummaryGroup[];
  checks: SummaryCheck[];
}

export interface SummaryData {
  metrics: Record<string, SummaryMetric>;
  root_group: SummaryGroup;
  options: { summaryTrendStats: string[]; summaryTimeUnit: string; noColor: boolean };
  state: { isStdOutTTY: boolean; isStdErrTTY: boolean; testRunDurationMs: number };
}

export interface ThresholdResult {
  metric: string;
  expression: string;
  ok: boolean;
  /** The value the expression tested, when the summary has it. */
  value: number | undefined;
}

/** Every threshold in the summary, in metric name order. */
export function thresholdResults(data: SummaryData): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const name of Object.keys(data.metrics).sort()) {
    const m = data.metrics[name];
    for (const [expression, { ok }] of Object.entries(m?.thresholds ?? {})) {
      const stat = /^\s*([a-z]+(?:\([\d.]+\))?)/.exec(expression)?.[1];
      out.push({ metric: name, expression, ok, value: stat === undefined ? undefined : m?.values[stat] });
    }
  }
  return out;
}

function format(value: number | undefined, m: SummaryMetric, stat: string): string {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (m.contains === 'time' && stat !== 'count')
    return value >= 1000 ? `${(value / 1000).toFixed(2)}s` : `${value.toFixed(2)}ms`;
  if (m.type === 'rate' && stat === 'rate') return `${(value * 100).toFixed(2)}%`;
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

function statsOf(m: SummaryMetric, trendStats: string[]): string {
  const keys =
    m.type === 'trend'
      ? trendStats.filter((k) => k in m.values)
      : m.type === 'rate'
        ? ['rate', 'passes', 'fails']
        : m.type === 'gauge'
          ? ['value', 'min', 'max']
          : ['count', 'rate'];
  return keys
    .filter((k) => m.values[k] !== undefined)
    .map((k) => `${k}=${format(m.values[k], m, k)}${m.type === 'counter' && k === 'rate' ? '/s' : ''}`)
    .join(' ');
}

function allChecks(g: SummaryGroup): SummaryCheck[] {
  return [...g.checks, ...g.groups.flatMap(allChecks)];
}

/** The report printed at the end of a run. */
export function textSummary(data: SummaryData, title: string): string {
  const lines: string[] = [];
  const seconds = (data.state.testRunDurationMs / 1000).toFixed(1);
  lines.push(`${title}: ${seconds} s`, '');

  const thresholds = thresholdResults(data);
  const crossed = thresholds.filter((t) => !t.ok);
  if (thresholds.length > 0) {
    lines.push('thresholds');
    const width = Math.max(...thresholds.map((t) => t.metric.length + t.expression.length + 1));
    for (const t of thresholds) {
      const m = data.metrics[t.metric];
      const stat = /^\s*([a-z]+(?:\([\d.]+\))?)/.exec(t.expression)?.[1] ?? '';
      const value = m === undefined ? '-' : format(t.value, m, stat);
      lines.push(
        `  ${t.ok ? 'ok  ' : 'FAIL'} ${`${t.metric} ${t.expression}`.padEnd(width)}  (${stat} ${value})`,
      );
    }
    lines.push('');
  }

  const names = Object.keys(data.metrics).sort();
  if (names.length > 0) {
    lines.push('metrics');
    const width = Math.max(...names.map((n) => n.length));
    for (const name of names) {
      const m = data.metrics[name];
      if (m !== undefined)
        lines.push(`  ${name.padEnd(width)}  ${statsOf(m, data.options.summaryTrendStats)}`);
    }
    lines.push('');
  }

  const checks = allChecks(data.root_group);
  if (checks.length > 0) {
    lines.push('checks');
    for (const c of checks)
      lines.push(`  ${c.fails === 0 ? 'ok  ' : 'FAIL'} ${c.name}: ${c.passes} passed, ${c.fails} failed`);
    lines.push('');
  }

  lines.push(
    crossed.length === 0
      ? `result: PASS (${thresholds.length} thresholds held)`
      : `result: FAIL (${crossed.length} of ${thresholds.length} thresholds crossed: ${crossed
          .map((t) => `${t.metric} ${t.expression}`)
          .join(', ')})`,
  );
  return `${lines.join('\n')}\n`;
}

/** What handleSummary returns: the report on stdout and the data as JSON in `jsonPath`. */
export function summaryOutputs(
  data: SummaryData,
  title: string,
  jsonPath = 'summary.json',
): Record<string, string> {
  return { stdout: textSummary(data, title), [jsonPath]: JSON.stringify(data, null, 2) };
}
