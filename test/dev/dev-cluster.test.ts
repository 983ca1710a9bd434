/**
 * `npm run cluster -- --nodes N` as a developer uses it: it prints NATS and a row per node
 * with where it listens, every node answers there and sees the others, and Ctrl-C (twice,
 * as a terminal under npm sends it) stops everything: the nodes, NATS, their directories.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';

const root = new URL('../..', import.meta.url);
let proc: ChildProcess | undefined;
// A failed test still stops the cluster the way a user does: SIGKILL would leave its NATS and nodes behind.
afterEach(async () => {
  const running = proc;
  if (running === undefined || running.exitCode !== null) return;
  const exited = new Promise((resolve) => running.once('exit', resolve));
  running.kill('SIGINT');
  await exited;
});

/** Resolves true once something accepts a TCP connection at host:port, false once nothing does. */
const listening = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

it('starts NATS and two nodes, shows where each listens, and Ctrl-C stops them all', async () => {
  proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'server/dev/dev-cluster.ts', '--nodes', '2', '--base-port', '0'],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc?.once('exit', resolve));
  await waitFor('the table', () => out.includes('Ctrl-C stops everything.'), 60_000);

  const nats = new URL(out.match(/^NATS\s+(\S+)/m)?.[1] ?? '');
  const token = out.match(/admin token \(every node\): (\S+)/)?.[1];
  // Table rows: │ node │ phones │ http │ admin │ log │
  const rows = out
    .split('\n')
    .filter((l) => l.includes('node.log'))
    .map((l) => [
      '',
      ...l
        .split('│')
        .map((c) => c.trim())
        .filter((c) => c !== ''),
    ]);
  expect(rows.map((r) => r[1])).toEqual(['node1', 'node2']);
  for (const [, node, , http, admin, log] of rows) {
    expect((await fetch(`${http}/healthz`)).status, node).toBe(200);
    const others = async () => {
      const res = await fetch(`${admin}/admin/cluster`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { cluster: { nodes: { node: string }[] } };
      return body.cluster.nodes.length === 1;
    };
    await waitFor(`${node} sees the other`, others, 10_000);
    expect(existsSync(log as string), `${node}'s log`).toBe(true);
  }

  proc.kill('SIGINT');
  proc.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(await listening(nats.hostname, Number(nats.port)), 'NATS stopped').toBe(false);
  for (const [, node, , http, , log] of rows) {
    const { hostname, port } = new URL(http as string);
    expect(await listening(hostname, Number(port)), `${node} stopped`).toBe(false);
    expect(existsSync(log as string), `${node}'s directory removed`).toBe(false);
  }
}, 90_000);
