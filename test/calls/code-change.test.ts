/**
 * codeChange of every call release, on states the session can reach: up and down round
 * trips keep the call (ids, times, counters, timer ids) and add each release that handled
 * it to its versions; 2.0.0 migrates from 1.0.0 directly; the faulty releases fail exactly
 * as their headers say (every appup edge of every shipped release is checked by the
 * conformance suite). Migrations run through the runtime's own `migrate`, as a code change
 * or a preflight dry run would.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Release } from '../../server/calls/contract.ts';
import type { StateV11 } from '../../server/calls/kit/v1/call-info.ts';
import type { Call, SessionState } from '../../server/calls/kit/v1/call-model.ts';
import type { InCall, StateV2 } from '../../server/calls/releases/2.0.0/session.ts';
import { migrate, type ProcessContext } from '../../server/runtime/index.ts';
import { loadRelease } from '../support/call-releases.ts';
import { plus, pure, state100, state110, state200, withVersions } from './session-states.ts';

const [r100, r110, r200, faultyMigrate, crashy] = (await Promise.all(
  ['1.0.0', '1.1.0', '2.0.0', '1.2.0-faulty-migrate', '1.2.0-faulty-crash'].map(loadRelease),
)) as [Release, Release, Release, Release, Release];

const up = (from: Release, to: Release, state: unknown): unknown =>
  migrate(from.session, to.session, 'up', state, undefined);
const down = (from: Release, to: Release, state: unknown): unknown =>
  migrate(from.session, to.session, 'down', state, undefined);

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
