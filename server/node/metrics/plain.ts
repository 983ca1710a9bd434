/**
 * Metrics counted on the hot path (per frame, per session message) with plain additions,
 * handed to prom-client at scrape: prom-client's own `inc` and `observe` hash their labels
 * and allocate on every call, which those paths cannot afford.
 */
import { Counter, type Metric, type Registry } from 'prom-client';

/** A counter with one label, counted in a plain map and added to prom-client on each scrape. */
export function plainCounter(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  known: readonly string[] = [],
): { count(value: string): void; total(): number } {
  const pending = new Map<string, number>(known.map((value) => [value, 0]));
  let total = 0;
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [value, n] of pending) this.inc({ [label]: value }, n);
      pending.clear();
    },
  });
  return {
    count: (value) => {
      total++;
      pending.set(value, (pending.get(value) ?? 0) + 1);
    },
    total: () => total,
  };
}

/** What one label value of a plain histogram has counted: per bucket (not cumulative), sum, count. */
interface PlainSeries {
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** A histogram with one label, as prom-client's exports it, observed with plain additions. */
export function plainHistogram(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  bounds: number[],
): { observe(value: string, v: number): void } {
  const series = new Map<string, PlainSeries>();
  const get = async () => {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [value, s] of series) {
      let acc = 0;
      bounds.forEach((le, i) => {
        acc += s.buckets[i] as number;
        values.push({ labels: { le, [label]: value }, value: acc, metricName: `${name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', [label]: value }, value: s.count, metricName: `${name}_bucket` });
      values.push({ labels: { [label]: value }, value: s.sum, metricName: `${name}_sum` });
      values.push({ labels: { [label]: value }, value: s.count, metricName: `${name}_count` });
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  // prom-client's registry reads a metric through get() (and reset()); its Metric class is not meant to be extended.
  registry.registerMetric({ name, help, get, reset: () => series.clear() } as unknown as Metric);
  return {
    observe(value, v) {
      let s = series.get(value);
      if (s === undefined) {
        s = { buckets: new Float64Array(bounds.length), sum: 0, count: 0 };
        series.set(value, s);
      }
      s.sum += v;
      s.count++;
      // A value past the last bound counts in +Inf only, as in prom-client.
      for (let i = 0; i < bounds.length; i++) {
        if (v <= (bounds[i] as number)) {
          s.buckets[i] = (s.buckets[i] as number) + 1;
          break;
        }
      }
    },
  };
}
