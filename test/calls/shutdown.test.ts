/**
 * Graceful shutdown: every phone socket is closed with 1001 after its call is ended with
 * cause node_shutdown, every call that was up gets its CDR, and new connections are
 * refused meanwhile — both through node.stop() and through SIGTERM to `npm start`'s entry.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { userName } from '../../server/calls/contract.ts';
import type { Pid } from '../../server/runtime/index.ts';
import { answeredCall, serviceCall } from '../support/calls.ts';
import { readCdrLog, waitForCdrs } from '../support/cdrs.ts';
import { reapNodeProcesses, spawnNodeProcess } from '../support/node-process.ts';
import type { PhoneTarget } from '../support/phone-tokens.ts';
import { refusedUpgrade } from '../support/refused-upgrade.ts';
import { startTestNode, type TestNode, tempDataDir } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

const nodes: TestNode[] = [];
const phones: Phone[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const p of phones.splice(0)) p.ws.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.shutdown()));
  await reapNodeProcesses();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Calls in every state on the node at `url`: the call ids that must each get a CDR, and every phone. */
async function callsInEveryState(node: PhoneTarget) {
  const phone = async (user?: string) => {
    const p = await Phone.connect(node.callsUrl, { token: node.tokens });
    phones.push(p);
    if (user !== undefined) await p.register(user);
    return p;
  };
  const alice = await phone('alice');
  const bob = await phone('bob');
  await answeredCall(alice, bob, 'sd-two', 'bob');
  alice.send({ type: 'media', callId: 'sd-two', seq: 1, sentAt: 1 });
  await bob.next('media');
  const carol = await phone('carol');
  await serviceCall(carol, 'sd-echo', 'echo');
  const dave = await phone('dave');
  await serviceCall(dave, 'sd-ivr', 'ivr');
  const erin = await phone('erin');
  const frank = await phone('frank');
  erin.send({ type: 'invite', callId: 'sd-ring', to: 'frank' });
  await frank.next('incoming');
  frank.send({ type: 'ringing', callId: 'sd-ring' });
  await erin.next('ringing');
  const gina = await phone('gina');
  const hank = await phone('hank');
  await answeredCall(gina, hank, 'sd-held', 'hank');
  gina.send({ type: 'hold', callId: 'sd-held' });
  await hank.next('held');
  const idle = await phone('ivan');
  const anonymous = await phone();
  return {
    callIds: ['sd-two', 'sd-echo', 'sd-ivr', 'sd-ring', 'sd-held'],
    inCalls: {
      alice: 'sd-two',
      bob: 'sd-two',
      carol: 'sd-echo',
      dave: 'sd-ivr',
      erin: 'sd-ring',
      frank: 'sd-ring',
      gina: 'sd-held',
      hank: 'sd-held',
    },
    phones: { alice, bob, carol, dave, erin, frank, gina, hank, idle, anonymous },
  };
}

type Setup = Awaited<ReturnType<typeof callsInEveryState>>;

/** Every phone closed with 1001, each in a call told first that it ended with node_shutdown. */
async function expectAllClosedGoingAway(setup: Setup): Promise<void> {
  for (const [name, p] of Object.entries(setup.phones)) {
    expect((await p.closed).code, name).toBe(1001);
    const callId = setup.inCalls[name as keyof Setup['inCalls']];
    const ended = p.log.filter((m) => m.type === 'ended');
    if (callId === undefined) expect(ended, name).toEqual([]);
    else expect(ended, name).toEqual([expect.objectContaining({ callId, cause: 'node_shutdown' })]);
  }
}

/** One node_shutdown CDR per call that was up, in the log on disk, and nothing else. */
function expectShutdownCdrs(dataDir: string, callIds: string[]): Cdr[] {
  const cdrs = readCdrLog(dataDir).flatMap((l) => (l.t === 'cdr' ? [l] : []));
  expect(cdrs.map((c) => c.callId).sort()).toEqual([...callIds].sort());
  for (const c of cdrs) expect(c, c.callId).toMatchObject({ cause: 'node_shutdown', endedBy: 'system' });
  expect(new Set(cdrs.map((c) => c.id)).size).toBe(cdrs.length);
  return cdrs;
}

describe('node.stop()', () => {
  it('ends every call with a node_shutdown CDR and closes every socket with 1001 before it resolves', async () => {
    const n = await startTestNode();
    nodes.push(n);
    const setup = await callsInEveryState(n);
    await n.stop();
    // Nothing to wait for: when stop() resolves the log is complete and the sockets are closed.
    const cdrs = expectShutdownCdrs(n.dataDir, setup.callIds);
    const byCall = new Map(cdrs.map((c) => [c.callId, c]));
    expect(byCall.get('sd-two')).toMatchObject({ caller: 'alice', callee: 'bob', mediaAtoB: 1 });
    expect(byCall.get('sd-ring')?.answeredAt).toBeNull();
    expect(byCall.get('sd-held')?.answeredAt).not.toBeNull();
    await expectAllClosedGoingAway(setup);
    expect(n.gateway.connections).toBe(0);
    // A restart on the same log has nothing to recover.
    const again = await startTestNode({ dataDir: n.dataDir });
    nodes.push(again);
    expect(again.recovered).toBe(0);
    expect(await waitForCdrs(again, (l) => l.length === setup.callIds.length)).toHaveLength(
      setup.callIds.length,
    );
  });

  it('refuses new connections while it is shutting down', async () => {
    const n = await startTestNode();
    nodes.push(n);
    const setup = await callsInEveryState(n);
    // Hold the shutdown open: one session is suspended and cannot end until resumed.
    const held = n.rt.whereis(userName('ivan')) as Pid;
    await n.rt.sys.suspend(held);
    const stopping = n.stop();
    let stopped = false;
    void stopping.then(() => {
      stopped = true;
    });
    try {
      // The other phones go while the node is still up and listening.
      expect((await setup.phones.alice.closed).code).toBe(1001);
      expect(await refusedUpgrade(n.callsUrl)).toMatchObject({
        status: 503,
        body: { code: 'HOT_ERR_SHUTTING_DOWN' },
      });
      await expect(Phone.connect(n.callsUrl)).rejects.toThrow(/503/);
      const ready = await fetch(`${n.httpUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(stopped).toBe(false);
      expect(setup.phones.idle.isOpen).toBe(true);
    } finally {
      n.rt.sys.resume(held);
    }
    await stopping;
    expectShutdownCdrs(n.dataDir, setup.callIds);
    await expectAllClosedGoingAway(setup);
  });
});

describe('SIGTERM to a node process', () => {
  it.each([
    ['SIGTERM', ['SIGTERM']],
    // Ctrl-C under npm start: the terminal's SIGINT and the one npm forwards.
    ['SIGINT twice', ['SIGINT', 'SIGINT']],
  ] as const)(
    '%s: ends every call with a node_shutdown CDR, closes sockets with 1001 and exits 0',
    async (_name, signals) => {
      const data = tempDataDir();
      dirs.push(data);
      const child = await spawnNodeProcess(data);
      const setup = await callsInEveryState(child);
      const [first, ...repeats] = signals;
      child.proc.kill(first);
      // A repeat lands while the shutdown the first one began is under way.
      if (repeats.length > 0)
        await waitFor('the shutdown to begin', () => child.output().includes('shutting down'));
      for (const signal of repeats) child.proc.kill(signal);
      const exit = await child.exited;
      expect(exit, child.output()).toEqual({ code: 0, signal: null });
      await expectAllClosedGoingAway(setup);
      expectShutdownCdrs(data, setup.callIds);
      const again = await startTestNode({ dataDir: data });
      nodes.push(again);
      expect(again.recovered).toBe(0);
    },
  );
});
