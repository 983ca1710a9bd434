/**
 * A node of a 3-node cluster handed to a successor process under cross-node calls. The two
 * peers run in this process, the node handed off ("mover") is a child process, as
 * `npm start` runs it. Through the handoff: no phone's socket closes, the peers never see the
 * mover go (it stays up in their membership, with the same incarnation, and its heartbeats
 * never pause for as long as the detection window), every media frame crosses once and in
 * order both ways, the directory keeps the mover's users under the same pids, and the calls
 * end normally afterwards with exact CDRs; a new cross-node call works. A successor that
 * dies mid-handoff leaves the mover in the cluster as it was, its calls carrying on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import { DistLink } from '../../server/cluster/dist.ts';
import { decode, type Envelope, subjects } from '../../server/cluster/wire.ts';
import type { HandoffSummary } from '../../server/handoff/handoff.ts';
import { AdminClient, AdminRequestError } from '../../server/ops/admin-client.ts';
import { type Checkout, patchedCheckout } from '../handoff/checkout.ts';
import { answeredCall, MediaFlow } from '../support/calls.ts';
import { type AdminTarget, cdrOf } from '../support/cdrs.ts';
import { useNatsServer } from '../support/nats.ts';
import {
  type NodeProcess,
  reapNodeProcesses,
  reapSuccessorLater,
  spawnNodeProcess,
} from '../support/node-process.ts';
import { startTestNode, type TestNode, tempDataDir } from '../support/test-node.ts';
import { sleep, waitFor } from '../support/wait.ts';

const nats = useNatsServer();
const peers: TestNode[] = [];
afterEach(async () => {
  await reapNodeProcesses();
  await Promise.all(peers.splice(0).map((p) => p.shutdown()));
});

const admin = (node: NodeProcess) => new AdminClient(node.adminUrl, node.adminToken, 120_000);

/** What the peers see of the mover, sampled every 20 ms: absent, incarnations, the longest gap between beats. */
function watchMover(nodes: TestNode[]) {
  const absent: string[] = [];
  const incarnations = new Set<string>();
  let maxGapMs = 0;
  const last = new Map<TestNode, number>();
  const timer = setInterval(() => {
    for (const n of nodes) {
      const m = n.cluster?.membership.member('mover');
      if (m === undefined) {
        absent.push(`${n.settings.node} at ${Date.now()}`);
        continue;
      }
      incarnations.add(m.incarnation);
      const before = last.get(n);
      if (before !== undefined && m.lastSeen !== before) maxGapMs = Math.max(maxGapMs, m.lastSeen - before);
      last.set(n, m.lastSeen);
    }
  }, 20);
  return {
    absent,
    incarnations,
    get maxGapMs() {
      return maxGapMs;
    },
    stop: () => clearInterval(timer),
  };
}

/** Media frames a phone receives, by call: their sequence numbers in arrival order. */
function mediaSeqs(phone: Phone): Map<string, number[]> {
  const seqs = new Map<string, number[]>();
  phone.onMessage((m) => {
    if (m.type !== 'media') return;
    const list = seqs.get(m.callId) ?? [];
    list.push(m.seq);
    seqs.set(m.callId, list);
  });
  return seqs;
}

/** A call between two phones with media both ways, and what each received. */
async function crossCall(caller: Phone, callee: Phone, callId: string, to: string) {
  const heardByCaller = mediaSeqs(caller);
  const heardByCallee = mediaSeqs(callee);
  await answeredCall(caller, callee, callId, to);
  const out = new MediaFlow(caller, callId, 20);
  const back = new MediaFlow(callee, callId, 20);
  await out.more(5);
  await back.more(5);
  return {
    callId,
    out,
    back,
    async more(n: number) {
      await out.more(n);
      await back.more(n);
    },
    /** Stop; every frame acked once in order, and delivered to the other leg once, in order. */
    async drain() {
      await out.drain();
      await back.drain();
      const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);
      await waitFor(`${callId}: every frame delivered`, () => {
        const a = heardByCallee.get(callId)?.length ?? 0;
        const b = heardByCaller.get(callId)?.length ?? 0;
        return a >= out.sent && b >= back.sent;
      });
      expect(heardByCallee.get(callId)).toEqual(upTo(out.sent));
      expect(heardByCaller.get(callId)).toEqual(upTo(back.sent));
    },
    /** Drain, then `by` hangs up: both legs end normally, and the CDR on `owner` has what each side sent. */
    async end(by: 'caller' | 'callee', owner: AdminTarget) {
      await this.drain();
      (by === 'caller' ? caller : callee).send({ type: 'bye', callId });
      for (const p of [caller, callee])
        expect(await p.next((m) => m.type === 'ended' && m.callId === callId)).toMatchObject({
          cause: 'normal',
        });
      expect(await cdrOf(owner, callId)).toMatchObject({
        cause: 'normal',
        mediaAtoB: out.sent,
        mediaBtoA: back.sent,
      });
    },
  };
}

/**
 * Peers n1 and n2 in this process, the mover as a child process; ann on n1, ben on n2, mara
 * and mike on the mover; ann calls mara and mike calls ben, with media flowing both ways.
 */
async function clusterInCalls(entry = 'server/main.ts', flags: string[] = []) {
  const url = nats().url;
  const [n1, n2] = (await Promise.all([
    startTestNode({ node: 'n1', cluster: url }),
    startTestNode({ node: 'n2', cluster: url }),
  ])) as [TestNode, TestNode];
  peers.push(n1, n2);
  const mover = await spawnNodeProcess(
    tempDataDir(),
    ['--node', 'mover', '--cluster', url, ...flags],
    90_000,
    {
      entry,
    },
  );
  await waitFor(
    'the peers see the mover',
    () => peers.every((p) => p.cluster?.membership.isUp('mover')),
    20_000,
  );
  const onMover = async (user: string) => {
    const p = await Phone.connect(mover.callsUrl, { token: mover.tokens });
    await p.register(user);
    await waitFor(`${user} in the directory`, () => peers.every((n) => n.rt.whereis(`user:${user}`)));
    return p;
  };
  const ann = await n1.phone('ann');
  const ben = await n2.phone('ben');
  const mara = await onMover('mara');
  const mike = await onMover('mike');
  const closed: string[] = [];
  for (const [user, p] of Object.entries({ ann, ben, mara, mike }))
    void p.closed.then((c) => closed.push(`${user}: ${c.code}`));
  const toMover = await crossCall(ann, mara, 'n1-to-mover', 'mara');
  const fromMover = await crossCall(mike, ben, 'mover-to-n2', 'ben');
  const directory = () => ['user:mara', 'user:mike'].map((u) => [n1.rt.whereis(u), n2.rt.whereis(u)]);
  expect(
    directory()
      .flat()
      .every((p) => p !== undefined),
  ).toBe(true);
  return { n1, n2, mover, onMover, ann, ben, mara, mike, closed, toMover, fromMover, directory };
}

describe.each([
  ['run directly', 'server/main.ts'],
  // The keeper relays the handoff's channel: the seat's hand-over goes through it too.
  ['under the keeper, as npm start runs it', 'server/keeper.ts'],
])('a node of a 3-node cluster handed off under cross-node calls, %s', (_how, entry) => {
  it('keeps its seat: no socket closed, no node loss seen, every frame once and in order, same directory, exact CDRs', {
    timeout: 180_000,
  }, async () => {
    const { n1, n2, mover, onMover, ann, ben, mara, mike, closed, toMover, fromMover, directory } =
      await clusterInCalls(entry);
    const pids = directory();
    const seen = watchMover([n1, n2]);

    const { handoff } = await admin(mover).post<{ handoff: HandoffSummary }>('/admin/node/handoff', {});
    reapSuccessorLater(handoff.to);
    expect(handoff.sockets).toBe(2);
    // Both went as descriptors, given by whoever spawned the successor (the keeper holds copies).
    expect(handoff.inherited).toBe(2);
    await waitFor('the old process gone', () => !existsSync(`/proc/${handoff.from}`), 20_000);
    await toMover.more(10);
    await fromMover.more(10);
    // Beats from the successor for a while after the old process is gone.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    seen.stop();

    expect(seen.absent).toEqual([]);
    expect(seen.incarnations.size).toBe(1);
    expect(seen.maxGapMs).toBeLessThan(n1.cluster?.membership.detectionBoundMs as number);
    expect(directory()).toEqual(pids);
    // The successor answers for the node: /admin/cluster names both peers.
    const view = await admin(mover).get<{ cluster: { nodes: { node: string }[] } }>('/admin/cluster');
    expect(view.cluster.nodes.map((m) => m.node).sort()).toEqual(['n1', 'n2']);

    // Each call's CDR on the caller's node, once, with what each side sent.
    await toMover.end('caller', n1);
    await fromMover.end('callee', mover);

    // New calls across, both ways, after the handoff; a new phone on the successor is found.
    const again = await crossCall(ben, mara, 'n2-to-mover', 'mara');
    const mia = await onMover('mia');
    const later = await crossCall(mia, ann, 'mover-to-n1', 'ann');
    await again.end('caller', n2);
    await later.end('callee', mover);
    expect(closed).toEqual([]);
    for (const p of [mara, mike, mia]) p.ws.terminate();
  });
});

/** Another checkout with `patches` (test/handoff/checkout.ts), for the tests of one describe. */
function useCheckout(patches: Parameters<typeof patchedCheckout>[0]): () => Checkout {
  let checkout: Checkout | undefined;
  beforeAll(() => {
    checkout = patchedCheckout(patches);
  });
  afterAll(() => checkout?.remove());
  return () => checkout as Checkout;
}

describe('a successor that dies mid-handoff in a cluster', { timeout: 180_000 }, () => {
  // Dies once the first batch's sockets and images have arrived, before it acks.
  const crashing = useCheckout({
    'server/handoff/takeover.ts': [
      '        try {\n          rt.move.restore',
      '        process.exit(9);\n        try {\n          rt.move.restore',
    ],
  });

  it('leaves the node in the cluster as it was: still up for the peers, same directory, calls carry on', async () => {
    const { n1, n2, mover, ben, mara, mike, closed, toMover, fromMover, directory } = await clusterInCalls();
    const pids = directory();
    const seen = watchMover([n1, n2]);

    const failed = await admin(mover)
      .post('/admin/node/handoff', { entry: crashing().entry })
      .then(
        () => 'handed off',
        (err: unknown) => (err instanceof AdminRequestError ? `${err.status} ${err.code}` : String(err)),
      );
    expect(failed).toBe('502 HOT_ERR_HANDOFF_FAILED');
    await toMover.more(10);
    await fromMover.more(10);
    seen.stop();
    expect(seen.absent).toEqual([]);
    expect(seen.incarnations.size).toBe(1);
    expect(mover.proc.exitCode).toBe(null);
    expect(directory()).toEqual(pids);

    await toMover.end('caller', n1);
    await fromMover.end('caller', mover);
    // And a new call across still works.
    const again = await crossCall(ben, mara, 'n2-to-mover', 'mara');
    await again.end('callee', n2);
    expect(closed).toEqual([]);
    for (const p of [mara, mike]) p.ws.terminate();
  });
});

describe('the old process dying during the cut', { timeout: 180_000 }, () => {
  // The old process exits once the successor has taken the messages (after cut-done), before it flushes and says own.
  const dying = useCheckout({
    'server/handoff/seat.ts': [
      "await steps.take('cut-done');",
      "await steps.take('cut-done');\n            process.exit(9);",
    ],
  });

  it('the successor takes the seat alone: the peers never lose the node, calls carry on and end normally', async () => {
    const pidFile = join(tempDataDir(), 'mover.pid');
    const { n1, n2, mover, ann, ben, mara, mike, closed, toMover, fromMover, directory } =
      await clusterInCalls(dying().entry, ['--pid-file', pidFile]);
    const pids = directory();
    const seen = watchMover([n1, n2]);
    await admin(mover)
      .post('/admin/node/handoff', {})
      .catch(() => {});
    expect((await mover.exited).code).toBe(9);
    const successor = await waitFor('the successor serving', () => {
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
      return pid > 0 && pid !== mover.proc.pid ? pid : undefined;
    });
    reapSuccessorLater(successor);
    await toMover.more(10);
    await fromMover.more(10);
    await sleep(1500);
    seen.stop();
    expect(seen.absent).toEqual([]);
    expect(seen.incarnations.size).toBe(1);
    expect(directory()).toEqual(pids);
    // What the old process had not published when it died may be lost: the calls go on and end normally.
    for (const call of [toMover, fromMover]) {
      call.out.stop();
      call.back.stop();
    }
    ann.send({ type: 'bye', callId: 'n1-to-mover' });
    ben.send({ type: 'bye', callId: 'mover-to-n2' });
    expect(await mara.next((m) => m.type === 'ended' && m.callId === 'n1-to-mover')).toMatchObject({
      cause: 'normal',
    });
    expect(await mike.next((m) => m.type === 'ended' && m.callId === 'mover-to-n2')).toMatchObject({
      cause: 'normal',
    });
    const again = await crossCall(ben, mara, 'n2-to-mover', 'mara');
    await again.end('caller', n2);
    expect(closed).toEqual([]);
    for (const p of [mara, mike]) p.ws.terminate();
  });
});

describe('the cut on the wire', { timeout: 60_000 }, () => {
  const connection = async (): Promise<NatsConnection> => {
    const nc = await connect({ servers: nats().url });
    onTestFinished(() => nc.close());
    return nc;
  };
  const link = (
    nc: NatsConnection,
    node: string,
    run: string,
    deliver: (e: Envelope) => void,
    publishing = true,
  ) =>
    new DistLink(
      nc,
      { node, run, stamp: () => ({ release: '1.0.0' }), deliver, malformed: () => {} },
      publishing,
    );
  const message = (n: number) => ({ type: 'send', to: '<1@m>', kind: 'info', message: n }) as const;
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);

  it('a sender that never pauses: what the old process got and what the successor held make every message once, in order', async () => {
    const got: unknown[] = [];
    const deliver = (e: Envelope) => got.push(e.msg.type === 'send' ? e.msg.message : e.msg);
    const old = link(await connection(), 'm', 'm-run', deliver);
    const successor = link(await connection(), 'm', 'm-run', deliver, false);
    old.subscribe();
    await old.nc.flush();
    const sender = link(await connection(), 's', 's-run', () => {});
    let sent = 0;
    let sending = true;
    const pump = (async () => {
      while (sending) {
        for (let i = 0; i < 20; i++) sender.send('m', message(sent++));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await waitFor('the old process receiving', () => got.length > 200);
    await successor.hold();
    // Both subscribed a while: what comes meanwhile reaches both, and must be delivered once.
    await sleep(50);
    const heard = await old.release();
    const byOld = got.length;
    successor.resume(heard);
    await waitFor('more after the cut', () => got.length > byOld + 200);
    sending = false;
    await pump;
    await sender.nc.flush();
    await waitFor('every message', () => got.length >= sent);
    expect(got).toEqual(upTo(sent));
    expect(byOld).toBeLessThan(sent);
  });

  it('outgoing: the successor publishes from where the old process stopped, after what it queued', async () => {
    const seen: Envelope[] = [];
    const receiver = await connection();
    receiver.subscribe(subjects.dist('r'), { callback: (_e, m) => seen.push(decode<Envelope>(m.data)) });
    await receiver.flush();
    const old = link(await connection(), 'm', 'm-run', () => {});
    const successor = link(await connection(), 'm', 'm-run', () => {}, false);
    let n = 0;
    for (; n < 100; n++) old.send('r', message(n));
    // The successor's own messages wait, the old process's go to it once it gives up publishing.
    for (let i = 0; i < 50; i++) successor.send('r', message(n++));
    old.relayTo((node, msg) => successor.send(node, msg));
    for (let i = 0; i < 50; i++) old.send('r', message(n++));
    await old.nc.flush();
    successor.own(old.nextSeq);
    for (let i = 0; i < 100; i++) successor.send('r', message(n++));
    await successor.nc.flush();
    await waitFor('every message', () => seen.length >= n);
    expect(seen.map((e) => (e.msg.type === 'send' ? e.msg.message : e.msg))).toEqual(upTo(n));
    expect(seen.map((e) => e.seq)).toEqual(upTo(n).map((i) => i + 1));
    expect(new Set(seen.map((e) => `${e.from} ${e.run}`))).toEqual(new Set(['m m-run']));
  });
});
