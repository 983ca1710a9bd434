/** Edge cases found in review: names that look like pids, calling oneself, bad supervisor requests, long timers. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HotlineError } from '../../server/errors/catalogue.ts';
import {
  type Behaviour,
  type Pid,
  type RuntimeEventMap,
  reply,
  SimulatedClock,
  supervisorCall,
  systemClock,
  whichChildren,
} from '../../server/runtime/index.ts';
import { errorCode, newRuntime, recorder, settleBriefly, thrown } from '../support/runtime.ts';

describe('names', () => {
  it('refuses names that would be read as pids, and empty names, with HOT_ERR_INVALID_NAME', () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder, undefined);
    expect(errorCode(thrown(() => rt.register('<1@test>', pid)))).toBe('HOT_ERR_INVALID_NAME');
    expect(errorCode(thrown(() => rt.register('', pid)))).toBe('HOT_ERR_INVALID_NAME');
    const before = rt.processCount;
    const spawns: unknown[] = [];
    rt.events.on('spawn', (e) => spawns.push(e));
    rt.events.on('exit', (e) => spawns.push(e));
    expect(errorCode(thrown(() => rt.spawn(recorder, undefined, { name: '<x>' })))).toBe(
      'HOT_ERR_INVALID_NAME',
    );
    // Refused before the process existed: no spawn and no exit event.
    expect(spawns).toEqual([]);
    expect(rt.processCount).toBe(before);
  });
});

describe('calling oneself', () => {
  const selfCaller: Behaviour<
    { last: string | null },
    null,
    { call: 'go' | 'ping'; reply: unknown; cast: never; info: never }
  > = {
    name: 'self_caller',
    version: '1.0.0',
    init: (_a, ctx) => {
      ctx.register('me');
      return { last: null };
    },
    async handleCall(message, _from, state, ctx) {
      if (message === 'ping') return reply('pong', state);
      const byPid = await ctx.call(ctx.self, 'ping').catch((e: unknown) => errorCode(e));
      const byName = await ctx.call('me', 'ping').catch((e: unknown) => errorCode(e));
      return reply([byPid, byName], state);
    },
  };

  it('fails at once with HOT_ERR_CALLING_SELF, by pid or by own name, instead of waiting for the timeout', async () => {
    const rt = newRuntime({ callTimeoutMs: 60_000 });
    const pid = rt.spawn(selfCaller, null);
    expect(await rt.call(pid, 'go', 1000)).toEqual(['HOT_ERR_CALLING_SELF', 'HOT_ERR_CALLING_SELF']);
  });
});

describe('supervisors and unknown requests', () => {
  it('answers a call it does not know with HOT_ERR_UNKNOWN_REQUEST and keeps its children', async () => {
    const rt = newRuntime();
    rt.modules.load(recorder);
    const sup = rt.spawn('supervisor', { children: [{ id: 'r', start: { module: 'recorder' } }] });
    const dyn = rt.spawn('dynamic_supervisor', { module: 'recorder' });
    const bogus = { type: 'explode' } as never;
    await expect(supervisorCall(rt, sup, bogus)).rejects.toMatchObject({ code: 'HOT_ERR_UNKNOWN_REQUEST' });
    const r = (await rt.call(dyn, bogus)) as { ok: boolean; error?: HotlineError };
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('HOT_ERR_UNKNOWN_REQUEST');
    expect(rt.isAlive(sup)).toBe(true);
    expect(rt.isAlive(dyn)).toBe(true);
  });

  it('emits a restart event only for a restart whose init succeeded', async () => {
    const rt = newRuntime();
    let failNext = false;
    const flaky: Behaviour<{ n: number }, null, { call: never; reply: never; cast: 'crash'; info: never }> = {
      name: 'flaky',
      version: '1.0.0',
      init: () => {
        if (failNext) {
          failNext = false;
          throw new Error('init refused once');
        }
        return { n: 0 };
      },
      handleCast: () => {
        throw new Error('crash');
      },
    };
    rt.modules.load(flaky);
    const restarts: RuntimeEventMap['restart'][] = [];
    rt.events.on('restart', (e) => restarts.push(e));
    const sup = rt.spawn('supervisor', { intensity: 5, children: [{ id: 'f', start: { module: 'flaky' } }] });
    const childPid = async () => (await whichChildren(rt, sup))[0]?.pid as Pid;
    const first = await childPid();
    failNext = true;
    rt.cast(first, 'crash');
    await settleBriefly(rt);
    const now = await childPid();
    expect(now).not.toBe(first);
    // One failed attempt (no event), then one restart that ran: one event, naming the live child.
    expect(restarts).toHaveLength(1);
    expect(restarts[0]?.pid).toBe(now);
    expect(rt.isAlive(now)).toBe(true);
  });
});

describe('clocks', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('the system clock fires a timer longer than 2^31-1 ms at its time, not at once', () => {
    vi.useFakeTimers();
    const fired: number[] = [];
    const days30 = 30 * 24 * 3600 * 1000;
    systemClock.setTimeout(() => fired.push(Date.now()), days30);
    const start = Date.now();
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(days30 - 1001);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([start + days30]);
  });

  it('the system clock cancels a chained long timer', () => {
    vi.useFakeTimers();
    let fired = false;
    const h = systemClock.setTimeout(() => {
      fired = true;
    }, 2 ** 32);
    vi.advanceTimersByTime(2 ** 31);
    systemClock.clearTimeout(h);
    vi.advanceTimersByTime(2 ** 32);
    expect(fired).toBe(false);
  });

  it('a simulated clock refuses to go backwards', () => {
    const clock = new SimulatedClock(100);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(clock.now()).toBe(100);
  });
});
