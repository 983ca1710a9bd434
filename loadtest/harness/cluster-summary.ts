/**
 * What a run over several nodes adds to the terminal summary: a row per node (its drops, its
 * phones' round trip before and during the rollout, its install's duration) and the rollout.
 */
import Table from 'cli-table3';
import type { ClusterSection, NodeReport, RunReport } from './report-model.ts';
import { formatCount } from './summary-table.ts';

const ms = (v: number | null) => (v === null ? '—' : `${v < 100 ? v.toFixed(1) : formatCount(v)} ms`);
const secs = (from: number, to: number | null) => (to === null ? '—' : `${(to - from).toFixed(1)} s`);

/** The releases a node's sessions ran on at the end (the last second before the phones hang up). */
export function finalReleases(n: NodeReport): string[] {
  const seconds = n.timeline.releases;
  for (let i = seconds.length - 2; i >= 0; i--) {
    const r = seconds[i] as Record<string, number>;
    if (Object.keys(r).length > 0) return Object.keys(r);
  }
  return [];
}

/** The per-node table's head and cells, as the terminal summary and report.html both show them. */
export const NODE_COLUMNS = [
  'node',
  'peak sessions',
  'dropped sessions',
  'dropped calls',
  'lost media',
  'p99 steady',
  'p99 rollout',
  'install',
  'release',
];

export function nodeRows(cluster: ClusterSection): string[][] {
  return cluster.nodes.map((n) => [
    n.node,
    formatCount(n.sessionsPeak),
    formatCount(n.droppedSessions),
    formatCount(n.droppedCalls),
    formatCount(n.lostMedia),
    ms(n.rttP99SteadyMs),
    ms(n.rttP99DuringInstallMs),
    n.install === null ? '—' : `${secs(n.install.from, n.install.to)} ${n.install.outcome ?? ''}`.trim(),
    finalReleases(n).join(', '),
  ]);
}

export function nodeTable(cluster: ClusterSection): string {
  const table = new Table({
    head: NODE_COLUMNS,
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    style: { head: [], border: [], compact: true },
  });
  table.push(...nodeRows(cluster));
  return table.toString();
}

/** 'rollout of 1.1.0: installed in 24.3 s (from 30.0 s to 54.3 s)'; null without one. */
export function rolloutLine(cluster: ClusterSection): string | null {
  const r = cluster.rollout;
  if (r === null) return null;
  return `rollout of ${r.release}: ${r.outcome} in ${secs(r.from, r.to)} (from ${r.from.toFixed(1)} s to ${r.to.toFixed(1)} s)`;
}

export function clusterSummary(report: RunReport): string {
  const c = report.cluster;
  if (c === undefined) return '';
  const lines = [
    `${c.nodes.length} nodes, ${Math.round(c.crossNodeShare * 100)}% of two-party calls across nodes: ` +
      `${formatCount(c.crossNodeCalls.completed)} completed, ${formatCount(c.crossNodeCalls.matched)} CDRs matched`,
    `round trip p99: steady ${ms(c.rttP99SteadyMs)}, during the rollout ${ms(report.summary.rttP99DuringInstallMs)}`,
    rolloutLine(c),
    nodeTable(c),
  ];
  return lines.filter((l) => l !== null).join('\n');
}
