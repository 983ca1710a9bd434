/**
 * Every PromQL expression of every dashboard — panel targets, variables, annotations —
 * returns data from a real Prometheus that scraped a real node once a second while the load
 * harness ran calls through a hot install and its rollback. Evaluated as Grafana evaluates
 * them: a range query over the run, with Grafana's template variables filled in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ManagedNode } from '../../loadtest/harness/managed-node.ts';
import type { RunReport } from '../../loadtest/harness/report-model.ts';
import { runLoad } from '../../loadtest/harness/run.ts';
import { tempDataDir, waitFor } from '../calls/helpers.ts';
import { PrometheusServer } from './prometheus-server.ts';

const dashboardsDir = fileURLToPath(new URL('../../grafana/dashboards', import.meta.url));

interface Expression {
  dashboard: string;
  /** Where in the dashboard: panel title, variable or annotation name. */
  where: string;
  expr: string;
}

/**
 * Every `expr` anywhere in a dashboard (panel targets, annotation targets, rows), and every
 * query variable's query: a walk over the JSON, so a new place cannot be missed.
 */
function expressions(): Expression[] {
  const out: Expression[] = [];
  const walk = (value: unknown, dashboard: string, where: string): void => {
    if (Array.isArray(value)) for (const v of value) walk(v, dashboard, where);
    if (typeof value !== 'object' || value === null) return;
    const o = value as Record<string, unknown>;
    const here =
      typeof o.title === 'string' ? `"${o.title}"` : typeof o.name === 'string' ? `"${o.name}"` : where;
    if (typeof o.expr === 'string') out.push({ dashboard, where: here, expr: o.expr });
    if (o.type === 'query' && o.query !== undefined)
      out.push({
        dashboard,
        where: `variable ${here}`,
        expr: typeof o.query === 'string' ? o.query : String((o.query as { query: unknown }).query),
      });
    for (const [key, v] of Object.entries(o)) if (key !== 'query') walk(v, dashboard, here);
  };
  for (const file of readdirSync(dashboardsDir).filter((f) => f.endsWith('.json')))
    walk(JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8')), file, 'dashboard');
  return out;
}

const NODE = 'promql-node';
const STEP_SECONDS = 2;

/** Grafana's built-in variables and the dashboards' own, as Grafana would fill them in. */
function fill(expr: string, rangeSeconds: number): string {
  return expr
    .replaceAll('$__rate_interval', '5s')
    .replaceAll('$__interval', `${STEP_SECONDS}s`)
    .replaceAll('$__range', `${Math.ceil(rangeSeconds)}s`)
    .replaceAll(/\$\{?node\}?/g, NODE);
}

describe('dashboards against a real Prometheus', () => {
  let prometheus: PrometheusServer;
  let node: ManagedNode;
  let report: RunReport;
  let window: { start: number; end: number };

  beforeAll(async () => {
    node = await ManagedNode.start(tempDataDir(), ['--node', NODE]);
    await node.upload('1.1.0');
    const metricsAt = node.url.replace(/^ws:\/\//, '').replace(/\/calls$/, '');
    prometheus = await PrometheusServer.start([metricsAt]);
    const start = Date.now();
    await waitFor(
      'the first scrape',
      async () => (await prometheus.targets())[0]?.health === 'up',
      10_000,
      200,
    );
    // A phone that sends garbage: the protocol errors panel has something to show.
    const bad = new WebSocket(node.url);
    await new Promise((resolve) => bad.once('open', resolve));
    bad.send('{not json');
    report = await runLoad({
      node,
      sessions: 80,
      rampSeconds: 2,
      durationSeconds: 12,
      upgrades: [{ atSeconds: 4, release: '1.1.0' }],
      rollbackAtSeconds: 9,
      mode: 'hot',
      mediaRate: 5,
      meanCallSeconds: 2,
      phonesPerWorker: 40,
      sourceAddresses: 2,
      fromRelease: '1.0.0',
      watchMs: 30_000,
      thresholds: {},
      userPrefix: 'pq-',
    });
    bad.close();
    // Two more scrapes, so the end of the run is in Prometheus.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    window = { start, end: Date.now() };
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await node?.stop();
  });

  it('scraped the node through a hot install and its rollback', () => {
    expect(report.summary.installOutcome).toBe('rolled_back');
    expect(report.summary.droppedSessions).toBe(0);
  });

  it('finds expressions in every dashboard', () => {
    const all = expressions();
    const dashboards = new Set(all.map((e) => e.dashboard));
    expect(dashboards.size).toBeGreaterThanOrEqual(2);
    for (const d of dashboards) {
      const of = all.filter((e) => e.dashboard === d).map((e) => e.where);
      expect(of, d).toEqual(expect.arrayContaining(['"Install phases"', '"Rollbacks"', 'variable "node"']));
      expect(of.length, d).toBeGreaterThan(20);
    }
  });

  it('every expression returns data', async () => {
    const empty: string[] = [];
    const rangeSeconds = (window.end - window.start) / 1000;
    for (const e of expressions()) {
      const name = `${e.dashboard} ${e.where}: ${e.expr}`;
      const labelValues = /^label_values\((.+),\s*(\w+)\)$/.exec(e.expr.trim());
      if (labelValues) {
        const match = fill(labelValues[1] as string, rangeSeconds);
        const values = await prometheus.labelValues(labelValues[2] as string, match);
        if (values.length === 0) empty.push(name);
        continue;
      }
      const series = await prometheus.queryRange(
        fill(e.expr, rangeSeconds),
        window.start,
        window.end,
        STEP_SECONDS,
      );
      if (!series.some((s) => s.values.length > 0)) empty.push(name);
    }
    expect(empty).toEqual([]);
  }, 60_000);
});
