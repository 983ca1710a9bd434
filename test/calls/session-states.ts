/**
 * Session states each call release's code can reach, generated for property tests (the
 * conformance suite's appup checks, code-change.test.ts), and what a migration is checked
 * against.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { StateV11 } from '../../server/calls/kit/v1/call-info.ts';
import type { Call, SessionState } from '../../server/calls/kit/v1/call-model.ts';
import type { InCall, Leg, StateV2 } from '../../server/calls/releases/2.0.0/session.ts';

/** `versions` with each of `more` added once, in order: what a migration stamps on a call. */
export function plus(versions: string[], ...more: string[]): string[] {
  const out = [...versions];
  for (const v of more) if (!out.includes(v)) out.push(v);
  return out;
}

// ---- states a session can reach ----

const PID = fc.nat({ max: 1_000_000 }).map((n) => `<${n}@hotline>`);
const REF = fc.integer({ min: 1, max: 2 ** 31 });
const AT = fc.integer({ min: 1_700_000_000_000, max: 1_800_000_000_000 });
const GAP = fc.nat({ max: 3_600_000 });
const COUNT = fc.nat({ max: 1_000_000 });
const USER = fc.stringMatching(/^[a-z0-9_.-]{1,12}$/);
const CALL_ID = fc.string({ minLength: 1, maxLength: 64 });
const RELEASES = fc.uniqueArray(fc.constantFrom('0.9.0', '1.0.0', '1.1.0', '2.0.0'), {
  minLength: 1,
  maxLength: 3,
});
const CONFIG = fc.record({
  ringTimeoutMs: fc.integer({ min: 1, max: 120_000 }),
  mediaTimeoutMs: fc.integer({ min: 1, max: 120_000 }),
});

/**
 * A 1.0.0 call as the session keeps it: only the caller's leg has a CDR id and a ring timer,
 * which the answer cancels; hold, the answer time, media counts and the media timer come
 * with the answer.
 */
const call100: fc.Arbitrary<Call> = fc
  .record({
    role: fc.constantFrom('caller' as const, 'callee' as const),
    phase: fc.constantFrom('setup' as const, 'ringing' as const, 'up' as const),
    id: fc.uuid(),
    callId: CALL_ID,
    peer: PID,
    peerUser: USER,
    monitor: REF,
    held: fc.boolean(),
    setupAt: AT,
    answerGap: GAP,
    mediaGap: GAP,
    mediaOut: COUNT,
    mediaIn: COUNT,
    ringTimer: REF,
    mediaTimer: REF,
    versions: RELEASES,
  })
  .map((r) => {
    const isUp = r.phase === 'up';
    const answeredAt = isUp ? r.setupAt + r.answerGap : null;
    return {
      id: r.role === 'caller' ? r.id : '',
      callId: r.callId,
      role: r.role,
      peer: r.peer,
      peerUser: r.peerUser,
      monitor: r.monitor,
      phase: r.phase,
      held: isUp && r.held,
      setupAt: r.setupAt,
      answeredAt,
      mediaOut: isUp ? r.mediaOut : 0,
      mediaIn: isUp ? r.mediaIn : 0,
      lastMediaAt: answeredAt === null ? r.setupAt : answeredAt + r.mediaGap,
      ringTimer: r.role === 'caller' && !isUp ? r.ringTimer : null,
      mediaTimer: isUp ? r.mediaTimer : null,
      versions: r.versions,
    };
  });

export const state100: fc.Arbitrary<SessionState> = fc
  .record({
    port: PID,
    user: fc.option(USER, { nil: null }),
    config: CONFIG,
    call: fc.option(call100, { nil: null }),
  })
  // Only a registered session is in a call.
  .map((s) => (s.user === null ? { ...s, call: null } : s));

export const state110: fc.Arbitrary<StateV11> = fc
  .tuple(state100, COUNT)
  .map(([s, n]) => ({ ...s, call: s.call === null ? null : { ...s.call, infoRequests: n } }));

const leg: fc.Arbitrary<Leg> = fc
  .record({
    callId: CALL_ID,
    cdrId: fc.uuid(),
    role: fc.constantFrom('caller' as const, 'callee' as const),
    peer: fc.record({ pid: PID, user: USER, monitor: REF }),
    setupAt: AT,
    versions: RELEASES,
    infoRequests: COUNT,
  })
  .map((l) => (l.role === 'callee' ? { ...l, cdrId: null } : l));

/** A 2.0.0 call: the caller's leg times the ringing; the rest comes with the answer. */
const inCall: fc.Arbitrary<InCall> = fc.oneof(
  fc
    .record({ kind: fc.constantFrom('setup' as const, 'ringing' as const), leg, ringTimer: REF })
    .map((p) => ({ ...p, ringTimer: p.leg.role === 'caller' ? p.ringTimer : null })),
  fc
    .record({
      leg,
      answerGap: GAP,
      mediaGap: GAP,
      held: fc.boolean(),
      sent: COUNT,
      received: COUNT,
      mediaTimer: REF,
    })
    .map((r) => {
      const answeredAt = r.leg.setupAt + r.answerGap;
      return {
        kind: 'up' as const,
        leg: r.leg,
        answeredAt,
        held: r.held,
        media: { sent: r.sent, received: r.received, lastAt: answeredAt + r.mediaGap },
        mediaTimer: r.mediaTimer,
      };
    }),
);

export const state200: fc.Arbitrary<StateV2> = fc
  .record({ port: PID, user: fc.option(USER, { nil: null }), config: CONFIG, phase: inCall })
  .map((s) => (s.user === null ? { ...s, phase: { kind: 'idle' as const } } : s));

/** Run `migration` on a copy, check it left the state as it was (pure), and return its result. */
export function pure<S>(state: S, migration: (s: S) => unknown): unknown {
  const before = structuredClone(state);
  const after = migration(state);
  expect(state).toEqual(before);
  // The runtime checks states survive structuredClone: plain data only.
  expect(structuredClone(after)).toEqual(after);
  return after;
}

/** The state with its call's versions replaced. */
export function withVersions<S extends SessionState>(s: S, versions: (v: string[]) => string[]): S {
  return s.call === null ? s : { ...s, call: { ...s.call, versions: versions(s.call.versions) } };
}

/** Generated states of each release in this repository, by version (a 1.2.0 variant keeps 1.1.0's). */
export const statesOf: Record<string, fc.Arbitrary<SessionState | StateV11 | StateV2>> = {
  '1.0.0': state100,
  '1.1.0': state110,
  '2.0.0': state200,
  '1.2.0-faulty-migrate': state110,
  '1.2.0-faulty-crash': state110,
};
