/**
 * Two runtimes joined by an in-memory distribution (every message through JSON, delivered
 * later and in order, as a transport would): remote send, cast, call, monitor and link
 * behave as local ones, and a node going away fires what waited on it with `noconnection`.
 */
import { describe, expect, it } from 'vitest';
import { HotlineError } from '../../server/errors/catalogue.ts';
import {
  type Behaviour,
  type DistMessage,
  type NameDirectory,
  noreply,
  type Pid,
  type Runtime,
  stop,
} from '../../server/runtime/index.ts';
import { newRuntime, type RecorderCall, recorder, settleBriefly } from '../support/runtime.ts';

interface Pair {
  a: Runtime;
  b: Runtime;
  /** Messages for a node that is gone are dropped, as a transport drops them. */
  cut(node: 'a' | 'b'): void;
}

function pair(): Pair {
  const gone = new Set<string>();
  const rts: Record<string, Runtime> = {};
  const link = (self: string) => ({
    send(node: string, message: DistMessage) {
      const wire = JSON.stringify(message);
      setImmediate(() => {
        if (!gone.has(node) && !gone.has(self)) rts[node]?.receive(self, JSON.parse(wire) as DistMessage);
      });
    },
  });
  for (const node of ['a', 'b']) {
    const rt = newRuntime({ node });
    rt.modules.load(recorder);
    rt.distribute(link(node));
    rts[node] = rt;
  }
  const a = rts.a as Runtime;
  const b = rts.b as Runtime;
  return {
    a,
    b,
    cut(node) {
      gone.add(node);
      (node === 'a' ? b : a).nodeDown(node);
    },
  };
}

const settleBoth = async (p: Pair) => {
  for (let i = 0; i < 3; i++) {
    await settleBriefly(p.a);
    await settleBriefly(p.b);
  }
};

type RecorderMessages = { call: RecorderCall; reply: unknown; cast: unknown; info: unknown };
const seen = (rt: Runtime, pid: Pid) => rt.call<RecorderMessages>(pid, { type: 'seen' });

/** Never answers a call; ends when told to. */
const quitter: Behaviour<null, undefined, { call: unknown; reply: never; cast: 'quit'; info: never }> = {
  name: 'quitter',
  version: '1.0.0',
  init: () => null,
  handleCall: (_m, _from, s) => noreply(s),
  handleCast: (_m, s) => stop({ type: 'shutdown', detail: 'asked' }, s),
};

describe('remote pids', () => {
  it('send and cast reach a process on the other node, in order', async () => {
    const p = pair();
    const target = p.b.spawn('recorder', undefined);
    for (let i = 0; i < 5; i++) p.a.send(target, { n: i });
    p.a.cast(target, { n: 5 });
    await settleBoth(p);
    expect(await seen(p.b, target)).toEqual([0, 1, 2, 3, 4, 5].map((n) => ({ n })));
  });

  it('call gets the reply; failures come back as the same catalogue errors', async () => {
    const p = pair();
    const target = p.b.spawn('recorder', undefined);
    expect(await p.a.call<RecorderMessages>(target, { type: 'echo', value: { x: [1, 'two'] } })).toEqual({
      x: [1, 'two'],
    });
    const gone = p.a.call('<999@b>', { type: 'seen' });
    await expect(gone).rejects.toSatisfy((e) => HotlineError.is(e, 'HOT_ERR_NOPROC'));
    const crashed = p.a.call<RecorderMessages>(target, { type: 'crash', message: 'boom' });
    await expect(crashed).rejects.toSatisfy((e) => HotlineError.is(e, 'HOT_ERR_CALL_TARGET_EXITED'));
  });

  it('a call to a node that goes away fails with noconnection at once', async () => {
    const p = pair();
    const target = p.b.spawn(quitter, undefined);
    const never = p.a.call(target, 'anything', 60_000);
    p.cut('b');
    await expect(never).rejects.toSatisfy(
      (e) => HotlineError.is(e, 'HOT_ERR_CALL_TARGET_EXITED') && e.message.includes('noconnection'),
    );
  });

  it('a monitor on a remote process fires with its reason; on a missing one with noproc', async () => {
    const p = pair();
    const watcher = p.a.spawn('recorder', undefined);
    const target = p.b.spawn(quitter, undefined);
    const ref = p.a.monitor(watcher, target);
    const missing = p.a.monitor(watcher, '<999@b>' as Pid);
    await settleBoth(p);
    p.b.cast(target, 'quit');
    await settleBoth(p);
    expect(await seen(p.a, watcher)).toEqual([
      { type: 'DOWN', ref: missing, pid: '<999@b>', reason: { type: 'noproc' } },
      { type: 'DOWN', ref, pid: target, reason: { type: 'shutdown', detail: 'asked' } },
    ]);
  });

  it('demonitor: no DOWN follows, and the other node forgets the monitor', async () => {
    const p = pair();
    const watcher = p.a.spawn('recorder', undefined);
    const target = p.b.spawn(quitter, undefined);
    const ref = p.a.monitor(watcher, target);
    await settleBoth(p);
    expect(p.b.lookup(target)?.watchers?.size).toBe(1);
    p.a.demonitor(ref);
    await settleBoth(p);
    expect(p.b.lookup(target)?.watchers?.size).toBe(0);
    p.b.cast(target, 'quit');
    await settleBoth(p);
    expect(await seen(p.a, watcher)).toEqual([]);
  });

  it('a node going away fires monitors and breaks links with noconnection', async () => {
    const p = pair();
    const watcher = p.a.spawn('recorder', { trapExit: true });
    const target = p.b.spawn('recorder', undefined);
    const ref = p.a.monitor(watcher, target);
    p.a.link(watcher, target);
    await settleBoth(p);
    p.cut('b');
    await settleBriefly(p.a);
    expect(await seen(p.a, watcher)).toEqual([
      { type: 'DOWN', ref, pid: target, reason: { type: 'noconnection' } },
      { type: 'EXIT', from: target, reason: { type: 'noconnection' } },
    ]);
  });

  it('links carry exit signals both ways; an error reason crosses as its code and message', async () => {
    const p = pair();
    const local = p.a.spawn('recorder', { trapExit: true });
    const remote = p.b.spawn('recorder', undefined);
    p.a.link(local, remote);
    await settleBoth(p);
    await p.a.call<RecorderMessages>(remote, { type: 'crash', message: 'boom' }).catch(() => undefined);
    await settleBoth(p);
    expect(await seen(p.a, local)).toEqual([
      { type: 'EXIT', from: remote, reason: { type: 'error', error: { message: 'boom' } } },
    ]);
    const victim = p.b.spawn('recorder', undefined);
    p.b.link(victim, local);
    await settleBoth(p);
    p.a.exit(local, { type: 'kill' });
    await settleBoth(p);
    expect(p.b.isAlive(victim)).toBe(false);
  });

  it('whereis and register consult the name directory for the names it covers', async () => {
    const p = pair();
    const held = new Map<string, Pid>([['user:bob', '<7@b>' as Pid]]);
    const directory: NameDirectory = {
      covers: (name) => name.startsWith('user:'),
      whereis: (name) => held.get(name),
      register(name, pid) {
        if (held.has(name)) throw new HotlineError('HOT_ERR_NAME_TAKEN', [name]);
        held.set(name, pid);
      },
      unregister: (name, pid) => held.get(name) === pid && held.delete(name),
    };
    p.a.distribute({ send: () => undefined }, directory);
    expect(p.a.whereis('user:bob')).toBe('<7@b>');
    const alice = p.a.spawn('recorder', undefined);
    expect(() => p.a.register('user:bob', alice)).toThrow(/already registered/);
    p.a.register('user:alice', alice);
    expect(held.get('user:alice')).toBe(alice);
    p.a.register('plain', p.a.spawn('recorder', undefined));
    expect(held.has('plain')).toBe(false);
    p.a.exit(alice, { type: 'kill' });
    expect(held.has('user:alice')).toBe(false);
  });
});
