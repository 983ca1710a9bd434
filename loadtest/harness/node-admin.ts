/** A node's admin API, with what the harness reads from it once a second and at the end. */
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { AdminClient } from '../../server/ops/admin-client.ts';
import type { InstallProgress } from '../../server/release/installer.ts';

export class NodeAdmin extends AdminClient {
  constructor(node: { adminUrl: string; token: string }) {
    super(node.adminUrl, node.token, 5000);
  }

  /** Sessions per release, or nothing while the node is down. */
  async releases(): Promise<Record<string, number>> {
    try {
      const { modules } = await this.get<{
        modules: { module: string; version: string; processes: number }[];
      }>('/admin/modules');
      const out: Record<string, number> = {};
      for (const m of modules) if (m.module === 'session' && m.processes > 0) out[m.version] = m.processes;
      return out;
    } catch {
      return {};
    }
  }

  async install(): Promise<InstallProgress | null> {
    try {
      return (await this.get<{ install: InstallProgress }>('/admin/install')).install;
    } catch {
      return null;
    }
  }

  /** Every CDR that ended since `since`, paging back from the newest. */
  async cdrsSince(since: number): Promise<Cdr[]> {
    const seen = new Map<string, Cdr>();
    let until: number | undefined;
    for (;;) {
      const query = `since=${since}&limit=10000${until === undefined ? '' : `&until=${until}`}`;
      const { cdrs } = await this.get<{ cdrs: Cdr[] }>(`/cdrs?${query}`);
      const before = seen.size;
      for (const c of cdrs) seen.set(c.id, c);
      if (cdrs.length < 10000 || seen.size === before) break;
      until = (cdrs.at(-1) as Cdr).endedAt;
    }
    return [...seen.values()];
  }
}
