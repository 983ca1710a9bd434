/** Runtime timers (sendAfter / cancelTimer) and the SimulatedClock they run on in tests. */
import { describe, expect, it } from 'vitest';
import {
  type Behaviour,
  kill,
  noreply,
  type Pid,
  processInfo,
  type Runtime,
  reply,
  SimulatedClock,
  shutdown,
} from '../../server/runtime/index.ts';
import { recorder, settleBriefly, simulatedRuntime } from '../support/runtime.ts';

type TickerCall =
  | { type: 'arm'; ms: number; message: unknown; to?: Pid | string }
  | { type: 'cancel'; ref: number }
  | { type: 'log' };

interface TickerState {
  log: string[];
}

type TickerMessages = { call: TickerCall; reply: unknown; cast: never; info: unknown };

/** Arms timers on request; its handleInfo logs each message tagged with the code version. */
function ticker(version: string): Behaviour<TickerState, undefined, TickerMessages> {
  return {
    name: 'ticker',
    version,
    init: () => ({ log: [] }),
    handleCall(message, _from, state, ctx) {
      switch (message.type) {
        case 'arm':
          return reply(ctx.sendAfter(message.ms, message.message, message.to), state);
        case 'cancel':
          return reply(ctx.cancelTimer(message.ref), state);
        case 'log':
          return reply([...state.log], state);
      }
    },
    handleInfo(message, state) {
      state.log.push(`${version}:${JSON.stringify(message)}`);
      return noreply(state);
    },
    codeChange: (_from, state) => state as TickerState,
  };
}

function spawnTicker(rt: Runtime, b = ticker('1')): Pid<TickerMessages> {
  return rt.spawn(b) as Pid<TickerMessages>;
}

const arm = (rt: Runtime, pid: Pid<TickerMessages>, ms: number, message: unknown, to?: Pid | string) =>
  rt.call(
    pid,
    to === undefined ? { type: 'arm', ms, message } : { type: 'arm', ms, message, to },
  ) as Promise<number>;

const log = (rt: Runtime, pid: Pid<TickerMessages>) => rt.call(pid, { type: 'log' }) as Promise<string[]>;

const seen = (rt: Runtime, pid: Pid) => rt.call(pid, { type: 'seen' });

const timersOf = (rt: Runtime, pid: Pid): number => {
  const p = rt.lookup(pid);
  if (p === undefined) throw new Error(`${pid} is not alive`);
  return processInfo(p).timers;
};

describe('sendAfter', () => {
  it('delivers an info message once the time has passed, and not before', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = rt.spawn(recorder);
    rt.sendAfter(100, { type: 'tick' }, pid);
    expect(rt.activeTimers).toBe(1);
    clock.advance(99);
    await settleBriefly(rt);
    expect(await seen(rt, pid)).toEqual([]);
    clock.advance(1);
    await settleBriefly(rt);
    expect(await seen(rt, pid)).toEqual([{ type: 'tick' }]);
    expect(rt.activeTimers).toBe(0);
    clock.advance(1000);
    await settleBriefly(rt);
    expect(await seen(rt, pid)).toEqual([{ type: 'tick' }]);
  });

  it('sends to the process itself by default, from inside a callback', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = spawnTicker(rt);
    await arm(rt, pid, 50, 'ping');
    expect(timersOf(rt, pid)).toBe(1);
    clock.advance(50);
    await settleBriefly(rt);
    expect(await log(rt, pid)).toEqual(['1:"ping"']);
    expect(timersOf(rt, pid)).toBe(0);
  });

  it('delivers timers in due order, whatever order they were set in', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = spawnTicker(rt);
    await arm(rt, pid, 30, 'c');
    await arm(rt, pid, 10, 'a');
    await arm(rt, pid, 20, 'b');
    await arm(rt, pid, 10, 'a2');
    clock.advance(15);
    await settleBriefly(rt);
    expect(await log(rt, pid)).toEqual(['1:"a"', '1:"a2"']);
    clock.advance(15);
    await settleBriefly(rt);
    expect(await log(rt, pid)).toEqual(['1:"a"', '1:"a2"', '1:"b"', '1:"c"']);
  });

  it('looks a registered name up when the timer fires, and drops the message if nobody holds it', async () => {
    const { rt, clock } = simulatedRuntime();
    const first = rt.spawn(recorder, undefined, { name: 'svc' });
    rt.sendAfter(10, 'one', 'svc');
    rt.sendAfter(20, 'two', 'svc');
    rt.sendAfter(30, 'three', 'svc');
    clock.advance(10);
    await settleBriefly(rt);
    rt.exit(first, shutdown);
    expect(rt.activeTimers).toBe(2);
    clock.advance(10);
    await settleBriefly(rt);
    expect(rt.activeTimers).toBe(1);
    const second = rt.spawn(recorder, undefined, { name: 'svc' });
    clock.advance(10);
    await settleBriefly(rt);
    expect(await seen(rt, second)).toEqual(['three']);
  });

  it('does not keep a timer for a process that is already dead', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = rt.spawn(recorder);
    rt.exit(pid, kill);
    const ref = rt.sendAfter(60_000, 'late', pid);
    expect(rt.activeTimers).toBe(0);
    expect(rt.cancelTimer(ref)).toBe(false);
    expect(() => clock.advance(60_000)).not.toThrow();
  });
});

describe('cancelTimer', () => {
  it('stops the message and reports whether the timer was still pending', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = spawnTicker(rt);
    const cancelled = await arm(rt, pid, 100, 'cancelled');
    const kept = await arm(rt, pid, 100, 'kept');
    expect(rt.activeTimers).toBe(2);
    expect(await rt.call(pid, { type: 'cancel', ref: cancelled })).toBe(true);
    expect(await rt.call(pid, { type: 'cancel', ref: cancelled })).toBe(false);
    expect(rt.activeTimers).toBe(1);
    clock.advance(100);
    await settleBriefly(rt);
    expect(await log(rt, pid)).toEqual(['1:"kept"']);
    // Too late once fired.
    expect(rt.cancelTimer(kept)).toBe(false);
    expect(rt.activeTimers).toBe(0);
  });

  it('forgets a cancelled timer in the process bookkeeping', async () => {
    const { rt } = simulatedRuntime();
    const pid = spawnTicker(rt);
    // A session that re-arms an inactivity timer on every message must not accumulate refs.
    for (let i = 0; i < 20; i++) {
      const ref = await arm(rt, pid, 30_000, 'idle');
      expect(await rt.call(pid, { type: 'cancel', ref })).toBe(true);
    }
    expect(rt.activeTimers).toBe(0);
    expect(timersOf(rt, pid)).toBe(0);
  });

  it('cancels a timer from outside the process that set it', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = spawnTicker(rt);
    const ref = await arm(rt, pid, 10, 'x');
    expect(rt.cancelTimer(ref)).toBe(true);
    expect(timersOf(rt, pid)).toBe(0);
    clock.advance(10);
    await settleBriefly(rt);
    expect(await log(rt, pid)).toEqual([]);
  });
});

describe('timers and process ends', () => {
  it('cancels every timer of a process when it ends', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = spawnTicker(rt);
    const other = spawnTicker(rt);
    await arm(rt, pid, 10, 'a');
    await arm(rt, pid, 20, 'b');
    await arm(rt, pid, 30, 'c');
    await arm(rt, other, 30, 'other');
    expect(rt.activeTimers).toBe(4);
    rt.exit(pid, kill);
    expect(rt.activeTimers).toBe(1);
    clock.advance(30);
    await settleBriefly(rt);
    expect(rt.activeTimers).toBe(0);
    expect(await log(rt, other)).toEqual(['1:"other"']);
    expect(clock.pending).toBe(0);
  });

  it('cancels a timer aimed at a process when that process ends', async () => {
    const { rt, clock } = simulatedRuntime();
    const setter = spawnTicker(rt);
    const target = rt.spawn(recorder);
    await arm(rt, setter, 10, 'for target', target);
    expect(timersOf(rt, target)).toBe(1);
    expect(timersOf(rt, setter)).toBe(0);
    rt.exit(target, shutdown);
    expect(rt.activeTimers).toBe(0);
    expect(() => clock.advance(10)).not.toThrow();
  });

  it('keeps a timer aimed at another process when the setter ends (the target owns it)', async () => {
    const { rt, clock } = simulatedRuntime();
    const setter = spawnTicker(rt);
    const target = rt.spawn(recorder);
    await arm(rt, setter, 10, 'from the dead', target);
    rt.exit(setter, kill);
    expect(rt.activeTimers).toBe(1);
    clock.advance(10);
    await settleBriefly(rt);
    expect(await seen(rt, target)).toEqual(['from the dead']);
    expect(rt.activeTimers).toBe(0);
  });
});

describe('timers across a code change', () => {
  const upgrade = async (rt: Runtime, pid: Pid, to: Behaviour<TickerState, undefined, TickerMessages>) => {
    await rt.sys.suspend(pid);
    rt.sys.changeCode(pid, { to, direction: 'up' });
    rt.sys.resume(pid);
  };

  it('fires a timer set by version 1 into version 2 after the upgrade', async () => {
    const { rt, clock } = simulatedRuntime();
    const v1 = ticker('1');
    const v2 = ticker('2');
    const pid = spawnTicker(rt, v1);
    await arm(rt, pid, 1000, { type: 'tick', n: 1 });
    await upgrade(rt, pid, v2);
    expect(rt.activeTimers).toBe(1);
    clock.advance(1000);
    await settleBriefly(rt);
    expect(await log(rt, pid)).toEqual(['2:{"type":"tick","n":1}']);
  });

  it('queues a timer that fires while the process is suspended and hands it to the new code', async () => {
    const { rt, clock } = simulatedRuntime();
    const v1 = ticker('1');
    const v2 = ticker('2');
    const pid = spawnTicker(rt, v1);
    await arm(rt, pid, 10, 'early');
    await arm(rt, pid, 20, 'late');
    await rt.sys.suspend(pid);
    clock.advance(10);
    await settleBriefly(rt);
    expect(rt.lookup(pid)?.mailboxLength).toBe(1);
    rt.sys.changeCode(pid, { to: v2, direction: 'up' });
    rt.sys.resume(pid);
    clock.advance(10);
    await settleBriefly(rt);
    expect(await log(rt, pid)).toEqual(['2:"early"', '2:"late"']);
  });
});

describe('SimulatedClock', () => {
  it('moves only when advanced', () => {
    const clock = new SimulatedClock(500);
    expect(clock.now()).toBe(500);
    clock.advance(250);
    expect(clock.now()).toBe(750);
    clock.advance(0);
    expect(clock.now()).toBe(750);
  });

  it('fires timers in due order, at their due time', () => {
    const clock = new SimulatedClock(0);
    const fired: [string, number][] = [];
    const at = (name: string) => () => fired.push([name, clock.now()]);
    clock.setTimeout(at('c'), 30);
    clock.setTimeout(at('a'), 10);
    clock.setTimeout(at('b'), 20);
    clock.setTimeout(at('late'), 100);
    expect(clock.pending).toBe(4);
    clock.advance(50);
    expect(fired).toEqual([
      ['a', 10],
      ['b', 20],
      ['c', 30],
    ]);
    expect(clock.now()).toBe(50);
    expect(clock.pending).toBe(1);
    clock.advance(50);
    expect(fired.at(-1)).toEqual(['late', 100]);
    expect(clock.pending).toBe(0);
  });

  it('keeps insertion order for equal due times', () => {
    const clock = new SimulatedClock(0);
    const fired: string[] = [];
    for (const [name, ms] of [
      ['a', 10],
      ['b', 10],
      ['early', 5],
      ['c', 10],
      ['later', 15],
      ['d', 10],
    ] as const) {
      clock.setTimeout(() => fired.push(name), ms);
    }
    clock.advance(20);
    expect(fired).toEqual(['early', 'a', 'b', 'c', 'd', 'later']);
  });

  it('treats a negative delay as zero and fires a due timer on advance(0)', () => {
    const clock = new SimulatedClock(100);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), -50);
    clock.setTimeout(() => fired.push(clock.now()), 0);
    clock.advance(0);
    expect(fired).toEqual([100, 100]);
  });

  it('clearTimeout removes a timer, and ignores unknown or spent handles', () => {
    const clock = new SimulatedClock(0);
    const fired: string[] = [];
    const a = clock.setTimeout(() => fired.push('a'), 10);
    const b = clock.setTimeout(() => fired.push('b'), 10);
    clock.setTimeout(() => fired.push('c'), 10);
    clock.clearTimeout(b);
    expect(clock.pending).toBe(2);
    clock.clearTimeout(b);
    clock.clearTimeout(12345);
    expect(clock.pending).toBe(2);
    clock.advance(10);
    expect(fired).toEqual(['a', 'c']);
    clock.clearTimeout(a);
    expect(clock.pending).toBe(0);
  });

  it('lets a firing timer clear another one due at the same time', () => {
    const clock = new SimulatedClock(0);
    const fired: string[] = [];
    let victim: unknown;
    clock.setTimeout(() => {
      fired.push('first');
      clock.clearTimeout(victim);
    }, 10);
    victim = clock.setTimeout(() => fired.push('victim'), 10);
    clock.advance(10);
    expect(fired).toEqual(['first']);
  });

  it('fires timers set by fired timers when they fall within the advanced window', () => {
    const clock = new SimulatedClock(0);
    const fired: [string, number][] = [];
    const at = (name: string) => () => fired.push([name, clock.now()]);
    clock.setTimeout(() => {
      at('outer')();
      clock.setTimeout(() => {
        at('inner')();
        clock.setTimeout(at('innermost'), 5);
      }, 10);
      clock.setTimeout(at('beyond'), 50);
    }, 10);
    clock.setTimeout(at('plain'), 25);
    clock.advance(30);
    expect(fired).toEqual([
      ['outer', 10],
      ['inner', 20],
      ['plain', 25],
      ['innermost', 25],
    ]);
    expect(clock.now()).toBe(30);
    expect(clock.pending).toBe(1);
    clock.advance(30);
    expect(fired.at(-1)).toEqual(['beyond', 60]);
  });

  it('runs a zero-delay timer set while firing after the timers already due at that time', () => {
    const clock = new SimulatedClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push('a');
      clock.setTimeout(() => fired.push('a-now'), 0);
    }, 10);
    clock.setTimeout(() => fired.push('b'), 10);
    clock.advance(10);
    expect(fired).toEqual(['a', 'b', 'a-now']);
  });
});
