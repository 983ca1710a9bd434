/**
 * Call flows as reusable checks, so one definition runs against every release (the
 * conformance suite) and against two legs on different releases (mixed-releases.test.ts).
 * A flow drives real phones over WebSockets and checks every frame and the call's CDR.
 */
import { afterEach, expect } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { JOURNAL } from '../../server/calls/contract.ts';
import type { EndCause } from '../../server/calls/protocol/messages.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import type { StartOptions } from '../../server/node/node.ts';
import type { NodeSettings } from '../../server/node/settings.ts';
import type { ExitReason, Pid } from '../../server/runtime/index.ts';
import { answeredCall, assertServes, type SteadyCall, steadyEchoCall } from './calls.ts';
import { cdrOf } from './cdrs.ts';
import { startTestNode, type TestNode } from './test-node.ts';
import { sleep, TIMER_SLACK_MS } from './wait.ts';

export const types = (p: Phone): string[] => p.log.map((m) => m.type);
export const received = <T extends ServerMessage['type']>(p: Phone, type: T) =>
  p.log.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);

/** The releases of a call's two legs. */
export interface Legs {
  caller: string;
  callee: string;
}

/**
 * Checks every CDR must pass, plus the fields a flow expects. Its versions are the caller's
 * release, and the callee's once it answered.
 */
export function expectCdr(cdr: Cdr, legs: Legs, want: Partial<Cdr>): void {
  const versions = cdr.answeredAt === null ? [legs.caller] : [...new Set([legs.caller, legs.callee])];
  expect(cdr).toMatchObject({ node: 'hotline', versions, ...want });
  expect(typeof cdr.id).toBe('string');
  expect(cdr.endedAt).toBeGreaterThanOrEqual(cdr.setupAt);
  if (cdr.answeredAt === null) {
    // No media before the answer.
    expect([cdr.durationMs, cdr.mediaAtoB, cdr.mediaBtoA]).toEqual([0, 0, 0]);
  } else {
    expect(cdr.answeredAt).toBeGreaterThanOrEqual(cdr.setupAt);
    expect(cdr.endedAt).toBeGreaterThanOrEqual(cdr.answeredAt);
    expect(cdr.durationMs).toBe(cdr.endedAt - cdr.answeredAt);
  }
}

/** Send one media frame and check the sender's ack echoes its seq and sentAt. */
export async function sendMedia(
  from: Phone,
  callId: string,
  seq: number,
  payload?: string,
): Promise<{ seq: number; sentAt: number; payload?: string }> {
  const frame = { seq, sentAt: 1000 + seq + 0.25, ...(payload === undefined ? {} : { payload }) };
  from.send({ type: 'media', callId, ...frame });
  expect(await from.next('media_ack')).toStrictEqual({
    type: 'media_ack',
    callId,
    seq: frame.seq,
    sentAt: frame.sentAt,
  });
  return frame;
}

/** Media from one phone arrives at the other with the same seq, sentAt and payload. */
export async function relay(
  from: Phone,
  to: Phone,
  callId: string,
  seq: number,
  payload?: string,
): Promise<void> {
  const frame = await sendMedia(from, callId, seq, payload);
  expect(await to.next('media')).toStrictEqual({ type: 'media', callId, ...frame });
}

/** `a` calls `to` (the user of phone `b`), whose phone rings; the caller hears it ringing. */
export async function ringingCall(a: Phone, b: Phone, callId: string, to = 'bob'): Promise<void> {
  a.send({ type: 'invite', callId, to });
  await b.next('incoming');
  b.send({ type: 'ringing', callId });
  await a.next('ringing');
}

/** The phone hears the end of a call that was never answered, for this cause. */
export async function endsUnanswered(p: Phone, callId: string, cause: EndCause): Promise<void> {
  expect(await p.next('ended')).toStrictEqual({ type: 'ended', callId, cause, durationMs: 0 });
}

/** A message for a call that has ended is refused: the call is unknown now. */
export async function tooLate(p: Phone, type: 'answer' | 'bye', callId: string): Promise<void> {
  p.send({ type, callId });
  expect(await p.next('error')).toMatchObject({ code: 'HOT_ERR_UNKNOWN_CALL', ref: type, callId });
}

/** Two registered phones: alice (`a`) calls bob (`b`), each on the release named in `releases`. */
export interface Pair {
  node: TestNode;
  a: Phone;
  b: Phone;
  releases: { a: string; b: string };
}

/** The CDR of a call, checked: its callId, caller and callee, and the fields a flow expects. */
async function cdrFrom(p: Pair, from: 'a' | 'b', callId: string, want: Partial<Cdr>): Promise<Cdr> {
  const to = from === 'a' ? 'b' : 'a';
  const cdr = await cdrOf(p.node, callId);
  const users = { a: 'alice', b: 'bob' };
  expectCdr(
    cdr,
    { caller: p.releases[from], callee: p.releases[to] },
    { callId, caller: users[from], callee: users[to], ...want },
  );
  return cdr;
}
const aliceToBob = (p: Pair, callId: string, want: Partial<Cdr>) => cdrFrom(p, 'a', callId, want);

/** A flow between two phones, and the node settings it needs. */
export interface TwoPartyFlow {
  name: string;
  settings?: Partial<NodeSettings>;
  run(p: Pair): Promise<void>;
}

const decline = (message: 'busy' | 'reject', cause: 'busy' | 'rejected'): TwoPartyFlow => ({
  name: `the callee sends ${message}: both phones hear ${cause}`,
  async run(p) {
    const { a, b } = p;
    await ringingCall(a, b, 'x1');
    b.send({ type: message, callId: 'x1' });
    await endsUnanswered(a, 'x1', cause);
    await endsUnanswered(b, 'x1', cause);
    await aliceToBob(p, 'x1', { cause, endedBy: 'callee', answeredAt: null });
  },
});

export const twoPartyFlows: TwoPartyFlow[] = [
  {
    name: 'sets up, carries media both ways and ends with a bye from the callee',
    async run(p) {
      const { a, b } = p;
      a.send({ type: 'invite', callId: 'c1', to: 'bob' });
      expect(await a.next('trying')).toStrictEqual({ type: 'trying', callId: 'c1' });
      expect(await b.next('incoming')).toStrictEqual({ type: 'incoming', callId: 'c1', from: 'alice' });
      b.send({ type: 'ringing', callId: 'c1' });
      expect(await a.next('ringing')).toStrictEqual({ type: 'ringing', callId: 'c1' });
      b.send({ type: 'answer', callId: 'c1' });
      expect(await a.next('answered')).toStrictEqual({ type: 'answered', callId: 'c1' });
      expect(await b.next('answered')).toStrictEqual({ type: 'answered', callId: 'c1' });

      await relay(a, b, 'c1', 1, 'hello');
      await relay(a, b, 'c1', 2);
      await relay(a, b, 'c1', 3, 'x'.repeat(2048));
      await relay(b, a, 'c1', 7, 'hi back');
      await relay(b, a, 'c1', 8);

      b.send({ type: 'bye', callId: 'c1' });
      const endedB = await b.next('ended');
      const endedA = await a.next('ended');
      expect(endedA).toMatchObject({ callId: 'c1', cause: 'normal' });
      expect(endedB).toMatchObject({ callId: 'c1', cause: 'normal' });
      expect(endedA.durationMs).toBeGreaterThanOrEqual(0);
      expect(endedB.durationMs).toBeGreaterThanOrEqual(0);

      expect(types(a)).toEqual([
        'registered',
        'trying',
        'ringing',
        'answered',
        'media_ack',
        'media_ack',
        'media_ack',
        'media',
        'media',
        'ended',
      ]);
      expect(types(b)).toEqual([
        'registered',
        'incoming',
        'answered',
        'media',
        'media',
        'media',
        'media_ack',
        'media_ack',
        'ended',
      ]);

      const cdr = await aliceToBob(p, 'c1', {
        callId: 'c1',
        caller: 'alice',
        callee: 'bob',
        cause: 'normal',
        endedBy: 'callee',
        mediaAtoB: 3,
        mediaBtoA: 2,
      });
      expect(cdr.answeredAt).not.toBeNull();
      // The caller's leg owns the record: its phone heard the same duration.
      expect(cdr.durationMs).toBe(endedA.durationMs);
    },
  },
  {
    name: 'ends with a bye from the caller; both phones are free for the next call',
    async run(p) {
      const { a, b } = p;
      await answeredCall(a, b, 'c2', 'bob');
      await relay(a, b, 'c2', 1);
      a.send({ type: 'bye', callId: 'c2' });
      expect(await a.next('ended')).toMatchObject({ callId: 'c2', cause: 'normal' });
      expect(await b.next('ended')).toMatchObject({ callId: 'c2', cause: 'normal' });
      await aliceToBob(p, 'c2', { cause: 'normal', endedBy: 'caller', mediaAtoB: 1, mediaBtoA: 0 });
      // A second call between them, the other way round, gets its own CDR.
      await answeredCall(b, a, 'c3', 'alice');
      b.send({ type: 'bye', callId: 'c3' });
      expect(await a.next('ended')).toMatchObject({ callId: 'c3', cause: 'normal' });
      await cdrFrom(p, 'b', 'c3', { cause: 'normal', endedBy: 'caller', mediaAtoB: 0, mediaBtoA: 0 });
    },
  },
  {
    name: 'relays DTMF both ways without ending the call',
    async run(p) {
      const { a, b } = p;
      await answeredCall(a, b, 'd1', 'bob');
      for (const digit of ['5', '*', 'A']) {
        a.send({ type: 'dtmf', callId: 'd1', digit });
        expect(await b.next('dtmf')).toStrictEqual({ type: 'dtmf', callId: 'd1', digit });
      }
      // '#' between two phones is just a digit: only the IVR hangs up on it.
      b.send({ type: 'dtmf', callId: 'd1', digit: '#' });
      expect(await a.next('dtmf')).toStrictEqual({ type: 'dtmf', callId: 'd1', digit: '#' });
      await relay(a, b, 'd1', 1);
      a.send({ type: 'bye', callId: 'd1' });
      await b.next('ended');
      expect(received(a, 'ended')).toHaveLength(1);
      await aliceToBob(p, 'd1', { cause: 'normal', endedBy: 'caller', mediaAtoB: 1, mediaBtoA: 0 });
    },
  },
  {
    name: 'hold tells the other leg; media is acked but not relayed while held; either side resumes',
    async run(p) {
      const { a, b } = p;
      await answeredCall(a, b, 'h1', 'bob');

      a.send({ type: 'hold', callId: 'h1' });
      expect(await b.next('held')).toStrictEqual({ type: 'held', callId: 'h1' });
      a.send({ type: 'hold', callId: 'h1' });
      expect(await a.next('error')).toMatchObject({
        code: 'HOT_ERR_WRONG_STATE',
        message: 'hold is not allowed while on hold',
        ref: 'hold',
        callId: 'h1',
      });

      // Held: both sides' media is acked and dropped. A DTMF after it is the barrier: had
      // the media been relayed, it would have arrived first.
      await sendMedia(a, 'h1', 1);
      await sendMedia(b, 'h1', 2);
      a.send({ type: 'dtmf', callId: 'h1', digit: '1' });
      await b.next('dtmf');
      b.send({ type: 'dtmf', callId: 'h1', digit: '2' });
      await a.next('dtmf');
      expect(received(a, 'media')).toEqual([]);
      expect(received(b, 'media')).toEqual([]);

      a.send({ type: 'resume', callId: 'h1' });
      expect(await b.next('resumed')).toStrictEqual({ type: 'resumed', callId: 'h1' });
      await relay(a, b, 'h1', 3, 'back');
      await relay(b, a, 'h1', 4);
      expect(received(a, 'held')).toEqual([]);

      // The callee can hold and resume too; and either side resumes, whoever held.
      b.send({ type: 'hold', callId: 'h1' });
      expect(await a.next('held')).toStrictEqual({ type: 'held', callId: 'h1' });
      b.send({ type: 'resume', callId: 'h1' });
      expect(await a.next('resumed')).toStrictEqual({ type: 'resumed', callId: 'h1' });
      b.send({ type: 'hold', callId: 'h1' });
      await a.next('held');
      a.send({ type: 'resume', callId: 'h1' });
      expect(await b.next('resumed')).toStrictEqual({ type: 'resumed', callId: 'h1' });

      a.send({ type: 'bye', callId: 'h1' });
      await b.next('ended');
      // mediaAtoB counts what the caller sent (held frames too); mediaBtoA what reached it.
      await aliceToBob(p, 'h1', { cause: 'normal', endedBy: 'caller', mediaAtoB: 2, mediaBtoA: 1 });
      expect(received(b, 'media')).toHaveLength(1);
      expect(received(a, 'media')).toHaveLength(1);
    },
  },
  decline('busy', 'busy'),
  decline('reject', 'rejected'),
  {
    name: 'the caller cancels before the answer: the callee hears cancelled and cannot answer',
    async run(p) {
      const { a, b } = p;
      await ringingCall(a, b, 'k1');
      a.send({ type: 'cancel', callId: 'k1' });
      await endsUnanswered(a, 'k1', 'cancelled');
      await endsUnanswered(b, 'k1', 'cancelled');
      await aliceToBob(p, 'k1', { cause: 'cancelled', endedBy: 'caller', answeredAt: null });
      await tooLate(b, 'answer', 'k1');
    },
  },
  {
    name: 'a phone that never answers: both legs hear ring_timeout',
    settings: { ringTimeoutMs: 300 },
    async run(p) {
      const { a, b } = p;
      await ringingCall(a, b, 'r1');
      await endsUnanswered(a, 'r1', 'ring_timeout');
      await endsUnanswered(b, 'r1', 'ring_timeout');
      const cdr = await aliceToBob(p, 'r1', {
        caller: 'alice',
        callee: 'bob',
        cause: 'ring_timeout',
        endedBy: 'system',
        answeredAt: null,
      });
      expect(cdr.endedAt - cdr.setupAt).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
      // Answering after the timeout is refused: the call is gone.
      await tooLate(b, 'answer', 'r1');
    },
  },
  {
    name: 'a call with no media ends with media_timeout on both legs',
    settings: { mediaTimeoutMs: 300 },
    async run(p) {
      const { a, b } = p;
      await answeredCall(a, b, 'm1', 'bob');
      expect(await a.next('ended')).toMatchObject({ callId: 'm1', cause: 'media_timeout' });
      expect(await b.next('ended')).toMatchObject({ callId: 'm1', cause: 'media_timeout' });
      const cdr = await aliceToBob(p, 'm1', {
        caller: 'alice',
        callee: 'bob',
        cause: 'media_timeout',
        endedBy: 'system',
        mediaAtoB: 0,
        mediaBtoA: 0,
      });
      expect(cdr.durationMs).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
    },
  },
  {
    name: 'media keeps a call alive, even flowing one way; silence then ends it',
    settings: { mediaTimeoutMs: 300 },
    async run(p) {
      const { a, b } = p;
      await answeredCall(a, b, 'm2', 'bob');
      // Three media timeouts' worth of caller-only media.
      let sent = 0;
      const until = Date.now() + 900;
      while (Date.now() < until) {
        await relay(a, b, 'm2', sent++);
        await sleep(40);
      }
      expect(received(a, 'ended')).toEqual([]);
      expect(received(b, 'ended')).toEqual([]);
      expect(await a.next('ended')).toMatchObject({ callId: 'm2', cause: 'media_timeout' });
      expect(await b.next('ended')).toMatchObject({ callId: 'm2', cause: 'media_timeout' });
      expect(received(b, 'media')).toHaveLength(sent);
      await aliceToBob(p, 'm2', { cause: 'media_timeout', endedBy: 'system', mediaAtoB: sent, mediaBtoA: 0 });
    },
  },
  {
    name: 'hold suspends the media timeout; after resume silence ends the call',
    settings: { mediaTimeoutMs: 300 },
    async run(p) {
      const { a, b } = p;
      await answeredCall(a, b, 'm3', 'bob');
      a.send({ type: 'hold', callId: 'm3' });
      await b.next('held');
      await sleep(900);
      expect(received(a, 'ended')).toEqual([]);
      expect(received(b, 'ended')).toEqual([]);
      a.send({ type: 'resume', callId: 'm3' });
      await b.next('resumed');
      expect(await a.next('ended')).toMatchObject({ callId: 'm3', cause: 'media_timeout' });
      expect(await b.next('ended')).toMatchObject({ callId: 'm3', cause: 'media_timeout' });
      const cdr = await aliceToBob(p, 'm3', { cause: 'media_timeout', endedBy: 'system' });
      expect(cdr.durationMs).toBeGreaterThanOrEqual(900);
    },
  },
];

// ---- a node guarded against harm, for bad input ----

export interface GuardedNode extends TestNode {
  /** Nothing crashed or restarted, the bystander call is untouched, and the node takes new calls. */
  unharmed(): Promise<void>;
}

const infrastructure = (n: TestNode) => [JOURNAL, 'ports', 'sessions'].map((name) => n.rt.whereis(name));

/**
 * One node per test with a bystander phone in an echo call, media flowing, and every
 * abnormal process exit recorded; shut down after the test.
 */
export function useGuardedNode(): (
  overrides?: Partial<NodeSettings>,
  steadyEveryMs?: number,
  options?: StartOptions,
) => Promise<GuardedNode> {
  let node: TestNode | undefined;
  let steady: SteadyCall | undefined;
  afterEach(async () => {
    steady?.flow.stop();
    steady = undefined;
    await node?.shutdown();
    node = undefined;
  });
  return async (overrides = {}, steadyEveryMs = 20, options = {}) => {
    const n = await startTestNode(overrides, options);
    node = n;
    const abnormal: { module: string; reason: ExitReason }[] = [];
    n.rt.events.on('exit', (e) => {
      if (e.reason.type !== 'normal' && e.reason.type !== 'shutdown')
        abnormal.push({ module: e.module, reason: e.reason });
    });
    const tree: (Pid | undefined)[] = infrastructure(n);
    const bystander = await steadyEchoCall(n, { everyMs: steadyEveryMs });
    steady = bystander;
    return Object.assign(n, {
      async unharmed() {
        await bystander.check();
        expect(abnormal).toEqual([]);
        expect(infrastructure(n)).toEqual(tree);
        await assertServes(n);
        await bystander.check();
        await bystander.finish();
      },
    });
  };
}
