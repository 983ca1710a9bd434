/**
 * Calls across nodes, in one test process: two nodes joined over NATS, a user on each. The
 * sessions exchange the same peer messages as on one node (invite, ringing, answer, media
 * both ways, bye), on the same release or on 1.0.0 and 2.0.0 in either direction; the user
 * directory refuses a user registered on the other node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import type { Release } from '../../server/calls/contract.ts';
import { releaseSources } from '../../server/calls/releases/index.ts';
import { relay } from '../calls/flow-checks.ts';
import { answeredCall, cdrOf, startTestNode, type TestNode, waitFor } from '../calls/helpers.ts';
import { useNatsServer } from './nats.ts';

const nats = useNatsServer();
const started: TestNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.shutdown()));
});

let nodeNo = 0;
async function clusterNode(release?: string): Promise<TestNode> {
  const source = release === undefined ? undefined : releaseSources[release];
  const options: { release?: Release } = source === undefined ? {} : { release: await source() };
  const n = await startTestNode({ node: `n${++nodeNo}`, cluster: nats().url }, options);
  started.push(n);
  return n;
}

/** Two nodes that see each other, a phone on each. */
async function twoNodes(releases: [string?, string?] = []): Promise<{ n1: TestNode; n2: TestNode }> {
  const n1 = await clusterNode(releases[0]);
  const n2 = await clusterNode(releases[1]);
  await waitFor('the nodes see each other', () => {
    return n1.cluster?.membership.isUp(n2.settings.node) && n2.cluster?.membership.isUp(n1.settings.node);
  });
  return { n1, n2 };
}

/** Register on a node and wait until the other node's directory has the user. */
async function registered(on: TestNode, seenBy: TestNode, user: string): Promise<Phone> {
  const p = await on.phone(user);
  await waitFor(`${user} in the directory of ${seenBy.settings.node}`, () =>
    seenBy.cluster?.directory.whereis(`user:${user}`),
  );
  return p;
}

/** alice (on `from`) calls bob (on `to`): answered, media both ways, bye; the CDR on alice's node. */
async function callAcross(from: TestNode, to: TestNode, callId: string): Promise<void> {
  const a = await registered(from, to, `alice-${callId}`);
  const b = await registered(to, from, `bob-${callId}`);
  await answeredCall(a, b, callId, `bob-${callId}`);
  for (let seq = 0; seq < 3; seq++) {
    await relay(a, b, callId, seq, `a${seq}`);
    await relay(b, a, callId, seq);
  }
  a.send({ type: 'bye', callId });
  expect(await a.next('ended')).toMatchObject({ callId, cause: 'normal' });
  expect(await b.next('ended')).toMatchObject({ callId, cause: 'normal' });
  const fromRelease = from.releases.current.version;
  const toRelease = to.releases.current.version;
  expect(await cdrOf(from, callId)).toMatchObject({
    caller: `alice-${callId}`,
    callee: `bob-${callId}`,
    node: from.settings.node,
    cause: 'normal',
    endedBy: 'caller',
    mediaAtoB: 3,
    mediaBtoA: 3,
    versions: [...new Set([fromRelease, toRelease])],
  });
}

describe('calls across nodes', () => {
  it('a user on one node calls a user on the other, both ways, with media', async () => {
    const { n1, n2 } = await twoNodes();
    await callAcross(n1, n2, 'x12');
    await callAcross(n2, n1, 'x21');
  });

  it.each([
    ['1.0.0', '2.0.0'],
    ['2.0.0', '1.0.0'],
  ])('mixed releases: caller on %s, callee on %s', async (r1, r2) => {
    const { n1, n2 } = await twoNodes([r1, r2]);
    expect([n1.releases.current.version, n2.releases.current.version]).toEqual([r1, r2]);
    await callAcross(n1, n2, `m-${r1}`);
  });

  it('a user registered on one node is taken on the other; free again once it leaves', async () => {
    const { n1, n2 } = await twoNodes();
    const first = await registered(n1, n2, 'carol');
    const second = await n2.phone();
    second.send({ type: 'register', user: 'carol' });
    expect(await second.next('error')).toMatchObject({ code: 'HOT_ERR_USER_TAKEN' });
    await first.close();
    await waitFor('carol gone from n2', () => n2.cluster?.directory.whereis('user:carol') === undefined);
    await second.register('carol');
    const session = n2.rt.whereis('user:carol');
    await waitFor(
      'n1 finds carol on n2',
      () => session !== undefined && n1.rt.whereis('user:carol') === session,
    );
  });

  it('the admin surface lists the cluster with where each node listens', async () => {
    const { n1, n2 } = await twoNodes();
    type Listing = { node: string; cluster: { self: unknown; nodes: { callsUrl?: string }[] } };
    // The first beat may predate the listening sockets; the next one names them.
    const body = await waitFor('n2 listed with its URLs', async () => {
      const r = await n1.admin<Listing>('/admin/cluster');
      return r.status === 200 && r.body.cluster.nodes[0]?.callsUrl !== undefined ? r.body : undefined;
    });
    expect(body.node).toBe(n1.settings.node);
    expect(body.cluster.self).toEqual({
      node: n1.settings.node,
      release: '1.0.0',
      talksTo: ['1.0.0'],
      alsoRuns: [],
      callsUrl: n1.callsUrl,
      adminUrl: n1.adminUrl,
      httpUrl: n1.httpUrl,
    });
    expect(body.cluster.nodes).toEqual([
      expect.objectContaining({
        node: n2.settings.node,
        release: '1.0.0',
        talksTo: ['1.0.0'],
        alsoRuns: [],
        callsUrl: n2.callsUrl,
        adminUrl: n2.adminUrl,
        httpUrl: n2.httpUrl,
      }),
    ]);
  });
});
