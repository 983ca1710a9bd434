import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterSummary } from '../../loadtest/harness/cluster-summary.ts';
import { renderReportHtml } from '../../loadtest/harness/report-html.ts';
import type { RunReport, TimelinePoint } from '../../loadtest/harness/report-model.ts';
import { compareTable, runTitle, summaryTable } from '../../loadtest/harness/summary-table.ts';
import { findChromium, launchChromium, missingChromiumMessage, watchPage } from '../support/browser.ts';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as RunReport;
const hot = fixture('report.json');
/** A real run: 150 phones over three nodes, 1.1.0 rolled out from 8 s, node by node. */
const rolling = fixture('cluster-report.json');
const artifacts = new URL('../../test-artifacts/', import.meta.url);
const uplotJs = readFileSync(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');

/**
 * The same load through a restart at t=20 instead: every session dropped, the node down for
 * two seconds (nothing connected, no media acknowledged), phones registering again on 1.1.0
 * over the next four, the calls cut at the restart lost along with their CDRs.
 */
function restartOf(report: RunReport): RunReport {
  const reconnected: Record<number, number> = { 22: 620, 23: 1450, 24: 1930 };
  const timeline = report.timeline.map((p): TimelinePoint => {
    if (p.t < 20) return { ...p, phase: null };
    if (p.t < 22)
      return {
        ...p,
        connected: 0,
        inCall: 0,
        callsStarted: 0,
        callsCompleted: 0,
        rttP50: null,
        rttP99: null,
        rttMax: null,
        setupP99: null,
        acks: 0,
        dropped: p.t === 20 ? 2000 : 0,
        lostMedia: p.t === 20 ? 4870 : 0,
        errors: p.t === 20 ? 1152 : 1709,
        phase: 'restart',
        releases: {},
      };
    const connected = reconnected[p.t] ?? p.connected;
    const storm = p.t <= 24;
    return {
      ...p,
      connected,
      inCall: Math.round((p.inCall * connected) / 2000),
      callsStarted: p.t === 22 ? 286 : p.t === 23 ? 402 : p.callsStarted,
      callsCompleted: storm ? Math.round(p.callsCompleted * 0.2) : p.callsCompleted,
      rttP50: storm ? 14.2 : p.rttP50,
      rttP99: storm ? ([212.4, 96.5, 31.8][p.t - 22] ?? null) : p.rttP99,
      rttMax: storm ? ([488, 240, 77][p.t - 22] ?? null) : p.rttMax,
      setupP99: storm ? ([340, 150, 42][p.t - 22] ?? null) : p.setupP99,
      errors: p.t === 22 ? 21 : 0,
      phase: null,
      releases: { '1.1.0': connected },
    };
  });
  const completed = timeline.reduce((sum, p) => sum + p.callsCompleted, 0);
  const droppedCalls = 1012;
  const summary = {
    ...report.summary,
    callsCompleted: completed,
    droppedSessions: 2000,
    droppedCalls,
    lostMedia: 4870,
    errorsByCode: { ECONNREFUSED: 2718, ECONNRESET: 143, HOT_ERR_CALL_NOT_FOUND: 21 },
    rttMs: { ...report.summary.rttMs, p99: 31.5, p999: 212.4, max: 488 },
    rttP99DuringInstallMs: 212.4,
    recoverMs: 5400,
    installOutcome: 'restarted',
    cdr: {
      checked: completed + droppedCalls,
      matched: completed,
      missing: droppedCalls,
      duplicated: 0,
      mismatched: 0,
    },
  };
  const value: Record<string, number> = {
    'dropped sessions': 2000,
    'dropped calls': droppedCalls,
    'lost media frames': 4870,
    'media round trip p99 (ms)': 31.5,
    'round trip p99 during install (ms)': 212.4,
    'CDRs not matched': droppedCalls,
  };
  return {
    ...report,
    settings: { ...report.settings, mode: 'restart' },
    summary,
    timeline,
    marks: [
      { label: 'restart began', t: 20 },
      { label: 'restart ended', t: 21.6 },
    ],
    thresholds: report.thresholds.map((t) => {
      const v = value[t.name] ?? t.value;
      return { ...t, value: v, passed: v <= t.limit };
    }),
  };
}

const restart = restartOf(hot);

/** The same load through two handoffs of the node's process: nothing dropped, same release. */
const handoff: RunReport = {
  ...hot,
  settings: {
    ...hot.settings,
    mode: 'handoff',
    upgrades: [
      { atSeconds: 15, release: '' },
      { atSeconds: 30, release: '' },
    ],
  },
  summary: { ...hot.summary, installOutcome: 'handed_off' },
};

/** The summary block's figures, label to value and unit, as the page shows them. */
function figures(html: string): Record<string, string> {
  const cards = html.matchAll(/<div class="label">(.*?)<\/div>\n<div class="value">(.*?)<\/div>/g);
  return Object.fromEntries(
    [...cards].map(([, label, value]) => [
      label,
      (value as string).replace('<small>', ' ').replace(/<[^>]+>/g, ''),
    ]),
  );
}

/** The cells of the cli-table3 row that starts with label. */
function row(table: string, label: string): string[] {
  const line = table.split('\n').find((l) => l.startsWith(`│ ${label} `));
  if (line === undefined) throw new Error(`no row '${label}' in\n${table}`);
  return line
    .split('│')
    .slice(1, -1)
    .map((c) => c.trim());
}

describe('report.html', () => {
  const html = renderReportHtml(hot);

  it('is self-contained: the chart library is inlined, nothing is fetched', () => {
    expect(html).not.toMatch(/src="http/i);
    expect(html).not.toMatch(/href="http/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/<script[^>]*\bsrc=/i);
    // A boolean: on failure, the whole page in the diff would bury the message.
    expect(html.includes(uplotJs)).toBe(true);
    expect(html).toContain('.u-legend'); // uPlot's stylesheet
  });

  it('shows the run, the key figures and the marks', () => {
    expect(html).toContain('<h1>Hot upgrade to <span class="release">1.1.0</span></h1>');
    expect(html).toContain('<span class="badge pass">thresholds passed (6 of 6)</span>');
    expect(html).toContain('<b>2,000</b> sessions · <b>60 s</b>');
    expect(html).toContain('upgrade 1.1.0 at 20 s · releases 1.0.0 → 1.1.0');
    expect(figures(html)).toEqual({
      'dropped sessions': '0',
      'dropped calls': '0',
      'lost media': '0',
      'p99 round trip': '4.9 ms',
      'p99 during install': '11.8 ms',
      'time to recover': '0 s',
      'CDRs reconciled': '3,066 / 3,066',
      'install outcome': 'installed',
    });
    expect(html).toContain('preflight 20.0 s · commit 21.2 s · watch 23.4 s · installed 28.4 s');
    for (const phase of ['preflight', 'commit', 'watch', 'installed'])
      expect(html).toContain(`></i>${phase}</span>`);
    expect(html).toContain('<td class="empty" colspan="2">no errors</td>');
  });

  it('shows a restart with its drops, recovery and failed thresholds', () => {
    const page = renderReportHtml(restart);
    expect(page).toContain('<h1>Restart to <span class="release">1.1.0</span></h1>');
    expect(page).toContain('<span class="badge fail">thresholds FAILED (5 of 6)</span>');
    const { matched, checked } = restart.summary.cdr;
    expect(figures(page)).toEqual({
      'dropped sessions': '2,000',
      'dropped calls': '1,012',
      'lost media': '4,870',
      'p99 round trip': '31.5 ms',
      'p99 during restart': '212 ms',
      'time to recover': '5.4 s',
      'CDRs reconciled': `${matched.toLocaleString('en-US')} / ${checked.toLocaleString('en-US')}`,
      'install outcome': 'restarted',
    });
    expect(page).toContain('restart began 20.0 s · restart ended 21.6 s');
    expect(page).toContain('<td class="code">ECONNREFUSED</td><td class="num">2,718</td>');
    expect(page).toContain(
      '<td>dropped sessions</td><td class="num">0</td><td class="num">2,000</td><td class="fail">',
    );
  });

  it('escapes every string from the report', () => {
    const evil = '<script>alert(1)</script>';
    const page = renderReportHtml(hostile(evil));
    expect(page).not.toContain(evil);
    expect(page).not.toContain('<img');
    expect(page).not.toMatch(/<\/script><script>alert/);
    expect(page.match(/<script\b/g)).toHaveLength(3); // uPlot, the data, the page's code
    expect(page).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(page).toContain('\\u003cscript>alert(1)\\u003c/script>'); // in the charts' JSON
  });
});

/** The hot report with script in a release name, an error code, a mark and a phase. */
function hostile(evil: string): RunReport {
  return {
    ...hot,
    settings: { ...hot.settings, upgrades: [{ atSeconds: 20, release: evil }] },
    summary: { ...hot.summary, errorsByCode: { '<img src=x onerror=alert(2)>': 3 } },
    timeline: hot.timeline.map((p) => ({
      ...p,
      phase: p.phase === 'commit' ? `</script><script>alert(3)</script>` : p.phase,
      releases: Object.fromEntries(Object.entries(p.releases).map(([k, v]) => [k === '1.1.0' ? evil : k, v])),
    })),
    marks: [...hot.marks, { label: '</script><script>alert(4)</script>', t: 30 }],
  };
}

describe('terminal tables', () => {
  it('summaryTable gives the key figures with units', () => {
    const table = summaryTable(hot);
    expect(table.split('\n')[0]).toBe('hot upgrade to 1.1.0: 2,000 sessions, 60 s');
    expect(row(table, 'dropped sessions').slice(0, 2)).toEqual(['dropped sessions', '0']);
    expect(row(table, 'p99 round trip')[1]).toBe('4.9 ms');
    expect(row(table, 'p99 during install')[1]).toBe('11.8 ms');
    expect(row(table, 'time to recover').slice(1)).toEqual(['0 s', 'nothing dropped']);
    expect(row(table, 'CDRs reconciled')[1]).toBe('3,066 / 3,066');
    expect(row(table, 'call setup p99')[1]).toBe('8.6 ms');
    expect(row(table, 'thresholds').slice(1)).toEqual(['passed', '6 checked']);
    const failed = row(summaryTable(restart), 'thresholds');
    expect(failed[1]).toBe('FAILED');
    expect(failed[2]).toContain('dropped sessions 2,000 (limit 0); dropped calls 1,012 (limit 0)');
  });

  it('clusterSummary adds the rollout and a row per node; a run on one node has none', () => {
    const text = clusterSummary(rolling);
    expect(text).toContain('rollout of 1.1.0: upgraded in 9.6 s (from 8.2 s to 17.8 s)');
    expect(text).toContain('156 completed, 156 CDRs matched');
    expect(row(text, 'node2')).toEqual([
      'node2',
      '50',
      '0',
      '0',
      '0',
      '84.7 ms',
      '115 ms',
      '3.2 s upgraded',
      '1.1.0',
    ]);
    expect(summaryTable(rolling).split('\n')[0]).toBe(
      'rolling upgrade over 3 nodes to 1.1.0: 150 sessions, 30 s',
    );
    expect(clusterSummary(hot)).toBe('');
    expect(renderReportHtml(hot)).not.toContain('id="nodes"');
  });

  it('compareTable sets a hot install, a handoff and a restart side by side, and says what each row measures', () => {
    const table = compareTable([
      ['hot install', hot],
      ['handoff', handoff],
      ['restart', restart],
    ]);
    expect(row(table, '')).toEqual(['', 'hot install', 'handoff', 'restart']);
    expect(row(table, 'deploys')).toEqual([
      'deploys',
      'session code 1.1.0',
      'node code ×2',
      'node stopped, 1.1.0',
    ]);
    expect(row(table, 'dropped sessions')).toEqual(['dropped sessions', '0', '0', '2,000']);
    expect(row(table, 'dropped calls')).toEqual(['dropped calls', '0', '0', '1,012']);
    expect(row(table, 'lost media frames')).toEqual(['lost media frames', '0', '0', '4,870']);
    // The restart's round trip is that of the phones it did not cut off: not shown as comparable.
    expect(row(table, 'round trip p99 during deploy')).toEqual([
      'round trip p99 during deploy',
      '11.8 ms',
      '11.8 ms',
      'n/a',
    ]);
    expect(table).toContain('(restart: 212 ms over the phones still connected, 2,000 cut off)');
    expect(row(table, 'time to recover')).toEqual(['time to recover', '0 s', '0 s', '5.4 s']);
    const { matched, checked } = restart.summary.cdr;
    const restartCdrs = `${matched.toLocaleString('en-US')} / ${checked.toLocaleString('en-US')}`;
    expect(row(table, 'CDRs matched')).toEqual([
      'CDRs matched',
      '3,066 / 3,066',
      '3,066 / 3,066',
      restartCdrs,
    ]);
    const measures = table.split('What each row measures:\n')[1] ?? '';
    for (const label of ['deploys', 'dropped sessions', 'round trip p99 during deploy', 'CDRs matched'])
      expect(measures).toContain(`  ${label}: `);
  });

  it('a handoff run is titled by its handoffs, and its outcome is good news', () => {
    const table = summaryTable(handoff);
    expect(table.split('\n')[0]).toBe('2 handoffs: 2,000 sessions, 60 s');
    expect(row(table, 'p99 during handoff')[1]).toBe('11.8 ms');
    expect(row(table, 'install outcome').slice(1)).toEqual(['handed_off', 'the node process, same release']);
    const elsewhere = {
      ...handoff,
      settings: { ...handoff.settings, handoffEntry: '/srv/next/server/main.ts' },
    };
    expect(runTitle(elsewhere)).toBe('2 handoffs to /srv/next/server/main.ts');
  });
});

describe('chromium', () => {
  it('a missing chromium fails naming the Debian package, under CI and outside it', () => {
    const env = { PATH: '/nonexistent' };
    expect(findChromium(env)).toBeNull();
    expect(missingChromiumMessage({ ...env, CI: 'true' })).toContain('apt-get install -y chromium');
    expect(missingChromiumMessage(env)).toContain('apt-get install chromium');
  });
});

describe('report.html in chromium', () => {
  // Launched by the first test that needs it, so that without chromium every such test fails
  // with the message (a failing beforeAll would report them as skipped).
  let browser: Promise<Browser> | undefined;
  const chromium = () => {
    browser ??= launchChromium();
    return browser;
  };
  afterAll(async () => {
    await (await browser?.catch(() => undefined))?.close();
  });

  async function render(report: RunReport, name: string, charts = 4) {
    mkdirSync(artifacts, { recursive: true });
    const file = new URL(`${name}.html`, artifacts);
    writeFileSync(file, renderReportHtml(report));
    // A laptop's screen.
    const page = await (await chromium()).newPage({ viewport: { width: 1440, height: 900 } });
    const watch = watchPage(page);
    await page.goto(file.href);
    await page.waitForSelector(`html[data-charts="${charts}"]`, { timeout: 10_000 });
    const canvases = await page.$$eval('canvas', (all) =>
      all.map((c) => {
        const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? [];
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if ((data[i] as number) > 0) painted++;
        return { width: c.clientWidth, height: c.clientHeight, painted };
      }),
    );
    return { page, watch, canvases, file };
  }

  for (const [name, report] of [
    ['report-hot', hot],
    ['report-restart', restart],
  ] as const) {
    it(`draws ${name} offline, with no errors, and saves a screenshot`, async () => {
      const { page, watch, canvases } = await render(report, name);
      expect(canvases).toHaveLength(4);
      for (const c of canvases) {
        expect(c.width).toBeGreaterThan(600);
        expect(c.height).toBeGreaterThan(150);
        expect(c.painted).toBeGreaterThan(1000);
      }
      expect(watch.errors).toEqual([]);
      expect(watch.requests.filter((url) => !url.startsWith('file:') && !url.startsWith('data:'))).toEqual(
        [],
      );
      await page.screenshot({ path: fileURLToPath(new URL(`${name}.png`, artifacts)), fullPage: true });
      await page.close();
    });
  }

  it('draws a rolling upgrade with a panel per node, with no errors, and saves a screenshot', async () => {
    // The run's four charts, round trip and drops per node, and each node's sessions.
    const { page, watch, canvases } = await render(rolling, 'report-rolling', 9);
    expect(canvases).toHaveLength(9);
    for (const c of canvases) expect(c.painted).toBeGreaterThan(1000);
    expect(watch.errors).toEqual([]);
    expect(await page.textContent('h1')).toBe('Rolling upgrade over 3 nodes to 1.1.0');
    const rows = await page.$$eval('.node-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(rows.map((r) => [r[0], r[2], r[3], r[8]])).toEqual([
      ['node1', '0', '0', '1.1.0'],
      ['node2', '0', '0', '1.1.0'],
      ['node3', '0', '0', '1.1.0'],
    ]);
    expect(await page.textContent('#chart-node-1 .u-legend')).toContain('1.0.0');
    await page.screenshot({ path: fileURLToPath(new URL('report-rolling.png', artifacts)), fullPage: true });
    await page.close();
  });

  it('runs none of the hostile strings', async () => {
    const evil = '<script>alert(1)</script>';
    const { page, watch } = await render(hostile(evil), 'report-hostile');
    expect(watch.dialogs).toEqual([]);
    expect(watch.errors).toEqual([]);
    expect(await page.textContent('h1')).toBe(`Hot upgrade to ${evil}`);
    expect(await page.textContent('#chart-sessions .u-legend')).toContain(evil);
    await page.close();
  });
});
