/**
 * Every PromQL expression of every dashboard — panel targets, variables, annotations —
 * returns data from a real Prometheus that scraped a real node once a second while the load
 * harness ran calls through a hot install and its rollback (then one install went through,
 * and the node's process was handed to a successor). Evaluated as Grafana evaluates them: a
 * range query over the run, with Grafana's template variables filled in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ManagedNode } from '../../loadtest/harness/managed-node.ts';
import type { RunReport } from '../../loadtest/harness/report-model.ts';
import { runLoad } from '../../loadtest/harness/run.ts';
import { AdminClient } from '../../server/ops/admin-client.ts';
import type { InstallProgress } from '../../server/release/installer.ts';
import { tempDataDir } from '../support/test-node.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { expressions, fillTokens, variableQueries } from './dashboard-lint.ts';
import { PrometheusServer } from './prometheus-server.ts';

const dashboardsDir = fileURLToPath(new URL('../../grafana/dashboards', import.meta.url));

const dashboards = readdirSync(dashboardsDir)
  .filter((f) => f.endsWith('.json'))
  .map((file) => ({ file, json: JSON.parse(readFileSync(join(dashboardsDir, file), 'utf8')) as unknown }));

const NODE = 'promql-node';
const STEP_SECONDS = 2;

describe('dashboards against a real Prometheus', () => {
  let prometheus: PrometheusServer;
  let node: ManagedNode;
  let report: RunReport;
  let window: { start: number; end: number };
  /**
   * Grafana's $__rate_interval: at least four scrape intervals (Grafana's own is a minute or
   * more), and here a step longer than the longest gap between two scrapes of the run (the
   * handoff's, whose successor refuses scrapes until it has the node, or one a busy machine
   * made). The grid's first point after a counter moved is less than a step after the sample
   * that shows the move, so its window still holds the sample before: increase() sees the move.
   */
  let rateInterval = '5s';

  beforeAll(async () => {
    // Under the keeper, as `npm start` runs it: the handoff at the end replaces its process.
    node = await ManagedNode.start(tempDataDir(), ['--node', NODE], true);
    await node.upload('1.1.0');
    await node.upload('2.0.0');
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
      keyDir: node.dataDir,
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
    // And one install that completes, for the "Installs finished" annotation.
    const admin = new AdminClient(node.adminUrl, node.token);
    await admin.post('/admin/releases/2.0.0/install', { watchMs: 100 });
    await waitFor(
      'the 2.0.0 install to finish',
      async () =>
        (await admin.get<{ install: InstallProgress }>('/admin/install')).install.outcome === 'installed',
      15_000,
      100,
    );
    // And a handoff, for the handoff annotations: its first phases (the successor starting)
    // are scraped from the old process, its outcome from the successor.
    await new AdminClient(node.adminUrl, node.token, 60_000).post('/admin/node/handoff', {});
    // The handoff is counted only from the successor's first scrape, which may come after the
    // answer; the grid must have a point at or after that sample, or "Handoffs" marks nothing.
    const { countedAt, longestGapMs } = await waitFor(
      'a scrape of the successor, which counts the handoff',
      async () => {
        const seconds = Math.ceil((Date.now() - start) / 1000) + 1;
        const [series] = await prometheus.samples(
          `hotline_handoffs_total{node="${NODE}", outcome="done"}`,
          seconds,
        );
        const counted = series?.values.find(([, v]) => Number(v) > 0);
        if (counted === undefined) return undefined;
        const at = (series?.values ?? []).map(([t]) => t * 1000);
        return {
          countedAt: counted[0] * 1000,
          longestGapMs: Math.max(...at.map((t, i) => t - (at[i - 1] ?? t))),
        };
      },
      15_000,
      200,
    );
    rateInterval = `${Math.max(5, Math.ceil(longestGapMs / 1000) + STEP_SECONDS)}s`;
    const end = countedAt + STEP_SECONDS * 1000;
    await sleep(end - Date.now());
    // The handoff's first phases last as long as the successor takes to start, a scrape or two
    // on a fast machine, which a grid point may step over: the grid goes through the first
    // sample that shows one (it starts less than a step later than the run, never earlier).
    const phases = await prometheus.samples(
      `hotline_handoff_phase{node="${NODE}", phase!~"done|failed"}`,
      Math.ceil((end - start) / 1000) + 1,
      end,
    );
    const phaseAt = Math.min(
      ...phases.flatMap((p) => p.values.filter(([, v]) => v === '1').map(([t]) => Math.round(t * 1000))),
    );
    const step = STEP_SECONDS * 1000;
    window = {
      start: Number.isFinite(phaseAt) ? phaseAt - Math.floor((phaseAt - start) / step) * step : start,
      end,
    };
  }, 150_000);

  afterAll(async () => {
    await prometheus?.stop();
    await node?.stop();
  });

  it('scraped the node through a hot install and its rollback', () => {
    expect(report.summary.installOutcome).toBe('rolled_back');
    expect(report.summary.droppedSessions).toBe(0);
  });

  it('finds panels, annotations and variables in every dashboard', () => {
    expect(dashboards.length).toBeGreaterThanOrEqual(2);
    for (const { file, json } of dashboards) {
      expect(expressions(json).length, file).toBeGreaterThan(20);
      expect(expressions(json).filter((e) => e.where.startsWith('annotations')).length, file).toBe(5);
      expect(variableQueries(json).length, file).toBeGreaterThan(0);
    }
  });

  it('every expression returns data; every annotation marks something', async () => {
    const empty: string[] = [];
    const rangeSeconds = Math.ceil((window.end - window.start) / 1000);
    const fill = (expr: string) =>
      fillTokens(expr, {
        $node: NODE,
        $__rate_interval: rateInterval,
        $__interval: `${STEP_SECONDS}s`,
        $__range: `${rangeSeconds}s`,
      });
    for (const { file, json } of dashboards) {
      for (const e of expressions(json)) {
        const series = await prometheus.queryRange(fill(e.expr), window.start, window.end, STEP_SECONDS);
        const values = series.flatMap((s) => s.values.map(([, v]) => Number(v)));
        // Grafana draws an annotation where the value is not zero: the install, the
        // rollback and the handoff this run went through must each leave one.
        const ok = e.where.startsWith('annotations') ? values.some((v) => v > 0) : values.length > 0;
        if (!ok) empty.push(`${file} ${e.where}: ${e.expr}`);
      }
      for (const v of variableQueries(json)) {
        const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.query.trim());
        const values = m ? await prometheus.labelValues(m[2] as string, fill(m[1] as string)) : [];
        if (!values.includes(NODE)) empty.push(`${file} ${v.where}: ${v.query}`);
      }
    }
    expect(empty).toEqual([]);
  }, 60_000);
});
