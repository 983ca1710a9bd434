/**
 * Legs on different releases in one node, and calls that move between releases while they
 * are up. Without the release handler: the test loads a release's behaviours into the node's
 * code server (new sessions then start on it) and moves live sessions with the runtime's own
 * suspend / changeCode / resume, so what is checked here is the release code alone: the
 * peer messages between releases, codeChange on real states, and timers set by one release
 * firing into another.
 */
import { describe, expect, it } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import { type Release, userName } from '../../server/calls/contract.ts';
import { shippedReleases } from '../../server/calls/releases/index.ts';
import type { Pid } from '../../server/runtime/index.ts';
import { received, relay, sendMedia, twoPartyFlows } from '../support/call-flows.ts';
import { loadRelease as load } from '../support/call-releases.ts';
import { answeredCall } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { type TestNode, useTestNode } from '../support/test-node.ts';
import { sleep, TIMER_SLACK_MS } from '../support/wait.ts';

/** The shipped releases, oldest first. */
const shipped = () =>
  Promise.all(['1.0.0', '1.1.0', '2.0.0'].map(load)) as Promise<[Release, Release, Release]>;

/** New sessions (and service legs) start on `release` from now on; its phone messages are known. */
function makeCurrent(n: TestNode, release: Release): void {
  n.protocol.learn(release.protocol);
  for (const b of release.behaviours) n.rt.modules.load(b);
}

const sessionOf = (n: TestNode, user: string): Pid => {
  const pid = n.rt.whereis(userName(user));
  if (pid === undefined) throw new Error(`${user} has no session`);
  return pid;
};

const versionOf = (n: TestNode, user: string): string | undefined =>
  n.rt.lookup(sessionOf(n, user))?.behaviour.version;

/** Move the users' live sessions to `to`, one at a time, as the release handler does. */
async function moveSessions(
  n: TestNode,
  users: string[],
  to: Release,
  direction: 'up' | 'down',
): Promise<void> {
  makeCurrent(n, to);
  for (const user of users) {
    const pid = sessionOf(n, user);
    await n.rt.sys.suspend(pid);
    try {
      n.rt.sys.changeCode(pid, { to: to.session, direction });
    } finally {
      n.rt.sys.resume(pid);
    }
    expect(versionOf(n, user)).toBe(to.version);
  }
}

/**
 * 2.0.0 against each 1.x release, both ways round. (1.0.0 and 1.1.0 run the same call code,
 * so a call between them differs from a conformance run only in the versions it names.)
 */
const pairs = shippedReleases
  .filter((v) => v !== '2.0.0')
  .flatMap((v) => [
    [v, '2.0.0'],
    ['2.0.0', v],
  ]);

describe.each(pairs)('alice on %s, bob on %s', (ra, rb) => {
  const start = useTestNode();
  for (const flow of twoPartyFlows) {
    it(flow.name, async () => {
      const [releaseA, releaseB] = await Promise.all([load(ra), load(rb)]);
      const n = await start(flow.settings, { release: releaseA });
      const a = await n.phone('alice');
      makeCurrent(n, releaseB);
      const b = await n.phone('bob');
      expect([versionOf(n, 'alice'), versionOf(n, 'bob')]).toEqual([ra, rb]);
      await flow.run({ node: n, a, b, releases: { a: ra, b: rb } });
    });
  }
});

describe('a call moving between releases', () => {
  const start = useTestNode();

  /** call_info from a phone on a release that has it. */
  async function info(p: Phone, callId: string) {
    p.send({ type: 'call_info', callId });
    return p.next('call_info');
  }

  it('up 1.0.0 → 1.1.0 → 2.0.0, down → 1.1.0 → 1.0.0: media, counters, hold, duration and timers carry over', async () => {
    const [r100, r110, r200] = await shipped();
    const n = await start({ mediaTimeoutMs: 400 }, { release: r100 });
    const [a, b] = [await n.phone('alice'), await n.phone('bob')];
    await answeredCall(a, b, 'mv', 'bob');
    const answeredBy = Date.now();
    let seq = 0;
    /** Media both ways, and what each phone's session has counted so far. */
    const sent = { a: 0, b: 0 };
    const talk = async () => {
      await relay(a, b, 'mv', seq++);
      await relay(b, a, 'mv', seq++);
      sent.a++;
      sent.b++;
    };
    const both = ['alice', 'bob'];
    await talk();

    await moveSessions(n, both, r110, 'up');
    await talk();
    expect(await info(a, 'mv')).toMatchObject({
      state: 'up',
      mediaOut: sent.a,
      mediaIn: sent.b,
      release: '1.1.0',
    });

    await moveSessions(n, both, r200, 'up');
    await talk();
    const on2 = await info(b, 'mv');
    expect(on2).toMatchObject({ state: 'up', mediaOut: sent.b, mediaIn: sent.a, release: '2.0.0' });
    // The duration runs from the answer on 1.0.0.
    expect(on2.durationMs).toBeGreaterThanOrEqual(0);
    expect(on2.durationMs).toBeLessThanOrEqual(Date.now() - answeredBy + 50);

    // Held on 2.0.0, moved down held: 1.1.0 acks and drops the media, and either side resumes.
    a.send({ type: 'hold', callId: 'mv' });
    await b.next('held');
    await moveSessions(n, both, r110, 'down');
    expect(await info(a, 'mv')).toMatchObject({ state: 'held', release: '1.1.0' });
    await sendMedia(a, 'mv', seq++);
    sent.a++;
    b.send({ type: 'resume', callId: 'mv' });
    await a.next('resumed');

    // Media flowing through three media timeouts and two moves: the media check set by one
    // release and handled by the next never ends a live call.
    await moveSessions(n, both, r100, 'down');
    const until = Date.now() + 1200;
    while (Date.now() < until) {
      await talk();
      await sleep(50);
    }
    expect(b.pending().filter((m) => m.type === 'ended')).toEqual([]);

    // Then silence: the media timeout ends it on 1.0.0.
    expect(await a.next('ended')).toMatchObject({ callId: 'mv', cause: 'media_timeout' });
    expect(await b.next('ended')).toMatchObject({ callId: 'mv', cause: 'media_timeout' });
    const cdr = await cdrOf(n, 'mv');
    expect(cdr).toMatchObject({
      cause: 'media_timeout',
      endedBy: 'system',
      mediaAtoB: sent.a,
      mediaBtoA: sent.b,
      versions: ['1.0.0', '1.1.0', '2.0.0'],
    });
    expect(cdr.answeredAt).toBeLessThanOrEqual(answeredBy);
    // Every frame alice sent reached bob, but the one sent on hold.
    expect(received(b, 'media')).toHaveLength(sent.a - 1);
  });

  it('a ring timer set on one release fires on the next; an answer on the next cancels it', async () => {
    const [r100, r110, r200] = await shipped();
    const n = await start({ ringTimeoutMs: 500 }, { release: r100 });
    const [a, b, c, d] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((u) => n.phone(u)));
    if (a === undefined || b === undefined || c === undefined || d === undefined) throw new Error('phones');

    // Ringing on 1.0.0, moved to 2.0.0: the 1.0.0 ring timer ends the call on 2.0.0.
    a.send({ type: 'invite', callId: 'ring1', to: 'bob' });
    await b.next('incoming');
    b.send({ type: 'ringing', callId: 'ring1' });
    await a.next('ringing');
    await moveSessions(n, ['alice', 'bob'], r200, 'up');
    expect(await a.next('ended')).toMatchObject({ callId: 'ring1', cause: 'ring_timeout', durationMs: 0 });
    expect(await b.next('ended')).toMatchObject({ callId: 'ring1', cause: 'ring_timeout' });
    const timedOut = await cdrOf(n, 'ring1');
    expect(timedOut).toMatchObject({
      cause: 'ring_timeout',
      endedBy: 'system',
      versions: ['1.0.0', '2.0.0'],
    });
    expect(timedOut.endedAt - timedOut.setupAt).toBeGreaterThanOrEqual(500 - TIMER_SLACK_MS);

    // Ringing on 2.0.0 (carol and dave start on it now), moved down to 1.1.0 and answered
    // there: the 2.0.0 ring timer is cancelled, and the call outlives the ring timeout.
    expect(versionOf(n, 'carol')).toBe('1.0.0');
    await moveSessions(n, ['carol', 'dave'], r200, 'up');
    c.send({ type: 'invite', callId: 'ring2', to: 'dave' });
    await d.next('incoming');
    await moveSessions(n, ['carol', 'dave'], r110, 'down');
    d.send({ type: 'answer', callId: 'ring2' });
    await c.next('answered');
    await sleep(700);
    await relay(c, d, 'ring2', 1);
    d.send({ type: 'bye', callId: 'ring2' });
    expect(await c.next('ended')).toMatchObject({ callId: 'ring2', cause: 'normal' });
    expect(await cdrOf(n, 'ring2')).toMatchObject({
      cause: 'normal',
      endedBy: 'callee',
      mediaAtoB: 1,
      versions: ['2.0.0', '1.1.0'],
    });
  });
});
