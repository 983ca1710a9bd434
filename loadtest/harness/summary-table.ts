/**
 * The key figures of a run, as the terminal summary, the hot-vs-restart comparison and the
 * HTML report's summary block all show them: one wording and one set of units for all three.
 */
import Table from 'cli-table3';
import type { RunReport } from './report-model.ts';

export interface KeyFigure {
  label: string;
  /** The number, drawn big in the page; the unit ('ms', '/ 3,066') follows it smaller. */
  value: string;
  unit: string;
  /** A short gloss under the value, e.g. what it is out of. */
  note: string;
  /** Whether the figure is good news for the upgrade, bad news, or just a measurement. */
  verdict: 'good' | 'bad' | 'neutral';
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function formatCount(n: number): string {
  return integer.format(n);
}

/** Threshold limits and values: counts or milliseconds, so one decimal at most. */
export function formatNumber(n: number): string {
  return decimal.format(n);
}

/** Milliseconds without the unit: one decimal below 100 ms, where the decimal still matters. */
function msNumber(ms: number): string {
  return ms < 100 ? ms.toFixed(1) : integer.format(ms);
}

function formatMs(ms: number | null): string {
  return ms === null ? '—' : `${msNumber(ms)} ms`;
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function figureText(f: KeyFigure): string {
  return f.unit === '' ? f.value : `${f.value} ${f.unit}`;
}

export function modeName(report: RunReport): string {
  if (report.cluster !== undefined) return `rolling upgrade over ${report.cluster.nodes.length} nodes`;
  return report.settings.mode === 'hot' ? 'hot upgrade' : 'restart';
}

/** The releases the run installs, in order; empty for a run without an upgrade. */
export function targetReleases(report: RunReport): string[] {
  return report.settings.upgrades.map((u) => u.release);
}

/** 'hot upgrade to 1.1.0', 'restart to 1.1.0, then 2.0.0', 'hot upgrade'. */
export function runTitle(report: RunReport): string {
  const releases = targetReleases(report);
  return releases.length === 0 ? modeName(report) : `${modeName(report)} to ${releases.join(', then ')}`;
}

/** Passed, failed or unchecked, with the counts, for a header or a table row. */
export function thresholdVerdict(report: RunReport): { passed: boolean | null; text: string } {
  const all = report.thresholds.length;
  if (all === 0) return { passed: null, text: 'no thresholds set' };
  const passed = report.thresholds.filter((t) => t.passed).length;
  return passed === all
    ? { passed: true, text: `thresholds passed (${all} of ${all})` }
    : { passed: false, text: `thresholds FAILED (${all - passed} of ${all})` };
}

const countVerdict = (n: number): KeyFigure['verdict'] => (n === 0 ? 'good' : 'bad');

export function keyFigures(report: RunReport): KeyFigure[] {
  const s = report.summary;
  const during =
    report.cluster !== undefined ? 'rollout' : report.settings.mode === 'hot' ? 'install' : 'restart';
  const outcome = s.installOutcome;
  return [
    {
      label: 'dropped sessions',
      value: formatCount(s.droppedSessions),
      unit: '',
      note: `of ${formatCount(s.sessionsPeak)} sessions`,
      verdict: countVerdict(s.droppedSessions),
    },
    {
      label: 'dropped calls',
      value: formatCount(s.droppedCalls),
      unit: '',
      note: `${formatCount(s.callsCompleted)} calls completed`,
      verdict: countVerdict(s.droppedCalls),
    },
    {
      label: 'lost media',
      value: formatCount(s.lostMedia),
      unit: '',
      note: 'frames never acknowledged',
      verdict: countVerdict(s.lostMedia),
    },
    {
      label: 'p99 round trip',
      value: msNumber(s.rttMs.p99),
      unit: 'ms',
      note: `whole run; p50 ${formatMs(s.rttMs.p50)}`,
      verdict: 'neutral',
    },
    {
      label: `p99 during ${during}`,
      value: s.rttP99DuringInstallMs === null ? '—' : msNumber(s.rttP99DuringInstallMs),
      unit: s.rttP99DuringInstallMs === null ? '' : 'ms',
      note: s.rttP99DuringInstallMs === null ? 'no media acknowledged' : `while the ${during} ran`,
      verdict: 'neutral',
    },
    {
      label: 'time to recover',
      value: s.recoverMs === null ? '0' : (s.recoverMs / 1000).toFixed(1),
      unit: 's',
      note: s.recoverMs === null ? 'nothing dropped' : 'first drop to all back',
      verdict: s.recoverMs === null ? 'good' : 'bad',
    },
    {
      label: 'CDRs reconciled',
      value: formatCount(s.cdr.matched),
      unit: `/ ${formatCount(s.cdr.checked)}`,
      note:
        s.cdr.matched === s.cdr.checked
          ? 'matched / checked'
          : `${formatCount(s.cdr.missing)} missing, ${formatCount(s.cdr.mismatched)} mismatched`,
      verdict: s.cdr.matched === s.cdr.checked && s.cdr.duplicated === 0 ? 'good' : 'bad',
    },
    {
      label: 'install outcome',
      value: outcome ?? '—',
      unit: '',
      note:
        targetReleases(report).length === 0 ? 'no release' : `release ${targetReleases(report).join(', ')}`,
      // 'upgraded': a rollout over several nodes that went through.
      verdict:
        outcome === null ? 'neutral' : outcome === 'installed' || outcome === 'upgraded' ? 'good' : 'bad',
    },
  ];
}

/**
 * Plain cells, since the summary ends up in CI logs as often as in a colour terminal; compact,
 * no rule between rows, so that it fits a screen.
 */
const plain = { head: [], border: [], compact: true };

/** The summary printed at the end of a run. */
export function summaryTable(report: RunReport): string {
  const { settings, summary: s } = report;
  const table = new Table({
    head: ['figure', 'value', ''],
    colAligns: ['left', 'right', 'left'],
    style: plain,
  });
  for (const f of keyFigures(report)) table.push([f.label, figureText(f), f.note]);
  const errors = Object.values(s.errorsByCode).reduce((a, b) => a + b, 0);
  table.push(
    ['call setup p99', formatMs(s.setupMs.p99), `${formatCount(s.setupMs.count)} calls set up`],
    ['connect p99', formatMs(s.connectMs.p99), `${formatCount(s.connectMs.count)} connects`],
    [
      'duplicated / reordered media',
      `${formatCount(s.duplicatedMedia)} / ${formatCount(s.reorderedMedia)}`,
      'frames',
    ],
    ['errors', formatCount(errors), errors === 0 ? '' : `${Object.keys(s.errorsByCode).length} codes`],
    thresholdsRow(report),
  );
  const title = `${runTitle(report)}: ${formatCount(settings.sessions)} sessions, ${settings.durationSeconds} s`;
  return `${title}\n${table.toString()}`;
}

function thresholdsRow(report: RunReport): string[] {
  const { passed } = thresholdVerdict(report);
  const failed = report.thresholds.filter((t) => !t.passed);
  const note =
    failed.length === 0
      ? `${report.thresholds.length} checked`
      : failed.map((t) => `${t.name} ${formatNumber(t.value)} (limit ${formatNumber(t.limit)})`).join('; ');
  return ['thresholds', passed === null ? 'none' : passed ? 'passed' : 'FAILED', note];
}

/** The demo's closing table: the same load through a hot upgrade and through a restart. */
export function compareTable(hot: RunReport, restart: RunReport): string {
  const table = new Table({
    head: ['', 'hot upgrade', 'restart'],
    colAligns: ['left', 'right', 'right'],
    style: plain,
  });
  const row = (label: string, figure: (r: RunReport) => string) =>
    table.push([label, figure(hot), figure(restart)]);
  row('dropped sessions', (r) => formatCount(r.summary.droppedSessions));
  row('dropped calls', (r) => formatCount(r.summary.droppedCalls));
  row('lost media frames', (r) => formatCount(r.summary.lostMedia));
  row('round trip p99 during install', (r) => formatMs(r.summary.rttP99DuringInstallMs));
  row('time to recover', (r) => (r.summary.recoverMs === null ? '0 s' : formatSeconds(r.summary.recoverMs)));
  row('CDRs matched', (r) => `${formatCount(r.summary.cdr.matched)} / ${formatCount(r.summary.cdr.checked)}`);
  return table.toString();
}
