/**
 * A node the harness (or the demo) starts itself, in its own process on its own data
 * directory: releases are built and signed with that directory's development key (which
 * the node trusts) and uploaded; `restart` is a plain deploy — stop the process, start it
 * again on the new release, same ports, same data. For a handoff run it runs under the
 * keeper, as `npm start` runs it, so that `stop` reaches the node that serves after a handoff.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '../../server/ops/admin-client.ts';
import { buildRelease } from '../../server/release/build.ts';
import { devKeyPair } from '../../server/release/keys.ts';
import { type NodeProcess, startNodeProcess } from '../client/node-process.ts';
import type { NodeTarget } from './run.ts';

const releasesDir = fileURLToPath(new URL('../../server/calls/releases', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Build and sign the release sources of `version` with the node's development key (which it
 * trusts), and upload the artifact.
 */
export async function uploadRelease(
  node: { dataDir: string; adminUrl: string; token: string },
  version: string,
): Promise<void> {
  const { artifact } = await buildRelease({
    entry: join(releasesDir, version, 'index.ts'),
    version,
    name: 'hotline-calls',
    keys: devKeyPair(node.dataDir),
    outDir: join(node.dataDir, 'artifacts'),
  });
  await new AdminClient(node.adminUrl, node.token).post('/admin/releases', artifact);
}

export class ManagedNode implements NodeTarget {
  readonly token = randomBytes(18).toString('base64url');
  #process: NodeProcess | undefined;

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    readonly adminPort: number,
    readonly extraArgs: string[],
    readonly kept: boolean,
  ) {}

  static async start(dataDir: string, extraArgs: string[] = [], kept = false): Promise<ManagedNode> {
    const node = new ManagedNode(dataDir, await freePort(), await freePort(), extraArgs, kept);
    await node.#boot(undefined);
    return node;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/calls`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  async #boot(release: string | undefined): Promise<void> {
    this.#process = await startNodeProcess(
      [
        '--data-dir',
        this.dataDir,
        '--port',
        String(this.port),
        '--admin-port',
        String(this.adminPort),
        ...(release === undefined ? [] : ['--release', release]),
        ...this.extraArgs,
      ],
      { HOTLINE_ADMIN_TOKEN: this.token },
      [],
      this.kept ? 'server/keeper.ts' : 'server/main.ts',
    );
  }

  upload(version: string): Promise<void> {
    return uploadRelease(this, version);
  }

  async restart(release: string): Promise<void> {
    await this.stop();
    await this.#boot(release);
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }
}
