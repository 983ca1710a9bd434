/**
 * Counters across a node handoff: the successor adds the old process's values to its own, so
 * a counter never goes backwards for a scrape that spans the handoff. Histograms and gauges
 * start afresh in the successor (a histogram's series restart: Prometheus reads that as a
 * counter reset, which rate() and increase() handle); process_* metrics describe the OS
 * process and restart with it.
 */
import type { Counter, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

export type MetricsValues = MetricObjectWithValues<MetricValue<string>>[];

export function carryCounters(registry: Registry, from: MetricsValues): void {
  for (const m of from) {
    if (String(m.type) !== 'counter' || m.name.startsWith('process_')) continue;
    const counter = registry.getSingleMetric(m.name) as (Counter & { labelNames?: string[] }) | undefined;
    if (counter === undefined || typeof counter.inc !== 'function') continue;
    const names = new Set(counter.labelNames ?? []);
    for (const v of m.values) {
      if (v.value <= 0) continue;
      // Default labels (the node's name) come with the values; the counter adds them itself.
      const labels = Object.fromEntries(Object.entries(v.labels).filter(([k]) => names.has(k)));
      counter.inc(labels, v.value);
    }
  }
}
