/**
 * The node processes a bench run starts: each on a data directory of its own (made here)
 * with the bench's admin token. `close()` stops every one still running and removes the
 * directories, whatever happened in the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../server/ops/admin-client.ts';
import { type NodeProcess, startNodeProcess } from '../client/node-process.ts';

export const BENCH_TOKEN = 'bench-token';

export interface BenchNodeOptions {
  /** Flags after the entry. */
  args?: string[];
  env?: Record<string, string>;
  /** Node's own flags, before the entry. */
  nodeFlags?: string[];
  /** `server/keeper.ts`: the node runs under the keeper, as `npm start` runs it. */
  entry?: 'server/main.ts' | 'server/keeper.ts';
}

export class BenchNodes {
  readonly #dirs: string[] = [];
  readonly #started = new Set<NodeProcess>();

  /** A fresh data directory, removed by `close()`. */
  dir(name: string): string {
    const dir = mkdtempSync(join(tmpdir(), `hotline-bench-${name}-`));
    this.#dirs.push(dir);
    return dir;
  }

  /** A node on `dir`; resolves once it is up. */
  async start(dir: string, o: BenchNodeOptions = {}): Promise<NodeProcess> {
    const node = await startNodeProcess(
      ['--data-dir', dir, ...(o.args ?? [])],
      { HOTLINE_ADMIN_TOKEN: BENCH_TOKEN, ...o.env },
      o.nodeFlags,
      o.entry,
    );
    this.#started.add(node);
    return node;
  }

  /** Its admin API, with the bench's token. */
  admin(node: NodeProcess, timeoutMs = 30_000): AdminClient {
    return new AdminClient(node.adminUrl, BENCH_TOKEN, timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#started].map((node) => node.stop()));
    this.#started.clear();
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
