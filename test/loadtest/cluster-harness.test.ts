/**
 * The load harness over a local cluster it starts (NATS on loopback, three nodes): phones
 * dealt to every node, calls placed across nodes completing with their CDRs on the caller's
 * node, per-node figures and series in the report; a rolling upgrade by the orchestrator
 * mid-traffic, node by node, with nothing dropped; the nodes found from one node's
 * GET /admin/cluster as `--cluster` does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalReleases } from '../../loadtest/harness/cluster-summary.ts';
import { discoverCluster } from '../../loadtest/harness/discover.ts';
import { type ManagedCluster, startManagedCluster } from '../../loadtest/harness/managed-cluster.ts';
import { orchestratorRollOut } from '../../loadtest/harness/orchestrator.ts';
import type { RunReport } from '../../loadtest/harness/report-model.ts';
import { type ClusterNode, type RunOptions, runLoad } from '../../loadtest/harness/run.ts';
import { expectNothingLost, smallRun } from './small-run.ts';

let cluster: ManagedCluster;
beforeAll(async () => {
  cluster = await startManagedCluster({ nodes: 3, maxSessions: 500, releases: ['1.1.0'] });
}, 60_000);
afterAll(async () => {
  await cluster?.local.stop();
});

function run(options: Partial<RunOptions> = {}): Promise<RunReport> {
  const first = cluster.nodes[0] as ClusterNode;
  return runLoad(
    smallRun(first, cluster.local.keyDir, {
      cluster: { nodes: cluster.nodes, crossNode: 0.5 },
      upgrades: [],
      mode: 'hot',
      userPrefix: `c${Date.now().toString(36)}-`,
      ...options,
    }),
  );
}

describe('load harness over several nodes', () => {
  it('finds every node from one node, as --cluster does', async () => {
    const first = cluster.nodes[0] as ClusterNode;
    expect(await discoverCluster(first.adminUrl, cluster.local.token)).toEqual(cluster.nodes);
  });

  it('spreads the phones, completes calls across nodes with their CDRs, and reports per node', async () => {
    const r = await run();
    const s = r.summary;
    expectNothingLost(s);
    const c = r.cluster;
    expect(c?.nodes.map((n) => n.node)).toEqual(['node1', 'node2', 'node3']);
    // Calls crossed nodes, and each has its exact CDR on its caller's node.
    expect(c?.crossNodeCalls.completed).toBeGreaterThan(5);
    expect(c?.crossNodeCalls.matched).toBe(c?.crossNodeCalls.completed);
    expect(c?.rollout).toBeNull();
    for (const n of c?.nodes ?? []) {
      // 60 phones over 3 nodes: each holds a share, all held at once.
      expect(n.sessionsPeak, n.node).toBeGreaterThanOrEqual(15);
      expect(n).toMatchObject({ droppedSessions: 0, droppedCalls: 0, lostMedia: 0, install: null });
      expect(n.rttP99SteadyMs, n.node).toBeGreaterThan(0);
      for (const series of Object.values(n.timeline)) expect(series).toHaveLength(r.timeline.length);
    }
    expect(c?.nodes.reduce((sum, n) => sum + n.sessionsPeak, 0)).toBe(60);
    // The run's sessions by release are the nodes' summed, second by second.
    r.timeline.forEach((p, i) => {
      const summed = c?.nodes.reduce((sum, n) => sum + (n.timeline.releases[i]?.['1.0.0'] ?? 0), 0);
      expect(p.releases['1.0.0'] ?? 0).toBe(summed);
    });
    expect(r.timeline.some((p) => p.releases['1.0.0'] === 60)).toBe(true);
  }, 90_000);

  it('rolls a release out node by node mid-traffic: nothing dropped, every node on it, timed per node', async () => {
    const first = cluster.nodes[0] as ClusterNode;
    const r = await run({
      cluster: {
        nodes: cluster.nodes,
        crossNode: 0.5,
        rollOut: orchestratorRollOut({ adminUrl: first.adminUrl, token: first.token, watchMs: 1000 }),
      },
      upgrades: [{ atSeconds: 4, release: '1.1.0' }],
      durationSeconds: 14,
    });
    expectNothingLost(r.summary);
    expect(r.summary.installOutcome).toBe('upgraded');
    const c = r.cluster;
    expect(c?.rollout).toMatchObject({ release: '1.1.0', outcome: 'upgraded' });
    expect(c?.crossNodeCalls.matched).toBe(c?.crossNodeCalls.completed);
    const installs = (c?.nodes ?? []).map((n) => n.install);
    for (const [i, n] of (c?.nodes ?? []).entries()) {
      expect(n, n.node).toMatchObject({ droppedSessions: 0, droppedCalls: 0, lostMedia: 0 });
      expect(finalReleases(n), n.node).toEqual(['1.1.0']);
      expect(n.install, n.node).toMatchObject({ outcome: 'upgraded' });
      // One node after the other, each inside the rollout.
      const install = installs[i] as NonNullable<(typeof installs)[number]>;
      expect(install.to).toBeGreaterThanOrEqual(install.from);
      if (i > 0) expect(install.from).toBeGreaterThanOrEqual(installs[i - 1]?.to as number);
    }
    expect(r.marks.map((m) => m.label)).toEqual(
      expect.arrayContaining(['roll out 1.1.0', 'node1 install', 'node3 gate ok', 'rollout upgraded']),
    );
    expect(r.timeline.some((p) => p.releases['1.1.0'] === 60)).toBe(true);
  }, 120_000);
});
