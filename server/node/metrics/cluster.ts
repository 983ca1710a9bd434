/** Messages from other nodes of the cluster that this node refused, by reason. */
import { Counter, type Registry } from 'prom-client';
import type { Refusal } from '../../cluster/cluster.ts';

const REFUSALS: Refusal[] = ['malformed', 'incompatible'];

export function clusterMetrics(registry: Registry): { refused(why: Refusal): void } {
  const refused = new Counter({
    name: 'hotline_cluster_messages_refused_total',
    help: 'Messages from other nodes refused, by reason (malformed, incompatible release)',
    labelNames: ['reason'],
    registers: [registry],
  });
  // Known reasons start at zero, so a rate over them is 0 rather than no data.
  for (const reason of REFUSALS) refused.labels({ reason }).inc(0);
  return { refused: (reason) => refused.inc({ reason }) };
}
