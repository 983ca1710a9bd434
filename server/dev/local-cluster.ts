/**
 * A local cluster on loopback: a NATS server (JetStream) and N nodes as child processes
 * sharing one admin token, each on its own temporary data directory with its log in
 * <dir>/node.log. `npm run cluster` and the load harness (`--nodes N`) both start theirs here.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { devKeyPaths } from '../release/keys.ts';
import { type NatsServer, startNatsServer } from './nats-server.ts';

export interface LocalClusterOptions {
  nodes: number;
  /** Node i listens on base+2i (phones) and base+2i+1 (admin); 0: any free ports. */
  basePort?: number;
  /** More flags for every node (e.g. --max-sessions). */
  nodeArgs?: string[];
}

export interface LocalNode {
  /** node1, node2, … */
  name: string;
  /** Its data directory (releases, dev signing key, CDRs) and node.log. */
  dir: string;
  proc: ChildProcess;
  calls: string;
  http: string;
  admin: string;
}

export interface LocalCluster {
  nats: NatsServer;
  /** The admin bearer token every node accepts. */
  token: string;
  /** The data directory whose phone key every node trusts (the first node's): phones' tokens come from it. */
  keyDir: string;
  nodes: LocalNode[];
  /** Stop the nodes gracefully (SIGKILL after 10 s), then NATS; remove the directories. */
  stop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The URLs a node logs in its "up" line (every line is pino JSON; anything else is skipped). */
function upLine(line: string): { calls: string; http: string; admin: string } | null {
  let l: { calls?: string; http?: string; admin?: string } = {};
  try {
    l = JSON.parse(line) as typeof l;
  } catch {}
  return l.calls !== undefined && l.http !== undefined && l.admin !== undefined
    ? { calls: l.calls, http: l.http, admin: l.admin }
    : null;
}

function startNode(
  name: string,
  ports: [string, string],
  env: Record<string, string>,
  nodeArgs: string[],
  started: { proc: ChildProcess; dir: string }[],
): Promise<LocalNode> {
  const dir = mkdtempSync(join(tmpdir(), `hotline-${name}-`));
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'server/main.ts',
      '--node',
      name,
      '--port',
      ports[0],
      '--admin-port',
      ports[1],
      ...nodeArgs,
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env, HOTLINE_DATA_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  started.push({ proc, dir });
  const log = createWriteStream(join(dir, 'node.log'));
  proc.stderr?.pipe(log);
  return new Promise<LocalNode>((resolve, reject) => {
    let buffered = '';
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      log.write(chunk);
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const up = upLine(line);
        if (up !== null) resolve({ name, dir, proc, ...up });
      }
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited (${code}); see ${join(dir, 'node.log')}`)));
  });
}

function stopProcess(proc: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const token = randomBytes(18).toString('base64url');
  const nats = await startNatsServer();
  const started: { proc: ChildProcess; dir: string }[] = [];
  const stop = async () => {
    await Promise.all(started.map((s) => stopProcess(s.proc)));
    await nats.stop();
    for (const s of started) rmSync(s.dir, { recursive: true, force: true });
  };
  const env = { HOTLINE_ADMIN_TOKEN: token, HOTLINE_CLUSTER: nats.url };
  const base = options.basePort ?? 0;
  const nodes: LocalNode[] = [];
  try {
    // One at a time: each joins a cluster that already knows the ones before it.
    for (let i = 0; i < options.nodes; i++) {
      const port = (offset: number) => String(base === 0 ? 0 : base + 2 * i + offset);
      // Every node trusts the first one's phone key, so one token admits a phone anywhere.
      const trustFirst =
        i === 0 ? [] : ['--phone-keys', devKeyPaths(nodes[0]?.dir as string, 'phone-signing').publicKey];
      nodes.push(
        await startNode(
          `node${i + 1}`,
          [port(0), port(1)],
          env,
          [...(options.nodeArgs ?? []), ...trustFirst],
          started,
        ),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nats, token, keyDir: nodes[0]?.dir as string, nodes, stop };
}
