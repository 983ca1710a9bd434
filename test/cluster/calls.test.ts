/**
 * Calls across nodes, in one test process: nodes joined over NATS, a user on each. The
 * sessions exchange the same peer messages as on one node (invite, ringing, answer, media
 * both ways, call_info where the release has it, bye), on the same release or, for every
 * pair of shipped releases that interoperate, on one and the other in either direction; the
 * user directory refuses a user registered on the other node.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import { shippedReleases } from '../../server/calls/releases/index.ts';
import { declarationOf, interoperate } from '../../server/release/compat.ts';
import { relay } from '../support/call-flows.ts';
import { atLeast, loadRelease } from '../support/call-releases.ts';
import { answeredCall } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { seeEachOther, useNatsServer } from '../support/nats.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

const nats = useNatsServer();
const started: TestNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.shutdown()));
});

let nodeNo = 0;
/** A node in the cluster on `release` (the baseline by default), shut down with those in `into`. */
async function clusterNode(release?: string, into = started): Promise<TestNode> {
  const options = release === undefined ? {} : { release: await loadRelease(release) };
  const n = await startTestNode({ node: `n${++nodeNo}`, cluster: nats().url }, options);
  into.push(n);
  return n;
}

/** Until every one of `nodes` sees all the others. */

/** Two nodes that see each other, a phone on each. */
async function twoNodes(): Promise<{ n1: TestNode; n2: TestNode }> {
  const n1 = await clusterNode();
  const n2 = await clusterNode();
  await seeEachOther([n1, n2]);
  return { n1, n2 };
}

/** Every ordered pair of distinct shipped releases that interoperate(). */
const shipped = await Promise.all(shippedReleases.map(loadRelease));
const pairs = shipped.flatMap((a) =>
  shipped
    .filter((b) => b !== a && interoperate(declarationOf(a), declarationOf(b)))
    .map((b): [string, string] => [a.version, b.version]),
);

/** call_info came with 1.1.0: each leg on a release that has it reports the call from its side. */
async function callInfo(p: Phone, n: TestNode, callId: string): Promise<void> {
  const release = n.releases.current.version;
  if (!atLeast(release, '1.1.0')) return;
  p.send({ type: 'call_info', callId });
  expect(await p.next('call_info')).toMatchObject({ callId, state: 'up', mediaOut: 3, mediaIn: 3, release });
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
  await callInfo(a, from, callId);
  await callInfo(b, to, callId);
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

  describe('mixed releases, one node on each shipped release', () => {
    const on = new Map<string, TestNode>();
    const kept: TestNode[] = [];
    beforeAll(async () => {
      for (const v of shippedReleases) on.set(v, await clusterNode(v, kept));
      await seeEachOther(kept);
    });
    afterAll(async () => {
      await Promise.all(kept.map((n) => n.shutdown()));
    });

    it('the pairs include 1.0.0 and 2.0.0 both ways', () => {
      expect(pairs).toEqual(
        expect.arrayContaining([
          ['1.0.0', '2.0.0'],
          ['2.0.0', '1.0.0'],
        ]),
      );
    });

    it.each(pairs)('caller on %s, callee on %s', async (r1, r2) => {
      const [n1, n2] = [on.get(r1), on.get(r2)] as [TestNode, TestNode];
      expect([n1.releases.current.version, n2.releases.current.version]).toEqual([r1, r2]);
      await callAcross(n1, n2, `m-${r1}-${r2}`);
    });
  });

  it('a user registered on one node is not taken by a token its node refuses; free again once it leaves', async () => {
    const { n1, n2 } = await twoNodes();
    const first = await registered(n1, n2, 'carol');
    // Each node here signs with its own data directory's phone key, which the other does not
    // trust: n1 refuses to let carol go to n2 (test/calls/registration.test.ts has the takeover
    // between nodes that share their keys).
    const second = await n2.phone();
    await second.sendRegister('carol');
    expect(await second.next('error')).toMatchObject({ code: 'HOT_ERR_REGISTRATION_NOT_RELEASED' });
    expect(n1.rt.whereis('user:carol')).toBeDefined();
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
