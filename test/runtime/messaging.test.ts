/** Spawning, cast/send/call, mailbox order, one message at a time, call failures, results and crashes. */
import { describe, expect, it } from 'vitest';
import { HotlineError } from '../../server/errors/catalogue.ts';
import {
  type Behaviour,
  type CallResult,
  type CastResult,
  type ExitReason,
  type From,
  kill,
  listProcesses,
  noreply,
  normal,
  type Pid,
  type Runtime,
  reply,
  shutdown,
  stop,
} from '../../server/runtime/index.ts';
import {
  deferred,
  errorOf,
  exitLog,
  newRuntime,
  outcome,
  type RecorderCall,
  recorder,
  settleBriefly,
  simulatedRuntime,
  thrown,
} from '../support/runtime.ts';

const seen = (rt: Runtime, pid: Pid) =>
  rt.call<{ call: RecorderCall; reply: unknown; cast: unknown; info: unknown }>(pid, { type: 'seen' });

/** A behaviour with a name and version, init returning `{}` unless given. */
function behaviour<S = Record<string, never>>(
  parts: Partial<Behaviour<S, unknown>> & { name?: string },
): Behaviour<S, unknown> {
  return { name: 'test', version: '1.0.0', init: () => ({}) as S, ...parts };
}

/** A handleCast or handleInfo that appends each message to `log` (kept outside the state). */
function collectInto<S>(log: unknown[]): (message: unknown, state: S) => CastResult<S> {
  return (message, state) => {
    log.push(message);
    return noreply(state);
  };
}

describe('spawn', () => {
  it('runs a synchronous init with the args and its own context before spawn returns', () => {
    const rt = newRuntime();
    const inits: { self: Pid; parent: Pid | undefined; node: string; args: unknown }[] = [];
    const b = behaviour<{ n: number }>({
      init(args, ctx) {
        inits.push({ self: ctx.self, parent: ctx.parent, node: ctx.node, args });
        return { n: (args as { n: number }).n * 2 };
      },
    });
    const pid = rt.spawn(b, { n: 21 });
    expect(pid).toMatch(/^<\d+@test>$/);
    expect(inits).toEqual([{ self: pid, parent: undefined, node: 'test', args: { n: 21 } }]);
    expect(rt.isAlive(pid)).toBe(true);
    expect(rt.sys.getState(pid)).toEqual({ n: 42 });
    expect(listProcesses(rt)[0]?.status).toBe('waiting');
    const other = rt.spawn(b, { n: 1 });
    expect(other).not.toBe(pid);
  });

  it('runs an async init, holding messages that arrive meanwhile and handling them in order afterwards', async () => {
    const rt = newRuntime();
    const gate = deferred();
    const handled: unknown[] = [];
    const b = behaviour<{ ready: boolean }>({
      async init() {
        await gate.promise;
        return { ready: true };
      },
      handleCast(message, state) {
        handled.push(['cast', message, state.ready]);
        return noreply(state);
      },
      handleInfo(message, state) {
        handled.push(['info', message, state.ready]);
        return noreply(state);
      },
      handleCall(message, _from, state) {
        handled.push(['call', message, state.ready]);
        return reply(`re:${String(message)}`, state);
      },
    });
    const pid = rt.spawn(b);
    expect(rt.isAlive(pid)).toBe(true);
    rt.cast(pid, 1);
    const answer = outcome(rt.call(pid, 2));
    rt.send(pid, 3);
    await settleBriefly(rt);
    expect(handled).toEqual([]);
    expect(answer.settled).toBe(false);
    expect(listProcesses(rt)[0]).toMatchObject({ status: 'initializing', mailbox: 3 });
    gate.resolve();
    await settleBriefly(rt);
    expect(handled).toEqual([
      ['cast', 1, true],
      ['call', 2, true],
      ['info', 3, true],
    ]);
    expect(answer).toEqual({ settled: true, value: 're:2' });
  });

  it('throws HOT_ERR_INIT_FAILED with the cause when init throws, and leaves no process behind', () => {
    const rt = newRuntime();
    const spawned: Pid[] = [];
    rt.events.on('spawn', (e) => spawned.push(e.pid));
    const exits = exitLog(rt);
    const parent = rt.spawn(recorder);
    const terminated: ExitReason[] = [];
    const cause = new Error('no database');
    const b = behaviour({
      name: 'fails',
      init() {
        throw cause;
      },
      terminate(reason) {
        terminated.push(reason);
      },
    });
    const err = thrown(() => rt.spawn(b, undefined, { name: 'svc', parent, link: true }));
    expect(HotlineError.is(err, 'HOT_ERR_INIT_FAILED')).toBe(true);
    expect((err as HotlineError).message).toContain('fails');
    expect((err as HotlineError).cause).toBe(cause);
    const child = spawned[1] as Pid;
    expect(child).toBeDefined();
    expect(rt.isAlive(child)).toBe(false);
    expect(rt.processCount).toBe(1);
    expect(listProcesses(rt).map((p) => p.pid)).toEqual([parent]);
    expect(rt.whereis('svc')).toBeUndefined();
    expect(rt.modules.count(b)).toBe(0);
    expect(terminated).toEqual([]);
    expect(errorOf(exits.get(child))).toBe(cause);
    // The linked parent learns of the failure from the throw only: it gets no exit signal.
    expect(rt.isAlive(parent)).toBe(true);
    // The name is free again.
    const again = rt.spawn(recorder, undefined, { name: 'svc' });
    expect(rt.whereis('svc')).toBe(again);
  });

  it('ends the process with the error when an async init rejects, failing calls made meanwhile', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const gate = deferred();
    const cause = new Error('late failure');
    const b = behaviour({
      async init() {
        await gate.promise;
        throw cause;
      },
      handleCall: (_m, _f, state) => reply('never', state),
    });
    const pid = rt.spawn(b, undefined, { name: 'late' });
    const answer = rt.call(pid, 'hello');
    answer.catch(() => {});
    gate.resolve();
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(false);
    expect(rt.whereis('late')).toBeUndefined();
    expect(errorOf(exits.get(pid))).toBe(cause);
    const err = await answer.catch((e: unknown) => e);
    expect(HotlineError.is(err, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
    expect((err as Error).message).toContain('late failure');
  });

  it('fails init whose state cannot be cloned, synchronous or async, when checkState is on', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    // A process whose init failed never ran, so it has nothing to terminate (as in OTP).
    const terminated: unknown[] = [];
    const terminate = (reason: ExitReason) => {
      terminated.push(reason);
    };
    const sync = behaviour({ init: () => ({ callback: () => 1 }) as never, terminate });
    const err = thrown(() => rt.spawn(sync));
    expect(HotlineError.is(err, 'HOT_ERR_INIT_FAILED')).toBe(true);
    expect(HotlineError.is((err as Error).cause, 'HOT_ERR_STATE_NOT_CLONEABLE')).toBe(true);
    expect(rt.processCount).toBe(0);

    const async = behaviour({ init: async () => ({ callback: () => 1 }) as never, terminate });
    const pid = rt.spawn(async);
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(false);
    expect(HotlineError.is(errorOf(exits.get(pid)), 'HOT_ERR_STATE_NOT_CLONEABLE')).toBe(true);
    expect(terminated).toEqual([]);
  });

  it('spawns by module name from the module table, on the version loaded last', async () => {
    const rt = newRuntime();
    const v1 = behaviour<{ v: string }>({
      name: 'greeter',
      version: '1.0.0',
      init: (args) => ({ v: `one:${String(args)}` }),
      handleCall: (_m, _f, state) => reply(state.v, state),
    });
    const v2 = { ...v1, version: '2.0.0', init: (args: unknown) => ({ v: `two:${String(args)}` }) };
    rt.modules.load(v1);
    const a = rt.spawn('greeter', 'a');
    rt.modules.load(v2);
    const b = rt.spawn('greeter', 'b');
    expect(await rt.call(a, 'who')).toBe('one:a');
    expect(await rt.call(b, 'who')).toBe('two:b');
    expect(listProcesses(rt).map((p) => [p.module, p.version])).toEqual([
      ['greeter', '1.0.0'],
      ['greeter', '2.0.0'],
    ]);
  });

  it('lets a process spawn by module name, naming itself the parent', async () => {
    const rt = newRuntime();
    rt.modules.load(recorder);
    const spawner = rt.spawn(
      behaviour({
        name: 'spawner',
        handleCall: (message, _f, state, ctx) => reply(ctx.spawn(message as string, undefined), state),
      }),
    );
    const child = (await rt.call(spawner, 'recorder')) as Pid;
    expect(rt.isAlive(child)).toBe(true);
    expect(listProcesses(rt, (p) => p.pid === child)).toMatchObject([
      { module: 'recorder', parent: spawner },
    ]);
  });

  it('throws HOT_ERR_UNKNOWN_MODULE for a module name nobody loaded', () => {
    const rt = newRuntime();
    const spawned: Pid[] = [];
    rt.events.on('spawn', (e) => spawned.push(e.pid));
    const err = thrown(() => rt.spawn('nobody', {}));
    expect(HotlineError.is(err, 'HOT_ERR_UNKNOWN_MODULE')).toBe(true);
    expect((err as Error).message).toContain('nobody');
    expect(rt.processCount).toBe(0);
    expect(spawned).toEqual([]);
  });
});

describe('cast, send and call', () => {
  it('routes casts to handleCast, sends to handleInfo and calls to handleCall, by pid or name', async () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder, undefined, { name: 'rec' });
    rt.cast(pid, 'c1');
    rt.send(pid, 'i1');
    rt.cast('rec', 'c2');
    rt.send('rec', 'i2');
    expect(await rt.call(pid, { type: 'echo', value: { deep: [1, 2] } })).toEqual({ deep: [1, 2] });
    expect(await seen(rt, 'rec' as Pid)).toEqual(['c1', 'i1', 'c2', 'i2']);
  });

  it('keeps one mailbox for all kinds of message, in arrival order', async () => {
    const rt = newRuntime();
    const order: string[] = [];
    const pid = rt.spawn(
      behaviour({
        handleCast(m, s) {
          order.push(`cast:${String(m)}`);
          return noreply(s);
        },
        handleInfo(m, s) {
          order.push(`info:${String(m)}`);
          return noreply(s);
        },
        handleCall(m, _f, s) {
          order.push(`call:${String(m)}`);
          return reply(m, s);
        },
      }),
    );
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 0) rt.cast(pid, i);
      else if (i % 3 === 1) rt.send(pid, i);
      else calls.push(rt.call(pid, i));
    }
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 10 }, (_, k) => 3 * k + 2));
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => `${['cast', 'info', 'call'][i % 3]}:${i}`));
  });

  it('lets processes call each other from inside callbacks', async () => {
    const rt = newRuntime();
    const adder = rt.spawn(behaviour({ handleCall: (m, _f, s) => reply((m as number) + 1, s) }));
    const front = rt.spawn(
      behaviour({
        async handleCall(m, _f, s, ctx) {
          const a = await ctx.call(adder, m);
          const b = await ctx.call(adder, a);
          return reply(b, s);
        },
      }),
    );
    expect(await rt.call(front, 40)).toBe(42);
  });

  it('drops sends and casts to a dead local pid, but rejects an unknown name', async () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder);
    rt.exit(pid, kill);
    expect(rt.isAlive(pid)).toBe(false);
    expect(() => rt.send(pid, 'x')).not.toThrow();
    expect(() => rt.cast(pid, 'x')).not.toThrow();
    expect(
      HotlineError.is(
        thrown(() => rt.send('nobody', 'x')),
        'HOT_ERR_NOPROC',
      ),
    ).toBe(true);
    expect(
      HotlineError.is(
        thrown(() => rt.cast('nobody', 'x')),
        'HOT_ERR_NOPROC',
      ),
    ).toBe(true);
  });
});

describe('mailbox order under load', () => {
  it('handles 20,000 messages to one process in the order they were sent', async () => {
    const rt = newRuntime();
    const got: number[] = [];
    const pid = rt.spawn(behaviour({ handleCast: collectInto(got) }));
    const n = 20_000;
    for (let i = 0; i < n; i++) rt.cast(pid, i);
    await settleBriefly(rt);
    expect(got.length).toBe(n);
    const firstOutOfOrder = got.findIndex((v, i) => v !== i);
    expect(firstOutOfOrder).toBe(-1);
  });

  it('keeps order per receiver for thousands of interleaved messages to two processes', async () => {
    const rt = newRuntime();
    const got = new Map<Pid, number[]>();
    const b = behaviour({
      handleCast(m, s, ctx) {
        got.get(ctx.self)?.push(m as number);
        return noreply(s);
      },
    });
    const p = rt.spawn(b);
    const q = rt.spawn(b);
    got.set(p, []);
    got.set(q, []);
    const n = 5_000;
    for (let i = 0; i < n; i++) {
      rt.cast(p, i);
      rt.cast(q, i);
      if (i % 7 === 0) rt.cast(q, -i - 1);
    }
    await settleBriefly(rt);
    const expectedQ: number[] = [];
    for (let i = 0; i < n; i++) {
      expectedQ.push(i);
      if (i % 7 === 0) expectedQ.push(-i - 1);
    }
    expect(got.get(p)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(got.get(q)).toEqual(expectedQ);
  });

  it('keeps each sender-to-receiver stream in order while senders and the receiver run interleaved', async () => {
    // Two producer processes each send numbered messages to one consumer in chunks, from
    // their own callbacks, while the consumer is draining: its mailbox fills and empties
    // many times over. Each producer's stream must arrive complete and in order.
    const rt = newRuntime();
    const received: { from: Pid; seq: number }[] = [];
    const consumer = rt.spawn(
      behaviour({
        handleCast(m, s) {
          received.push(m as { from: Pid; seq: number });
          return noreply(s);
        },
      }),
    );
    const chunks = 100;
    const chunkSize = 37;
    const producer = behaviour<{ next: number }>({
      init: () => ({ next: 0 }),
      handleInfo(_tick, state, ctx) {
        for (let i = 0; i < chunkSize; i++) ctx.cast(consumer, { from: ctx.self, seq: state.next++ });
        if (state.next < chunks * chunkSize) ctx.send(ctx.self, 'tick');
        return noreply(state);
      },
    });
    const p1 = rt.spawn(producer);
    const p2 = rt.spawn(producer);
    rt.send(p1, 'tick');
    rt.send(p2, 'tick');
    await settleBriefly(rt);
    const total = chunks * chunkSize;
    expect(received.length).toBe(2 * total);
    for (const p of [p1, p2]) {
      const stream = received.filter((r) => r.from === p).map((r) => r.seq);
      expect(stream).toEqual(Array.from({ length: total }, (_, i) => i));
    }
    // The streams really did interleave: both producers had messages in before either finished.
    const firstFromP2 = received.findIndex((r) => r.from === p2);
    const lastFromP1 = received.findLastIndex((r) => r.from === p1);
    expect(firstFromP2).toBeLessThan(lastFromP1);
  });
});

describe('one message at a time', () => {
  it('does not start the next message while an async handler awaits', async () => {
    const rt = newRuntime();
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    const track = async (m: unknown) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, (m as number) % 3));
      order.push(m as number);
      active--;
    };
    const pid = rt.spawn(
      behaviour({
        async handleCast(m, s) {
          await track(m);
          return noreply(s);
        },
        async handleInfo(m, s) {
          await track(m);
          return noreply(s);
        },
        async handleCall(m, _f, s) {
          await track(m);
          return reply(m, s);
        },
      }),
    );
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 45; i++) {
      if (i % 3 === 0) rt.cast(pid, i);
      else if (i % 3 === 1) rt.send(pid, i);
      else calls.push(rt.call(pid, i));
    }
    await Promise.all(calls);
    await settleBriefly(rt);
    expect(order).toEqual(Array.from({ length: 45 }, (_, i) => i));
    expect(maxActive).toBe(1);
  });

  it('queues messages behind an async callback and reports the process as running meanwhile', async () => {
    const rt = newRuntime();
    const gate = deferred();
    const handled: unknown[] = [];
    const pid = rt.spawn(
      behaviour({
        async handleCast(m, s) {
          handled.push(m);
          if (m === 'slow') await gate.promise;
          return noreply(s);
        },
      }),
    );
    rt.cast(pid, 'slow');
    await settleBriefly(rt);
    rt.cast(pid, 'next1');
    rt.cast(pid, 'next2');
    await settleBriefly(rt);
    expect(handled).toEqual(['slow']);
    expect(listProcesses(rt)[0]).toMatchObject({ status: 'running', mailbox: 2, handled: 1 });
    gate.resolve();
    await settleBriefly(rt);
    expect(handled).toEqual(['slow', 'next1', 'next2']);
  });

  it('lets other processes run while one is inside an async callback', async () => {
    const rt = newRuntime();
    const gate = deferred();
    const slow = rt.spawn(
      behaviour({
        async handleCall(_m, _f, s) {
          await gate.promise;
          return reply('slow done', s);
        },
      }),
    );
    const fast = rt.spawn(recorder);
    const slowAnswer = outcome(rt.call(slow, 'go'));
    for (let i = 0; i < 10; i++) rt.cast(fast, i);
    expect(await seen(rt, fast)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(slowAnswer.settled).toBe(false);
    gate.resolve();
    await settleBriefly(rt);
    expect(slowAnswer).toEqual({ settled: true, value: 'slow done' });
  });
});

describe('call failures', () => {
  const silent = () =>
    behaviour<{ froms: From[] }>({
      init: () => ({ froms: [] }),
      handleCall(_m, from, state) {
        state.froms.push(from);
        return noreply(state);
      },
      handleCast(_m, state, ctx) {
        for (const from of state.froms) ctx.reply(from, 'too late');
        return noreply({ froms: [] });
      },
    });

  it('rejects with HOT_ERR_CALL_TIMEOUT when no reply comes in time, on the runtime clock', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = rt.spawn(silent());
    const answer = outcome(rt.call(pid, 'q', 1000));
    await settleBriefly(rt);
    clock.advance(999);
    await settleBriefly(rt);
    expect(answer.settled).toBe(false);
    clock.advance(1);
    await settleBriefly(rt);
    expect(answer.settled).toBe(true);
    expect(HotlineError.is(answer.error, 'HOT_ERR_CALL_TIMEOUT')).toBe(true);
    expect((answer.error as HotlineError).fault).toBe('node');
    expect((answer.error as Error).message).toContain(pid);
    expect((answer.error as Error).message).toContain('1000');
    // The late reply is dropped quietly and the process keeps working.
    rt.cast(pid, 'reply now');
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(true);
    expect(answer.value).toBeUndefined();
  });

  it('uses the runtime default call timeout', async () => {
    const { rt, clock } = simulatedRuntime({ callTimeoutMs: 250 });
    const pid = rt.spawn(silent());
    const answer = outcome(rt.call(pid, 'q'));
    await settleBriefly(rt);
    clock.advance(249);
    await settleBriefly(rt);
    expect(answer.settled).toBe(false);
    clock.advance(1);
    await settleBriefly(rt);
    expect(HotlineError.is(answer.error, 'HOT_ERR_CALL_TIMEOUT')).toBe(true);
  });

  it('waits as long as it takes for a call with an infinite timeout', async () => {
    // On the system clock: Node's setTimeout would turn Infinity into 1 ms.
    const rt = newRuntime();
    const pid = rt.spawn(
      behaviour({
        async handleCall(m, _f, s) {
          await new Promise((r) => setTimeout(r, 20));
          return reply(m, s);
        },
      }),
    );
    expect(await rt.call(pid, 'patient', Number.POSITIVE_INFINITY)).toBe('patient');
  });

  it('does not time out a call answered in time, and leaves no timer behind', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = rt.spawn(recorder);
    expect(await rt.call(pid, { type: 'echo', value: 7 }, 1000)).toBe(7);
    expect(clock.pending).toBe(0);
  });

  it('rejects a call to a dead pid, an unknown pid or an unknown name with HOT_ERR_NOPROC', async () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder, undefined, { name: 'gone' });
    rt.exit(pid, kill);
    for (const target of [pid, '<999@test>', 'gone', 'never-registered']) {
      const err = await rt.call(target, { type: 'seen' }).catch((e: unknown) => e);
      expect(HotlineError.is(err, 'HOT_ERR_NOPROC')).toBe(true);
      expect((err as HotlineError).fault).toBe('caller');
      expect((err as Error).message).toContain(target);
    }
  });

  it('rejects a call to a pid of another node with HOT_ERR_NODE_UNREACHABLE', async () => {
    const rt = newRuntime();
    rt.spawn(recorder);
    const remote = '<1@elsewhere>' as Pid;
    const err = await rt.call(remote, { type: 'seen' }).catch((e: unknown) => e);
    expect(HotlineError.is(err, 'HOT_ERR_NODE_UNREACHABLE')).toBe(true);
    expect((err as Error).message).toContain('elsewhere');
  });

  it('rejects with HOT_ERR_CALL_TARGET_EXITED when the target is killed before replying', async () => {
    const { rt, clock } = simulatedRuntime();
    const pid = rt.spawn(silent());
    const answer = outcome(rt.call(pid, 'q', 10_000));
    await settleBriefly(rt);
    rt.exit(pid, kill);
    await settleBriefly(rt);
    expect(HotlineError.is(answer.error, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
    expect((answer.error as Error).message).toContain('killed');
    // The call's timeout timer went with it.
    expect(clock.pending).toBe(0);
  });

  it('rejects calls still in the mailbox when the target crashes on an earlier message', async () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder);
    const first = rt.call(pid, { type: 'crash', message: 'kaput' });
    const queued = rt.call(pid, { type: 'echo', value: 1 });
    const [e1, e2] = await Promise.all([first.catch((e: unknown) => e), queued.catch((e: unknown) => e)]);
    for (const e of [e1, e2]) {
      expect(HotlineError.is(e, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
      expect((e as Error).message).toContain('kaput');
    }
  });

  it('rejects a pending call when the target is killed inside an async handleCall', async () => {
    const rt = newRuntime();
    const gate = deferred();
    const pid = rt.spawn(
      behaviour({
        async handleCall(_m, _f, s) {
          await gate.promise;
          return reply('late', s);
        },
      }),
    );
    const answer = outcome(rt.call(pid, 'q'));
    await settleBriefly(rt);
    rt.exit(pid, kill);
    gate.resolve();
    await settleBriefly(rt);
    expect(HotlineError.is(answer.error, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
  });
});

describe('deferred replies', () => {
  it('answers a call later, from another message, with the stored From', async () => {
    const rt = newRuntime();
    interface State {
      waiting: From[];
    }
    const pid = rt.spawn(
      behaviour<State>({
        init: () => ({ waiting: [] }),
        handleCall(message, from, state) {
          if (message === 'wait') {
            state.waiting.push(from);
            return noreply(state);
          }
          return reply(state.waiting.length, state);
        },
        handleCast(message, state, ctx) {
          state.waiting.forEach((from, i) => {
            ctx.reply(from, `${String(message)}#${i}`);
          });
          return noreply({ waiting: [] });
        },
      }),
    );
    const a = outcome(rt.call(pid, 'wait'));
    const b = outcome(rt.call(pid, 'wait'));
    // The process is not blocked by the unanswered calls.
    expect(await rt.call(pid, 'count')).toBe(2);
    expect(a.settled || b.settled).toBe(false);
    rt.cast(pid, 'go');
    await settleBriefly(rt);
    expect(a).toEqual({ settled: true, value: 'go#0' });
    expect(b).toEqual({ settled: true, value: 'go#1' });
  });

  it('lets another process reply with a From handed to it', async () => {
    const rt = newRuntime();
    const worker = rt.spawn(
      behaviour({
        handleCast(m, s, ctx) {
          const { from, n } = m as { from: From; n: number };
          ctx.reply(from, n * n);
          return noreply(s);
        },
      }),
    );
    const front = rt.spawn(
      behaviour({
        handleCall(m, from, s, ctx) {
          ctx.cast(worker, { from, n: m });
          return noreply(s);
        },
      }),
    );
    expect(await rt.call(front, 12)).toBe(144);
  });

  it('ignores a second reply to the same call', async () => {
    const rt = newRuntime();
    const pid = rt.spawn(
      behaviour({
        handleCall(_m, from, s, ctx) {
          ctx.reply(from, 'first');
          return reply('second', s);
        },
      }),
    );
    expect(await rt.call(pid, 'q')).toBe('first');
    expect(rt.isAlive(pid)).toBe(true);
  });
});

describe('missing handlers and bad results', () => {
  it('rejects a call to a behaviour without handleCall with HOT_ERR_UNHANDLED_CALL and keeps running', async () => {
    const rt = newRuntime();
    const casts: unknown[] = [];
    const pid = rt.spawn(behaviour({ name: 'castonly', handleCast: collectInto(casts) }));
    rt.cast(pid, 'before');
    const answer = rt.call(pid, 'q');
    // Queued behind the unanswerable call, before the scheduler has run at all.
    rt.cast(pid, 'after');
    const err = await answer.catch((e: unknown) => e);
    expect(HotlineError.is(err, 'HOT_ERR_UNHANDLED_CALL')).toBe(true);
    expect((err as HotlineError).fault).toBe('node');
    expect((err as Error).message).toContain('castonly');
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(true);
    expect(casts).toEqual(['before', 'after']);
    rt.cast(pid, 'later');
    await settleBriefly(rt);
    expect(casts).toEqual(['before', 'after', 'later']);
  });

  it('keeps draining the mailbox after several unanswerable calls in a row', async () => {
    const rt = newRuntime();
    const casts: unknown[] = [];
    const pid = rt.spawn(behaviour({ handleCast: collectInto(casts) }));
    const calls = [rt.call(pid, 1), rt.call(pid, 2), rt.call(pid, 3)].map((c) => c.catch((e: unknown) => e));
    rt.cast(pid, 'end');
    const errs = await Promise.all(calls);
    expect(errs.every((e) => HotlineError.is(e, 'HOT_ERR_UNHANDLED_CALL'))).toBe(true);
    await settleBriefly(rt);
    expect(casts).toEqual(['end']);
  });

  const badResults: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a string', 'ok'],
    ['an object without a type', { state: {} }],
    ['an unknown type', { type: 'yes', state: {} }],
    ['a reply from a cast', { type: 'reply', reply: 1, state: {} }],
    ['a type that JSON cannot describe', { type: 10n, state: {} }],
  ];

  it.each(badResults)(
    'crashes a process whose handleCast returns %s with HOT_ERR_BAD_RETURN',
    async (_, bad) => {
      const rt = newRuntime();
      const exits = exitLog(rt);
      const pid = rt.spawn(behaviour({ handleCast: () => bad as CastResult<Record<string, never>> }));
      const bystander = rt.spawn(recorder);
      rt.cast(pid, 'x');
      rt.cast(bystander, 'still here');
      await settleBriefly(rt);
      expect(rt.isAlive(pid)).toBe(false);
      const err = errorOf(exits.get(pid));
      expect(HotlineError.is(err, 'HOT_ERR_BAD_RETURN')).toBe(true);
      expect((err as Error).message).toContain('handleCast');
      expect(await seen(rt, bystander)).toEqual(['still here']);
    },
  );

  it('crashes on a bad handleCall or async handleInfo result, naming the callback', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const callee = rt.spawn(behaviour({ handleCall: () => ({ type: 'replied' }) as never }));
    const answer = await rt.call(callee, 'q').catch((e: unknown) => e);
    expect(HotlineError.is(answer, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
    expect((answer as Error).message).toContain('HOT_ERR_BAD_RETURN');
    const callErr = errorOf(exits.get(callee));
    expect(HotlineError.is(callErr, 'HOT_ERR_BAD_RETURN')).toBe(true);
    expect((callErr as Error).message).toContain('handleCall');
    expect((callErr as Error).message).toContain('"replied"');

    const info = rt.spawn(behaviour({ handleInfo: async () => undefined as never }));
    rt.send(info, 'x');
    await settleBriefly(rt);
    const infoErr = errorOf(exits.get(info));
    expect(HotlineError.is(infoErr, 'HOT_ERR_BAD_RETURN')).toBe(true);
    expect((infoErr as Error).message).toContain('handleInfo');
  });
});

describe('crashes', () => {
  it('crashes only the process whose callback throws, with the error as its exit reason', async () => {
    const rt = newRuntime();
    const exitEvents: { pid: Pid; module: string; version: string; reason: ExitReason }[] = [];
    rt.events.on('exit', (e) => exitEvents.push(e));
    const terminated: ExitReason[] = [];
    const boom = new TypeError('bad input');
    const fragile = rt.spawn(
      behaviour({
        name: 'fragile',
        version: '3.1.4',
        handleCast(m, s) {
          if (m === 'boom') throw boom;
          return noreply(s);
        },
        terminate(reason) {
          terminated.push(reason);
        },
      }),
    );
    const others = [rt.spawn(recorder), rt.spawn(recorder)];
    for (const o of others) rt.cast(o, 1);
    rt.cast(fragile, 'boom');
    for (const o of others) rt.cast(o, 2);
    rt.cast(fragile, 'never handled');
    await settleBriefly(rt);
    expect(rt.isAlive(fragile)).toBe(false);
    expect(exitEvents).toEqual([
      { pid: fragile, module: 'fragile', version: '3.1.4', reason: { type: 'error', error: boom } },
    ]);
    expect(terminated).toEqual([{ type: 'error', error: boom }]);
    for (const o of others) {
      rt.cast(o, 3);
      expect(await seen(rt, o)).toEqual([1, 2, 3]);
    }
  });

  it('crashes a process whose async callback rejects, and the caller learns why', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const pid = rt.spawn(
      behaviour({
        async handleCall(): Promise<CallResult<Record<string, never>, unknown>> {
          await new Promise((r) => setImmediate(r));
          throw new RangeError('out of range');
        },
      }),
    );
    const err = await rt.call(pid, 'q').catch((e: unknown) => e);
    expect(HotlineError.is(err, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
    expect((err as Error).message).toContain('out of range');
    expect(errorOf(exits.get(pid))).toBeInstanceOf(RangeError);
  });

  it('crashes with HOT_ERR_STATE_NOT_CLONEABLE when a callback leaves a state structuredClone rejects', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const b = behaviour<{ fn?: () => void; n: number }>({
      init: () => ({ n: 0 }),
      handleCast(m, state) {
        return noreply(m === 'fn' ? { ...state, fn: () => {} } : { n: state.n + 1 });
      },
      handleCall: (_m, _f, state) => reply(state.n, state),
    });
    const pid = rt.spawn(b);
    rt.cast(pid, 'inc');
    rt.cast(pid, 'fn');
    const after = rt.call(pid, 'n').catch((e: unknown) => e);
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(false);
    const err = errorOf(exits.get(pid));
    expect(HotlineError.is(err, 'HOT_ERR_STATE_NOT_CLONEABLE')).toBe(true);
    expect((err as Error).message).toContain('cast');
    expect(HotlineError.is(await after, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);

    // Without checkState the same state is kept.
    const lax = newRuntime({ checkState: false });
    const kept = lax.spawn(b);
    lax.cast(kept, 'fn');
    expect(await lax.call(kept, 'n')).toBe(0);
    expect(lax.isAlive(kept)).toBe(true);
  });
});

describe('stop results and terminate', () => {
  interface Log {
    terminated: { reason: ExitReason; state: unknown }[];
  }
  const stoppable = (log: Log) =>
    behaviour<{ count: number }>({
      name: 'stoppable',
      init: () => ({ count: 0 }),
      handleCast(m, state) {
        const next = { count: state.count + 1 };
        return m === 'stop' ? stop(normal, next) : noreply(next);
      },
      handleInfo(m, state) {
        return stop({ type: 'shutdown', detail: String(m) }, state);
      },
      handleCall(m, _f, state): CallResult<{ count: number }, string> {
        if (m === 'stop with reply') return { type: 'stop', reason: shutdown, state, reply: 'bye' };
        if (m === 'stop') return stop(shutdown, state);
        return reply('ok', state);
      },
      terminate(reason, state) {
        log.terminated.push({ reason, state });
      },
    });

  it('ends the process on a stop from handleCast, calling terminate with the reason and last state', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const log: Log = { terminated: [] };
    const pid = rt.spawn(stoppable(log), undefined, { name: 'stopper' });
    rt.cast(pid, 'one');
    rt.cast(pid, 'stop');
    rt.cast(pid, 'never');
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(false);
    expect(rt.whereis('stopper')).toBeUndefined();
    expect(exits.get(pid)).toEqual(normal);
    expect(log.terminated).toEqual([{ reason: normal, state: { count: 2 } }]);
  });

  it('ends the process on a stop from handleInfo with the given reason', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const log: Log = { terminated: [] };
    const pid = rt.spawn(stoppable(log));
    rt.send(pid, 'maintenance');
    await settleBriefly(rt);
    expect(exits.get(pid)).toEqual({ type: 'shutdown', detail: 'maintenance' });
    expect(log.terminated.map((t) => t.reason)).toEqual([{ type: 'shutdown', detail: 'maintenance' }]);
  });

  it('replies before stopping when a stop result carries a reply', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const log: Log = { terminated: [] };
    const pid = rt.spawn(stoppable(log));
    expect(await rt.call(pid, 'stop with reply')).toBe('bye');
    expect(rt.isAlive(pid)).toBe(false);
    expect(exits.get(pid)).toEqual(shutdown);
    expect(log.terminated).toHaveLength(1);
  });

  it('fails the caller with HOT_ERR_CALL_TARGET_EXITED on a stop result without a reply', async () => {
    const rt = newRuntime();
    const log: Log = { terminated: [] };
    const pid = rt.spawn(stoppable(log));
    const err = await rt.call(pid, 'stop').catch((e: unknown) => e);
    expect(HotlineError.is(err, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
    expect((err as Error).message).toContain('shutdown');
    expect(rt.isAlive(pid)).toBe(false);
    expect(log.terminated.map((t) => t.reason)).toEqual([shutdown]);
  });

  it('waits for an async terminate before the process is gone, handling nothing more meanwhile', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const gate = deferred();
    const handled: unknown[] = [];
    const pid = rt.spawn(
      behaviour({
        handleCast(m, s) {
          handled.push(m);
          return m === 'stop' ? stop(normal, s) : noreply(s);
        },
        handleCall: (_m, _f, s) => reply('answered', s),
        async terminate() {
          await gate.promise;
        },
      }),
    );
    rt.cast(pid, 'stop');
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(true);
    expect(listProcesses(rt)[0]?.status).toBe('exiting');
    rt.cast(pid, 'ignored');
    const answer = outcome(rt.call(pid, 'q'));
    await settleBriefly(rt);
    expect(handled).toEqual(['stop']);
    expect(answer.settled).toBe(false);
    gate.resolve();
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(false);
    expect(exits.get(pid)).toEqual(normal);
    expect(HotlineError.is(answer.error, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
  });

  it('keeps the original reason when terminate itself throws', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const pid = rt.spawn(
      behaviour({
        handleCast: (_m, s) => stop({ type: 'shutdown', detail: 'planned' }, s),
        terminate() {
          throw new Error('cleanup failed');
        },
      }),
    );
    rt.cast(pid, 'x');
    await settleBriefly(rt);
    expect(rt.isAlive(pid)).toBe(false);
    expect(exits.get(pid)).toEqual({ type: 'shutdown', detail: 'planned' });
  });
});
