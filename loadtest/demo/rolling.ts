/**
 * `npm run demo -- --nodes 3`: a rolling upgrade under load. A local cluster (NATS on
 * loopback, N nodes), phones spread over the nodes with half the two-party calls across
 * nodes, release 1.1.0 rolled out node by node mid-traffic by the orchestrator (each node's
 * watch window and health gate); then a row per node and the rollout's timing.
 */
import { resolve } from 'node:path';
import { clusterSummary } from '../harness/cluster-summary.ts';
import { loadtest } from '../harness/loadtest.ts';
import { summaryTable } from '../harness/summary-table.ts';

export async function rollingDemo(o: { nodes: number; sessions: number; out: string }): Promise<void> {
  const say = (text: string) => process.stdout.write(`${text}\n`);
  say(
    `Hotline demo: ${o.sessions} phones over ${o.nodes} nodes in calls (half the two-party calls across nodes), ` +
      'media at 1 frame/s; release 1.1.0 rolled out node by node mid-traffic.',
  );
  const report = await loadtest({
    nodes: o.nodes,
    crossNode: 0.5,
    sessions: o.sessions,
    ramp: 15,
    duration: 95,
    upgradeAt: ['40s'],
    release: ['1.1.0'],
    mode: 'hot',
    out: o.out,
    rate: 1,
    meanCall: 15,
    watch: 10,
    phonesPerWorker: 5000,
    sourceAddresses: 2,
    maxDropped: 0,
  });
  say(`\n${summaryTable(report)}\n${clusterSummary(report)}`);
  say(`\nreport: ${resolve(o.out, 'report.html')}`);
}
