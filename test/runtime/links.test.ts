/** Links, exit signals, monitors and awaitExit. */
import { describe, expect, it } from 'vitest';
import { HotlineError } from '../../server/errors/catalogue.ts';
import {
  type Behaviour,
  type ExitReason,
  kill,
  killed,
  noproc,
  noreply,
  normal,
  type Pid,
  processInfo,
  type Runtime,
  reply,
  shutdown,
  stop,
} from '../../server/runtime/index.ts';
import {
  exitLog,
  kernelProcess,
  live,
  newRuntime,
  settleBriefly,
  simulatedRuntime,
} from '../support/runtime.ts';

type AgentCall =
  | { type: 'link'; pid: Pid }
  | { type: 'unlink'; pid: Pid }
  | { type: 'monitor'; pid: Pid }
  | { type: 'demonitor'; ref: number }
  | { type: 'exit'; pid: Pid; reason: ExitReason }
  | { type: 'trapExit'; on: boolean }
  | { type: 'spawnLink'; args: AgentArgs }
  | { type: 'seen' };

type AgentCast = { type: 'crash'; message: string } | { type: 'stop'; reason: ExitReason };

interface AgentArgs {
  trapExit?: boolean;
}

interface AgentState {
  seen: unknown[];
}

type AgentMessages = { call: AgentCall; reply: unknown; cast: AgentCast; info: unknown };

/**
 * A process the tests drive: calls make it link, monitor, exit and so on through its own
 * context; casts crash or stop it; info messages are recorded; every terminate is logged.
 */
function agent(terminated: Pid[] = []): Behaviour<AgentState, AgentArgs | undefined, AgentMessages> {
  return {
    name: 'agent',
    version: '1.0.0',
    init(args, ctx) {
      if (args?.trapExit) ctx.trapExit(true);
      return { seen: [] };
    },
    handleCall(message, _from, state, ctx) {
      switch (message.type) {
        case 'link':
          ctx.link(message.pid);
          return reply(true, state);
        case 'unlink':
          ctx.unlink(message.pid);
          return reply(true, state);
        case 'monitor':
          return reply(ctx.monitor(message.pid), state);
        case 'demonitor':
          ctx.demonitor(message.ref);
          return reply(true, state);
        case 'exit':
          ctx.exit(message.pid, message.reason);
          return reply(true, state);
        case 'trapExit':
          ctx.trapExit(message.on);
          return reply(true, state);
        case 'spawnLink':
          return reply(ctx.spawn('agent', message.args, { link: true }), state);
        case 'seen':
          return reply([...state.seen], state);
      }
    },
    handleCast(message, state) {
      if (message.type === 'crash') throw new Error(message.message);
      return stop(message.reason, state);
    },
    handleInfo(message, state) {
      state.seen.push(message);
      return noreply(state);
    },
    terminate(_reason, _state, ctx) {
      terminated.push(ctx.self);
    },
  };
}

function spawnAgent(rt: Runtime, b: ReturnType<typeof agent>, args?: AgentArgs): Pid<AgentMessages> {
  return rt.spawn(b, args) as Pid<AgentMessages>;
}

const seen = (rt: Runtime, pid: Pid<AgentMessages>) => rt.call(pid, { type: 'seen' });

const errorMessage = (reason: ExitReason | undefined): unknown =>
  reason?.type === 'error' ? (reason.error as Error).message : undefined;

describe('links', () => {
  it('propagates a crash to a linked process that does not trap exits, with the same reason', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const terminated: Pid[] = [];
    const b = agent(terminated);
    const a = spawnAgent(rt, b);
    const c = spawnAgent(rt, b);
    rt.link(a, c);
    rt.cast(c, { type: 'crash', message: 'boom' });
    await settleBriefly(rt);
    expect(rt.isAlive(c)).toBe(false);
    expect(rt.isAlive(a)).toBe(false);
    expect(errorMessage(exits.get(c))).toBe('boom');
    expect(exits.get(a)).toBe(exits.get(c));
    // The crashing process ran terminate; the one killed by the signal did not.
    expect(terminated).toEqual([c]);
  });

  it('propagates both ways and along a chain of links', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const b = agent();
    const [p1, p2, p3, p4] = [spawnAgent(rt, b), spawnAgent(rt, b), spawnAgent(rt, b), spawnAgent(rt, b)];
    rt.link(p1, p2);
    rt.link(p2, p3);
    rt.link(p3, p4);
    rt.cast(p2, { type: 'crash', message: 'middle' });
    await settleBriefly(rt);
    for (const p of [p1, p2, p3, p4]) {
      expect(rt.isAlive(p)).toBe(false);
      expect(errorMessage(exits.get(p))).toBe('middle');
    }
    expect(rt.processCount).toBe(0);
  });

  it('does not propagate a normal exit', async () => {
    const rt = newRuntime();
    const b = agent();
    const a = spawnAgent(rt, b);
    const c = spawnAgent(rt, b);
    rt.link(a, c);
    rt.cast(c, { type: 'stop', reason: normal });
    await settleBriefly(rt);
    expect(rt.isAlive(c)).toBe(false);
    expect(rt.isAlive(a)).toBe(true);
    expect(await seen(rt, a)).toEqual([]);
    expect(processInfo(live(rt, a)).links).toBe(0);
  });

  it('propagates a shutdown exit, which is abnormal for a link', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const b = agent();
    const a = spawnAgent(rt, b);
    const c = spawnAgent(rt, b);
    rt.link(a, c);
    rt.cast(c, { type: 'stop', reason: shutdown });
    await settleBriefly(rt);
    expect(rt.isAlive(a)).toBe(false);
    expect(exits.get(a)).toEqual(shutdown);
  });

  it('turns exit signals into EXIT info messages for a process that traps exits', async () => {
    const rt = newRuntime();
    const b = agent();
    const a = spawnAgent(rt, b, { trapExit: true });
    const crasher = spawnAgent(rt, b);
    const quitter = spawnAgent(rt, b);
    rt.link(a, crasher);
    rt.link(a, quitter);
    rt.cast(crasher, { type: 'crash', message: 'boom' });
    await settleBriefly(rt);
    rt.cast(quitter, { type: 'stop', reason: normal });
    await settleBriefly(rt);
    expect(rt.isAlive(a)).toBe(true);
    const messages = (await seen(rt, a)) as { type: string; from: Pid; reason: ExitReason }[];
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatchObject({ type: 'EXIT', from: crasher, reason: { type: 'error' } });
    expect(errorMessage(messages[0]?.reason)).toBe('boom');
    expect(messages[1]).toEqual({ type: 'EXIT', from: quitter, reason: normal });
  });

  it('can start and stop trapping exits at run time', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const b = agent();
    const a = spawnAgent(rt, b);
    const c1 = spawnAgent(rt, b);
    const c2 = spawnAgent(rt, b);
    await rt.call(a, { type: 'trapExit', on: true });
    await rt.call(a, { type: 'link', pid: c1 });
    await rt.call(a, { type: 'link', pid: c2 });
    rt.cast(c1, { type: 'crash', message: 'first' });
    await settleBriefly(rt);
    expect(rt.isAlive(a)).toBe(true);
    expect(await seen(rt, a)).toMatchObject([{ type: 'EXIT', from: c1 }]);
    await rt.call(a, { type: 'trapExit', on: false });
    rt.cast(c2, { type: 'crash', message: 'second' });
    await settleBriefly(rt);
    expect(rt.isAlive(a)).toBe(false);
    expect(errorMessage(exits.get(a))).toBe('second');
  });

  it('stops propagation after unlink, from either side', async () => {
    const rt = newRuntime();
    const b = agent();
    const a = spawnAgent(rt, b);
    const c1 = spawnAgent(rt, b);
    const c2 = spawnAgent(rt, b);
    await rt.call(a, { type: 'link', pid: c1 });
    await rt.call(a, { type: 'link', pid: c2 });
    await rt.call(a, { type: 'unlink', pid: c1 });
    rt.unlink(c2, a);
    rt.cast(c1, { type: 'crash', message: 'one' });
    rt.cast(c2, { type: 'crash', message: 'two' });
    await settleBriefly(rt);
    expect(rt.isAlive(c1)).toBe(false);
    expect(rt.isAlive(c2)).toBe(false);
    expect(rt.isAlive(a)).toBe(true);
    expect(await seen(rt, a)).toEqual([]);
  });

  it('links a child to its parent with spawn { link: true }', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const b = agent();
    rt.modules.load(b);
    const parent = spawnAgent(rt, b);
    const child = (await rt.call(parent, { type: 'spawnLink', args: {} })) as Pid<AgentMessages>;
    expect(rt.lookup(child)?.parent).toBe(parent);
    rt.cast(child, { type: 'crash', message: 'child' });
    await settleBriefly(rt);
    expect(rt.isAlive(parent)).toBe(false);
    expect(errorMessage(exits.get(parent))).toBe('child');
  });

  it('signals noproc to a process that links to a dead pid', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const b = agent();
    const dead = spawnAgent(rt, b);
    rt.cast(dead, { type: 'stop', reason: normal });
    await settleBriefly(rt);
    expect(rt.isAlive(dead)).toBe(false);

    const trapper = spawnAgent(rt, b, { trapExit: true });
    await rt.call(trapper, { type: 'link', pid: dead });
    await settleBriefly(rt);
    expect(await seen(rt, trapper)).toEqual([{ type: 'EXIT', from: dead, reason: noproc }]);

    const plain = spawnAgent(rt, b);
    // The link kills the caller inside its own callback, so the call fails.
    await expect(rt.call(plain, { type: 'link', pid: dead })).rejects.toMatchObject({
      code: 'HOT_ERR_CALL_TARGET_EXITED',
    });
    expect(rt.isAlive(plain)).toBe(false);
    expect(exits.get(plain)).toEqual(noproc);
  });

  it('ignores a link of a process to itself', async () => {
    const rt = newRuntime();
    const b = agent();
    const a = spawnAgent(rt, b);
    rt.link(a, a);
    expect(rt.lookup(a)?.links?.size ?? 0).toBe(0);
    rt.cast(a, { type: 'stop', reason: shutdown });
    await settleBriefly(rt);
    expect(rt.isAlive(a)).toBe(false);
  });
});

describe('exit signals', () => {
  it('ends a non-trapping process on shutdown without running terminate', () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const terminated: Pid[] = [];
    const a = spawnAgent(rt, agent(terminated));
    rt.exit(a, shutdown);
    expect(rt.isAlive(a)).toBe(false);
    expect(exits.get(a)).toEqual(shutdown);
    expect(terminated).toEqual([]);
  });

  it('ignores a normal exit signal to a non-trapping process', async () => {
    const rt = newRuntime();
    const a = spawnAgent(rt, agent());
    rt.exit(a, normal);
    await settleBriefly(rt);
    expect(rt.isAlive(a)).toBe(true);
    expect(await seen(rt, a)).toEqual([]);
  });

  it('delivers non-kill exit signals to a trapping process as EXIT messages', async () => {
    const rt = newRuntime();
    const b = agent();
    const a = spawnAgent(rt, b, { trapExit: true });
    const sender = spawnAgent(rt, b);
    const reasons: ExitReason[] = [shutdown, normal, { type: 'shutdown', detail: 'drain' }];
    for (const reason of reasons) rt.exit(a, reason);
    await rt.call(sender, { type: 'exit', pid: a, reason: shutdown });
    await settleBriefly(rt);
    expect(rt.isAlive(a)).toBe(true);
    const outside = `<0@${rt.node}>`;
    expect(await seen(rt, a)).toEqual([
      { type: 'EXIT', from: outside, reason: shutdown },
      { type: 'EXIT', from: outside, reason: normal },
      { type: 'EXIT', from: outside, reason: { type: 'shutdown', detail: 'drain' } },
      { type: 'EXIT', from: sender, reason: shutdown },
    ]);
  });

  it('kill is untrappable: a trapping process ends killed, without terminate', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const terminated: Pid[] = [];
    const b = agent(terminated);
    const a = spawnAgent(rt, b, { trapExit: true });
    const sender = spawnAgent(rt, b);
    await rt.call(sender, { type: 'exit', pid: a, reason: kill });
    expect(rt.isAlive(a)).toBe(false);
    expect(exits.get(a)).toEqual(killed);
    expect(terminated).toEqual([]);
    expect(rt.isAlive(sender)).toBe(true);
  });

  it('propagates a kill to links as killed, which a trapping process can trap', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const b = agent();
    const victim = spawnAgent(rt, b);
    const plain = spawnAgent(rt, b);
    const trapper = spawnAgent(rt, b, { trapExit: true });
    rt.link(victim, plain);
    rt.link(victim, trapper);
    rt.exit(victim, kill);
    await settleBriefly(rt);
    expect(exits.get(victim)).toEqual(killed);
    expect(exits.get(plain)).toEqual(killed);
    expect(rt.isAlive(trapper)).toBe(true);
    expect(await seen(rt, trapper)).toEqual([{ type: 'EXIT', from: victim, reason: killed }]);
  });

  it('lets a process end itself with ctx.exit', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const a = spawnAgent(rt, agent());
    await expect(rt.call(a, { type: 'exit', pid: a, reason: kill })).rejects.toSatisfy((err) =>
      HotlineError.is(err, 'HOT_ERR_CALL_TARGET_EXITED'),
    );
    expect(exits.get(a)).toEqual(killed);
  });

  it('does nothing when the target is already dead', () => {
    const rt = newRuntime();
    const a = spawnAgent(rt, agent());
    rt.exit(a, kill);
    expect(() => rt.exit(a, kill)).not.toThrow();
    expect(() => rt.exit(a, shutdown)).not.toThrow();
    expect(rt.processCount).toBe(0);
  });

  it('fails the calls waiting on a process that is killed', async () => {
    const rt = newRuntime();
    const a = spawnAgent(rt, agent());
    rt.sys.trySuspend(a);
    const pending = rt.call(a, { type: 'seen' });
    rt.exit(a, kill);
    await expect(pending).rejects.toMatchObject({ code: 'HOT_ERR_CALL_TARGET_EXITED' });
  });
});

describe('monitors', () => {
  it('sends DOWN with the ref, pid and reason when the target ends, whatever the reason', async () => {
    const rt = newRuntime();
    const b = agent();
    const watcher = spawnAgent(rt, b);
    const crasher = spawnAgent(rt, b);
    const quitter = spawnAgent(rt, b);
    const r1 = (await rt.call(watcher, { type: 'monitor', pid: crasher })) as number;
    const r2 = rt.monitor(watcher, quitter);
    expect(r1).not.toBe(r2);
    rt.cast(crasher, { type: 'crash', message: 'boom' });
    await settleBriefly(rt);
    rt.cast(quitter, { type: 'stop', reason: normal });
    await settleBriefly(rt);
    // A monitor is one-way: the watcher is not affected by the crash.
    expect(rt.isAlive(watcher)).toBe(true);
    const messages = (await seen(rt, watcher)) as {
      type: string;
      ref: number;
      pid: Pid;
      reason: ExitReason;
    }[];
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatchObject({ type: 'DOWN', ref: r1, pid: crasher, reason: { type: 'error' } });
    expect(errorMessage(messages[0]?.reason)).toBe('boom');
    expect(messages[1]).toEqual({ type: 'DOWN', ref: r2, pid: quitter, reason: normal });
  });

  it('sends one DOWN per monitor when a process is monitored twice', async () => {
    const rt = newRuntime();
    const b = agent();
    const watcher = spawnAgent(rt, b);
    const target = spawnAgent(rt, b);
    const r1 = rt.monitor(watcher, target);
    const r2 = rt.monitor(watcher, target);
    rt.exit(target, shutdown);
    await settleBriefly(rt);
    expect(await seen(rt, watcher)).toEqual([
      { type: 'DOWN', ref: r1, pid: target, reason: shutdown },
      { type: 'DOWN', ref: r2, pid: target, reason: shutdown },
    ]);
  });

  it('sends DOWN noproc at once when the target is already dead', async () => {
    const rt = newRuntime();
    const b = agent();
    const watcher = spawnAgent(rt, b);
    const dead = spawnAgent(rt, b);
    rt.exit(dead, kill);
    const ref = rt.monitor(watcher, dead);
    // Queued by the monitor call itself, before any scheduling.
    expect(rt.lookup(watcher)?.mailboxLength).toBe(1);
    await settleBriefly(rt);
    expect(await seen(rt, watcher)).toEqual([{ type: 'DOWN', ref, pid: dead, reason: noproc }]);
  });

  it('sends nothing after demonitor', async () => {
    const rt = newRuntime();
    const b = agent();
    const watcher = spawnAgent(rt, b);
    const target = spawnAgent(rt, b);
    const kept = rt.monitor(watcher, target);
    const dropped = (await rt.call(watcher, { type: 'monitor', pid: target })) as number;
    await rt.call(watcher, { type: 'demonitor', ref: dropped });
    expect(processInfo(live(rt, target)).monitors).toBe(1);
    rt.cast(target, { type: 'crash', message: 'x' });
    await settleBriefly(rt);
    const messages = (await seen(rt, watcher)) as { ref: number }[];
    expect(messages.map((m) => m.ref)).toEqual([kept]);
    // Demonitoring an old or unknown ref is harmless.
    expect(() => rt.demonitor(dropped)).not.toThrow();
    expect(() => rt.demonitor(kept)).not.toThrow();
  });

  it('leaves no monitor behind when the watcher dies first', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const b = agent();
    const watcher = spawnAgent(rt, b);
    const other = spawnAgent(rt, b);
    const target = spawnAgent(rt, b);
    rt.monitor(watcher, target);
    rt.monitor(watcher, target);
    const otherRef = rt.monitor(other, target);
    const targetProc = rt.lookup(target);
    expect(targetProc?.watchers?.size).toBe(3);
    rt.exit(watcher, kill);
    expect(targetProc?.watchers?.size).toBe(1);
    expect(targetProc && processInfo(targetProc).monitors).toBe(1);
    rt.cast(target, { type: 'stop', reason: normal });
    await settleBriefly(rt);
    expect(exits.get(target)).toEqual(normal);
    expect(await seen(rt, other)).toEqual([{ type: 'DOWN', ref: otherRef, pid: target, reason: normal }]);
  });

  it('drops the monitor once DOWN has been sent', async () => {
    const rt = newRuntime();
    const b = agent();
    const watcher = spawnAgent(rt, b);
    const target = spawnAgent(rt, b);
    rt.monitor(watcher, target);
    expect(rt.lookup(watcher)?.watching?.size).toBe(1);
    rt.exit(target, shutdown);
    expect(rt.lookup(watcher)?.watching?.size).toBe(0);
  });
});

describe('awaitExit', () => {
  it('resolves with the reason the process ends with', async () => {
    const rt = newRuntime();
    const b = agent();
    const a = spawnAgent(rt, b);
    const c = spawnAgent(rt, b);
    const aEnded = rt.awaitExit(a, 5000);
    const aEndedToo = rt.awaitExit(a, Number.POSITIVE_INFINITY);
    const cEnded = rt.awaitExit(c, Number.POSITIVE_INFINITY);
    rt.cast(a, { type: 'crash', message: 'gone' });
    rt.cast(c, { type: 'stop', reason: { type: 'shutdown', detail: 'bye' } });
    expect(errorMessage(await aEnded)).toBe('gone');
    expect(await aEndedToo).toBe(await aEnded);
    expect(await cEnded).toEqual({ type: 'shutdown', detail: 'bye' });
  });

  it('resolves with noproc for a pid that is already gone', async () => {
    const rt = newRuntime();
    const a = spawnAgent(rt, agent());
    rt.exit(a, kill);
    expect(await rt.awaitExit(a, 1000)).toEqual(noproc);
  });

  it('resolves with undefined after the timeout, and not before', async () => {
    const { rt, clock } = simulatedRuntime();
    const a = spawnAgent(rt, agent());
    let result: ExitReason | undefined | 'pending' = 'pending';
    const waiting = rt.awaitExit(a, 100).then((r) => {
      result = r;
    });
    clock.advance(99);
    await settleBriefly(rt);
    expect(result).toBe('pending');
    clock.advance(1);
    await waiting;
    expect(result).toBeUndefined();
    expect(rt.isAlive(a)).toBe(true);
    // The timed-out waiter is gone: ending the process later must not touch it.
    expect(kernelProcess(rt, a)?.exitWaiters ?? []).toHaveLength(0);
    rt.exit(a, kill);
    expect(result).toBeUndefined();
  });

  it('clears its timer when the process ends first', async () => {
    const { rt, clock } = simulatedRuntime();
    const a = spawnAgent(rt, agent());
    const before = clock.pending;
    const ended = rt.awaitExit(a, 10_000);
    expect(clock.pending).toBe(before + 1);
    rt.exit(a, shutdown);
    expect(await ended).toEqual(shutdown);
    expect(clock.pending).toBe(before);
  });
});
