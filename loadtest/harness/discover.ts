/**
 * The nodes of a cluster as the harness addresses them: from one node's GET /admin/cluster
 * (itself and every live node it hears, with their URLs), or from a node per --url and
 * --admin-url given in the same order (then each names itself there).
 */
import { AdminClient } from '../../server/cli/admin-client.ts';
import type { ClusterNode } from './run.ts';

interface Described {
  node: string;
  callsUrl?: string;
  adminUrl?: string;
}

interface ClusterView {
  node: string;
  cluster: { self: Described; nodes: Described[] } | null;
}

function addressable(d: Described, token: string): ClusterNode {
  if (d.callsUrl === undefined || d.adminUrl === undefined)
    throw new Error(`node ${d.node} does not say where it listens (not up yet?)`);
  return { name: d.node, url: d.callsUrl, adminUrl: d.adminUrl, token };
}

/** Every live node, by name, as `adminUrl`'s node sees the cluster. */
export async function discoverCluster(adminUrl: string, token: string): Promise<ClusterNode[]> {
  const view = await new AdminClient(adminUrl, token).get<ClusterView>('/admin/cluster');
  if (view.cluster === null) throw new Error(`${adminUrl}: node ${view.node} is not in a cluster`);
  return [view.cluster.self, ...view.cluster.nodes]
    .map((d) => addressable(d, token))
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

/** The nodes at these addresses (urls[i] and adminUrls[i] are one node), named as they name themselves. */
export async function namedNodes(urls: string[], adminUrls: string[], token: string): Promise<ClusterNode[]> {
  if (urls.length !== adminUrls.length)
    throw new Error('give one --admin-url for each --url, in the same order');
  return Promise.all(
    urls.map(async (url, i) => {
      const adminUrl = adminUrls[i] as string;
      const { node } = await new AdminClient(adminUrl, token).get<ClusterView>('/admin/cluster');
      return { name: node, url, adminUrl, token };
    }),
  );
}
