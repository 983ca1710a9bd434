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
import type { DistMessage, Pid } from '../../server/runtime/index.ts';
import { relay } from '../calls/flow-checks.ts';
import { answeredCall, type TestNode, waitFor } from '../calls/helpers.ts';
import { adminPost, buildArtifact, install, upload, useTrustingNodes } from '../calls/releases.ts';
import { useNatsServer } from './nats.ts';

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
  await waitFor(
    'the nodes see each other',
    () => n1.cluster?.membership.isUp('i2') && n2.cluster?.membership.isUp('i1'),
  );
  return [n1, n2];
}

const refused = async (n: TestNode, reason: string): Promise<number> => {
  const text = await (await fetch(`${n.httpUrl}/metrics`)).text();
  const m = text.match(
    new RegExp(`^hotline_cluster_messages_refused_total\\{reason="${reason}"[^}]*\\} (\\d+)`, 'm'),
  );
  return Number(m?.[1]);
};

it('an install that would not interoperate with another node’s release is refused there, changing nothing', async () => {
  const [n1, n2] = await twoNodes();
  for (const v of ['2.0.0', '1.1.0', '1.2.0-faulty-crash']) {
    const artifact = await buildArtifact(trusting.signer(), v);
    await upload(n1, artifact);
    await upload(n2, artifact);
  }
  expect(await install(n1, '2.0.0')).toMatchObject({ outcome: 'installed' });
  await waitFor('n2 hears n1 on 2.0.0', () => n2.cluster?.membership.member('i1')?.release === '2.0.0');

  // 1.2.0-faulty-crash declares 1.0.0 and 1.1.0; 2.0.0 declares neither it nor is declared by it.
  for (const action of ['preflight', 'install']) {
    const res = await adminPost<{ code: string; message: string }>(
      n2,
      `/admin/releases/1.2.0-faulty-crash/${action}`,
    );
    expect(res.status, action).toBe(409);
    expect(res.body.code).toBe('HOT_ERR_RELEASE_INCOMPATIBLE');
    expect(res.body.message).toContain('2.0.0 on i1');
  }
  expect(n2.releases.current.version).toBe('1.0.0');
  expect(n2.releases.progress).toBeNull();
  // 1.1.0 is declared by 2.0.0: it may run beside it.
  expect(await install(n2, '1.1.0')).toMatchObject({ outcome: 'installed' });
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
  const ghost: Heartbeat = {
    node: 'ghost',
    incarnation: 'g1',
    startedAt: Date.now(),
    release: '9.9.9',
    talksTo: ['9.9.9'],
  };
  nc.publish(subjects.heartbeat, encode(ghost));
  await waitFor('i1 hears the ghost', () => n1.cluster?.membership.member('ghost'));
  const replies: DistMessage[] = [];
  const sub = nc.subscribe(subjects.dist('ghost'), {
    callback: (_e, m) => replies.push(decode<Envelope>(m.data).msg),
  });
  const call: Envelope = {
    from: 'ghost',
    release: '9.9.9',
    msg: {
      type: 'call',
      to: n1.rt.whereis('sessions') as Pid,
      message: 'which_children',
      ref: 1,
      timeoutMs: 1000,
    },
  };
  nc.publish(dist, encode(call));
  const [reply] = await waitFor('the refusal', () => (replies.length > 0 ? replies : undefined));
  sub.unsubscribe();
  expect(reply).toMatchObject({
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
