/**
 * The runtime's crash guard, which the installer's watch relies on, and the mailbox's
 * unshift, which puts the crashing message back in front.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Behaviour,
  type CrashGuard,
  kill,
  killed,
  noreply,
  type Pid,
  Runtime,
} from '../../server/runtime/index.ts';
import { type Kind, Mailbox } from '../../server/runtime/mailbox.ts';
import { settleUntilQuiet } from '../support/release-fixtures.ts';
import { exitLog, simulatedRuntime } from '../support/runtime.ts';

type Cast = { type: 'add'; n: number } | { type: 'throw' } | { type: 'suicide' } | { type: 'reject' };

interface S {
  total: number;
  seen: number[];
}

function counter(
  version: string,
  onThrow: 'throw' | 'ok' = 'throw',
): Behaviour<S, void, { call: never; reply: never; cast: Cast; info: unknown }> {
  return {
    name: 'counter',
    version,
    init: () => ({ total: 0, seen: [] }),
    handleCast(message, state, ctx) {
      switch (message.type) {
        case 'add':
          state.total += message.n;
          state.seen.push(message.n);
          return noreply(state);
        case 'throw':
          state.total = -1; // damage first: the guard puts the state back
          if (onThrow === 'throw') throw new Error(`${version} throws`);
          state.total = 1000;
          return noreply(state);
        case 'suicide':
          ctx.exit(ctx.self, kill);
          throw new Error('after the kill');
        case 'reject':
          return Promise.reject(new Error('async failure'));
      }
    },
  };
}

/** A guard that covers `covered` and answers `take` (recording what it saw). */
function guard(covered: Behaviour<S, void, never>, take: boolean | 'throw') {
  const seen: { pid: Pid; error: string; state: unknown; suspended: boolean | undefined }[] = [];
  return {
    seen,
    make(rt: Runtime): CrashGuard {
      return {
        covers: (b) => b === (covered as unknown),
        caught: (pid, error) => {
          const p = rt.lookup(pid);
          seen.push({
            pid,
            error: String((error as Error).message),
            state: structuredClone(p?.state),
            suspended: p?.suspended,
          });
          if (take === 'throw') throw new Error('guard failed');
          return take;
        },
      };
    },
  };
}

/** A runtime whose crash guard covers counter 2.0.0 and answers `take`; `log` records its exits. */
function guardedRuntime(take: boolean | 'throw' = true) {
  const { rt } = simulatedRuntime();
  const v2 = counter('2.0.0');
  const g = guard(v2 as never, take);
  rt.release.setGuard(g.make(rt));
  return { rt, v2, g, log: exitLog(rt) };
}

describe('crash guard', () => {
  it('puts the state and the message back and suspends the process; resumed on other code, it handles the message', async () => {
    const v1 = counter('1.0.0', 'ok');
    const { rt, v2, g } = guardedRuntime();
    const pid = rt.spawn(v2);
    rt.cast(pid, { type: 'add', n: 1 });
    rt.cast(pid, { type: 'throw' });
    rt.cast(pid, { type: 'add', n: 2 });
    await settleUntilQuiet(rt);
    expect(g.seen).toEqual([{ pid, error: '2.0.0 throws', state: { total: 1, seen: [1] }, suspended: true }]);
    const p = rt.lookup(pid);
    expect(p?.status).toBe('suspended');
    expect(p?.mailboxLength).toBe(2);
    expect(rt.sys.getState(pid)).toEqual({ total: 1, seen: [1] });
    // What the installer's rollback does: other code, then resume.
    rt.sys.changeCode(pid, { to: v1, direction: 'up' });
    rt.sys.resume(pid);
    await settleUntilQuiet(rt);
    expect(rt.sys.getState(pid)).toEqual({ total: 1002, seen: [1, 2] });
  });

  it('guards a process whose state is undefined too', async () => {
    const { rt } = simulatedRuntime();
    const b: Behaviour<undefined, void, { call: never; reply: never; cast: 'throw'; info: unknown }> = {
      name: 'stateless',
      version: '1.0.0',
      init: () => undefined,
      handleCast: () => {
        throw new Error('no');
      },
    };
    let caught = 0;
    rt.release.setGuard({
      covers: (x) => x === b,
      caught: () => {
        caught++;
        return true;
      },
    });
    const pid = rt.spawn(b);
    rt.cast(pid, 'throw');
    await settleUntilQuiet(rt);
    expect(caught).toBe(1);
    expect(rt.lookup(pid)?.status).toBe('suspended');
  });

  it('a declining guard (or one that throws) leaves the crash as it was: the process ends, the message is gone', async () => {
    for (const take of [false, 'throw'] as const) {
      const { rt, v2, g, log } = guardedRuntime(take);
      const pid = rt.spawn(v2);
      rt.cast(pid, { type: 'throw' });
      await settleUntilQuiet(rt);
      expect(g.seen).toHaveLength(1);
      expect(log.get(pid)?.type).toBe('error');
      expect(rt.isAlive(pid)).toBe(false);
    }
  });

  it('does not cover other code, nor async callbacks', async () => {
    const v1 = counter('1.0.0');
    const { rt, v2, g, log } = guardedRuntime();
    const a = rt.spawn(v1);
    const b = rt.spawn(v2);
    rt.cast(a, { type: 'throw' });
    rt.cast(b, { type: 'reject' });
    await settleUntilQuiet(rt);
    expect(g.seen).toEqual([]);
    expect(log.get(a)?.type).toBe('error');
    expect(log.get(b)?.type).toBe('error');
  });

  it('a callback that ended its own process before throwing is not put back (and the scheduler carries on)', async () => {
    const { rt, v2, g, log } = guardedRuntime();
    const pid = rt.spawn(v2);
    const other = rt.spawn(v2);
    rt.cast(pid, { type: 'suicide' });
    rt.cast(other, { type: 'add', n: 5 });
    await settleUntilQuiet(rt);
    expect(g.seen).toEqual([]);
    expect(log.get(pid)).toEqual(killed);
    expect(rt.sys.getState(other)).toEqual({ total: 5, seen: [5] });
  });

  it('a state that cannot be copied runs unguarded rather than breaking the scheduler', async () => {
    // checkState off, as in production: such a state is allowed to exist.
    const rt = new Runtime({ node: 't' });
    const b: Behaviour<
      { fn: () => void; n: number },
      void,
      { call: never; reply: never; cast: 'inc' | 'throw'; info: unknown }
    > = {
      name: 'uncopyable',
      version: '1.0.0',
      init: () => ({ fn: () => undefined, n: 0 }),
      handleCast(message, state) {
        if (message === 'throw') throw new Error('thrown');
        state.n++;
        return noreply(state);
      },
    };
    let caught = 0;
    rt.release.setGuard({
      covers: (x) => x === b,
      caught: () => {
        caught++;
        return true;
      },
    });
    const log = exitLog(rt);
    const pid = rt.spawn(b);
    rt.cast(pid, 'inc');
    await settleUntilQuiet(rt);
    expect((rt.sys.getState(pid) as { n: number }).n).toBe(1);
    rt.cast(pid, 'throw');
    await settleUntilQuiet(rt);
    expect(caught).toBe(0);
    expect(log.get(pid)?.type).toBe('error');
  });
});

describe('mailbox unshift', () => {
  type Op = { op: 'push' | 'unshift'; kind: Kind; n: number } | { op: 'drop' };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constantFrom('push' as const, 'unshift' as const),
      kind: fc.constantFrom<Kind>('cast', 'call', 'info'),
      n: fc.integer(),
    }),
    fc.constant({ op: 'drop' as const }),
  );

  it('behaves as an array with push, unshift and shift, across growth and wrap-around (property)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 600 }), (ops) => {
        const box = new Mailbox();
        const model: [Kind, number, null | { node: string; ref: number }][] = [];
        for (const o of ops) {
          if (o.op === 'drop') {
            if (model.length === 0) continue;
            const [kind, n, from] = model.shift() as (typeof model)[number];
            expect([box.kind, box.message, box.from]).toEqual([kind, n, from]);
            box.drop();
          } else {
            const from = o.kind === 'call' ? { node: 'x', ref: o.n } : null;
            box[o.op](o.kind, o.n, from);
            if (o.op === 'push') model.push([o.kind, o.n, from]);
            else model.unshift([o.kind, o.n, from]);
          }
          expect(box.length).toBe(model.length);
        }
        while (model.length > 0) {
          const [kind, n] = model.shift() as (typeof model)[number];
          expect([box.kind, box.message]).toEqual([kind, n]);
          box.drop();
        }
        expect(box.length).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
