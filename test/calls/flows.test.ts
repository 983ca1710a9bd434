/**
 * Every call flow end to end: real WebSockets to a node on ephemeral ports, phones driven
 * through the load-test Phone client, and each call's CDR read back from the admin API.
 */
import { describe, expect, it } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import type { ServerMessage } from '../../server/calls/protocol/messages.ts';
import { IVR_MENU } from '../../server/calls/releases/1.0.0/services.ts';
import { answeredCall, cdrOf, processCount, sleep, useTestNode, waitFor } from './helpers.ts';

const start = useTestNode();

const types = (p: Phone): string[] => p.log.map((m) => m.type);
const received = <T extends ServerMessage['type']>(p: Phone, type: T) =>
  p.log.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);

/** Checks every CDR must pass, plus the fields a flow expects. */
function expectCdr(cdr: Cdr, want: Partial<Cdr>): void {
  expect(cdr).toMatchObject({ node: 'hotline', versions: ['1.0.0'], ...want });
  expect(typeof cdr.id).toBe('string');
  expect(cdr.endedAt).toBeGreaterThanOrEqual(cdr.setupAt);
  if (cdr.answeredAt === null) {
    expect(cdr.durationMs).toBe(0);
  } else {
    expect(cdr.answeredAt).toBeGreaterThanOrEqual(cdr.setupAt);
    expect(cdr.endedAt).toBeGreaterThanOrEqual(cdr.answeredAt);
    expect(cdr.durationMs).toBe(cdr.endedAt - cdr.answeredAt);
  }
}

/** Send one media frame and check the sender's ack echoes its seq and sentAt. */
async function sendMedia(
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
async function relay(from: Phone, to: Phone, callId: string, seq: number, payload?: string): Promise<void> {
  const frame = await sendMedia(from, callId, seq, payload);
  expect(await to.next('media')).toStrictEqual({ type: 'media', callId, ...frame });
}

describe('two-party call', () => {
  it('sets up, carries media both ways and ends with a bye from the callee', async () => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');

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

    const cdr = await cdrOf(n, 'c1');
    expectCdr(cdr, {
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
  });

  it('ends with a bye from the caller', async () => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    await answeredCall(a, b, 'c2', 'bob');
    await relay(a, b, 'c2', 1);
    a.send({ type: 'bye', callId: 'c2' });
    expect(await a.next('ended')).toMatchObject({ callId: 'c2', cause: 'normal' });
    expect(await b.next('ended')).toMatchObject({ callId: 'c2', cause: 'normal' });
    expectCdr(await cdrOf(n, 'c2'), {
      caller: 'alice',
      callee: 'bob',
      cause: 'normal',
      endedBy: 'caller',
      mediaAtoB: 1,
      mediaBtoA: 0,
    });

    // Both phones are free again: a second call between them works and gets its own CDR.
    await answeredCall(b, a, 'c3', 'alice');
    b.send({ type: 'bye', callId: 'c3' });
    expect(await a.next('ended')).toMatchObject({ callId: 'c3', cause: 'normal' });
    expectCdr(await cdrOf(n, 'c3'), {
      caller: 'bob',
      callee: 'alice',
      cause: 'normal',
      endedBy: 'caller',
      mediaAtoB: 0,
      mediaBtoA: 0,
    });
  });

  it('relays DTMF both ways without ending the call', async () => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');
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
    expectCdr(await cdrOf(n, 'd1'), { cause: 'normal', endedBy: 'caller', mediaAtoB: 1, mediaBtoA: 0 });
  });
});

describe('service numbers', () => {
  it('echo sends every media frame back as media, after its ack', async () => {
    const n = await start();
    const a = await n.phone('alice');
    a.send({ type: 'invite', callId: 'e1', to: 'echo' });
    await a.next('trying');
    await a.next('ringing');
    await a.next('answered');
    for (let seq = 0; seq < 5; seq++) {
      const frame = await sendMedia(a, 'e1', seq, seq % 2 === 0 ? `p${seq}` : undefined);
      expect(await a.next('media')).toStrictEqual({ type: 'media', callId: 'e1', ...frame });
    }
    a.send({ type: 'bye', callId: 'e1' });
    expect(await a.next('ended')).toMatchObject({ callId: 'e1', cause: 'normal' });
    expectCdr(await cdrOf(n, 'e1'), {
      caller: 'alice',
      callee: 'echo',
      cause: 'normal',
      endedBy: 'caller',
      mediaAtoB: 5,
      mediaBtoA: 5,
    });
    await waitFor('echo leg gone', async () => (await processCount(n, 'echo_leg')) === 0);
  });

  it('IVR prompts on answer, answers digits and hangs up on #', async () => {
    const n = await start();
    const a = await n.phone('alice');
    a.send({ type: 'invite', callId: 'i1', to: 'ivr' });
    await a.next('trying');
    await a.next('answered');
    expect(await a.next('prompt')).toStrictEqual({ type: 'prompt', callId: 'i1', text: IVR_MENU });

    const answers: Record<string, RegExp> = {
      '1': /^Sales/,
      '2': /^Support/,
      '9': /^Welcome to Hotline/,
      '7': /^7 is not on the menu/,
    };
    for (const [digit, text] of Object.entries(answers)) {
      a.send({ type: 'dtmf', callId: 'i1', digit });
      const prompt = await a.next('prompt');
      expect(prompt.callId).toBe('i1');
      expect(prompt.text).toMatch(text);
    }
    expect(received(a, 'prompt').at(-1)?.text).toContain(IVR_MENU);

    a.send({ type: 'dtmf', callId: 'i1', digit: '#' });
    const ended = await a.next('ended');
    expect(ended).toMatchObject({ callId: 'i1', cause: 'normal' });
    expectCdr(await cdrOf(n, 'i1'), {
      caller: 'alice',
      callee: 'ivr',
      cause: 'normal',
      endedBy: 'callee',
      mediaAtoB: 0,
      mediaBtoA: 0,
    });
    await waitFor('IVR leg gone', async () => (await processCount(n, 'ivr_leg')) === 0);
    // The phone is free for another call.
    a.send({ type: 'invite', callId: 'i2', to: 'echo' });
    await a.next('answered');
  });

  it('noanswer rings until the ring timeout', async () => {
    const n = await start({ ringTimeoutMs: 300 });
    const a = await n.phone('alice');
    a.send({ type: 'invite', callId: 'n1', to: 'noanswer' });
    await a.next('trying');
    await a.next('ringing');
    expect(await a.next('ended')).toStrictEqual({
      type: 'ended',
      callId: 'n1',
      cause: 'ring_timeout',
      durationMs: 0,
    });
    expect(types(a)).toEqual(['registered', 'trying', 'ringing', 'ended']);
    const cdr = await cdrOf(n, 'n1');
    expectCdr(cdr, {
      caller: 'alice',
      callee: 'noanswer',
      cause: 'ring_timeout',
      endedBy: 'system',
      answeredAt: null,
      mediaAtoB: 0,
      mediaBtoA: 0,
    });
    // It cannot have timed out before the ring timeout. Node starts a timer from the event
    // loop's cached clock, which can lag Date.now() by a few ms on a busy machine.
    expect(cdr.endedAt - cdr.setupAt).toBeGreaterThanOrEqual(300 - 15);
    await waitFor('noanswer leg gone', async () => (await processCount(n, 'noanswer_leg')) === 0);
  });
});

describe('timeouts', () => {
  it('a phone that never answers: both legs hear ring_timeout', async () => {
    const n = await start({ ringTimeoutMs: 300 });
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    a.send({ type: 'invite', callId: 'r1', to: 'bob' });
    await b.next('incoming');
    b.send({ type: 'ringing', callId: 'r1' });
    await a.next('ringing');
    expect(await a.next('ended')).toMatchObject({ callId: 'r1', cause: 'ring_timeout', durationMs: 0 });
    expect(await b.next('ended')).toMatchObject({ callId: 'r1', cause: 'ring_timeout', durationMs: 0 });
    expectCdr(await cdrOf(n, 'r1'), {
      caller: 'alice',
      callee: 'bob',
      cause: 'ring_timeout',
      endedBy: 'system',
      answeredAt: null,
    });
    // Answering after the timeout is refused: the call is gone.
    b.send({ type: 'answer', callId: 'r1' });
    expect(await b.next('error')).toMatchObject({
      code: 'HOT_ERR_UNKNOWN_CALL',
      ref: 'answer',
      callId: 'r1',
    });
  });

  it('a call with no media ends with media_timeout on both legs', async () => {
    const n = await start({ mediaTimeoutMs: 300 });
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    await answeredCall(a, b, 'm1', 'bob');
    expect(await a.next('ended')).toMatchObject({ callId: 'm1', cause: 'media_timeout' });
    expect(await b.next('ended')).toMatchObject({ callId: 'm1', cause: 'media_timeout' });
    const cdr = await cdrOf(n, 'm1');
    expectCdr(cdr, {
      caller: 'alice',
      callee: 'bob',
      cause: 'media_timeout',
      endedBy: 'system',
      mediaAtoB: 0,
      mediaBtoA: 0,
    });
    expect(cdr.durationMs).toBeGreaterThanOrEqual(300);
  });

  it('media keeps a call alive, even flowing one way; silence then ends it', async () => {
    const n = await start({ mediaTimeoutMs: 300 });
    const a = await n.phone('alice');
    const b = await n.phone('bob');
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
    expectCdr(await cdrOf(n, 'm2'), {
      cause: 'media_timeout',
      endedBy: 'system',
      mediaAtoB: sent,
      mediaBtoA: 0,
    });
  });

  it('hold suspends the media timeout; after resume silence ends the call', async () => {
    const n = await start({ mediaTimeoutMs: 300 });
    const a = await n.phone('alice');
    const b = await n.phone('bob');
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
    const cdr = await cdrOf(n, 'm3');
    expectCdr(cdr, { cause: 'media_timeout', endedBy: 'system' });
    expect(cdr.durationMs).toBeGreaterThanOrEqual(900);
  });
});

describe('hold and resume', () => {
  it('tells the other leg, and acks but does not relay media while held', async () => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    await answeredCall(a, b, 'h1', 'bob');

    a.send({ type: 'hold', callId: 'h1' });
    expect(await b.next('held')).toStrictEqual({ type: 'held', callId: 'h1' });
    a.send({ type: 'hold', callId: 'h1' });
    expect(await a.next('error')).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'hold', callId: 'h1' });

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

    // The callee can hold too.
    b.send({ type: 'hold', callId: 'h1' });
    expect(await a.next('held')).toStrictEqual({ type: 'held', callId: 'h1' });
    b.send({ type: 'resume', callId: 'h1' });
    expect(await a.next('resumed')).toStrictEqual({ type: 'resumed', callId: 'h1' });

    a.send({ type: 'bye', callId: 'h1' });
    await b.next('ended');
    // mediaAtoB counts what the caller sent (held frames too); mediaBtoA what reached it.
    expectCdr(await cdrOf(n, 'h1'), { cause: 'normal', endedBy: 'caller', mediaAtoB: 2, mediaBtoA: 1 });
    expect(received(b, 'media')).toHaveLength(1);
    expect(received(a, 'media')).toHaveLength(1);
  });
});

describe('busy, reject and cancel', () => {
  it('a callee already in a call is busy', async () => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    const c = await n.phone('carol');
    await answeredCall(a, b, 'up', 'bob');

    c.send({ type: 'invite', callId: 'busy1', to: 'bob' });
    await c.next('trying');
    expect(await c.next('ended')).toStrictEqual({
      type: 'ended',
      callId: 'busy1',
      cause: 'busy',
      durationMs: 0,
    });
    expectCdr(await cdrOf(n, 'busy1'), {
      caller: 'carol',
      callee: 'bob',
      cause: 'busy',
      endedBy: 'callee',
      answeredAt: null,
      mediaAtoB: 0,
      mediaBtoA: 0,
    });

    // Bob heard nothing of it and the first call is untouched.
    await relay(a, b, 'up', 1);
    expect(types(b).filter((t) => t === 'incoming')).toHaveLength(1);
    b.send({ type: 'bye', callId: 'up' });
    await a.next('ended');
    expectCdr(await cdrOf(n, 'up'), {
      caller: 'alice',
      callee: 'bob',
      cause: 'normal',
      endedBy: 'callee',
      mediaAtoB: 1,
    });
  });

  it.each([
    ['busy', 'busy'],
    ['reject', 'rejected'],
  ] as const)('callee sends %s: the caller hears %s', async (message, cause) => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    a.send({ type: 'invite', callId: 'x1', to: 'bob' });
    await b.next('incoming');
    b.send({ type: 'ringing', callId: 'x1' });
    await a.next('ringing');
    b.send({ type: message, callId: 'x1' });
    expect(await a.next('ended')).toStrictEqual({ type: 'ended', callId: 'x1', cause, durationMs: 0 });
    expect(await b.next('ended')).toStrictEqual({ type: 'ended', callId: 'x1', cause, durationMs: 0 });
    expectCdr(await cdrOf(n, 'x1'), {
      caller: 'alice',
      callee: 'bob',
      cause,
      endedBy: 'callee',
      answeredAt: null,
    });
  });

  it('the caller cancels before answer: the callee hears cancelled', async () => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    a.send({ type: 'invite', callId: 'k1', to: 'bob' });
    await b.next('incoming');
    b.send({ type: 'ringing', callId: 'k1' });
    await a.next('ringing');
    a.send({ type: 'cancel', callId: 'k1' });
    expect(await a.next('ended')).toStrictEqual({
      type: 'ended',
      callId: 'k1',
      cause: 'cancelled',
      durationMs: 0,
    });
    expect(await b.next('ended')).toStrictEqual({
      type: 'ended',
      callId: 'k1',
      cause: 'cancelled',
      durationMs: 0,
    });
    expectCdr(await cdrOf(n, 'k1'), {
      caller: 'alice',
      callee: 'bob',
      cause: 'cancelled',
      endedBy: 'caller',
      answeredAt: null,
    });
    // Too late to answer.
    b.send({ type: 'answer', callId: 'k1' });
    expect(await b.next('error')).toMatchObject({ code: 'HOT_ERR_UNKNOWN_CALL', callId: 'k1' });
  });
});

describe('a phone that goes away', () => {
  it.each(['callee', 'caller'] as const)(
    'the %s closes its socket mid-call: the other leg hears peer_gone, no ghost session stays',
    async (leaver) => {
      const n = await start();
      const a = await n.phone('alice');
      const b = await n.phone('bob');
      await answeredCall(a, b, 'g1', 'bob');
      await relay(a, b, 'g1', 1);
      await relay(b, a, 'g1', 2);
      expect(await processCount(n)).toBe(2);

      const [gone, stays, goneUser] = leaver === 'callee' ? [b, a, 'bob'] : [a, b, 'alice'];
      await gone.close();
      expect(await stays.next('ended')).toMatchObject({ callId: 'g1', cause: 'peer_gone' });
      expectCdr(await cdrOf(n, 'g1'), {
        caller: 'alice',
        callee: 'bob',
        cause: 'client_gone',
        endedBy: leaver,
        mediaAtoB: 1,
        mediaBtoA: 1,
      });
      await waitFor('one session left', async () => (await processCount(n)) === 1);
      await waitFor('one port left', async () => (await processCount(n, 'port')) === 1);

      // The user's name is free again, and the new session takes calls.
      const back = await n.phone(goneUser);
      expect(await processCount(n)).toBe(2);
      const [caller, callee, calleeUser] = leaver === 'callee' ? [stays, back, 'bob'] : [back, stays, 'bob'];
      await answeredCall(caller, callee, 'g2', calleeUser);
      caller.send({ type: 'bye', callId: 'g2' });
      await callee.next('ended');
      expectCdr(await cdrOf(n, 'g2'), { caller: 'alice', callee: 'bob', cause: 'normal', endedBy: 'caller' });
    },
  );

  it('the caller goes away while it rings: the callee hears peer_gone', async () => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    a.send({ type: 'invite', callId: 'g3', to: 'bob' });
    await b.next('incoming');
    b.send({ type: 'ringing', callId: 'g3' });
    await a.next('ringing');
    await a.close();
    expect(await b.next('ended')).toStrictEqual({
      type: 'ended',
      callId: 'g3',
      cause: 'peer_gone',
      durationMs: 0,
    });
    expectCdr(await cdrOf(n, 'g3'), {
      caller: 'alice',
      callee: 'bob',
      cause: 'client_gone',
      endedBy: 'caller',
      answeredAt: null,
    });
    await waitFor('one session left', async () => (await processCount(n)) === 1);
  });
});
