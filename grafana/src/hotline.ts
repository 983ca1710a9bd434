/**
 * Hotline's panels, annotations and node variable, shared by both dashboards. Each takes
 * the label matcher that picks the nodes: `node=~"$node"` on the overview (several nodes),
 * `node="$node"` on the per-node dashboard. Every expression returns data on a node that
 * has taken traffic and a hot install (no `> 0` filters): a test runs them all against a
 * real Prometheus.
 */

import type { Dashboard, DashboardLink, Panel, VariableModel } from '@grafana/schema';
import { BigValueTextMode, DashboardCursorSync, VariableRefresh, VariableSort } from '@grafana/schema';
import {
  annotation,
  datasource,
  datasourceVariable,
  layout,
  type PromAnnotation,
  type Section,
  type Series,
  stat,
  timeseries,
} from './panels.ts';

/** End causes of calls that went as the callers meant; every other cause is a drop or a failure. */
const ORDINARY_ENDS = 'normal|busy|rejected|cancelled';

/** `{node=~"$node", more...}` */
export const on = (nodes: string, ...more: string[]): string => `{${[nodes, ...more].join(', ')}}`;

export const rate = (metric: string, nodes: string, ...more: string[]): string =>
  `rate(${metric}${on(nodes, ...more)}[$__rate_interval])`;

const quantile = (q: number, histogram: string, nodes: string, by: string): string =>
  `histogram_quantile(${q}, sum by (${by}) (${rate(`${histogram}_bucket`, nodes)}))`;

/** The overview's nodes (any picked, or all) and the per-node dashboard's one node. */
export const ALL_NODES = 'node=~"$node"';
export const ONE_NODE = 'node="$node"';

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  nodes: typeof ALL_NODES | typeof ONE_NODE;
  sections: Section[];
}

/** What both dashboards share: variables, install and handoff annotations, links, refresh and time. */
export function dashboard(spec: DashboardSpec): Dashboard {
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ['hotline'],
    editable: true,
    graphTooltip: DashboardCursorSync.Crosshair,
    // The scrape interval: an install takes seconds.
    refresh: '5s',
    time: { from: 'now-15m', to: 'now' },
    timezone: 'browser',
    // What @grafana/schema 13 writes (its defaultDashboard); a test keeps the two equal.
    schemaVersion: 42,
    links: [otherDashboards],
    templating: { list: [datasourceVariable, nodeVariable(spec.nodes === ALL_NODES)] },
    annotations: { list: [...installAnnotations(spec.nodes), ...handoffAnnotations(spec.nodes)] },
    panels: layout(spec.sections),
  };
}

function nodeVariable(multi: boolean): VariableModel {
  return {
    name: 'node',
    label: 'Node',
    type: 'query',
    datasource,
    // Every node exports hotline_release_info, whatever it is doing.
    query: 'label_values(hotline_release_info, node)',
    refresh: VariableRefresh.onTimeRangeChanged,
    sort: VariableSort.alphabeticalAsc,
    multi,
    includeAll: multi,
    ...(multi ? { current: { text: ['All'], value: ['$__all'] } } : {}),
  };
}

/** A link to the other Hotline dashboard (Grafana leaves the current one out), keeping time and node. */
const otherDashboards: DashboardLink = {
  title: 'Hotline',
  type: 'dashboards',
  tags: ['hotline'],
  asDropdown: false,
  icon: 'dashboard',
  includeVars: true,
  keepTime: true,
  targetBlank: false,
  tooltip: '',
};

const installAnnotations = (nodes: string): PromAnnotation[] => [
  annotation({
    name: 'Install phases',
    iconColor: 'blue',
    expr: `max by (node, release, phase) (hotline_release_install_phase${on(nodes)})`,
    tagKeys: 'node,release,phase',
    titleFormat: 'install {{release}}: {{phase}}',
    textFormat: 'on {{node}}',
  }),
  annotation({
    name: 'Installs finished',
    iconColor: 'green',
    expr: `sum by (node, outcome) (increase(hotline_release_installs_total${on(nodes, 'outcome!="rolled_back"')}[$__rate_interval]))`,
    tagKeys: 'node,outcome',
    titleFormat: 'install {{outcome}}',
    textFormat: 'on {{node}}',
  }),
  annotation({
    name: 'Rollbacks',
    iconColor: 'red',
    expr: `sum by (node) (increase(hotline_release_rollbacks_total${on(nodes)}[$__rate_interval]))`,
    tagKeys: 'node',
    titleFormat: 'rollback',
    textFormat: 'on {{node}}',
  }),
];

/**
 * A handoff's successor refuses scrapes until it has the node, so the phases Prometheus sees
 * are the old process's first ones (spawn, hello, boot: the successor starting); the end is
 * marked by the outcome, counted once the successor serves.
 */
const handoffAnnotations = (nodes: string): PromAnnotation[] => [
  annotation({
    name: 'Handoff phases',
    iconColor: 'purple',
    expr: `max by (node, phase) (hotline_handoff_phase${on(nodes, 'phase!~"done|failed"')})`,
    tagKeys: 'node,phase',
    titleFormat: 'handoff: {{phase}}',
    textFormat: 'on {{node}}',
  }),
  annotation({
    name: 'Handoffs',
    iconColor: 'orange',
    expr: `sum by (node, outcome) (increase(hotline_handoffs_total${on(nodes)}[$__rate_interval]))`,
    tagKeys: 'node,outcome',
    titleFormat: 'handoff {{outcome}}',
    textFormat: 'node process replaced on {{node}}',
  }),
];

// --- Stats -----------------------------------------------------------------------------

const sessionsStat = (nodes: string): Panel =>
  stat({
    title: 'Sessions',
    description: 'Session processes running now, one per connected phone. A hot install leaves it unchanged.',
    unit: 'none',
    w: 4,
    series: [{ expr: `sum(hotline_sessions_active${on(nodes)})`, legend: 'sessions' }],
  });

const callsUpStat = (nodes: string): Panel =>
  stat({
    title: 'Calls up',
    description: 'Calls answered and not yet ended (held calls are counted apart).',
    unit: 'none',
    w: 4,
    series: [{ expr: `sum(hotline_calls_active${on(nodes, 'state="up"')})`, legend: 'up' }],
  });

export const releaseStat = (nodes: string, role: 'current' | 'permanent'): Panel =>
  stat({
    title: role === 'current' ? 'Current release' : 'Permanent release',
    description:
      role === 'current'
        ? 'The release new sessions start on, with the number of nodes on it when several are shown.'
        : 'The release a restarted node boots: an install makes its release permanent once it is kept.',
    unit: 'none',
    w: 4,
    text: BigValueTextMode.Name,
    series: [
      {
        expr: `count by (release) (hotline_release_info${on(nodes, `role="${role}"`)})`,
        legend: '{{release}}',
      },
    ],
  });

/** The stats both dashboards open with: sessions, calls up and the release sessions start on. */
export const headline = (nodes: string): Panel[] => [
  sessionsStat(nodes),
  callsUpStat(nodes),
  releaseStat(nodes, 'current'),
];

export const abnormalEndsStat = (nodes: string): Panel =>
  stat({
    title: 'Dropped or failed calls',
    description: `Calls ended over the time range by anything but ${ORDINARY_ENDS.split('|').join(', ')}: timeouts, lost peers or clients, slow readers, errors, node shutdown or loss. A hot install should add none.`,
    unit: 'none',
    w: 4,
    instant: true,
    redFrom: 1,
    series: [
      {
        expr: `sum(increase(hotline_calls_ended_total${on(nodes, `cause!~"${ORDINARY_ENDS}"`)}[$__range]))`,
        legend: 'abnormal ends',
      },
    ],
  });

// --- Sessions and calls ----------------------------------------------------------------

export const sessionsByRelease = (nodes: string, w: number): Panel =>
  timeseries({
    title: 'Sessions by release',
    description:
      'Session processes by the release whose code they run, stacked. During a hot install the old release shrinks while the new one grows and the total stays flat: sessions move in place, none restarts.',
    unit: 'none',
    w,
    stack: true,
    series: [{ expr: `sum by (release) (hotline_sessions_active${on(nodes)})`, legend: '{{release}}' }],
  });

export const callsPerSecond = (nodes: string, w: number): Panel =>
  timeseries({
    title: 'Calls per second',
    description: `Calls answered per second, and calls ended per second by their ordinary causes (${ORDINARY_ENDS.split('|').join(', ')}). The other causes are in "Dropped or failed calls".`,
    unit: 'ops',
    w,
    series: [
      { expr: `sum(${rate('hotline_call_setup_seconds_count', nodes)})`, legend: 'answered' },
      {
        expr: `sum by (cause) (${rate('hotline_calls_ended_total', nodes, `cause=~"${ORDINARY_ENDS}"`)})`,
        legend: 'ended {{cause}}',
      },
    ],
  });

const quantiles = (histogram: string, nodes: string, by: string, legend: string): Series[] =>
  [0.5, 0.99].map((q) => ({ expr: quantile(q, histogram, nodes, by), legend: `p${q * 100}${legend}` }));

export const callSetup = (nodes: string): Panel =>
  timeseries({
    title: 'Call setup time',
    description:
      'From the caller\'s invite to "answered", median and 99th percentile: what a caller waits, including the callee\'s phone. It should not move during an install.',
    unit: 's',
    w: 12,
    series: quantiles('hotline_call_setup_seconds', nodes, 'le', ''),
  });

export const processingTime = (nodes: string): Panel =>
  timeseries({
    title: 'Server processing time by release',
    description:
      'Time a session process spends handling one message, median and 99th percentile, by the release that handled it: compares the new code with the old while both run.',
    unit: 's',
    w: 12,
    series: quantiles('hotline_session_processing_seconds', nodes, 'le, release', ' {{release}}'),
  });

// --- Failures --------------------------------------------------------------------------

export const abnormalEnds = (nodes: string, w: number): Panel =>
  timeseries({
    title: 'Dropped or failed calls by cause',
    description:
      'Calls ended per second by causes other than the ordinary ones: ring or media timeouts, a client or peer gone, a slow reader, an error, node shutdown or loss.',
    unit: 'ops',
    w,
    series: [
      {
        expr: `sum by (cause) (${rate('hotline_calls_ended_total', nodes, `cause!~"${ORDINARY_ENDS}"`)})`,
        legend: '{{cause}}',
      },
    ],
  });

export const protocolErrors = (nodes: string, w: number): Panel =>
  timeseries({
    title: 'Protocol errors by code',
    description:
      'Error frames sent to phones per second, by error code (HOT_ERR_SCHEMA, HOT_ERR_INVALID_JSON...): phones speaking the protocol wrong, or a release rejecting what the previous one accepted.',
    unit: 'ops',
    w,
    series: [{ expr: `sum by (code) (${rate('hotline_protocol_errors_total', nodes)})`, legend: '{{code}}' }],
  });

export const restartsAndCrashes = (nodes: string, w: number): Panel =>
  timeseries({
    title: 'Supervisor restarts, session crashes and errors',
    description:
      "Children restarted by supervisors; session processes that ended with an error, and errors sessions caught and reported (the node's fault, never a phone's), by the release they ran; per second. Crashes and errors of a new release are what make the install's watch roll it back.",
    unit: 'ops',
    w,
    series: [
      { expr: `sum(${rate('hotline_supervisor_restarts_total', nodes)})`, legend: 'supervisor restarts' },
      {
        expr: `sum by (release) (${rate('hotline_session_crashes_total', nodes)})`,
        legend: 'session crashes {{release}}',
      },
      {
        expr: `sum by (release) (${rate('hotline_session_errors_total', nodes)})`,
        legend: 'session errors {{release}}',
      },
    ],
  });

// --- Releases --------------------------------------------------------------------------

export const installProgress = (nodes: string, w: number): Panel =>
  timeseries({
    title: 'Install progress',
    description:
      'Share of the processes the running install applies to that already run its release, per node: climbs to 100% as the commit moves them (or stops at the canary fraction), falls back on a rollback.',
    unit: 'percentunit',
    w,
    min: 0,
    max: 1,
    series: [
      {
        expr: `max by (node, release) (hotline_release_install_progress_ratio${on(nodes)})`,
        legend: '{{node}} → {{release}}',
      },
    ],
  });

export const phaseDurations = (nodes: string, w: number): Panel =>
  timeseries({
    title: 'Install phase durations',
    description:
      'How long each completed install phase took (preflight, commit, canary, promote, watch, rolling_back), drawn where the phase ended. The annotations mark the phases while they run.',
    unit: 's',
    w,
    points: true,
    series: [
      {
        expr: `sum by (phase) (${rate('hotline_release_install_phase_seconds_sum', nodes)}) / sum by (phase) (${rate('hotline_release_install_phase_seconds_count', nodes)})`,
        legend: '{{phase}}',
      },
    ],
  });

// --- Node handoff ----------------------------------------------------------------------

/** The node's process handed to a successor: outcomes, progress, what moved and the pause phones saw. */
export const handoffPanels = (nodes: string): Panel[] => [
  stat({
    title: 'Handoffs',
    description:
      "Handoffs of the node's process to a successor over the time range, by outcome: done, failed (the node carried on with everything) or refused (an incompatible successor, before anything moved).",
    unit: 'none',
    w: 6,
    instant: true,
    series: [
      {
        expr: `sum by (outcome) (increase(hotline_handoffs_total${on(nodes)}[$__range]))`,
        legend: '{{outcome}}',
      },
    ],
  }),
  timeseries({
    title: 'Handoff progress',
    description:
      "Share of the running (or latest) handoff's batches done, per node. The successor refuses scrapes until it has the node, so a handoff longer than the scrape interval shows as a gap, then 100%; the observer page follows it batch by batch.",
    unit: 'percentunit',
    w: 6,
    min: 0,
    max: 1,
    series: [{ expr: `max by (node) (hotline_handoff_progress_ratio${on(nodes)})`, legend: '{{node}}' }],
  }),
  timeseries({
    title: 'Moved by handoffs',
    description:
      'Processes (sessions, ports, call legs, supervisors, the CDR journal) and phone sockets moved to a successor process, per scrape interval.',
    unit: 'none',
    w: 6,
    points: true,
    series: [
      {
        expr: `sum by (node) (increase(hotline_handoff_processes_moved_total${on(nodes)}[$__rate_interval]))`,
        legend: 'processes {{node}}',
      },
      {
        expr: `sum by (node) (increase(hotline_handoff_sockets_moved_total${on(nodes)}[$__rate_interval]))`,
        legend: 'sockets {{node}}',
      },
    ],
  }),
  timeseries({
    title: 'Pause a phone saw in a handoff',
    description:
      "How long a moved phone's processes were suspended while its batch moved: p50 and p99 over the phones moved in the interval, and the longest of the latest handoff.",
    unit: 's',
    w: 6,
    points: true,
    series: [
      {
        expr: `histogram_quantile(0.5, sum by (le) (${rate('hotline_handoff_pause_seconds_bucket', nodes)}))`,
        legend: 'p50',
      },
      {
        expr: `histogram_quantile(0.99, sum by (le) (${rate('hotline_handoff_pause_seconds_bucket', nodes)}))`,
        legend: 'p99',
      },
      {
        expr: `max by (node) (hotline_handoff_max_pause_seconds${on(nodes)})`,
        legend: 'longest {{node}}',
      },
    ],
  }),
];

// --- Runtime ---------------------------------------------------------------------------

export const mailboxes = (nodes: string, by: 'node' | 'module', w: number): Panel =>
  timeseries({
    title: `Mailbox depth by ${by}`,
    description:
      'Messages waiting in process mailboxes, in all and in the longest one. A node falling behind shows here first: a growing queue means messages arrive faster than processes handle them.',
    unit: 'none',
    w,
    series: [
      { expr: `sum by (${by}) (hotline_mailbox_messages${on(nodes)})`, legend: `queued {{${by}}}` },
      { expr: `max by (${by}) (hotline_mailbox_max_messages${on(nodes)})`, legend: `longest {{${by}}}` },
    ],
  });

export const eventLoopLag = (nodes: string, stats: Array<'p50' | 'p90' | 'p99' | 'max'>, w: number): Panel =>
  timeseries({
    title: 'Event-loop lag',
    description:
      'How late the event loop ran its timers, per node, over each scrape interval. Every process on a node shares the loop: a long stall delays every call at once. prom-client samples with a 10 ms timer and its figures include that period: an idle node reads about 10 ms, and the lag is what is above it.',
    unit: 's',
    w,
    series: stats.map((s) => ({
      expr: `max by (node) (nodejs_eventloop_lag_${s}_seconds${on(nodes)})`,
      legend: `${s} {{node}}`,
    })),
  });

const MEMORY = {
  'heap used': 'nodejs_heap_size_used_bytes',
  'heap total': 'nodejs_heap_size_total_bytes',
  external: 'nodejs_external_memory_bytes',
  RSS: 'process_resident_memory_bytes',
} as const;

export const memory = (nodes: string, parts: Array<keyof typeof MEMORY>, w: number): Panel =>
  timeseries({
    title: 'Memory',
    description:
      'V8 heap and resident set size per node. Across repeated installs memory should level off: a rise with every install means old releases are not freed.',
    unit: 'bytes',
    w,
    series: parts.map((part) => ({
      expr: `sum by (node) (${MEMORY[part]}${on(nodes)})`,
      legend: `${part} {{node}}`,
    })),
  });
