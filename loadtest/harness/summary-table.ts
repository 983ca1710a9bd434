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

const MODE_NAMES = { hot: 'hot upgrade', restart: 'restart', handoff: 'handoff' } as const;

export function modeName(report: RunReport): string {
  if (report.cluster !== undefined) return `rolling upgrade over ${report.cluster.nodes.length} nodes`;
  return MODE_NAMES[report.settings.mode];
}

/** The releases the run installs, in order; empty for a run without an upgrade (or a handoff run). */
export function targetReleases(report: RunReport): string[] {
  return report.settings.upgrades.map((u) => u.release).filter((r) => r !== '');
}

/** 'hot upgrade to 1.1.0', 'restart to 1.1.0, then 2.0.0', 'hot upgrade', '2 handoffs'. */
export function runTitle(report: RunReport): string {
  const { mode, upgrades, handoffEntry } = report.settings;
  if (mode === 'handoff') {
    const n = upgrades.length;
    return `${n === 1 ? 'handoff' : `${n} handoffs`}${handoffEntry === undefined ? '' : ` to ${handoffEntry}`}`;
  }
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
    report.cluster !== undefined
      ? 'rollout'
      : { hot: 'install', restart: 'restart', handoff: 'handoff' }[report.settings.mode];
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
        report.settings.mode === 'handoff'
          ? 'the node process, same release'
          : targetReleases(report).length === 0
            ? 'no release'
            : `release ${targetReleases(report).join(', ')}`,
      // 'upgraded': a rollout over several nodes that went through.
      verdict:
        outcome === null
          ? 'neutral'
          : outcome === 'installed' || outcome === 'upgraded' || outcome === 'handed_off'
            ? 'good'
            : 'bad',
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

/** What a column of the demo's table deploys, in a few words. */
function deploys(report: RunReport): string {
  const releases = targetReleases(report).join(' + ');
  if (report.settings.mode === 'handoff') return `node code ×${report.settings.upgrades.length}`;
  return report.settings.mode === 'hot' ? `session code ${releases}` : `node stopped, ${releases}`;
}

/** Rows of the demo's table, and what each measures (printed under it). */
const COMPARE_ROWS: [label: string, measures: string][] = [
  ['deploys', 'what changes mid-traffic'],
  ['dropped sessions', 'phones whose socket closed by anything but their script'],
  ['dropped calls', 'calls ended by anything but the script, refused, or not answered in 10 s'],
  ['lost media frames', 'frames sent and never acknowledged'],
  [
    'round trip p99 during deploy',
    "every phone's media round trip, from each deploy's start to 5 s after its end; n/a where phones were cut off (their frames have no round trip: a p99 of the phones still connected is not comparable)",
  ],
  ['time to recover', 'from the first drop until every dropped phone had registered again'],
  ['CDRs matched', 'completed calls with exactly their CDR, of all completed calls'],
];

/**
 * The demo's closing table: the same load through each deploy, a column each, then what each
 * row measures. A round trip is only shown for a run that cut no phone off.
 */
export function compareTable(columns: [title: string, report: RunReport][]): string {
  const table = new Table({
    head: ['', ...columns.map(([title]) => title)],
    colAligns: ['left', ...columns.map(() => 'right' as const)],
    style: plain,
  });
  const figures: ((r: RunReport) => string)[] = [
    deploys,
    (r) => formatCount(r.summary.droppedSessions),
    (r) => formatCount(r.summary.droppedCalls),
    (r) => formatCount(r.summary.lostMedia),
    (r) => (r.summary.droppedSessions > 0 ? 'n/a' : formatMs(r.summary.rttP99DuringInstallMs)),
    (r) => (r.summary.recoverMs === null ? '0 s' : formatSeconds(r.summary.recoverMs)),
    (r) => `${formatCount(r.summary.cdr.matched)} / ${formatCount(r.summary.cdr.checked)}`,
  ];
  for (const [i, [label]] of COMPARE_ROWS.entries())
    table.push([label, ...columns.map(([, r]) => (figures[i] as (r: RunReport) => string)(r))]);
  const notes = COMPARE_ROWS.map(([label, measures]) => `  ${label}: ${measures}`);
  const survivors = columns
    .filter(([, r]) => r.summary.droppedSessions > 0 && r.summary.rttP99DuringInstallMs !== null)
    .map(
      ([title, r]) =>
        `  (${title}: ${formatMs(r.summary.rttP99DuringInstallMs)} over the phones still connected, ${formatCount(r.summary.droppedSessions)} cut off)`,
    );
  return [table.toString(), 'What each row measures:', ...notes, ...survivors].join('\n');
}
