/**
 * A node handed to a successor process with real phones on it: a two-party call with media
 * through the handoff, the same pids and names after it, exact CDRs, and the old process gone.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import { AdminClient } from '../../server/ops/admin-client.ts';
import { answeredCall, MediaFlow } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { type NodeProcess, reapNodeProcesses, spawnNodeProcess } from '../support/node-process.ts';
import { waitFor } from '../support/wait.ts';

const successors = new Set<number>();
afterEach(async () => {
  for (const pid of successors) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  successors.clear();
  await reapNodeProcesses();
});

const admin = (node: NodeProcess) => new AdminClient(node.adminUrl, node.adminToken, 120_000);

type Summary = { from: number; to: number; processes: number; sockets: number; batches: number; ms: number };

async function handoff(node: NodeProcess, body: unknown = {}): Promise<Summary> {
  const { handoff } = await admin(node).post<{ handoff: Summary }>('/admin/node/handoff', body);
  successors.add(handoff.to);
  return handoff;
}

const pids = async (node: NodeProcess) =>
  (
    await admin<{ processes: { pid: string; name?: string; module: string }[] }>(
      node,
      'GET',
      '/admin/processes?limit=100000',
    )
  ).body.processes
    .map((p) => `${p.pid} ${p.module} ${p.name ?? ''}`)
    .sort();

describe('node handoff', { timeout: 120_000 }, () => {
  it('moves a two-party call with media to the successor: no socket closes, every frame once and in order, same pids, exact CDR', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hotline-handoff-'));
    const node = await spawnNodeProcess(dataDir);
    const alice = await Phone.connect(node.callsUrl);
    const bob = await Phone.connect(node.callsUrl);
    await alice.register('alice');
    await bob.register('bob');
    await answeredCall(alice, bob, 'c1', 'bob');
    const a = new MediaFlow(alice, 'c1', 10);
    const b = new MediaFlow(bob, 'c1', 10);
    await a.more(5);
    await b.more(5);
    const before = await pids(node);

    expect(await handoff(node)).toMatchObject({ from: node.proc.pid, sockets: 2 });
    const exited = await node.exited;
    expect(exited.code).toBe(0);

    await a.more(5);
    await b.more(5);
    expect(await pids(node)).toEqual(before.filter(Boolean));
    await a.drain();
    await b.drain();
    let closed = false;
    void alice.closed.then(() => {
      closed = true;
    });
    alice.send({ type: 'bye', callId: 'c1' });
    await bob.next((m) => m.type === 'ended' && m.callId === 'c1');
    expect(closed).toBe(false);
    const cdr = await waitFor('the CDR', () => cdrOf(node, 'c1').catch(() => undefined));
    expect(cdr).toMatchObject({ mediaAtoB: a.sent, mediaBtoA: b.sent });
  });
});
