/**
 * The nodes of a cluster as the harness addresses them: from one node's GET /admin/cluster
 * (as the rollout orchestrator finds them), or from a node per --url and --admin-url given
 * in the same order (then each names itself there).
 */
import { AdminClient } from '../../server/ops/admin-client.ts';
import { discover } from '../../server/ops/rollout.ts';
import type { ClusterNode } from './run.ts';

/** Every live node, by name; phones reach a node at /calls on its public (http) surface. */
export async function discoverCluster(adminUrl: string, token: string): Promise<ClusterNode[]> {
  return (await discover(adminUrl, token)).map((n) => ({
    name: n.node,
    url: `${n.httpUrl.replace(/^http/, 'ws')}/calls`,
    adminUrl: n.adminUrl,
    token,
  }));
}

/** The nodes at these addresses (urls[i] and adminUrls[i] are one node), named as they name themselves. */
export async function namedNodes(urls: string[], adminUrls: string[], token: string): Promise<ClusterNode[]> {
  if (urls.length !== adminUrls.length)
    throw new Error('give one --admin-url for each --url, in the same order');
  return Promise.all(
    urls.map(async (url, i) => {
      const adminUrl = adminUrls[i] as string;
      const { node } = await new AdminClient(adminUrl, token).get<{ node: string }>('/admin/cluster');
      return { name: node, url, adminUrl, token };
    }),
  );
}
