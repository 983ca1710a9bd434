/**
 * report.html's panel for a run over several nodes: a row per node (the terminal summary's
 * table), each node's round trip p99 and drops as one line per node, and each node's
 * sessions by release under its own install phases and marks, on the run's time axis so
 * the rollout reads from node to node down the page.
 */
import { NODE_COLUMNS, nodeRows, rolloutLine } from './cluster-summary.ts';
import type { ClusterSection, InstallMark, RunReport } from './report-model.ts';
import { escapeHtml, type PhaseBand, phaseBands, releaseStyles } from './report-style.ts';

/** Distinct from the release colours (blue, orange): a node is not a release. */
const NODE_COLORS = ['#0d9488', '#db2777', '#7c3aed', '#65a30d', '#0891b2', '#a16207', '#475569', '#e11d48'];

export interface NodePanelModel {
  name: string;
  color: string;
  releases: { name: string; stroke: string; fill: string; counts: number[] }[];
  connected: number[];
  rttP99: (number | null)[];
  /** Dropped sessions and calls plus lost media frames, per second. */
  troubles: number[];
  phases: PhaseBand[];
  /** This node's marks, its name left out. */
  marks: InstallMark[];
}

export function nodePanelModel(report: RunReport, cluster: ClusterSection): NodePanelModel[] {
  const styles = releaseStyles(report.timeline);
  const t = report.timeline.map((p) => p.t);
  return cluster.nodes.map((n, i) => {
    const prefix = `${n.node} `;
    return {
      name: n.node,
      color: NODE_COLORS[i % NODE_COLORS.length] as string,
      releases: styles
        .map((r) => ({ ...r, counts: n.timeline.releases.map((at) => at[r.name] ?? 0) }))
        .filter((r) => r.counts.some((c) => c > 0)),
      connected: n.timeline.connected,
      // A log scale cannot place zero: a zero round trip is drawn as no value.
      rttP99: n.timeline.rttP99.map((v) => (v !== null && v > 0 ? v : null)),
      troubles: n.timeline.dropped.map((d, j) => d + (n.timeline.lostMedia[j] ?? 0)),
      phases: phaseBands(t.map((at, j) => ({ t: at, phase: n.timeline.phase[j] ?? null }))),
      marks: report.marks
        .filter((m) => m.label.startsWith(prefix))
        .map((m) => ({ ...m, label: m.label.slice(prefix.length) })),
    };
  });
}

export function nodePanelHtml(cluster: ClusterSection): string {
  const head = NODE_COLUMNS.map(
    (c, i) => `<th${i === 0 || i === 8 ? '' : ' class="num"'}>${escapeHtml(c)}</th>`,
  );
  const rows = nodeRows(cluster).map(
    (cells) =>
      `<tr>${cells.map((c, i) => `<td${i === 0 || i === 8 ? '' : ' class="num"'}>${escapeHtml(c)}</td>`).join('')}</tr>`,
  );
  const rollout = rolloutLine(cluster) ?? 'no rollout';
  const cross = `${Math.round(cluster.crossNodeShare * 100)}% of two-party calls across nodes: ${cluster.crossNodeCalls.completed} completed, ${cluster.crossNodeCalls.matched} CDRs matched`;
  const box = (id: string, title: string, note: string) =>
    `<figure class="chart" id="${id}"><h2>${escapeHtml(title)} <small>${escapeHtml(note)}</small></h2><div class="plot"></div></figure>`;
  return `<section id="nodes">
<section class="node-table"><h2>Nodes <small>${escapeHtml(rollout)} · ${escapeHtml(cross)}</small></h2><table>
<thead><tr>${head.join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></section>
${box('chart-node-rtt', 'Round trip p99 per node', 'of the phones on each node, per second')}
${box('chart-node-troubles', 'Drops and lost media per node', 'dropped sessions and calls plus lost frames, per second')}
${cluster.nodes.map((n, i) => box(`chart-node-${i}`, `${n.node}: sessions by release`, 'its own install phases')).join('\n')}
</section>`;
}

/** Runs inside report.html's page script, with its helpers (chart, line, yAxis, …) in scope. */
export const NODE_SCRIPT = `
  if (m.nodes) {
    charts.push(chart('chart-node-rtt', {
      scales: { ms: { distr: 3, log: 10 } },
      axes: [yAxis('ms', 'ms, log scale', 3, { splits: logSplits, filter: (u, splits) => splits })],
      series: m.nodes.map((n) => line(n.name, 'ms', n.color, (u, v) => ms(v))),
    }, m.nodes.map((n) => n.rttP99)));
    charts.push(chart('chart-node-troubles', {
      scales: { n: { range: (u, min, max) => [0, Math.max(10, max * 1.1)] } },
      plugins: [quietNote(m.nodes.map((n) => n.troubles), '✓ no drops, no lost media on any node')],
      axes: [yAxis('n', 'per second', 3)],
      series: m.nodes.map((n) => line(n.name, 'n', n.color, (u, v) => count(v), { paths: steps })),
    }, m.nodes.map((n) => n.troubles)));
    m.nodes.forEach((n, i) => {
      const rows = markRows(n.marks);
      charts.push(sessionsChart('chart-node-' + i, n.releases, n.connected, {
        // The plot keeps its height however many rows of marks a node's install needs.
        height: 140 + rows * ROW, rows, timeMarks: timeMarks(n.phases, n.marks, rows), last: i === m.nodes.length - 1,
      }));
    });
  }
`;
