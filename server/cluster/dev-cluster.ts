/**
 * `npm run cluster -- --nodes 3`: a local cluster for development. A NATS server (JetStream)
 * on a free loopback port and N nodes as child processes, node i on ports base+2i (phones)
 * and base+2i+1 (admin), each with its data in a temporary directory and its log in
 * <dir>/node.log. Prints where everything listens; Ctrl-C or SIGTERM stops the nodes
 * gracefully (then NATS) and removes the directories.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startNatsServer } from './nats-server.ts';

const int = (max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new InvalidArgumentError(`expected 0 to ${max}`);
  return n;
};

const o = new Command('cluster')
  .description('Start a NATS server and N Hotline nodes on loopback; Ctrl-C stops them all')
  .addOption(new Option('--nodes <n>', 'how many nodes').default(3).argParser(int(16)))
  .addOption(
    new Option('--base-port <port>', 'node i listens on base+2i and base+2i+1 (0: any free ports)')
      .default(8080)
      .argParser(int(65_000)),
  )
  .parse()
  .opts<{ nodes: number; basePort: number }>();

interface Started {
  name: string;
  proc: ChildProcess;
  dir: string;
  up: Promise<{ calls: string; http: string; admin: string }>;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const token = randomBytes(18).toString('base64url');
const nats = await startNatsServer();

function startNode(i: number): Started {
  const name = `node${i + 1}`;
  const dir = mkdtempSync(join(tmpdir(), `hotline-${name}-`));
  const port = (offset: number) => String(o.basePort === 0 ? 0 : o.basePort + 2 * i + offset);
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'server/http/main.ts', '--node', name, '--port', port(0), '--admin-port', port(1)],
    {
      cwd: repoRoot,
      env: { ...process.env, HOTLINE_ADMIN_TOKEN: token, HOTLINE_CLUSTER: nats.url, HOTLINE_DATA_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const log = createWriteStream(join(dir, 'node.log'));
  proc.stderr?.pipe(log);
  const up = new Promise<{ calls: string; http: string; admin: string }>((resolve, reject) => {
    let buffered = '';
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      log.write(chunk);
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        // The node's "up" line names its URLs (every line is pino JSON; anything else is skipped).
        let l: { calls?: string; http?: string; admin?: string } = {};
        try {
          l = JSON.parse(line) as typeof l;
        } catch {}
        if (l.calls !== undefined && l.http !== undefined && l.admin !== undefined)
          resolve({ calls: l.calls, http: l.http, admin: l.admin });
      }
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited (${code}); see ${join(dir, 'node.log')}`)));
  });
  return { name, proc, dir, up };
}

const nodes: Started[] = [];
let stopping = false;
async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.proc.exitCode !== null || n.proc.signalCode !== null) return resolve();
            const timer = setTimeout(() => n.proc.kill('SIGKILL'), 10_000);
            n.proc.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            n.proc.kill('SIGTERM');
          }),
      ),
    );
    await nats.stop();
    for (const n of nodes) rmSync(n.dir, { recursive: true, force: true });
  }
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stopAll(0));

// One at a time: each joins a cluster that already knows the ones before it.
for (let i = 0; i < o.nodes; i++) {
  const n = startNode(i);
  nodes.push(n);
  try {
    await n.up;
  } catch (err) {
    process.stderr.write(`${String(err)}\n`);
    await stopAll(1);
  }
}
const rows = await Promise.all(
  nodes.map(async (n) => ({ node: n.name, ...(await n.up), log: join(n.dir, 'node.log') })),
);
process.stdout.write(`NATS      ${nats.url}\nadmin token (every node): ${token}\n`);
console.table(rows);
process.stdout.write('Ctrl-C stops everything.\n');
