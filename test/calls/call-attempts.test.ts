/**
 * The call-attempt limit: the node refuses a user's invites past `callAttempts` in any
 * window with HOT_ERR_CALL_ATTEMPTS, before they reach the session, so a phone redialling
 * a busy callee makes no more CDRs than the limit; refused attempts are counted on
 * /metrics instead. Other users, and a user under the limit, see no change.
 */
import { describe, expect, it } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { CallAttempts } from '../../server/http/call-attempts.ts';
import { answeredCall, MediaFlow, serviceCall } from '../support/calls.ts';
import { cdrOf, fetchCdrs, waitForCdrs } from '../support/cdrs.ts';
import { metric } from '../support/metrics.ts';
import { type TestNode, useTestNode } from '../support/test-node.ts';
import { sleep, waitFor } from '../support/wait.ts';

const start = useTestNode();

const LIMIT = 3;
const MINUTE = 60_000;
// The window of the test that waits for it to pass: long enough that a few sequential
// calls on a loaded machine fit in it.
const SHORT_WINDOW_MS = 3000;

/** The first `ended` or `error` for `callId`: how an invite to a busy callee came out. */
async function attempt(p: Phone, callId: string, to = 'bob'): Promise<ServerMessage> {
  p.send({ type: 'invite', callId, to });
  return p.next((m) => (m.type === 'ended' || m.type === 'error') && m.callId === callId);
}

/** A node with the limit, and bob busy in a call with carol. */
async function busyCallee(windowMs = MINUTE): Promise<TestNode> {
  const n = await start({ callAttempts: LIMIT, callAttemptWindowMs: windowMs });
  await answeredCall(await n.phone('carol'), await n.phone('bob'), 'c-bob', 'bob');
  return n;
}

const busyCdrs = async (n: TestNode, user: string) =>
  (await fetchCdrs(n, { user, cause: 'busy' })).filter((c) => c.caller === user);

describe('call attempts per user', () => {
  it('refuses invites past the limit with a typed error, writes no CDR for them and counts them', async () => {
    const n = await busyCallee();
    const alice = await n.phone('alice');
    for (let i = 0; i < LIMIT; i++)
      expect(await attempt(alice, `a${i}`)).toMatchObject({ type: 'ended', cause: 'busy' });
    for (let i = LIMIT; i < LIMIT + 4; i++)
      expect(await attempt(alice, `a${i}`)).toMatchObject({
        type: 'error',
        code: 'HOT_ERR_CALL_ATTEMPTS',
        ref: 'invite',
        callId: `a${i}`,
      });
    // The refused invites never reached the session: no `trying` for them.
    expect(alice.log.filter((m) => m.type === 'trying')).toHaveLength(LIMIT);

    await waitForCdrs(n, (l) => l.filter((c) => c.caller === 'alice').length >= LIMIT, { user: 'alice' });
    await sleep(100);
    expect(await busyCdrs(n, 'alice')).toHaveLength(LIMIT);
    expect(await fetchCdrs(n, { callId: `a${LIMIT}` })).toEqual([]);
    expect(await metric(n, 'hotline_call_attempts_refused_total')).toBe(4);
    expect(await metric(n, 'hotline_protocol_errors_total', { code: 'HOT_ERR_CALL_ATTEMPTS' })).toBe(4);
    expect(alice.isOpen).toBe(true);
  });

  it('another user is not limited, and the limit follows the user across connections', async () => {
    const n = await busyCallee();
    const alice = await n.phone('alice');
    for (let i = 0; i < LIMIT; i++) await attempt(alice, `a${i}`);
    expect(await attempt(alice, 'over')).toMatchObject({ code: 'HOT_ERR_CALL_ATTEMPTS' });

    const dave = await n.phone('dave');
    for (let i = 0; i < LIMIT; i++)
      expect(await attempt(dave, `d${i}`)).toMatchObject({ type: 'ended', cause: 'busy' });
    await serviceCall(await n.phone('erin'), 'e1');

    // Reconnecting does not start alice's count again.
    await alice.close();
    const again = await n.phone();
    // The name is free once the old session has ended.
    await waitFor('alice free to register again', () =>
      again.register('alice').then(
        () => true,
        () => false,
      ),
    );
    expect(await attempt(again, 'reconnected')).toMatchObject({ code: 'HOT_ERR_CALL_ATTEMPTS' });
    expect(await metric(n, 'hotline_call_attempts_refused_total')).toBe(2);
  });

  it('admits the user again once the window has passed', async () => {
    const n = await busyCallee(SHORT_WINDOW_MS);
    const alice = await n.phone('alice');
    for (let i = 0; i < LIMIT; i++) await attempt(alice, `a${i}`);
    expect(await attempt(alice, 'refused')).toMatchObject({ code: 'HOT_ERR_CALL_ATTEMPTS' });
    await sleep(SHORT_WINDOW_MS);
    expect(await attempt(alice, 'later')).toMatchObject({ type: 'ended', cause: 'busy' });
    await cdrOf(n, 'later');
    expect(await busyCdrs(n, 'alice')).toHaveLength(LIMIT + 1);
  });

  it('leaves the call a phone has up alone', async () => {
    const n = await start({ callAttempts: LIMIT, callAttemptWindowMs: MINUTE });
    const alice = await n.phone('alice');
    await serviceCall(alice, 'up');
    // Invites during the call (the call was the first attempt): the session refuses the next
    // ones for its state, the node the rest.
    const codes: string[] = [];
    for (let i = 0; i < LIMIT + 1; i++) {
      const m = await attempt(alice, `x${i}`, 'echo');
      codes.push(m.type === 'error' ? m.code : m.type);
    }
    expect(codes).toEqual([
      ...Array<string>(LIMIT - 1).fill('HOT_ERR_WRONG_STATE'),
      'HOT_ERR_CALL_ATTEMPTS',
      'HOT_ERR_CALL_ATTEMPTS',
    ]);
    const flow = new MediaFlow(alice, 'up');
    await flow.more(3);
    flow.stop();
    alice.send({ type: 'bye', callId: 'up' });
    await alice.next((m) => m.type === 'ended' && m.callId === 'up');
    expect(await cdrOf(n, 'up')).toMatchObject({ cause: 'normal', caller: 'alice' });
  });

  it('counts invites sent right behind the register against the user the session registered', async () => {
    const n = await busyCallee();
    const alice = await n.phone();
    // All in one go: the invites reach the node before the session has answered the register.
    await alice.sendRegister('alice');
    for (let i = 0; i < LIMIT + 2; i++) alice.send({ type: 'invite', callId: `p${i}`, to: 'bob' });
    await alice.next('registered');
    const outcomes = await Promise.all(
      Array.from({ length: LIMIT + 2 }, (_, i) =>
        alice.next((m) => (m.type === 'ended' || m.type === 'error') && m.callId === `p${i}`),
      ),
    );
    const refused = outcomes.filter((m) => m.type === 'error' && m.code === 'HOT_ERR_CALL_ATTEMPTS');
    expect(refused).toHaveLength(2);
  });

  it('never counts against a name the connection only claimed', async () => {
    const n = await busyCallee();
    const alice = await n.phone('alice');
    const mallory = await n.phone();
    mallory.send({ type: 'register', user: 'alice' });
    for (let i = 0; i < LIMIT + 2; i++) mallory.send({ type: 'invite', callId: `m${i}`, to: 'bob' });
    for (let i = 0; i < LIMIT + 2; i++)
      expect(await mallory.next((m) => m.type === 'error' && m.callId === `m${i}`)).toMatchObject({
        code: 'HOT_ERR_NOT_REGISTERED',
      });
    for (let i = 0; i < LIMIT; i++)
      expect(await attempt(alice, `a${i}`)).toMatchObject({ type: 'ended', cause: 'busy' });
  });

  it('has no limit at 0', async () => {
    const n = await start({ callAttempts: 0 });
    await answeredCall(await n.phone('carol'), await n.phone('bob'), 'c-bob', 'bob');
    const alice = await n.phone('alice');
    for (let i = 0; i < 70; i++)
      expect(await attempt(alice, `a${i}`)).toMatchObject({ type: 'ended', cause: 'busy' });
    expect(await metric(n, 'hotline_call_attempts_refused_total')).toBe(0);
  });
});

describe('CallAttempts', () => {
  it('admits at most the limit in any window, sliding', () => {
    const a = new CallAttempts(2, 1000, 0);
    expect([a.admit('u', 0), a.admit('u', 400), a.admit('u', 800)]).toEqual([true, true, false]);
    expect(a.admit('v', 800)).toBe(true);
    // The attempt at 0 has left the window at 1000; the one at 400 has not.
    expect([a.admit('u', 1000), a.admit('u', 1001)]).toEqual([true, false]);
    expect(a.admit('u', 1400)).toBe(true);
  });

  it('drops users with no attempt in the window', () => {
    const a = new CallAttempts(5, 1000, 0);
    for (let i = 0; i < 100; i++) a.admit(`u${i}`, 0);
    expect(a.users).toBe(100);
    a.admit('late', 1500);
    expect(a.users).toBe(1);
  });

  it('admits everything at 0', () => {
    const a = new CallAttempts(0, 1000, 0);
    for (let i = 0; i < 1000; i++) expect(a.admit('u', i)).toBe(true);
    expect(a.users).toBe(0);
  });
});
