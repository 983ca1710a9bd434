/**
 * codeChange of every call release, on states the session can reach: up and down round
 * trips keep the call (ids, times, counters, timer ids) and add each release that handled
 * it to its versions; 2.0.0 migrates from 1.0.0 directly; each codeChange accepts exactly
 * its appup; the faulty releases fail exactly as their headers say. Migrations run through
 * the runtime's own `migrate`, as a code change or a preflight dry run would.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Release } from '../../server/calls/contract.ts';
import { release as r100 } from '../../server/calls/releases/1.0.0/index.ts';
import type { Call, SessionState } from '../../server/calls/releases/1.0.0/session.ts';
import { release as r110 } from '../../server/calls/releases/1.1.0/index.ts';
import type { StateV11 } from '../../server/calls/releases/1.1.0/session.ts';
import { release as crashy } from '../../server/calls/releases/1.2.0-faulty-crash/index.ts';
import { release as faultyMigrate } from '../../server/calls/releases/1.2.0-faulty-migrate/index.ts';
import { release as r200 } from '../../server/calls/releases/2.0.0/index.ts';
import type { InCall, Leg, StateV2 } from '../../server/calls/releases/2.0.0/session.ts';
import { migrate, type ProcessContext } from '../../server/runtime/index.ts';

const up = (from: Release, to: Release, state: unknown): unknown =>
  migrate(from.session, to.session, 'up', state, undefined);
const down = (from: Release, to: Release, state: unknown): unknown =>
  migrate(from.session, to.session, 'down', state, undefined);

/** `versions` with each of `more` added once, in order: what a migration stamps on a call. */
function plus(versions: string[], ...more: string[]): string[] {
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

const state100: fc.Arbitrary<SessionState> = fc
  .record({
    port: PID,
    user: fc.option(USER, { nil: null }),
    config: CONFIG,
    call: fc.option(call100, { nil: null }),
  })
  // Only a registered session is in a call.
  .map((s) => (s.user === null ? { ...s, call: null } : s));

const state110: fc.Arbitrary<StateV11> = fc
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

const state200: fc.Arbitrary<StateV2> = fc
  .record({ port: PID, user: fc.option(USER, { nil: null }), config: CONFIG, phase: inCall })
  .map((s) => (s.user === null ? { ...s, phase: { kind: 'idle' as const } } : s));

/** Run `migration` on a copy, check it left the state as it was (pure), and return its result. */
function pure<S>(state: S, migration: (s: S) => unknown): unknown {
  const before = structuredClone(state);
  const after = migration(state);
  expect(state).toEqual(before);
  // The runtime checks states survive structuredClone: plain data only.
  expect(structuredClone(after)).toEqual(after);
  return after;
}

/** The state with its call's versions replaced. */
function withVersions<S extends SessionState>(s: S, versions: (v: string[]) => string[]): S {
  return s.call === null ? s : { ...s, call: { ...s.call, versions: versions(s.call.versions) } };
}

describe('1.1.0', () => {
  it('up from 1.0.0 adds the call_info counter at 0 and stamps 1.1.0; everything else is kept', () => {
    fc.assert(
      fc.property(state100, (s) => {
        const next = pure(s, (x) => up(r100, r110, x)) as StateV11;
        const want = withVersions(s, (v) => plus(v, '1.1.0'));
        expect(next).toEqual(
          want.call === null ? want : { ...want, call: { ...want.call, infoRequests: 0 } },
        );
      }),
    );
  });

  it('down to 1.0.0 drops the counter and stamps 1.0.0; a round trip keeps the call', () => {
    fc.assert(
      fc.property(state110, (s) => {
        const back = pure(s, (x) => down(r110, r100, x)) as SessionState;
        if (back.call !== null) expect(back.call).not.toHaveProperty('infoRequests');
        const round = up(r100, r110, back) as StateV11;
        // All but the counter, which 1.0.0 does not keep.
        const want = withVersions(s, (v) => plus(v, '1.0.0', '1.1.0'));
        expect(round).toEqual(
          want.call === null ? want : { ...want, call: { ...want.call, infoRequests: 0 } },
        );
      }),
    );
    fc.assert(
      fc.property(state100, (s) => {
        const round = down(r110, r100, up(r100, r110, s));
        expect(round).toEqual(withVersions(s, (v) => plus(v, '1.1.0', '1.0.0')));
      }),
    );
  });
});

describe('2.0.0', () => {
  /** What 2.0.0 keeps of a 1.x call, field by field. */
  function expectSameCall(c: Call & { infoRequests?: number }, p: InCall): void {
    expect(p.leg).toMatchObject({
      callId: c.callId,
      cdrId: c.role === 'caller' ? c.id : null,
      role: c.role,
      peer: { pid: c.peer, user: c.peerUser, monitor: c.monitor },
      setupAt: c.setupAt,
      infoRequests: c.infoRequests ?? 0,
    });
    if (p.kind === 'up') {
      expect(c.phase).toBe('up');
      expect(p).toMatchObject({
        answeredAt: c.answeredAt,
        held: c.held,
        media: { sent: c.mediaOut, received: c.mediaIn, lastAt: c.lastMediaAt },
        mediaTimer: c.mediaTimer,
      });
    } else {
      expect(p).toMatchObject({ kind: c.phase, ringTimer: c.ringTimer });
    }
  }

  it('up from 1.1.0 turns the call into a phase with the same ids, times, counters and timer ids', () => {
    fc.assert(
      fc.property(state110, (s) => {
        const next = pure(s, (x) => up(r110, r200, x)) as StateV2;
        expect(next).toMatchObject({ port: s.port, user: s.user, config: s.config });
        if (s.call === null) {
          expect(next.phase).toEqual({ kind: 'idle' });
        } else {
          const p = next.phase as InCall;
          expectSameCall(s.call, p);
          expect(p.leg.versions).toEqual(plus(s.call.versions, '2.0.0'));
        }
      }),
    );
  });

  it('up from 1.0.0 directly is the way through 1.1.0, without 1.1.0 in the versions', () => {
    fc.assert(
      fc.property(state100, (s) => {
        const direct = pure(s, (x) => up(r100, r200, x)) as StateV2;
        if (s.call !== null) expectSameCall(s.call, direct.phase as InCall);
        const via = up(
          r110,
          r200,
          withVersions(up(r100, r110, s) as StateV11, () => s.call?.versions ?? []),
        );
        expect(direct).toEqual(via);
      }),
    );
  });

  it('down to 1.1.0 and back up keeps the call; so does 1.1.0 up and back down', () => {
    fc.assert(
      fc.property(state200, (s) => {
        const back = pure(s, (x) => down(r200, r110, x)) as StateV11;
        const round = up(r110, r200, back) as StateV2;
        if (s.phase.kind === 'idle') {
          expect(round).toEqual(s);
        } else {
          const { leg } = s.phase;
          expect(back.call?.versions).toEqual(plus(leg.versions, '1.1.0'));
          expect(round).toEqual({
            ...s,
            phase: { ...s.phase, leg: { ...leg, versions: plus(leg.versions, '1.1.0', '2.0.0') } },
          });
        }
      }),
    );
    fc.assert(
      fc.property(state110, (s) => {
        expect(down(r200, r110, up(r110, r200, s))).toEqual(
          withVersions(s, (v) => plus(v, '2.0.0', '1.1.0')),
        );
      }),
    );
  });

  it('down to 1.0.0 directly (the rollback of an install from 1.0.0) keeps the call', () => {
    fc.assert(
      fc.property(state100, (s) => {
        const round = pure(up(r100, r200, s), (x) => down(r200, r100, x));
        expect(round).toEqual(withVersions(s, (v) => plus(v, '2.0.0', '1.0.0')));
      }),
    );
  });
});

describe('appups', () => {
  const all = [r100, r110, r200, faultyMigrate, crashy];
  const byVersion = new Map(all.map((r) => [r.version, r]));
  /** An idle session in the state shape of release `version`. */
  const idle = (version: string) => {
    const s = { port: '<1@hotline>', user: 'alice', config: { ringTimeoutMs: 1000, mediaTimeoutMs: 1000 } };
    return version === '2.0.0' ? { ...s, phase: { kind: 'idle' } } : { ...s, call: null };
  };
  it.each(all.filter((r) => r.upgradeFrom.length > 0).map((r) => [r.version, r] as const))(
    '%s migrates exactly what its appup declares',
    (_version, r) => {
      expect(r.session.codeChange).toBeDefined();
      const change = (from: string | { down: string }, state: unknown) =>
        r.session.codeChange?.(from, state, undefined);
      for (const { version } of r.upgradeFrom) {
        expect(byVersion.has(version)).toBe(true);
        expect(() => change(version, idle(version))).not.toThrow();
      }
      for (const { version } of r.downgradeTo)
        expect(() => change({ down: version }, idle(r.version))).not.toThrow();
      for (const other of ['0.9.0', '3.0.0', r.version])
        expect(() => change(other, idle(r.version))).toThrow(/appup does not declare/);
      expect(() => change({ down: '0.9.0' }, idle(r.version))).toThrow(/appup does not declare/);
    },
  );

  it('1.1.0 does not take 2.0.0 states up (2.0.0 brings them down itself)', () => {
    expect(() => up(r200, r110, idle('2.0.0'))).toThrow(/cannot migrate up from 2.0.0/);
  });
});

describe('1.2.0-faulty-migrate', () => {
  const held = (s: { call: Call | null }) => s.call?.held === true;

  it('refuses the upgrade for sessions whose call is on hold, and only for those', () => {
    for (const [from, states] of [
      [r110, state110],
      [r100, state100],
    ] as const) {
      fc.assert(
        fc.property(states as fc.Arbitrary<SessionState>, (s) => {
          const run = () => pure(s, (x) => up(from, faultyMigrate, x));
          if (held(s)) {
            expect(run).toThrow(/cannot migrate a call on hold/);
          } else {
            // It migrates as 1.1.0 does, under its own version.
            const shaped =
              from === r110 ? s : withVersions(up(r100, r110, s) as StateV11, () => s.call?.versions ?? []);
            expect(run()).toEqual(withVersions(shaped, (v) => plus(v, faultyMigrate.version)));
          }
        }),
      );
    }
  });

  it('never refuses the downgrade to 1.1.0, held calls included', () => {
    fc.assert(
      fc.property(state110, (s) => {
        expect(down(faultyMigrate, r110, s)).toEqual(withVersions(s, (v) => plus(v, '1.1.0')));
      }),
    );
  });
});

describe('1.2.0-faulty-crash', () => {
  /** A context that records every call made on it. */
  function recordingContext(): { ctx: ProcessContext; calls: string[] } {
    const calls: string[] = [];
    const ctx = new Proxy({} as ProcessContext, {
      get(_target, key) {
        if (key === 'self') return '<2@hotline>';
        if (key === 'node') return 'hotline';
        return (..._args: unknown[]) => {
          calls.push(String(key));
          return key === 'now' ? 1_750_000_000_000 : 1;
        };
      },
    });
    return { ctx, calls };
  }

  it('migrates every session up and down like 1.1.0', () => {
    fc.assert(
      fc.property(state110, (s) => {
        const next = pure(s, (x) => up(r110, crashy, x));
        expect(next).toEqual(withVersions(s, (v) => plus(v, crashy.version)));
        expect(down(crashy, r110, next)).toEqual(withVersions(s, (v) => plus(v, crashy.version, '1.1.0')));
      }),
    );
  });

  it('throws on dtmf before it sends anything or changes the state; media still works', () => {
    fc.assert(
      fc.property(
        state110.filter((s) => s.call?.phase === 'up'),
        (s) => {
          const handle = crashy.session.handleCast?.bind(crashy.session);
          if (handle === undefined) throw new Error('no handleCast');
          const callId = s.call?.callId ?? '';
          const before = structuredClone(s);
          const { ctx, calls } = recordingContext();
          expect(() => handle({ type: 'dtmf', callId, digit: '5' }, s, ctx)).toThrow(
            /dtmf handler is broken/,
          );
          expect(calls).toEqual([]);
          expect(s).toEqual(before);
          handle({ type: 'media', callId, seq: 1, sentAt: 1 }, s, ctx);
          expect(calls).toContain('send');
        },
      ),
    );
  });
});
