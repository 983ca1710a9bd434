/**
 * report.html: one self-contained page (uPlot's code and stylesheet inlined, no network when
 * opened) for comparing a hot upgrade with a restart. Every string from the report is
 * untrusted: text is HTML-escaped, and the data the charts read is embedded as JSON that
 * cannot close its script element.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { NODE_SCRIPT, type NodePanelModel, nodePanelHtml, nodePanelModel } from './report-html-nodes.ts';
import type { InstallMark, RunReport } from './report-model.ts';
import { escapeHtml, type PhaseBand, phaseBands, releaseOrder, releaseStyles } from './report-style.ts';
import {
  formatCount,
  formatNumber,
  keyFigures,
  modeName,
  runTitle,
  targetReleases,
  thresholdVerdict,
} from './summary-table.ts';

/** Everything the page's script draws, precomputed here so the script stays small. */
interface ChartModel {
  duration: number;
  t: number[];
  rttP50: (number | null)[];
  rttP99: (number | null)[];
  rttMax: (number | null)[];
  releases: { name: string; stroke: string; fill: string; counts: number[] }[];
  connected: number[];
  dropped: number[];
  lostMedia: number[];
  errors: number[];
  callsStarted: number[];
  callsCompleted: number[];
  setupP99: (number | null)[];
  phases: PhaseBand[];
  marks: InstallMark[];
  /** Only in a run over several nodes. */
  nodes?: NodePanelModel[];
}

let uplot: { js: string; css: string; version: string } | undefined;

/** Read once per process from node_modules: the page carries the library itself. */
function uplotAssets(): { js: string; css: string; version: string } {
  if (uplot === undefined) {
    const require = createRequire(import.meta.url);
    const file = (path: string) => readFileSync(require.resolve(`uplot/${path}`), 'utf8');
    uplot = {
      js: file('dist/uPlot.iife.min.js'),
      css: file('dist/uPlot.min.css'),
      version: (JSON.parse(file('package.json')) as { version: string }).version,
    };
  }
  return uplot;
}

/** Inside <script>, only '<' can end the element early ('</script', '<!--'); JSON allows \u003c. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** The inlined library must not contain a closing tag either; its strings read the same escaped. */
function scriptCode(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1');
}

/** A log scale cannot place zero: a zero round trip is drawn as no value. */
const positive = (v: number | null) => (v !== null && v > 0 ? v : null);

function chartModel(report: RunReport): ChartModel {
  const tl = report.timeline;
  const last = tl.at(-1);
  return {
    duration: Math.max(report.settings.durationSeconds, last === undefined ? 0 : last.t + 1),
    t: tl.map((p) => p.t),
    rttP50: tl.map((p) => positive(p.rttP50)),
    rttP99: tl.map((p) => positive(p.rttP99)),
    rttMax: tl.map((p) => positive(p.rttMax)),
    releases: releaseStyles(tl).map((r) => ({ ...r, counts: tl.map((p) => p.releases[r.name] ?? 0) })),
    connected: tl.map((p) => p.connected),
    dropped: tl.map((p) => p.dropped),
    lostMedia: tl.map((p) => p.lostMedia),
    errors: tl.map((p) => p.errors),
    callsStarted: tl.map((p) => p.callsStarted),
    callsCompleted: tl.map((p) => p.callsCompleted),
    setupP99: tl.map((p) => p.setupP99),
    phases: phaseBands(tl),
    marks: runMarks(report),
    ...(report.cluster === undefined ? {} : { nodes: nodePanelModel(report, report.cluster) }),
  };
}

/**
 * The marks over the run's charts. Over several nodes, each node's install shows there by
 * its name alone; its phases are marked on that node's own chart (report-html-nodes.ts).
 */
function runMarks(report: RunReport): InstallMark[] {
  const marks = [...report.marks].sort((a, b) => a.t - b.t);
  const nodes = report.cluster?.nodes.map((n) => n.node);
  if (nodes === undefined) return marks;
  const nodeOf = (m: InstallMark) => nodes.find((n) => m.label.startsWith(`${n} `));
  const first = new Set(nodes.map((n) => marks.find((m) => nodeOf(m) === n)));
  return marks.flatMap((m) => {
    const node = nodeOf(m);
    if (node === undefined) return [m];
    return first.has(m) ? [{ ...m, label: node }] : [];
  });
}

const PAGE_CSS = `
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --good: #15803d; --bad: #b91c1c;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: var(--ink); font: 14px/1.45 var(--font); }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 32px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 16px; }
h1 { margin: 0; font-size: 24px; font-weight: 650; }
h1 .release { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 21px; }
.badge { padding: 3px 10px; border-radius: 999px; font-weight: 600; font-size: 13px; color: #fff; }
.badge.pass { background: var(--good); } .badge.fail { background: var(--bad); } .badge.none { background: var(--muted); }
.meta { flex-basis: 100%; margin: 0; color: var(--muted); }
.meta b { color: var(--ink); font-weight: 600; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 10px; margin: 16px 0 18px; }
.figure { background: #fff; border: 1px solid var(--line); border-top: 4px solid var(--line); border-radius: 8px; padding: 8px 12px 10px; }
.figure.good { border-top-color: var(--good); } .figure.bad { border-top-color: var(--bad); }
.figure .label { color: var(--muted); font-size: 13px; font-weight: 500; white-space: nowrap; }
.figure .value { font-size: 26px; font-weight: 650; line-height: 1.3; }
/* A long figure ("43,384 / 43,384") wraps its unit part under the number rather than overflow the tile. */
.figure .value small { display: inline-block; white-space: nowrap; margin-left: 4px; font-size: 14px; font-weight: 500; color: var(--muted); }
.figure.bad .value { color: var(--bad); }
.figure .note { color: var(--muted); font-size: 12px; }
.key { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 18px; margin: 0 0 8px; color: var(--muted); font-size: 13px; }
.key .swatch { display: inline-block; width: 14px; height: 14px; margin-right: 5px; border: 1px solid #d1d5db; vertical-align: -3px; }
.key .mark { display: inline-block; width: 0; height: 14px; margin: 0 6px 0 4px; border-left: 2px dashed #312e81; vertical-align: -3px; }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 0 0 12px; padding: 10px 12px 4px; }
.chart h2 { margin: 0 0 2px; font-size: 15px; font-weight: 600; }
.chart h2 small { color: var(--muted); font-weight: 400; font-size: 13px; }
.uplot { font-family: var(--font); }
.u-legend { font-size: 13px; }
.u-legend th { font-weight: 500; }
/* Values in the legend only while the cursor is on a chart; '—' everywhere reads as missing data. */
.idle .u-legend .u-value, .idle .u-legend .u-series:first-child { display: none; }
.idle .u-inline.u-live th::after { content: none; }
.node-table { margin: 0 0 12px; }
.node-table h2 small { color: var(--muted); font-weight: 400; font-size: 13px; }
.tables { display: grid; grid-template-columns: 2fr 1fr; gap: 12px; }
.tables section, .node-table { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.tables h2, .node-table h2 { margin: 0 0 6px; font-size: 15px; font-weight: 600; }
table { width: 100%; border-collapse: collapse; }
.tables th, .tables td, .node-table th, .node-table td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); }
.tables th, .node-table th { color: var(--muted); font-weight: 500; font-size: 12px; text-transform: uppercase; }
.tables .num, .node-table .num { text-align: right; font-variant-numeric: tabular-nums; }
td.code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
td.pass { color: var(--good); font-weight: 600; } td.fail { color: var(--bad); font-weight: 600; }
td.empty { color: var(--muted); }
footer { margin-top: 14px; color: var(--muted); font-size: 12px; }
`;

/**
 * Runs in the page. Marks and phases are drawn on the canvas by a uPlot plugin; mark labels sit
 * in a band above the plot, in as many rows as they need not to overlap.
 */
const pageScript = (nodeScript: string) => `
(() => {
  'use strict';
  const m = JSON.parse(document.getElementById('report-data').textContent);
  const px = uPlot.pxRatio;
  const family = getComputedStyle(document.body).fontFamily;
  const FONT = '12px ' + family;
  const MARK_COLOR = '#312e81';
  const ROW = 17;
  // Every chart gives its y axes the same room, so the time axes line up from chart to chart.
  const AXIS = 56;
  const AXIS_LABEL = 18;
  const SIDE = AXIS + AXIS_LABEL;
  const HEIGHT = 250;
  const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const ms = (v) => (v == null ? '—' : v < 100 ? v.toFixed(1) + ' ms' : int.format(v) + ' ms');
  const count = (v) => (v == null ? '—' : int.format(v));
  const measure = document.createElement('canvas').getContext('2d');
  measure.font = '600 11px ' + family;

  // Labels go right of their line (left of it near the right edge), each in the first row
  // where it overlaps no other label; x and widths in CSS pixels.
  function layoutMarks(marks, toX, right) {
    const ends = [];
    return marks.map((mark) => {
      const x = toX(mark.t);
      const w = measure.measureText(mark.label).width + 10;
      const left = x + w > right ? x - w : x;
      let row = ends.findIndex((end) => end + 4 <= left);
      if (row < 0) row = ends.length;
      ends[row] = left + w;
      return { x, left, w, row, label: mark.label };
    });
  }

  const host = document.getElementById('charts');
  const chartWidth = () => host.clientWidth - 26;
  // Rows are counted once, for the first width, so that every chart reserves the same band.
  const estimate = chartWidth() - 2 * SIDE;
  const markRows = (marks) =>
    Math.max(1, ...layoutMarks(marks, (t) => (t / m.duration) * estimate, estimate).map((l) => l.row + 1));

  // Phase bands behind the plot and marks above it: the run's, or one node's.
  const timeMarks = (phases, marks, rows) => ({
    hooks: {
      drawClear: [(u) => {
        const { ctx, bbox } = u;
        for (const band of phases) {
          const x0 = u.valToPos(band.from, 'x', true);
          const x1 = u.valToPos(band.to, 'x', true);
          ctx.fillStyle = band.color;
          ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
        }
      }],
      draw: [(u) => {
        const { ctx, bbox } = u;
        const placed = layoutMarks(marks, (t) => u.valToPos(t, 'x', true) / px, (bbox.left + bbox.width) / px);
        ctx.save();
        ctx.font = '600 ' + 11 * px + 'px ' + family;
        ctx.textAlign = 'left';
        ctx.textBaseline = 'middle';
        for (const l of placed) {
          const y = (Math.min(l.row, rows - 1) * ROW + 2) * px;
          const x = Math.round(l.x * px) + 0.5;
          ctx.strokeStyle = MARK_COLOR;
          ctx.lineWidth = 1.5 * px;
          ctx.setLineDash([5 * px, 4 * px]);
          ctx.beginPath();
          ctx.moveTo(x, y + (ROW - 3) * px);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
          ctx.setLineDash([]);
          ctx.fillStyle = MARK_COLOR;
          ctx.beginPath();
          ctx.roundRect(l.left * px, y, l.w * px, (ROW - 3) * px, 3 * px);
          ctx.fill();
          ctx.fillStyle = '#fff';
          ctx.fillText(l.label, (l.left + 5) * px, y + ((ROW - 3) / 2) * px);
        }
        ctx.restore();
      }],
      setLegend: [(u) => u.root.classList.toggle('idle', u.legend.idx == null)],
    },
  });

  const xAxis = (last) => ({
    font: FONT,
    label: last ? 'seconds since start' : undefined,
    labelFont: FONT,
    labelSize: last ? AXIS_LABEL : 0,
    values: (u, splits) => splits.map((v) => v + ' s'),
    grid: { stroke: '#eef0f3' },
  });
  // Counts split at whole, round steps: no '2.5 sessions'.
  const incrs = [1, 2, 5].flatMap((f) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6].map((d) => f * d)).sort((a, b) => a - b);
  const yAxis = (scale, label, side, more) => ({
    scale, label, side, incrs, values: (u, splits) => splits.map(count),
    size: AXIS, labelSize: AXIS_LABEL, font: FONT, labelFont: FONT,
    grid: { show: side === 3, stroke: '#eef0f3' }, ...more,
  });
  const line = (label, scale, stroke, value, extra) => ({
    label, scale, stroke, value, width: 2, points: { show: false }, ...extra,
  });

  const runRows = markRows(m.marks);
  const runMarks = timeMarks(m.phases, m.marks, runRows);

  function chart(id, opts, data) {
    const rows = opts.rows || runRows;
    const u = new uPlot({
      width: chartWidth(),
      height: opts.height || HEIGHT,
      padding: [rows * ROW + 8, opts.rightAxis ? 8 : SIDE + 8, 0, 0],
      cursor: { sync: { key: 'timeline' }, points: { size: 7 } },
      scales: { x: { time: false, range: [0, m.duration] }, ...opts.scales },
      plugins: [opts.timeMarks || runMarks, ...(opts.plugins || [])],
      bands: opts.bands,
      axes: [xAxis(opts.last), ...opts.axes],
      series: [{ label: 'at', value: (u, v) => (v == null ? '—' : v + ' s') }, ...opts.series],
    }, [m.t, ...data], document.querySelector('#' + id + ' .plot'));
    u.root.classList.add('idle');
    return u;
  }

  // Log scale: a line per 1, 2 and 5 of each decade is enough to read the values by.
  function logSplits(u, axis, min, max) {
    const out = [];
    for (let d = Math.pow(10, Math.floor(Math.log10(min))); d <= max; d *= 10)
      for (const f of [1, 2, 5]) if (d * f >= min && d * f <= max) out.push(d * f);
    return out;
  }

  const charts = [];

  charts.push(chart('chart-rtt', {
    scales: { ms: { distr: 3, log: 10 } },
    axes: [yAxis('ms', 'ms, log scale', 3, { splits: logSplits, filter: (u, splits) => splits })],
    series: [
      line('p50', 'ms', '#0f766e', (u, v) => ms(v)),
      line('p99', 'ms', '#c2410c', (u, v) => ms(v)),
      line('max', 'ms', '#94a3b8', (u, v) => ms(v), { width: 1.5, dash: [4, 3] }),
    ],
  }, [m.rttP50, m.rttP99, m.rttMax]));

  // Stacked areas: each release's series is the running sum and the bands fill between
  // neighbours; the legend shows each release's own count. Steps, because a point is a second.
  const steps = uPlot.paths.stepped({ align: 1 });
  // The run's sessions, or one node's (opts: height, marks).
  function sessionsChart(id, releases, connected, opts) {
    const sums = m.t.map(() => 0);
    const stacked = releases.map((r) => r.counts.map((c, i) => (sums[i] += c)));
    const top = Math.max(1, ...sums, ...connected);
    return chart(id, {
      ...opts,
      scales: { n: { range: [0, top * 1.1] } },
      axes: [yAxis('n', 'sessions', 3)],
      bands: releases.slice(1).map((r, i) => ({ series: [i + 2, i + 1], fill: r.fill })),
      series: [
        ...releases.map((r) =>
          line(r.name, 'n', r.stroke, (u, v, s, i) => (i == null ? '—' : count(r.counts[i])), {
            fill: r.fill, width: 1, paths: steps,
          })),
        line('connected', 'n', '#111827', (u, v) => count(v), { dash: [6, 3], paths: steps }),
      ],
    }, [...stacked, connected]);
  }
  charts.push(sessionsChart('chart-sessions', m.releases, m.connected, {}));

  const quietNote = (series, text) => ({
    hooks: {
      draw: [(u) => {
        if (!series.every((s) => s.every((v) => v === 0))) return;
        const { ctx, bbox } = u;
        ctx.save();
        ctx.font = '600 ' + 14 * px + 'px ' + family;
        ctx.fillStyle = '#15803d';
        ctx.textAlign = 'left';
        ctx.textBaseline = 'middle';
        ctx.fillText(text, bbox.left + 16 * px, bbox.top + bbox.height / 2);
        ctx.restore();
      }],
    },
  });
  // Both bars inside their second, [t, t + 1), like the steps and the phase bands.
  const bars = (offset) => uPlot.paths.bars({
    disp: {
      x0: { unit: 1, values: (u) => u.data[0].map((t) => t + offset) },
      size: { unit: 1, values: (u) => u.data[0].map(() => 0.42) },
    },
  });
  charts.push(chart('chart-drops', {
    scales: { n: { range: (u, min, max) => [0, Math.max(10, max * 1.1)] } },
    plugins: [quietNote([m.dropped, m.lostMedia, m.errors], '✓ no drops, no lost media, no errors')],
    axes: [yAxis('n', 'per second', 3)],
    series: [
      line('dropped sessions', 'n', '#dc2626', (u, v) => count(v), { fill: '#dc2626', width: 0, paths: bars(0.06) }),
      line('lost media frames', 'n', '#7e22ce', (u, v) => count(v), { fill: '#a855f7', width: 0, paths: bars(0.52) }),
      line('errors', 'n', '#334155', (u, v) => count(v), { paths: steps }),
    ],
  }, [m.dropped, m.lostMedia, m.errors]));

  const headroom = (u, min, max) => [0, Math.max(10, max * 1.15)];
  charts.push(chart('chart-calls', {
    last: true,
    rightAxis: true,
    scales: { n: { range: headroom }, ms: { range: headroom } },
    axes: [
      yAxis('n', 'calls per second', 3),
      yAxis('ms', 'setup p99, ms', 1),
    ],
    series: [
      line('calls started', 'n', '#2563eb', (u, v) => count(v)),
      line('calls completed', 'n', '#16a34a', (u, v) => count(v)),
      line('setup p99', 'ms', '#c2410c', (u, v) => ms(v), { width: 1.5, dash: [5, 3] }),
    ],
  }, [m.callsStarted, m.callsCompleted, m.setupP99]));

${nodeScript}
  addEventListener('resize', () => {
    for (const c of charts) c.setSize({ width: chartWidth(), height: c.height });
  });
  document.documentElement.dataset.charts = String(charts.length);
})();
`;

function header(report: RunReport): string {
  const { settings } = report;
  const verdict = thresholdVerdict(report);
  const badge = verdict.passed === null ? 'none' : verdict.passed ? 'pass' : 'fail';
  const mode = modeName(report);
  const title = `${mode.charAt(0).toUpperCase()}${mode.slice(1)}`;
  const releases = targetReleases(report).map((r) => `<span class="release">${escapeHtml(r)}</span>`);
  const release = releases.length === 0 ? '' : ` to ${releases.join(', then ')}`;
  const seen = releaseOrder(report.timeline).map(escapeHtml).join(' → ');
  const meta = [
    `<b>${formatCount(settings.sessions)}</b> sessions`,
    `<b>${formatNumber(settings.durationSeconds)} s</b>`,
    `ramp ${formatNumber(settings.rampSeconds)} s`,
    `${formatNumber(settings.mediaRate)} media frames/s per call`,
    `${formatCount(settings.workers)} workers`,
    settings.upgrades.length === 0
      ? 'no upgrade scheduled'
      : `upgrade ${settings.upgrades.map((u) => `${escapeHtml(u.release)} at ${formatNumber(u.atSeconds)} s`).join(', ')}`,
    seen === '' ? 'no releases reported' : `releases ${seen}`,
    `started ${escapeHtml(report.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}`,
  ];
  return `<header>
<h1>${title}${release}</h1>
<span class="badge ${badge}">${escapeHtml(verdict.text)}</span>
<p class="meta">${meta.join(' · ')}</p>
</header>`;
}

function figures(report: RunReport): string {
  const cards = keyFigures(report).map(
    (f) => `<div class="figure ${f.verdict}">
<div class="label">${escapeHtml(f.label)}</div>
<div class="value">${escapeHtml(f.value)}${f.unit === '' ? '' : `<small>${escapeHtml(f.unit)}</small>`}</div>
<div class="note">${escapeHtml(f.note)}</div>
</div>`,
  );
  return `<section class="figures">\n${cards.join('\n')}\n</section>`;
}

function chartKey(model: ChartModel): string {
  const phases = [...new Map(model.phases.map((b) => [b.phase, b])).values()].map(
    (b) => `<span><i class="swatch" style="background:${b.color}"></i>${escapeHtml(b.phase)}</span>`,
  );
  const marks = model.marks.map((m) => `${escapeHtml(m.label)} ${m.t.toFixed(1)} s`);
  const parts = [
    phases.length > 0 ? `<span>phases:</span>${phases.join('')}` : '<span>no install phases</span>',
    marks.length > 0 ? `<span><i class="mark"></i>${marks.join(' · ')}</span>` : '<span>no marks</span>',
  ];
  const hint = `<span>hover a chart to read all four at one second; click a legend entry to hide it</span>`;
  return `<p class="key">${parts.join('')}${hint}</p>`;
}

function charts(mode: string): string {
  const box = (id: string, title: string, note: string) =>
    `<figure class="chart" id="${id}"><h2>${title} <small>${note}</small></h2><div class="plot"></div></figure>`;
  return [
    box('chart-rtt', 'Media round trip', 'p50, p99 and max per second'),
    box('chart-sessions', 'Sessions by release', `stacked; the switch of release is the ${mode}`),
    box('chart-drops', 'Drops, lost media and errors', 'per second'),
    box('chart-calls', 'Calls', 'started and completed per second, call setup p99'),
  ].join('\n');
}

function thresholdsTable(report: RunReport): string {
  const rows = report.thresholds.map(
    (t) =>
      `<tr><td>${escapeHtml(t.name)}</td><td class="num">${formatNumber(t.limit)}</td>` +
      `<td class="num">${formatNumber(t.value)}</td>` +
      `<td class="${t.passed ? 'pass' : 'fail'}">${t.passed ? '✓ passed' : '✗ failed'}</td></tr>`,
  );
  const body =
    rows.length > 0 ? rows.join('\n') : '<tr><td class="empty" colspan="4">no thresholds set</td></tr>';
  return `<section><h2>Thresholds</h2><table>
<thead><tr><th>check</th><th class="num">limit</th><th class="num">value</th><th>result</th></tr></thead>
<tbody>
${body}
</tbody></table></section>`;
}

function errorsTable(report: RunReport): string {
  const rows = Object.entries(report.summary.errorsByCode)
    .sort((a, b) => b[1] - a[1])
    .map(
      ([code, n]) =>
        `<tr><td class="code">${escapeHtml(code)}</td><td class="num">${formatCount(n)}</td></tr>`,
    );
  const body = rows.length > 0 ? rows.join('\n') : '<tr><td class="empty" colspan="2">no errors</td></tr>';
  return `<section><h2>Errors by code</h2><table>
<thead><tr><th>code</th><th class="num">count</th></tr></thead>
<tbody>
${body}
</tbody></table></section>`;
}

export function renderReportHtml(report: RunReport): string {
  const lib = uplotAssets();
  const model = chartModel(report);
  const title = `Hotline ${runTitle(report)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${lib.css}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<main>
${header(report)}
${figures(report)}
<section id="charts">
${chartKey(model)}
${charts(modeName(report))}
</section>
${report.cluster === undefined ? '' : nodePanelHtml(report.cluster)}
<div class="tables">
${thresholdsTable(report)}
${errorsTable(report)}
</div>
<footer>Hotline load report · charts by uPlot ${escapeHtml(lib.version)}, inlined</footer>
</main>
<script>${scriptCode(lib.js)}</script>
<script type="application/json" id="report-data">${scriptJson(model)}</script>
<script>${pageScript(report.cluster === undefined ? '' : NODE_SCRIPT)}</script>
</body>
</html>
`;
}
