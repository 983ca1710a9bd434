/**
 * What crosses between nodes is checked. Releases declare the releases they talk to (their
 * appup's versions): a node refuses to install a release that does not interoperate with one
 * another node runs, before anything changes, and a node refuses messages from a node whose
 * declared release and its own do not interoperate (a call gets a typed error back). Bytes
 * on the cluster's subjects that are not a runtime message, a heartbeat or a directory entry
 * are dropped and counted: before, one such message closed the node's NATS connection.
 */
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { Claims } from '../../server/cluster/claims.ts';
import { USERS_BUCKET } from '../../server/cluster/cluster.ts';
import { decode, type Envelope, encode, type Heartbeat, subjects } from '../../server/cluster/wire.ts';
import { type Declared, declarationOf } from '../../server/release/compat.ts';
import { type DistMessage, kill, type Pid } from '../../server/runtime/index.ts';
import { relay } from '../support/call-flows.ts';
import {
  adminPost,
  install,
  loadRelease,
  sessionsByRelease,
  useTrustingNodes,
} from '../support/call-releases.ts';
import { answeredCall } from '../support/calls.ts';
import { metric } from '../support/metrics.ts';
import { seeEachOther, useNatsServer } from '../support/nats.ts';
import { recorder } from '../support/runtime.ts';
import type { TestNode } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

const nats = useNatsServer();
const trusting = useTrustingNodes();
let raw: NatsConnection | undefined;
beforeAll(async () => {
  raw = await connect({ servers: nats().url });
});
afterAll(async () => {
  await raw?.close();
});
const started: TestNode[] = [];
afterEach(async () => {
  for (const n of started.splice(0)) {
    trusting.forget(n);
    await n.shutdown();
  }
});

async function twoNodes(): Promise<[TestNode, TestNode]> {
  const nodes: TestNode[] = [];
  for (const node of ['i1', 'i2']) {
    const n = await trusting.node({ node, cluster: nats().url });
    started.push(n);
    nodes.push(n);
  }
  const [n1, n2] = nodes as [TestNode, TestNode];
  await seeEachOther([n1, n2]);
  return [n1, n2];
}

let ghosts = 0;
/**
 * A node made of raw NATS messages, running `declared`: it beats once, then calls the
 * sessions supervisor of `n`. Resolves with the answer `n` sends back.
 */
async function callFromGhost(n: TestNode, declared: Declared): Promise<DistMessage> {
  const nc = raw as NatsConnection;
  const node = `ghost${++ghosts}`;
  const beat: Heartbeat = { node, incarnation: node, startedAt: Date.now(), ...declared };
  nc.publish(subjects.heartbeat, encode(beat));
  await waitFor(`${n.settings.node} hears ${node}`, () => n.cluster?.membership.member(node));
  const replies: DistMessage[] = [];
  const sub = nc.subscribe(subjects.dist(node), {
    callback: (_e, m) => replies.push(decode<Envelope>(m.data).msg),
  });
  const call: Envelope = {
    from: node,
    release: declared.release,
    msg: {
      type: 'call',
      to: n.rt.whereis('sessions') as Pid,
      message: 'which_children',
      ref: 1,
      timeoutMs: 1000,
    },
  };
  nc.publish(subjects.dist(n.settings.node), encode(call));
  const [reply] = await waitFor(`the answer to ${node}`, () => (replies.length > 0 ? replies : undefined));
  sub.unsubscribe();
  return reply as DistMessage;
}

const refused = (n: TestNode, reason: string): Promise<number> =>
  metric(n, 'hotline_cluster_messages_refused_total', { reason });

/** Its preflight and its install of `version` refused with HOT_ERR_RELEASE_INCOMPATIBLE naming `clash`; nothing changed. */
async function refusedBeside(n: TestNode, version: string, clash: string): Promise<void> {
  const before = { current: n.releases.current, progress: n.releases.progress };
  for (const action of ['preflight', 'install']) {
    const res = await adminPost<{ code: string; message: string }>(n, `/admin/releases/${version}/${action}`);
    expect(res.status, action).toBe(409);
    expect(res.body.code).toBe('HOT_ERR_RELEASE_INCOMPATIBLE');
    expect(res.body.message).toContain(clash);
  }
  expect({ current: n.releases.current, progress: n.releases.progress }).toEqual(before);
}

/** What a real node puts on NATS, read off the wire as it was sent: its heartbeats, and its envelopes to any node. */
function wiretap(node: string) {
  const nc = raw as NatsConnection;
  const beats: Heartbeat[] = [];
  const envelopes: Envelope[] = [];
  const json = <T>(data: Uint8Array): T | undefined => {
    try {
      return decode<T>(data);
    } catch {
      return undefined; // other tests' bad bytes
    }
  };
  const subs = [
    nc.subscribe(subjects.heartbeat, {
      callback: (_e, m) => {
        const beat = json<Heartbeat>(m.data);
        if (beat?.node === node) beats.push(beat);
      },
    }),
    nc.subscribe(subjects.dist('*'), {
      callback: (_e, m) => {
        const envelope = json<Envelope>(m.data);
        if (envelope?.from === node) envelopes.push(envelope);
      },
    }),
  ];
  return {
    /** Its latest beat, once that passes `check`. */
    beat: (what: string, check: (b: Heartbeat) => boolean): Promise<Heartbeat> =>
      waitFor(what, () => {
        const last = beats.at(-1);
        return last !== undefined && check(last) ? last : undefined;
      }),
    /** The envelope it sends calling the sessions supervisor of `to` (which answers). */
    async callTo(from: TestNode, to: TestNode): Promise<Envelope> {
      envelopes.length = 0;
      await from.rt.call(to.rt.whereis('sessions') as Pid, 'which_children');
      return waitFor('the envelope', () => envelopes.find((e) => e.msg.type === 'call'));
    },
    stop: () => {
      for (const sub of subs) sub.unsubscribe();
    },
  };
}

const declarationOfRelease = async (version: string): Promise<Declared> =>
  declarationOf(await loadRelease(version));

it('an install that would not interoperate with another node’s release is refused there, changing nothing', async () => {
  const [n1, n2] = await twoNodes();
  await trusting.uploadTo([n1, n2], ['2.0.0', '1.1.0', '1.2.0-faulty-crash']);
  expect(await install(n1, '2.0.0')).toMatchObject({ outcome: 'installed' });
  await waitFor('n2 hears n1 on 2.0.0', () => n2.cluster?.membership.member('i1')?.release === '2.0.0');

  // 1.2.0-faulty-crash declares 1.0.0 and 1.1.0; 2.0.0 declares neither it nor is declared by it.
  await refusedBeside(n2, '1.2.0-faulty-crash', '2.0.0 on i1');
  // 1.1.0 is declared by 2.0.0: it may run beside it.
  expect(await install(n2, '1.1.0')).toMatchObject({ outcome: 'installed' });
});

it('mid-install a node declares the release it installs as well: in its heartbeats and envelopes, to other nodes’ installs and to senders', async () => {
  const [n1, n2] = await twoNodes();
  await trusting.uploadTo([n1, n2], ['2.0.0', '1.2.0-faulty-crash']);
  const tap = wiretap('i1');
  const res = await adminPost(n1, '/admin/releases/2.0.0/install', { watchMs: 120_000 });
  expect(res.status).toBe(202);
  await waitFor('i1 in its watch window', () => n1.releases.running?.phase === 'watch');
  // Its sessions run 2.0.0 now, and its current release is still 1.0.0 until the watch ends.
  expect(n1.releases.current.version).toBe('1.0.0');
  const v200 = await declarationOfRelease('2.0.0');
  const beat = await tap.beat('a beat naming 2.0.0', (b) => b.alsoRuns?.[0]?.release === '2.0.0');
  expect(beat).toMatchObject({ release: '1.0.0', talksTo: ['1.0.0'], alsoRuns: [v200] });
  expect(await tap.callTo(n1, n2)).toMatchObject({ from: 'i1', release: '1.0.0', alsoRuns: ['2.0.0'] });

  // i2 may not install a release that talks to 1.0.0 but not to 2.0.0 now.
  await waitFor('i2 hears i1 installing', () => n2.cluster?.membership.member('i1')?.alsoRuns?.length === 1);
  await refusedBeside(n2, '1.2.0-faulty-crash', '2.0.0 on i1');
  // A node on that release turning up now: i1 refuses its call, for 2.0.0.
  const reply = await callFromGhost(n1, await declarationOfRelease('1.2.0-faulty-crash'));
  expect(reply).toMatchObject({ type: 'reply_error', error: { code: 'HOT_ERR_RELEASE_INCOMPATIBLE' } });
  expect((reply as { error: { message: string } }).error.message).toContain('with 2.0.0 on i1');

  // Rolled back, i1 runs 1.0.0 alone again and says so; the install refused above goes through.
  expect((await adminPost(n1, '/admin/install/rollback')).status).toBe(200);
  await tap.beat('a beat of 1.0.0 alone', (b) => b.release === '1.0.0' && b.alsoRuns?.length === 0);
  const after = await tap.callTo(n1, n2);
  expect(after.release).toBe('1.0.0');
  expect(after).not.toHaveProperty('alsoRuns');
  await waitFor(
    'i2 hears i1 on 1.0.0 alone',
    () => n2.cluster?.membership.member('i1')?.alsoRuns?.length === 0,
  );
  expect(await install(n2, '1.2.0-faulty-crash')).toMatchObject({ outcome: 'installed' });
  tap.stop();
});

it('after an install a node declares its new release alone, and an old one again only while processes run it', async () => {
  const [n1, n2] = await twoNodes();
  await trusting.uploadTo([n1], ['1.1.0']);
  const tap = wiretap('i1');
  // A session the install does not move (a copy of 1.0.0's code, not the code it replaces)
  // stands for one whose move failed: it stays on 1.0.0 after the install.
  await n1.phone('leftover');
  const { config } = n1.rt.sys.getState(n1.rt.whereis('user:leftover') as Pid) as { config: unknown };
  const v100 = await loadRelease('1.0.0');
  const port = n1.rt.spawn(recorder, undefined);
  const stale = n1.rt.spawn({ ...v100.session }, { port, config });
  expect(await install(n1, '1.1.0')).toMatchObject({ outcome: 'installed' });
  expect(await sessionsByRelease(n1)).toEqual({ '1.0.0': 1, '1.1.0': 1 });

  const beat = await tap.beat('a beat of 1.1.0', (b) => b.release === '1.1.0');
  expect(beat.alsoRuns).toEqual([declarationOf(v100)]);
  expect(await tap.callTo(n1, n2)).toMatchObject({ release: '1.1.0', alsoRuns: ['1.0.0'] });

  n1.rt.exit(stale, kill);
  await tap.beat('a beat of 1.1.0 alone', (b) => b.release === '1.1.0' && b.alsoRuns?.length === 0);
  expect(await tap.callTo(n1, n2)).not.toHaveProperty('alsoRuns');
  tap.stop();
});

it('a claim is the first claimant’s for good: the same token is told so again, any other is refused', async () => {
  const nc = raw as NatsConnection;
  const a = await Claims.open(nc.jetstream(), 'a');
  const b = await Claims.open(nc.jetstream(), 'b');
  const key = `cdr.test-${Date.now()}`;
  expect(await a.claim(key, 't1')).toBe(true);
  // A retry after a timeout the server had answered, or a restart that kept its token.
  expect(await a.claim(key, 't1')).toBe(true);
  expect(await a.claim(key, 't2')).toBe(false);
  expect(await b.claim(key, 't3')).toBe(false);
  expect(await b.holder(key)).toMatchObject({ node: 'a', token: 't1' });
});

it('a heartbeat without talksTo (a node of the build before it) is read as its release alone', async () => {
  const [n1] = await twoNodes();
  const beat: Omit<Heartbeat, 'talksTo'> = {
    node: 'elder',
    incarnation: 'e1',
    startedAt: Date.now(),
    release: '1.0.0',
  };
  (raw as NatsConnection).publish(subjects.heartbeat, encode(beat));
  const member = await waitFor('i1 hears the elder', () => n1.cluster?.membership.member('elder'));
  expect(member.talksTo).toEqual(['1.0.0']);
});

it('bad bytes and messages from a release that does not interoperate are refused and counted; the node serves on', async () => {
  const [n1, n2] = await twoNodes();
  const nc = raw as NatsConnection;
  const dist = subjects.dist('i1');
  const before = {
    malformed: await refused(n1, 'malformed'),
    incompatible: await refused(n1, 'incompatible'),
  };

  // Not JSON; JSON but no envelope; an envelope whose message is not a runtime message.
  nc.publish(dist, new TextEncoder().encode('{not json'));
  nc.publish(dist, encode({ hello: 'world' }));
  nc.publish(dist, encode({ from: 'i2', release: '1.0.0', msg: { type: 'teleport' } }));
  // A heartbeat and a leave that are not ones, and a directory entry no node wrote.
  nc.publish(subjects.heartbeat, encode({ node: 42 }));
  nc.publish(subjects.leave, new Uint8Array([0xff, 0x00]));
  const kv = await nc.jetstream().views.kv(USERS_BUCKET);
  await kv.put(Buffer.from('user:mallory').toString('base64url'), encode({ pid: 7 }));

  // A node that declares a release neither side knows: its call is answered with the typed error.
  expect(await callFromGhost(n1, { release: '9.9.9', talksTo: ['9.9.9'] })).toMatchObject({
    type: 'reply_error',
    ref: 1,
    error: { code: 'HOT_ERR_RELEASE_INCOMPATIBLE' },
  });

  // Three dist messages, the heartbeat, the leave and the directory entry.
  await waitFor(
    'the refusals counted',
    async () => (await refused(n1, 'malformed')) === before.malformed + 6,
  );
  expect(await refused(n1, 'incompatible')).toBe(before.incompatible + 1);
  expect(n1.cluster?.directory.whereis('user:mallory')).toBeUndefined();
  expect(n1.cluster?.membership.isUp('i2')).toBe(true);

  // Both nodes still carry calls across.
  const alice = await n1.phone('alice');
  const bob = await n2.phone('bob');
  await waitFor('bob in the directory of i1', () => n1.cluster?.directory.whereis('user:bob'));
  await answeredCall(alice, bob, 'after', 'bob');
  await relay(alice, bob, 'after', 0, 'a0');
  await relay(bob, alice, 'after', 0);
  alice.send({ type: 'bye', callId: 'after' });
  expect(await bob.next('ended')).toMatchObject({ cause: 'normal' });
});
