/**
 * The conformance suite: one suite that every shipped release passes. Each release runs in
 * a node of its own, and every call flow goes end to end over real WebSockets, phones driven
 * through the load-test Phone client, each call's CDR read back from the admin API and
 * naming that release. Flows between two phones come from test/support/call-flows.ts, which
 * mixed-releases.test.ts also runs with the two legs on different releases. Each release is
 * its locked bundle, loaded as a node loads it; its appup (release.json) is checked against
 * its codeChange on generated states of both sides of every edge.
 */
import { dirname } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { type Release, userName } from '../../server/calls/contract.ts';
import { callInfoMessages as v110 } from '../../server/calls/kit/v1/call-info.ts';
import type { SessionState } from '../../server/calls/kit/v1/call-model.ts';
import { IVR_MENU } from '../../server/calls/kit/v1/services.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { lockedRelease } from '../../server/calls/releases/built-in.ts';
import { releaseEntry, shippedReleases } from '../../server/calls/releases/index.ts';
import type { NodeSettings } from '../../server/node/settings.ts';
import { readReleaseManifest } from '../../server/release/manifest.ts';
import { type AppupEntry, RELEASE_API_VERSION } from '../../server/release/module.ts';
import { migrate, type ProcessContext } from '../../server/runtime/index.ts';
import {
  endsUnanswered,
  expectCdr,
  type Legs,
  received,
  relay,
  ringingCall,
  sendMedia,
  twoPartyFlows,
  types,
  useGuardedNode,
} from '../support/call-flows.ts';
import { atLeast } from '../support/call-releases.ts';
import { answeredCall } from '../support/calls.ts';
import { cdrOf, fetchCdrs, readCdrLog } from '../support/cdrs.ts';
import { processCount, type TestNode, tempDataDir, useTestNode } from '../support/test-node.ts';
import { sleep, TIMER_SLACK_MS, waitFor } from '../support/wait.ts';
import { plus, pure, statesOf, withVersions } from './session-states.ts';

const nextError = (p: Phone) => p.next('error') as Promise<Extract<ServerMessage, { type: 'error' }>>;

describe.each(shippedReleases)('release %s', (version) => {
  let release: Release;
  beforeAll(async () => {
    // The locked bundle, loaded as a node loads a release: what ships is what is tested.
    release = await lockedRelease(tempDataDir(), version);
  });
  const start = useTestNode();
  const node = (settings: Parameters<typeof start>[0] = {}) => start(settings, { release });
  /** Every leg of a call in this suite runs this release. */
  const legs: Legs = { caller: version, callee: version };
  /** The one CDR of a call, checked. */
  const cdrIs = async (n: TestNode, callId: string, want: Partial<Cdr>): Promise<Cdr> => {
    const cdr = await cdrOf(n, callId);
    expectCdr(cdr, legs, { callId, ...want });
    return cdr;
  };
  const unanswered = (n: TestNode, callId: string, want: Partial<Cdr>) =>
    cdrIs(n, callId, { answeredAt: null, ...want });
  const legGone = (n: TestNode, module: string) =>
    waitFor(`${module} gone`, async () => (await processCount(n, module)) === 0);
  /**
   * A node on this release, and alice calling a service number on it. `ended` checks the
   * call's CDR once it is over, and that its service leg is gone.
   */
  async function serviceCall(to: string, callId: string, settings: Partial<NodeSettings> = {}) {
    const n = await node(settings);
    const a = await n.phone('alice');
    a.send({ type: 'invite', callId, to });
    const ended = async (want: Partial<Cdr>) => {
      const cdr = await cdrIs(n, callId, { caller: 'alice', callee: to, ...want });
      await legGone(n, `${to}_leg`);
      return cdr;
    };
    return { n, a, ended };
  }

  it('is its manifest: the session at this version, the service legs at 1.0.0, an appup of shipped releases', () => {
    const manifest = readReleaseManifest(dirname(releaseEntry(version)));
    expect(release).toMatchObject({ version, apiVersion: RELEASE_API_VERSION });
    expect(release.behaviours).toContain(release.session);
    expect(Object.fromEntries(release.behaviours.map((b) => [b.name, b.version]))).toStrictEqual({
      session: version,
      echo_leg: '1.0.0',
      ivr_leg: '1.0.0',
      noanswer_leg: '1.0.0',
    });
    expect(manifest.modules).toStrictEqual(
      Object.fromEntries(release.behaviours.map((b) => [b.name, b.version])),
    );
    expect(release.upgradeFrom).toStrictEqual(manifest.upgradeFrom);
    expect(release.downgradeTo).toStrictEqual(manifest.downgradeTo);
    for (const entry of [...release.upgradeFrom, ...release.downgradeTo])
      expect(shippedReleases).toContain(entry.version);
  });

  describe('appup (release.json) against codeChange, on generated states', () => {
    const edges = () => [
      ...release.upgradeFrom.map((entry) => ({ entry, direction: 'up' as const })),
      ...release.downgradeTo.map((entry) => ({ entry, direction: 'down' as const })),
    ];
    const other = (v: string) => lockedRelease(tempDataDir(), v);

    it('each edge lists exactly the modules whose versions differ; the session migrates on each', async () => {
      for (const { entry } of edges()) {
        const them = await other(entry.version);
        const versionOf = (r: Release, name: string) => r.behaviours.find((b) => b.name === name)?.version;
        const differ = release.behaviours
          .map((b) => b.name)
          .filter((m) => versionOf(release, m) !== versionOf(them, m));
        expect(entry.changes.map((c) => c.module).sort(), entry.version).toEqual(differ.sort());
        expect(entry.changes.find((c) => c.module === 'session')?.action).toBe('migrate');
      }
    });

    it('every upgrade migrates any state of the older release into one this release runs, and back', async () => {
      for (const entry of release.upgradeFrom) {
        const older = await other(entry.version);
        const back = release.downgradeTo.find((e) => e.version === entry.version);
        fc.assert(
          fc.property(statesOf[entry.version] as fc.Arbitrary<unknown>, (s) => {
            const next = pure(s, (x) => along(entry, 'up', older, release, x));
            runs(release, next);
            if (back === undefined) return;
            // Up then down keeps what the older release has; the call's CDR names both releases.
            const round = along(back, 'down', older, release, next);
            runs(older, round);
            expect(round).toEqual(withVersions(s as SessionState, (v) => plus(v, version, entry.version)));
          }),
          { numRuns: 200 },
        );
      }
    });

    it('every downgrade migrates any state of this release into one the older release runs', async () => {
      for (const entry of release.downgradeTo) {
        const older = await other(entry.version);
        fc.assert(
          fc.property(statesOf[version] as fc.Arbitrary<unknown>, (s) => {
            runs(
              older,
              pure(s, (x) => along(entry, 'down', older, release, x)),
            );
          }),
          { numRuns: 200 },
        );
      }
    });
  });

  it('registers the phone and names the node and this release', async () => {
    const n = await node();
    const a = await n.phone();
    await a.sendRegister('alice');
    expect(await a.next('registered')).toStrictEqual({
      type: 'registered',
      user: 'alice',
      node: 'hotline',
      release: version,
    });
    // Service numbers cannot be registered: nobody could call such a user.
    const b = await n.phone();
    await b.sendRegister('echo');
    expect(await nextError(b)).toMatchObject({ code: 'HOT_ERR_USER_TAKEN', ref: 'register' });
  });

  describe('two-party calls', () => {
    for (const flow of twoPartyFlows) {
      it(flow.name, async () => {
        const n = await node(flow.settings);
        const [a, b] = [await n.phone('alice'), await n.phone('bob')];
        await flow.run({ node: n, a, b, releases: { a: version, b: version } });
      });
    }

    it('a callee already in a call is busy, and its phone hears nothing of it', async () => {
      const n = await node();
      const a = await n.phone('alice');
      const b = await n.phone('bob');
      const c = await n.phone('carol');
      await answeredCall(a, b, 'up', 'bob');

      c.send({ type: 'invite', callId: 'busy1', to: 'bob' });
      await c.next('trying');
      await endsUnanswered(c, 'busy1', 'busy');
      await unanswered(n, 'busy1', { caller: 'carol', callee: 'bob', cause: 'busy', endedBy: 'callee' });

      // The first call is untouched.
      await relay(a, b, 'up', 1);
      expect(types(b).filter((t) => t === 'incoming')).toHaveLength(1);
      b.send({ type: 'bye', callId: 'up' });
      await a.next('ended');
      await cdrIs(n, 'up', {
        caller: 'alice',
        callee: 'bob',
        cause: 'normal',
        endedBy: 'callee',
        mediaAtoB: 1,
      });
    });
  });

  describe('service numbers', () => {
    it('echo sends every media frame back as media, after its ack', async () => {
      const { a, ended } = await serviceCall('echo', 'e1');
      await a.next('trying');
      await a.next('ringing');
      await a.next('answered');
      for (let seq = 0; seq < 5; seq++) {
        const frame = await sendMedia(a, 'e1', seq, seq % 2 === 0 ? `p${seq}` : undefined);
        expect(await a.next('media')).toStrictEqual({ type: 'media', callId: 'e1', ...frame });
      }
      a.send({ type: 'bye', callId: 'e1' });
      expect(await a.next('ended')).toMatchObject({ callId: 'e1', cause: 'normal' });
      await ended({ cause: 'normal', endedBy: 'caller', mediaAtoB: 5, mediaBtoA: 5 });
    });

    it('IVR prompts on answer, answers digits and hangs up on #', async () => {
      const { a, ended } = await serviceCall('ivr', 'i1');
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
      expect(await a.next('ended')).toMatchObject({ callId: 'i1', cause: 'normal' });
      await ended({ cause: 'normal', endedBy: 'callee', mediaAtoB: 0, mediaBtoA: 0 });
      // The phone is free for another call.
      a.send({ type: 'invite', callId: 'i2', to: 'echo' });
      await a.next('answered');
    });

    it('noanswer rings until the ring timeout', async () => {
      const { a, ended } = await serviceCall('noanswer', 'n1', { ringTimeoutMs: 300 });
      await a.next('trying');
      await a.next('ringing');
      await endsUnanswered(a, 'n1', 'ring_timeout');
      expect(types(a)).toEqual(['registered', 'trying', 'ringing', 'ended']);
      const cdr = await ended({ cause: 'ring_timeout', endedBy: 'system', answeredAt: null });
      expect(cdr.endedAt - cdr.setupAt).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
    });

    it('the caller cancels a call to noanswer', async () => {
      const { a, ended } = await serviceCall('noanswer', 'n2');
      await a.next('ringing');
      a.send({ type: 'cancel', callId: 'n2' });
      await endsUnanswered(a, 'n2', 'cancelled');
      await ended({ cause: 'cancelled', endedBy: 'caller', answeredAt: null });
    });
  });

  describe('a phone that goes away', () => {
    it.each(['callee', 'caller'] as const)(
      'the %s closes its socket mid-call: the other leg hears peer_gone, no ghost session stays',
      async (leaver) => {
        const n = await node();
        const a = await n.phone('alice');
        const b = await n.phone('bob');
        await answeredCall(a, b, 'g1', 'bob');
        await relay(a, b, 'g1', 1);
        await relay(b, a, 'g1', 2);
        expect(await processCount(n)).toBe(2);

        const [gone, stays, goneUser] = leaver === 'callee' ? [b, a, 'bob'] : [a, b, 'alice'];
        await gone.close();
        expect(await stays.next('ended')).toMatchObject({ callId: 'g1', cause: 'peer_gone' });
        await cdrIs(n, 'g1', {
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
        const [caller, callee] = leaver === 'callee' ? [stays, back] : [back, stays];
        await answeredCall(caller, callee, 'g2', 'bob');
        caller.send({ type: 'bye', callId: 'g2' });
        await callee.next('ended');
        await cdrIs(n, 'g2', { caller: 'alice', callee: 'bob', cause: 'normal', endedBy: 'caller' });
      },
    );

    it('the caller goes away while it rings: the callee hears peer_gone', async () => {
      const n = await node();
      const a = await n.phone('alice');
      const b = await n.phone('bob');
      await ringingCall(a, b, 'g3');
      await a.close();
      await endsUnanswered(b, 'g3', 'peer_gone');
      await unanswered(n, 'g3', { caller: 'alice', callee: 'bob', cause: 'client_gone', endedBy: 'caller' });
      await waitFor('one session left', async () => (await processCount(n)) === 1);
    });
  });

  describe('call_info', () => {
    if (!atLeast(version, '1.1.0')) {
      it('is unknown to a node that never loaded 1.1.0; once known, the session answers HOT_ERR_UNSUPPORTED_TYPE and the call goes on', async () => {
        const n = await node();
        const [a, b] = [await n.phone('alice'), await n.phone('bob')];
        await answeredCall(a, b, 'q1', 'bob');
        a.send({ type: 'call_info', callId: 'q1' });
        expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_UNKNOWN_TYPE', ref: 'call_info' });
        // As loading 1.1.0 (to preflight or install it) teaches the node.
        n.protocol.learn(v110);
        a.send({ type: 'call_info', callId: 'q1' });
        expect(await nextError(a)).toStrictEqual({
          type: 'error',
          code: 'HOT_ERR_UNSUPPORTED_TYPE',
          message: `call_info is not supported by this session's release ${version}`,
          ref: 'call_info',
        });
        await relay(a, b, 'q1', 1);
        a.send({ type: 'bye', callId: 'q1' });
        await b.next('ended');
        await cdrIs(n, 'q1', { cause: 'normal', mediaAtoB: 1 });
      });
      return;
    }

    /** Ask, and return the answer after checking what every answer holds. */
    async function info(p: Phone, callId: string) {
      p.send({ type: 'call_info', callId });
      const m = await p.next('call_info');
      expect(m).toMatchObject({ type: 'call_info', callId, release: version });
      return m;
    }

    it('reports the call from each leg: state, duration since the answer, media both ways', async () => {
      const n = await node();
      const [a, b] = [await n.phone('alice'), await n.phone('bob')];
      const none = { durationMs: 0, mediaOut: 0, mediaIn: 0 };
      a.send({ type: 'invite', callId: 'q1', to: 'bob' });
      await b.next('incoming');
      expect(await info(a, 'q1')).toMatchObject({ state: 'setup', ...none });
      expect(await info(b, 'q1')).toMatchObject({ state: 'setup', ...none });
      b.send({ type: 'ringing', callId: 'q1' });
      await a.next('ringing');
      expect(await info(a, 'q1')).toMatchObject({ state: 'ringing', ...none });
      expect(await info(b, 'q1')).toMatchObject({ state: 'ringing', ...none });

      b.send({ type: 'answer', callId: 'q1' });
      await a.next('answered');
      await b.next('answered');
      await relay(a, b, 'q1', 1);
      await relay(a, b, 'q1', 2);
      await relay(b, a, 'q1', 3);
      const first = await info(a, 'q1');
      expect(first).toMatchObject({ state: 'up', mediaOut: 2, mediaIn: 1 });
      expect(await info(b, 'q1')).toMatchObject({ state: 'up', mediaOut: 1, mediaIn: 2 });
      await sleep(60);
      const later = await info(a, 'q1');
      expect(later.durationMs - first.durationMs).toBeGreaterThanOrEqual(60 - TIMER_SLACK_MS);

      b.send({ type: 'hold', callId: 'q1' });
      await a.next('held');
      expect(await info(a, 'q1')).toMatchObject({ state: 'held' });
      expect(await info(b, 'q1')).toMatchObject({ state: 'held', mediaOut: 1, mediaIn: 2 });

      // Another call id, or none at all, is refused like any in-call message.
      a.send({ type: 'call_info', callId: 'other' });
      expect(await nextError(a)).toMatchObject({
        code: 'HOT_ERR_UNKNOWN_CALL',
        ref: 'call_info',
        callId: 'other',
      });
      b.send({ type: 'bye', callId: 'q1' });
      const ended = await a.next('ended');
      a.send({ type: 'call_info', callId: 'q1' });
      expect(await nextError(a)).toMatchObject({
        code: 'HOT_ERR_UNKNOWN_CALL',
        ref: 'call_info',
        callId: 'q1',
      });
      expect(ended.durationMs).toBeGreaterThanOrEqual(later.durationMs);
      // Asking changes nothing in the call's record.
      await cdrIs(n, 'q1', { cause: 'normal', endedBy: 'callee', mediaAtoB: 2, mediaBtoA: 1 });
    });

    it('answers on a call to a service number', async () => {
      const { a } = await serviceCall('echo', 'q2');
      await a.next('answered');
      await sendMedia(a, 'q2', 1);
      await a.next('media');
      expect(await info(a, 'q2')).toMatchObject({ state: 'up', mediaOut: 1, mediaIn: 1 });
    });
  });

  describe('messages the session cannot act on', () => {
    const guarded = useGuardedNode();
    const start = (settings: Partial<NodeSettings> = {}) => guarded(settings, 20, { release });

    it('wrong state: no call, not answered yet, already in a call, registered already', async () => {
      const n = await start();
      const a = await n.phone('ws-a');
      const b = await n.phone('ws-b');
      const sessionA = n.rt.whereis(userName('ws-a'));

      a.send({ type: 'bye', callId: 'none' });
      expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_UNKNOWN_CALL', ref: 'bye', callId: 'none' });
      a.send({ type: 'answer', callId: 'none' });
      expect(await nextError(a)).toMatchObject({
        code: 'HOT_ERR_UNKNOWN_CALL',
        ref: 'answer',
        callId: 'none',
      });
      a.send({ type: 'media', callId: 'none', seq: 0, sentAt: 0 });
      expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_UNKNOWN_CALL', ref: 'media' });
      await a.sendRegister('ws-a2');
      expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'register' });
      expect(n.rt.whereis(userName('ws-a2'))).toBeUndefined();

      // A call being set up: media, the caller answering, the callee cancelling or hanging up are refused.
      a.send({ type: 'invite', callId: 'w1', to: 'ws-b' });
      await a.next('trying');
      await b.next('incoming');
      a.send({ type: 'media', callId: 'w1', seq: 1, sentAt: 0 });
      expect(await nextError(a)).toMatchObject({
        code: 'HOT_ERR_WRONG_STATE',
        message: 'media is not allowed while setup',
        ref: 'media',
        callId: 'w1',
      });
      a.send({ type: 'answer', callId: 'w1' });
      expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'answer', callId: 'w1' });
      a.send({ type: 'ringing', callId: 'w1' });
      expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'ringing', callId: 'w1' });
      b.send({ type: 'cancel', callId: 'w1' });
      expect(await nextError(b)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'cancel', callId: 'w1' });
      b.send({ type: 'bye', callId: 'w1' });
      expect(await nextError(b)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'bye', callId: 'w1' });
      b.send({ type: 'media', callId: 'w1', seq: 1, sentAt: 0 });
      expect(await nextError(b)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'media', callId: 'w1' });
      b.send({ type: 'hold', callId: 'w1' });
      expect(await nextError(b)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'hold', callId: 'w1' });

      b.send({ type: 'answer', callId: 'w1' });
      await a.next('answered');
      await b.next('answered');
      // Up: a second invite, a second answer, ringing and a cancel are refused; the call goes on.
      a.send({ type: 'invite', callId: 'w2', to: 'echo' });
      expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'invite', callId: 'w2' });
      b.send({ type: 'answer', callId: 'w1' });
      expect(await nextError(b)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'answer' });
      b.send({ type: 'ringing', callId: 'w1' });
      expect(await nextError(b)).toMatchObject({
        code: 'HOT_ERR_WRONG_STATE',
        message: 'ringing is not allowed while up',
      });
      a.send({ type: 'cancel', callId: 'w1' });
      expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'cancel' });
      a.send({ type: 'resume', callId: 'w1' });
      expect(await nextError(a)).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', ref: 'resume' });
      a.send({ type: 'media', callId: 'w1', seq: 9, sentAt: 9 });
      expect(await a.next('media_ack')).toMatchObject({ callId: 'w1', seq: 9 });
      expect(await b.next('media')).toMatchObject({ callId: 'w1', seq: 9 });
      a.send({ type: 'bye', callId: 'w1' });
      expect(await a.next('ended')).toMatchObject({ callId: 'w1', cause: 'normal' });
      expect(await b.next('ended')).toMatchObject({ callId: 'w1', cause: 'normal' });

      await cdrIs(n, 'w1', { cause: 'normal', mediaAtoB: 1, mediaBtoA: 0 });
      expect(await fetchCdrs(n, { callId: 'w2' })).toEqual([]);
      expect(readCdrLog(n.dataDir).filter((l) => l.t === 'open' && l.callId === 'w2')).toEqual([]);
      expect(n.rt.whereis(userName('ws-a'))).toBe(sessionA);
      expect(a.pending().filter((m) => m.type === 'error')).toEqual([]);
      await n.unharmed();
    });

    it('invite before register gets HOT_ERR_NOT_REGISTERED; unknown callees HOT_ERR_UNKNOWN_CALLEE; self WRONG_STATE', async () => {
      const n = await start();
      const p = await n.phone();
      p.send({ type: 'invite', callId: 'early', to: 'echo' });
      expect(await nextError(p)).toMatchObject({
        code: 'HOT_ERR_NOT_REGISTERED',
        ref: 'invite',
        callId: 'early',
      });
      await p.register('caller-x');
      p.send({ type: 'invite', callId: 'proto', to: 'constructor' });
      expect(await nextError(p)).toMatchObject({ code: 'HOT_ERR_UNKNOWN_CALLEE', callId: 'proto' });
      p.send({ type: 'invite', callId: 'nobody', to: 'nobody-here' });
      expect(await nextError(p)).toMatchObject({
        code: 'HOT_ERR_UNKNOWN_CALLEE',
        ref: 'invite',
        callId: 'nobody',
      });
      // Calling yourself is refused as a state error (you are not free to answer).
      p.send({ type: 'invite', callId: 'myself', to: 'caller-x' });
      expect(await nextError(p)).toMatchObject({
        code: 'HOT_ERR_WRONG_STATE',
        ref: 'invite',
        callId: 'myself',
      });
      // No call was opened for any of them, and the phone can call now.
      expect(readCdrLog(n.dataDir).filter((l) => l.t === 'open' && l.caller === 'caller-x')).toEqual([]);
      p.send({ type: 'invite', callId: 'works', to: 'echo' });
      await p.next('answered');
      p.send({ type: 'bye', callId: 'works' });
      await p.next('ended');
      await cdrIs(n, 'works', { caller: 'caller-x', cause: 'normal' });
      expect(await fetchCdrs(n, { user: 'caller-x' })).toHaveLength(1);
      await n.unharmed();
    });

    // Open registration: with phone tokens, the second socket's valid register replaces the first (test/calls/registration.test.ts).
    it('a user registered from a second socket gets HOT_ERR_USER_TAKEN; the first keeps it', async () => {
      const n = await start({ openRegistration: true });
      const first = await n.phone('dup');
      const owner = n.rt.whereis(userName('dup'));
      const second = await n.phone();
      await second.sendRegister('dup');
      expect(await nextError(second)).toMatchObject({ code: 'HOT_ERR_USER_TAKEN', ref: 'register' });
      expect(n.rt.whereis(userName('dup'))).toBe(owner);
      // The second socket is still usable under another name, and calls reach the first.
      await second.register('dup-2');
      await answeredCall(second, first, 'dup-call', 'dup');
      second.send({ type: 'bye', callId: 'dup-call' });
      await first.next('ended');
      // Once the first phone leaves, the name is free again.
      await first.close();
      await waitFor('dup unregistered', () => n.rt.whereis(userName('dup')) === undefined);
      const third = await n.phone();
      await third.register('dup');
      await n.unharmed();
    });
  });
});

/** A session state moved along an appup edge: migrated if the edge changes the session, else as it is. */
function along(
  entry: AppupEntry,
  direction: 'up' | 'down',
  older: Release,
  newer: Release,
  state: unknown,
): unknown {
  const change = entry.changes.find((c) => c.module === 'session');
  if (change === undefined || change.action === 'reload') return state;
  return direction === 'up'
    ? migrate(older.session, newer.session, 'up', state, change.extra)
    : migrate(newer.session, older.session, 'down', state, change.extra);
}

/** A context that answers every call and records nothing: enough to run a handler on a state. */
const anyContext = new Proxy({ self: '<0@hotline>', node: 'hotline' } as unknown as ProcessContext, {
  get: (target, key) => (key in target ? target[key as keyof ProcessContext] : () => 1),
});

/**
 * Release `r`'s session runs on `state`: phone messages, timers and peer messages naming its
 * call (or another) are handled without throwing, each on a copy.
 */
function runs(r: Release, state: unknown): void {
  const s = state as { call?: { callId: string } | null; phase?: { leg?: { callId: string } } };
  for (const callId of [s.call?.callId ?? s.phase?.leg?.callId ?? 'none', 'other']) {
    const casts = [
      { type: 'call_info', callId },
      { type: 'media', callId, seq: 1, sentAt: 1 },
      { type: 'hold', callId },
      { type: 'bye', callId },
    ];
    const infos = [
      { type: 'media_check', callId },
      { type: 'ring_timeout', callId },
      { type: 'peer_dtmf', callId, digit: '1' },
      { type: 'peer_bye', callId, cause: 'normal' },
    ];
    for (const m of casts) r.session.handleCast?.(m as never, structuredClone(state), anyContext);
    for (const m of infos) r.session.handleInfo?.(m as never, structuredClone(state), anyContext);
  }
}
