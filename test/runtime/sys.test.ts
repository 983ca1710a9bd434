/** System operations: suspend/resume, getState/replaceState, changeCode, and the migrate dry run. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Behaviour,
  type CodeChangeFrom,
  kill,
  killed,
  migrate,
  noreply,
  type Pid,
  processInfo,
  type Runtime,
  reply,
  shutdown,
  stop,
} from '../../server/runtime/index.ts';
import {
  type Deferred,
  deferred,
  errorCode,
  exitLog,
  kernelProcess,
  live,
  newRuntime,
  settleBriefly,
  simulatedRuntime,
  thrown,
} from '../support/runtime.ts';

interface V1State {
  count: number;
  log: string[];
}

interface V2State {
  total: number;
  log: string[];
  from: string;
  extra: unknown;
}

type CounterCast = { type: 'add'; n: number; id: string } | { type: 'wait'; id: string } | { type: 'quit' };

type CounterMessages = { call: { type: 'get' }; reply: unknown; cast: CounterCast; info: unknown };

interface Fixture {
  /** Gates that `wait` casts block on, by id: the test opens them. */
  gates: Map<string, Deferred<void>>;
  /** Every codeChange call: which version ran it, and its arguments. */
  codeChanges: { version: string; from: CodeChangeFrom; state: unknown; extra: unknown }[];
}

function fixture(): Fixture {
  return { gates: new Map(), codeChanges: [] };
}

function gate(f: Fixture, id: string): Deferred<void> {
  const d = deferred();
  f.gates.set(id, d);
  return d;
}

function counterV1(f: Fixture): Behaviour<V1State, number | undefined, CounterMessages> {
  return {
    name: 'counter',
    version: '1.0.0',
    init: (start) => ({ count: start ?? 0, log: [] }),
    handleCall: (_message, _from, state) => reply(state, state),
    handleCast(message, state) {
      switch (message.type) {
        case 'add':
          state.count += message.n;
          state.log.push(`v1:${message.id}`);
          return noreply(state);
        case 'wait': {
          // The one asynchronous callback: it settles when the test opens the gate.
          const g = f.gates.get(message.id);
          if (g === undefined) throw new Error(`no gate ${message.id}`);
          return g.promise.then(() => {
            state.log.push(`v1:${message.id}`);
            return noreply(state);
          });
        }
        case 'quit':
          return stop(shutdown, state);
      }
    },
    handleInfo(message, state) {
      state.log.push(`v1:info:${JSON.stringify(message)}`);
      return noreply(state);
    },
    codeChange(from, state, extra) {
      f.codeChanges.push({ version: '1.0.0', from, state: structuredClone(state), extra });
      const s = state as V2State;
      return { count: s.total, log: s.log };
    },
  };
}

function counterV2(f: Fixture): Behaviour<V2State, number | undefined, CounterMessages> {
  return {
    name: 'counter',
    version: '2.0.0',
    init: (start) => ({ total: start ?? 0, log: [], from: 'init', extra: null }),
    handleCall: (_message, _from, state) => reply(state, state),
    handleCast(message, state) {
      if (message.type === 'add') {
        state.total += message.n * 10;
        state.log.push(`v2:${message.id}`);
      }
      return noreply(state);
    },
    handleInfo(message, state) {
      state.log.push(`v2:info:${JSON.stringify(message)}`);
      return noreply(state);
    },
    codeChange(from, state, extra) {
      f.codeChanges.push({ version: '2.0.0', from, state: structuredClone(state), extra });
      if (typeof from === 'object') {
        // Down to 1.x: the v1 shape again.
        const s = state as V2State;
        return { count: s.total, log: s.log } as unknown as V2State;
      }
      const s = state as V1State;
      return { total: s.count, log: s.log, from, extra };
    },
  };
}

type CounterPid = Pid<CounterMessages>;

const spawnCounter = (rt: Runtime, b: Behaviour<V1State, number | undefined, CounterMessages>, start = 0) =>
  rt.spawn(b, start) as CounterPid;

const add = (rt: Runtime, pid: CounterPid, id: string, n = 1) => rt.cast(pid, { type: 'add', n, id });

const logOf = (rt: Runtime, pid: Pid) => (rt.sys.getState(pid) as { log: string[] }).log;

const statusOf = (rt: Runtime, pid: Pid) => {
  const p = rt.lookup(pid);
  return p === undefined ? 'dead' : processInfo(p).status;
};

/** Settles to 'resolved', or to the rejection's error code, or stays 'pending'. */
function track(promise: Promise<unknown>): { outcome: unknown } {
  const t: { outcome: unknown } = { outcome: 'pending' };
  promise.then(
    () => {
      t.outcome = 'resolved';
    },
    (err) => {
      t.outcome = errorCode(err);
    },
  );
  return t;
}

const versionCount = (rt: Runtime, version: string) =>
  rt.modules.versions().find((v) => v.module === 'counter' && v.version === version)?.processes ?? 0;

/** A counter inside its `slow` wait: its handler runs until the test opens `gate`. */
function counterInSlowWait(rt: Runtime, start = 0): { f: Fixture; gate: Deferred<void>; pid: CounterPid } {
  const f = fixture();
  const slow = gate(f, 'slow');
  const pid = spawnCounter(rt, counterV1(f), start);
  rt.cast(pid, { type: 'wait', id: 'slow' });
  return { f, gate: slow, pid };
}

describe('suspend and resume', () => {
  it('queues messages sent while suspended and handles them in order after resume, each once', async () => {
    const rt = newRuntime();
    const f = fixture();
    const pid = spawnCounter(rt, counterV1(f));
    add(rt, pid, 'a');
    rt.send(pid, 'b');
    await settleBriefly(rt);
    await rt.sys.suspend(pid);
    expect(statusOf(rt, pid)).toBe('suspended');
    add(rt, pid, 'c');
    rt.send(pid, 'd');
    add(rt, pid, 'e');
    const reply = track(rt.call(pid, { type: 'get' }));
    add(rt, pid, 'f');
    await settleBriefly(rt);
    expect(logOf(rt, pid)).toEqual(['v1:a', 'v1:info:"b"']);
    expect(rt.lookup(pid)?.mailboxLength).toBe(5);
    expect(reply.outcome).toBe('pending');
    rt.sys.resume(pid);
    await settleBriefly(rt);
    expect(logOf(rt, pid)).toEqual(['v1:a', 'v1:info:"b"', 'v1:c', 'v1:info:"d"', 'v1:e', 'v1:f']);
    expect(reply.outcome).toBe('resolved');
    expect(rt.lookup(pid)?.handled).toBe(7);
    expect(statusOf(rt, pid)).toBe('waiting');
  });

  it('suspends between queueing and handling: queued messages wait for resume', async () => {
    const rt = newRuntime();
    const pid = spawnCounter(rt, counterV1(fixture()));
    for (let i = 0; i < 5; i++) add(rt, pid, String(i));
    expect(rt.sys.trySuspend(pid)).toBe(true);
    await settleBriefly(rt);
    expect(logOf(rt, pid)).toEqual([]);
    rt.sys.resume(pid);
    await settleBriefly(rt);
    expect(logOf(rt, pid)).toEqual(['v1:0', 'v1:1', 'v1:2', 'v1:3', 'v1:4']);
  });

  it('loses and duplicates nothing over any interleaving of sends, suspends and resumes', async () => {
    const op = fc.oneof(
      fc.constant('send' as const),
      fc.constant('suspend' as const),
      fc.constant('resume' as const),
      fc.constant('settle' as const),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
        const rt = newRuntime();
        const pid = spawnCounter(rt, counterV1(fixture()));
        const sent: string[] = [];
        for (const o of ops) {
          if (o === 'send') {
            const id = String(sent.length);
            sent.push(`v1:${id}`);
            add(rt, pid, id);
          } else if (o === 'suspend') await rt.sys.suspend(pid);
          else if (o === 'resume') rt.sys.resume(pid);
          else await settleBriefly(rt);
        }
        rt.sys.resume(pid);
        await settleBriefly(rt);
        expect(logOf(rt, pid)).toEqual(sent);
      }),
      { numRuns: 40 },
    );
  });

  it('waits for an async callback to settle: its effect is in, the next message is not', async () => {
    const rt = newRuntime();
    const { gate: g, pid } = counterInSlowWait(rt);
    add(rt, pid, 'next');
    await settleBriefly(rt);
    expect(statusOf(rt, pid)).toBe('running');
    expect(rt.sys.trySuspend(pid)).toBe(false);
    const suspended = track(rt.sys.suspend(pid));
    await settleBriefly(rt);
    expect(suspended.outcome).toBe('pending');
    g.resolve();
    await settleBriefly(rt);
    expect(suspended.outcome).toBe('resolved');
    expect(statusOf(rt, pid)).toBe('suspended');
    expect(logOf(rt, pid)).toEqual(['v1:slow']);
    expect(rt.lookup(pid)?.mailboxLength).toBe(1);
    rt.sys.resume(pid);
    await settleBriefly(rt);
    expect(logOf(rt, pid)).toEqual(['v1:slow', 'v1:next']);
  });

  it('resolves every suspend that waits on the same callback', async () => {
    const rt = newRuntime();
    const { gate: g, pid } = counterInSlowWait(rt);
    await settleBriefly(rt);
    const first = rt.sys.suspend(pid);
    const second = rt.sys.suspend(pid);
    g.resolve();
    await expect(Promise.all([first, second])).resolves.toEqual([undefined, undefined]);
    expect(statusOf(rt, pid)).toBe('suspended');
  });

  it('waits for an async init before suspending', async () => {
    const rt = newRuntime();
    const ready = deferred();
    const slowInit: Behaviour<{ log: string[] }, undefined, CounterMessages> = {
      name: 'slow_init',
      version: '1.0.0',
      async init() {
        await ready.promise;
        return { log: ['init'] };
      },
      handleInfo(message, state) {
        state.log.push(String(message));
        return noreply(state);
      },
    };
    const pid = rt.spawn(slowInit);
    rt.send(pid, 'early');
    const suspended = track(rt.sys.suspend(pid));
    await settleBriefly(rt);
    expect(suspended.outcome).toBe('pending');
    ready.resolve();
    await settleBriefly(rt);
    expect(suspended.outcome).toBe('resolved');
    expect(logOf(rt, pid)).toEqual(['init']);
    rt.sys.resume(pid);
    await settleBriefly(rt);
    expect(logOf(rt, pid)).toEqual(['init', 'early']);
  });

  it('rejects with HOT_ERR_SUSPEND_TIMEOUT when the callback never settles, and leaves the process running', async () => {
    const { rt, clock } = simulatedRuntime();
    const f = fixture();
    const g = gate(f, 'stuck');
    const pid = spawnCounter(rt, counterV1(f));
    rt.cast(pid, { type: 'wait', id: 'stuck' });
    add(rt, pid, 'after');
    await settleBriefly(rt);
    const suspended = track(rt.sys.suspend(pid, 1000));
    clock.advance(999);
    await settleBriefly(rt);
    expect(suspended.outcome).toBe('pending');
    clock.advance(1);
    await settleBriefly(rt);
    expect(suspended.outcome).toBe('HOT_ERR_SUSPEND_TIMEOUT');
    expect(kernelProcess(rt, pid)?.suspendWaiters ?? null).toBeNull();
    expect(statusOf(rt, pid)).toBe('running');
    expect(clock.pending).toBe(0);
    // When the callback does settleBriefly, the process carries on: nobody suspended it.
    g.resolve();
    await settleBriefly(rt);
    expect(statusOf(rt, pid)).toBe('waiting');
    expect(logOf(rt, pid)).toEqual(['v1:stuck', 'v1:after']);
  });

  it('uses a 5 s suspend timeout by default', async () => {
    const { rt, clock } = simulatedRuntime();
    const f = fixture();
    gate(f, 'stuck');
    const pid = spawnCounter(rt, counterV1(f));
    rt.cast(pid, { type: 'wait', id: 'stuck' });
    await settleBriefly(rt);
    const suspended = track(rt.sys.suspend(pid));
    clock.advance(4999);
    await settleBriefly(rt);
    expect(suspended.outcome).toBe('pending');
    clock.advance(1);
    await settleBriefly(rt);
    expect(suspended.outcome).toBe('HOT_ERR_SUSPEND_TIMEOUT');
  });

  it('keeps a later suspend waiting when an earlier one times out', async () => {
    const { rt, clock } = simulatedRuntime();
    const { gate: g, pid } = counterInSlowWait(rt);
    await settleBriefly(rt);
    const short = track(rt.sys.suspend(pid, 10));
    const long = track(rt.sys.suspend(pid, 10_000));
    clock.advance(10);
    await settleBriefly(rt);
    expect(short.outcome).toBe('HOT_ERR_SUSPEND_TIMEOUT');
    expect(long.outcome).toBe('pending');
    g.resolve();
    await settleBriefly(rt);
    expect(long.outcome).toBe('resolved');
    expect(statusOf(rt, pid)).toBe('suspended');
    expect(clock.pending).toBe(0);
  });

  it('applies a resume that follows a still-pending suspend: the process is not left suspended', async () => {
    const rt = newRuntime();
    const { f, gate: g, pid } = counterInSlowWait(rt);
    add(rt, pid, 'next');
    await settleBriefly(rt);
    // A rollback resumes everything it tried to suspend, while this suspend still waits.
    const suspended = track(rt.sys.suspend(pid));
    rt.sys.resume(pid);
    g.resolve();
    await settleBriefly(rt);
    // As in OTP, suspend then resume, applied in order: the suspend completed, then the resume.
    expect(suspended.outcome).toBe('resolved');
    expect(statusOf(rt, pid)).toBe('waiting');
    expect(logOf(rt, pid)).toEqual(['v1:slow', 'v1:next']);
    // Nothing can change its code now: it is running.
    expect(errorCode(thrown(() => rt.sys.changeCode(pid, { to: counterV2(f), direction: 'up' })))).toBe(
      'HOT_ERR_NOT_SUSPENDED',
    );
  });

  it('trySuspend suspends only at a message boundary', async () => {
    const rt = newRuntime();
    const { gate: g, pid } = counterInSlowWait(rt);
    await settleBriefly(rt);
    expect(rt.sys.trySuspend(pid)).toBe(false);
    expect(statusOf(rt, pid)).toBe('running');
    g.resolve();
    await settleBriefly(rt);
    expect(rt.sys.trySuspend(pid)).toBe(true);
    expect(statusOf(rt, pid)).toBe('suspended');
    // Resuming twice, or a process that is not suspended, is harmless.
    rt.sys.resume(pid);
    rt.sys.resume(pid);
    expect(statusOf(rt, pid)).toBe('waiting');
  });

  it('answers HOT_ERR_NOPROC for a pid that is gone', async () => {
    const rt = newRuntime();
    const pid = spawnCounter(rt, counterV1(fixture()));
    rt.exit(pid, kill);
    await expect(rt.sys.suspend(pid)).rejects.toMatchObject({ code: 'HOT_ERR_NOPROC' });
    expect(errorCode(thrown(() => rt.sys.trySuspend(pid)))).toBe('HOT_ERR_NOPROC');
    expect(errorCode(thrown(() => rt.sys.resume(pid)))).toBe('HOT_ERR_NOPROC');
    expect(errorCode(thrown(() => rt.sys.getState(pid)))).toBe('HOT_ERR_NOPROC');
    expect(errorCode(thrown(() => rt.sys.replaceState(pid, (s) => s)))).toBe('HOT_ERR_NOPROC');
  });
});

describe('ending a suspended process', () => {
  it('kills a suspended process, failing the calls queued on it', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const pid = spawnCounter(rt, counterV1(fixture()));
    await rt.sys.suspend(pid);
    const pending = rt.call(pid, { type: 'get' });
    add(rt, pid, 'never');
    rt.exit(pid, kill);
    expect(rt.isAlive(pid)).toBe(false);
    expect(exits.get(pid)).toEqual(killed);
    await expect(pending).rejects.toMatchObject({ code: 'HOT_ERR_CALL_TARGET_EXITED' });
    expect(versionCount(rt, '1.0.0')).toBe(0);
  });

  it('ends a suspended process on a shutdown signal, or queues EXIT if it traps exits', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const plain = spawnCounter(rt, counterV1(fixture()));
    const v1 = counterV1(fixture());
    const trapping = spawnCounter(rt, {
      ...v1,
      init: (start, ctx) => {
        ctx.trapExit(true);
        return v1.init(start, ctx);
      },
    });
    await rt.sys.suspend(plain);
    await rt.sys.suspend(trapping);
    rt.exit(plain, shutdown);
    rt.exit(trapping, shutdown);
    expect(exits.get(plain)).toEqual(shutdown);
    expect(rt.isAlive(trapping)).toBe(true);
    expect(rt.lookup(trapping)?.mailboxLength).toBe(1);
    rt.sys.resume(trapping);
    await settleBriefly(rt);
    expect(logOf(rt, trapping)).toEqual([
      `v1:info:${JSON.stringify({ type: 'EXIT', from: `<0@${rt.node}>`, reason: shutdown })}`,
    ]);
  });

  it('rejects pending suspend waiters with HOT_ERR_NOPROC when the process is killed', async () => {
    const { rt, clock } = simulatedRuntime();
    const { gate: g, pid } = counterInSlowWait(rt);
    await settleBriefly(rt);
    const first = track(rt.sys.suspend(pid, 1000));
    const second = track(rt.sys.suspend(pid, 2000));
    rt.exit(pid, kill);
    await settleBriefly(rt);
    expect(first.outcome).toBe('HOT_ERR_NOPROC');
    expect(second.outcome).toBe('HOT_ERR_NOPROC');
    expect(clock.pending).toBe(0);
    // The callback settling afterwards changes nothing.
    g.resolve();
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(false);
  });

  it('rejects a pending suspend when the callback ends the process', async () => {
    const rt = newRuntime();
    const { gate: g, pid } = counterInSlowWait(rt);
    rt.cast(pid, { type: 'quit' });
    await settleBriefly(rt);
    const suspended = rt.sys.suspend(pid);
    g.reject(new Error('callback failed'));
    await expect(suspended).rejects.toMatchObject({ code: 'HOT_ERR_NOPROC' });
    expect(rt.isAlive(pid)).toBe(false);
  });
});

describe('getState and replaceState', () => {
  it('reads and replaces the state; the process runs on with the new state', async () => {
    const rt = newRuntime();
    const pid = spawnCounter(rt, counterV1(fixture()), 5);
    expect(rt.sys.getState(pid)).toEqual({ count: 5, log: [] });
    const next = rt.sys.replaceState<V1State>(pid, (s) => ({ ...s, count: s.count * 100 }));
    expect(next).toEqual({ count: 500, log: [] });
    add(rt, pid, 'x', 1);
    await settleBriefly(rt);
    expect(rt.sys.getState(pid)).toEqual({ count: 501, log: ['v1:x'] });
  });

  it('leaves the state unchanged when the function throws', () => {
    const rt = newRuntime();
    const pid = spawnCounter(rt, counterV1(fixture()), 7);
    const before = rt.sys.getState(pid);
    const cause = new Error('bad fn');
    const err = thrown(() =>
      rt.sys.replaceState<V1State>(pid, () => {
        throw cause;
      }),
    );
    expect(errorCode(err)).toBe('HOT_ERR_REPLACE_STATE_FAILED');
    expect((err as Error).cause).toBe(cause);
    expect(rt.sys.getState(pid)).toBe(before);
    expect(rt.sys.getState(pid)).toEqual({ count: 7, log: [] });
  });

  it('refuses a state that does not survive structuredClone when the runtime checks states', () => {
    const rt = newRuntime();
    const pid = spawnCounter(rt, counterV1(fixture()), 1);
    const err = thrown(() => rt.sys.replaceState<V1State>(pid, (s) => ({ ...s, fn: () => 1 }) as V1State));
    expect(errorCode(err)).toBe('HOT_ERR_REPLACE_STATE_FAILED');
    expect(rt.sys.getState(pid)).toEqual({ count: 1, log: [] });
  });

  it('refuses with HOT_ERR_PROCESS_BUSY inside an async callback, without calling the function', async () => {
    const rt = newRuntime();
    const { gate: g, pid } = counterInSlowWait(rt, 3);
    await settleBriefly(rt);
    let called = false;
    const err = thrown(() =>
      rt.sys.replaceState<V1State>(pid, (s) => {
        called = true;
        return { ...s, count: -1 };
      }),
    );
    expect(errorCode(err)).toBe('HOT_ERR_PROCESS_BUSY');
    expect(called).toBe(false);
    g.resolve();
    await settleBriefly(rt);
    expect(rt.sys.getState(pid)).toEqual({ count: 3, log: ['v1:slow'] });
    // At the boundary again: allowed.
    rt.sys.replaceState<V1State>(pid, (s) => ({ ...s, count: 4 }));
    expect((rt.sys.getState(pid) as V1State).count).toBe(4);
  });
});

describe('changeCode', () => {
  it('upgrades: the new codeChange gets the old version, state and extra; new handlers run on', async () => {
    const rt = newRuntime();
    const events: unknown[] = [];
    rt.events.on('code_change', (e) => events.push(e));
    const f = fixture();
    const v1 = counterV1(f);
    const v2 = counterV2(f);
    rt.modules.load(v1);
    const pid = rt.spawn('counter', 2) as CounterPid;
    const other = rt.spawn('counter', 0) as CounterPid;
    add(rt, pid, 'a', 3);
    await settleBriefly(rt);
    expect(versionCount(rt, '1.0.0')).toBe(2);
    rt.modules.load(v2);
    await rt.sys.suspend(pid);
    add(rt, pid, 'queued', 1);
    rt.sys.changeCode(pid, { to: v2, direction: 'up', extra: { note: 'x' } });
    expect(f.codeChanges).toEqual([
      { version: '2.0.0', from: '1.0.0', state: { count: 5, log: ['v1:a'] }, extra: { note: 'x' } },
    ]);
    expect(rt.sys.getState(pid)).toEqual({ total: 5, log: ['v1:a'], from: '1.0.0', extra: { note: 'x' } });
    expect(processInfo(live(rt, pid))).toMatchObject({
      version: '2.0.0',
      status: 'suspended',
    });
    expect(events).toEqual([{ pid, module: 'counter', from: '1.0.0', to: '2.0.0' }]);
    expect(rt.modules.versions()).toEqual(
      expect.arrayContaining([
        { module: 'counter', version: '1.0.0', processes: 1, current: false },
        { module: 'counter', version: '2.0.0', processes: 1, current: true },
      ]),
    );
    rt.sys.resume(pid);
    rt.send(pid, 'ping');
    await settleBriefly(rt);
    expect(rt.sys.getState(pid)).toMatchObject({ total: 15, log: ['v1:a', 'v2:queued', 'v2:info:"ping"'] });
    // The other process still runs version 1.
    add(rt, other, 'b', 1);
    await settleBriefly(rt);
    expect(rt.sys.getState(other)).toEqual({ count: 1, log: ['v1:b'] });
    // Once nothing runs 1.0.0 and it is not current, it leaves the table.
    await rt.sys.suspend(other);
    rt.sys.changeCode(other, { to: v2, direction: 'up' });
    rt.sys.resume(other);
    expect(rt.modules.versions().filter((v) => v.module === 'counter')).toEqual([
      { module: 'counter', version: '2.0.0', processes: 2, current: true },
    ]);
  });

  it("downgrades with the current version's codeChange({ down: target })", async () => {
    const rt = newRuntime();
    const f = fixture();
    const v1 = counterV1(f);
    const v2 = counterV2(f);
    const pid = rt.spawn(v2, 4) as CounterPid;
    add(rt, pid, 'a', 1);
    await settleBriefly(rt);
    await rt.sys.suspend(pid);
    rt.sys.changeCode(pid, { to: v1, direction: 'down', extra: 'why' });
    expect(f.codeChanges).toEqual([
      {
        version: '2.0.0',
        from: { down: '1.0.0' },
        state: { total: 14, log: ['v2:a'], from: 'init', extra: null },
        extra: 'why',
      },
    ]);
    expect(rt.sys.getState(pid)).toEqual({ count: 14, log: ['v2:a'] });
    expect(versionCount(rt, '2.0.0')).toBe(0);
    expect(versionCount(rt, '1.0.0')).toBe(1);
    rt.sys.resume(pid);
    add(rt, pid, 'b', 1);
    await settleBriefly(rt);
    expect(rt.sys.getState(pid)).toEqual({ count: 15, log: ['v2:a', 'v1:b'] });
  });

  it('keeps the state as it is when the behaviour has no codeChange', async () => {
    const rt = newRuntime();
    const f = fixture();
    const v1 = counterV1(f);
    const { codeChange: _, ...rest } = counterV1(f);
    const v1b = { ...rest, version: '1.0.1' };
    const pid = spawnCounter(rt, v1, 9);
    const state = rt.sys.getState(pid);
    await rt.sys.suspend(pid);
    rt.sys.changeCode(pid, { to: v1b, direction: 'up' });
    expect(rt.sys.getState(pid)).toBe(state);
    expect(rt.lookup(pid)?.behaviour).toBe(v1b);
    expect(f.codeChanges).toEqual([]);
  });

  it('refuses with HOT_ERR_NOT_SUSPENDED unless the process is suspended', async () => {
    const rt = newRuntime();
    const f = fixture();
    const v1 = counterV1(f);
    const v2 = counterV2(f);
    const g = gate(f, 'slow');
    const pid = spawnCounter(rt, v1);
    expect(errorCode(thrown(() => rt.sys.changeCode(pid, { to: v2, direction: 'up' })))).toBe(
      'HOT_ERR_NOT_SUSPENDED',
    );
    rt.cast(pid, { type: 'wait', id: 'slow' });
    await settleBriefly(rt);
    expect(errorCode(thrown(() => rt.sys.changeCode(pid, { to: v2, direction: 'up' })))).toBe(
      'HOT_ERR_NOT_SUSPENDED',
    );
    expect(f.codeChanges).toEqual([]);
    expect(rt.lookup(pid)?.behaviour).toBe(v1);
    g.resolve();
    await settleBriefly(rt);
    expect(logOf(rt, pid)).toEqual(['v1:slow']);
  });

  it('leaves code, state and messages unchanged when codeChange throws', async () => {
    const rt = newRuntime();
    const events: unknown[] = [];
    rt.events.on('code_change', (e) => events.push(e));
    const f = fixture();
    const v1 = counterV1(f);
    const cause = new Error('cannot migrate');
    const broken: Behaviour<V2State, number | undefined, CounterMessages> = {
      ...counterV2(f),
      version: '2.0.1',
      codeChange() {
        throw cause;
      },
    };
    const pid = spawnCounter(rt, v1, 1);
    await rt.sys.suspend(pid);
    add(rt, pid, 'a');
    rt.send(pid, 'b');
    const state = rt.sys.getState(pid);
    const snapshot = structuredClone(state);
    const err = thrown(() => rt.sys.changeCode(pid, { to: broken, direction: 'up' }));
    expect(errorCode(err)).toBe('HOT_ERR_CODE_CHANGE_FAILED');
    expect((err as Error).cause).toBe(cause);
    expect((err as Error).message).toContain('1.0.0');
    expect((err as Error).message).toContain('2.0.1');
    expect(rt.lookup(pid)?.behaviour).toBe(v1);
    expect(rt.sys.getState(pid)).toBe(state);
    expect(state).toEqual(snapshot);
    expect(rt.lookup(pid)?.mailboxLength).toBe(2);
    expect(statusOf(rt, pid)).toBe('suspended');
    expect(versionCount(rt, '1.0.0')).toBe(1);
    expect(rt.modules.versions().some((v) => v.version === '2.0.1')).toBe(false);
    expect(events).toEqual([]);
    rt.sys.resume(pid);
    await settleBriefly(rt);
    expect(rt.sys.getState(pid)).toEqual({ count: 2, log: ['v1:a', 'v1:info:"b"'] });
  });

  it('refuses a codeChange that returns a promise, the same way', async () => {
    const rt = newRuntime();
    const f = fixture();
    const v1 = counterV1(f);
    const asyncChange = {
      ...counterV2(f),
      version: '2.0.2',
      codeChange: (_from: CodeChangeFrom, state: unknown) => Promise.resolve(state),
    } as unknown as Behaviour<V2State, number | undefined, CounterMessages>;
    const pid = spawnCounter(rt, v1, 1);
    const state = rt.sys.getState(pid);
    await rt.sys.suspend(pid);
    const err = thrown(() => rt.sys.changeCode(pid, { to: asyncChange, direction: 'up' }));
    expect(errorCode(err)).toBe('HOT_ERR_CODE_CHANGE_FAILED');
    expect((err as Error).cause).toBeInstanceOf(TypeError);
    expect(rt.lookup(pid)?.behaviour).toBe(v1);
    expect(rt.sys.getState(pid)).toBe(state);
    expect(versionCount(rt, '2.0.2')).toBe(0);
  });

  it('refuses a migrated state that does not survive structuredClone when states are checked', async () => {
    const rt = newRuntime();
    const f = fixture();
    const v1 = counterV1(f);
    const bad: Behaviour<V2State, number | undefined, CounterMessages> = {
      ...counterV2(f),
      version: '2.0.3',
      codeChange: (_from, state) => ({ ...(state as V2State), fn: () => 0 }),
    };
    const pid = spawnCounter(rt, v1, 1);
    await rt.sys.suspend(pid);
    expect(errorCode(thrown(() => rt.sys.changeCode(pid, { to: bad, direction: 'up' })))).toBe(
      'HOT_ERR_CODE_CHANGE_FAILED',
    );
    expect(rt.lookup(pid)?.behaviour).toBe(v1);
    expect(rt.sys.getState(pid)).toEqual({ count: 1, log: [] });
  });
});

describe('migrate (dry run)', () => {
  it('computes the migrated state without touching the live process', async () => {
    const rt = newRuntime();
    const f = fixture();
    const v1 = counterV1(f);
    const v2 = counterV2(f);
    const pid = spawnCounter(rt, v1, 3);
    add(rt, pid, 'a', 1);
    await settleBriefly(rt);
    const live = rt.sys.getState(pid);
    const copy = structuredClone(live);
    const up = migrate(v1, v2, 'up', copy, 'dry');
    expect(up).toEqual({ total: 4, log: ['v1:a'], from: '1.0.0', extra: 'dry' });
    const down = migrate(v2, v1, 'down', up, 'dry');
    expect(down).toEqual({ count: 4, log: ['v1:a'] });
    expect(f.codeChanges.map((c) => [c.version, c.from])).toEqual([
      ['2.0.0', '1.0.0'],
      ['2.0.0', { down: '1.0.0' }],
    ]);
    expect(rt.sys.getState(pid)).toBe(live);
    expect(live).toEqual({ count: 4, log: ['v1:a'] });
    expect(rt.lookup(pid)?.behaviour).toBe(v1);
    expect(statusOf(rt, pid)).toBe('waiting');
    expect(versionCount(rt, '2.0.0')).toBe(0);
  });

  it('passes the state through when the owner has no codeChange, and throws on a promise', () => {
    const f = fixture();
    const v1 = counterV1(f);
    const { codeChange: _, ...plain } = counterV2(f);
    const state = { count: 1, log: [] };
    expect(migrate(v1, plain, 'up', state, undefined)).toBe(state);
    const promising = {
      ...plain,
      codeChange: () => Promise.resolve({}),
    } as unknown as Behaviour<V2State, number | undefined, CounterMessages>;
    expect(thrown(() => migrate(v1, promising, 'up', state, undefined))).toBeInstanceOf(TypeError);
  });
});
