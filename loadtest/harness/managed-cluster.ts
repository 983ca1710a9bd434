/**
 * A cluster the harness (or the demo) starts itself: NATS and N nodes on loopback
 * (server/dev/local-cluster.ts), with the releases it is told to install built, signed
 * with each node's development key and uploaded to every node.
 */
import { type LocalCluster, startLocalCluster } from '../../server/dev/local-cluster.ts';
import { uploadRelease } from './managed-node.ts';
import type { ClusterNode } from './run.ts';

export interface ManagedCluster {
  local: LocalCluster;
  nodes: ClusterNode[];
}

export async function startManagedCluster(o: {
  nodes: number;
  maxSessions: number;
  releases: string[];
}): Promise<ManagedCluster> {
  const local = await startLocalCluster({
    nodes: o.nodes,
    nodeArgs: ['--max-sessions', String(o.maxSessions)],
  });
  try {
    const nodes = local.nodes.map((n) => ({
      name: n.name,
      url: n.calls,
      adminUrl: n.admin,
      token: local.token,
    }));
    await Promise.all(
      local.nodes.map(async (n) => {
        for (const release of new Set(o.releases))
          await uploadRelease({ dataDir: n.dir, adminUrl: n.admin, token: local.token }, release);
      }),
    );
    return { local, nodes };
  } catch (err) {
    await local.stop();
    throw err;
  }
}
