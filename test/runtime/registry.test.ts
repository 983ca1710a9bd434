/** Registered names: register/whereis, addressing by name, and release when a process ends. */
import { describe, expect, it } from 'vitest';
import { HotlineError } from '../../server/errors/catalogue.ts';
import { type Behaviour, kill, normal, reply, shutdown, stop } from '../../server/runtime/index.ts';
import { errorCode, exitLog, newRuntime, recorder, settleBriefly, thrown } from '../support/runtime.ts';

type NamedCall = { type: 'whereis'; name: string } | { type: 'register'; name: string } | { type: 'quit' };

/** Registers itself under the name it is started with; answers whereis from inside a callback. */
const selfNamed: Behaviour<
  { name: string },
  string,
  { call: NamedCall; reply: unknown; cast: never; info: never }
> = {
  name: 'self_named',
  version: '1.0.0',
  init(name, ctx) {
    ctx.register(name);
    return { name };
  },
  handleCall(message, _from, state, ctx) {
    switch (message.type) {
      case 'whereis':
        return reply(ctx.whereis(message.name) ?? null, state);
      case 'register':
        ctx.register(message.name);
        return reply(true, state);
      case 'quit':
        return stop(normal, state);
    }
  },
};

describe('register and whereis', () => {
  it('finds a registered process by name', () => {
    const rt = newRuntime();
    const a = rt.spawn(recorder);
    const b = rt.spawn(recorder);
    rt.register('alpha', a);
    rt.register('beta', b);
    expect(rt.whereis('alpha')).toBe(a);
    expect(rt.whereis('beta')).toBe(b);
    expect(rt.whereis('gamma')).toBeUndefined();
    expect(new Map(rt.registered())).toEqual(
      new Map([
        ['alpha', a],
        ['beta', b],
      ]),
    );
    expect(rt.lookup(a)?.name).toBe('alpha');
  });

  it('lets a process register itself and look names up through its context', async () => {
    const rt = newRuntime();
    const pid = rt.spawn(selfNamed, 'me');
    const other = rt.spawn(recorder, undefined, { name: 'other' });
    expect(rt.whereis('me')).toBe(pid);
    expect(await rt.call(pid, { type: 'whereis', name: 'other' })).toBe(other);
    expect(await rt.call(pid, { type: 'whereis', name: 'nobody' })).toBeNull();
  });

  it('refuses a name that is taken, and the holder keeps it', () => {
    const rt = newRuntime();
    const a = rt.spawn(recorder);
    const b = rt.spawn(recorder);
    rt.register('svc', a);
    const err = thrown(() => rt.register('svc', b));
    expect(HotlineError.is(err, 'HOT_ERR_NAME_TAKEN')).toBe(true);
    expect((err as HotlineError).fault).toBe('caller');
    expect(rt.whereis('svc')).toBe(a);
    expect(rt.lookup(b)?.name).toBeUndefined();
  });

  it('gives a process one name at most, so no name outlives it', () => {
    const rt = newRuntime();
    const a = rt.spawn(recorder, undefined, { name: 'first' });
    expect(errorCode(thrown(() => rt.register('second', a)))).toBe('HOT_ERR_ALREADY_REGISTERED');
    expect(errorCode(thrown(() => rt.register('first', a)))).toBe('HOT_ERR_ALREADY_REGISTERED');
    expect(rt.whereis('second')).toBeUndefined();
    rt.exit(a, kill);
    expect(rt.registered()).toEqual([]);
    const b = rt.spawn(recorder);
    rt.register('first', b);
    expect(rt.whereis('first')).toBe(b);
  });

  it('refuses to register a dead pid', () => {
    const rt = newRuntime();
    const a = rt.spawn(recorder);
    rt.exit(a, kill);
    expect(errorCode(thrown(() => rt.register('ghost', a)))).toBe('HOT_ERR_NOPROC');
    expect(rt.whereis('ghost')).toBeUndefined();
  });
});

describe('addressing by name', () => {
  it('sends, casts and calls by name, in order', async () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder, undefined, { name: 'rec' });
    rt.send('rec', 'info-1');
    rt.cast('rec', 'cast-1');
    rt.send('rec', 'info-2');
    expect(await rt.call('rec', { type: 'echo', value: 42 })).toBe(42);
    expect(await rt.call(pid, { type: 'seen' })).toEqual(['info-1', 'cast-1', 'info-2']);
  });

  it('resolves a name at each send, so a re-registered name reaches the new holder', async () => {
    const rt = newRuntime();
    const first = rt.spawn(recorder, undefined, { name: 'svc' });
    rt.send('svc', 'to first');
    await settleBriefly(rt);
    rt.exit(first, shutdown);
    const second = rt.spawn(recorder, undefined, { name: 'svc' });
    rt.send('svc', 'to second');
    expect(await rt.call('svc', { type: 'seen' })).toEqual(['to second']);
    expect(rt.whereis('svc')).toBe(second);
  });

  it('rejects a call to an unknown name with HOT_ERR_NOPROC, asynchronously', async () => {
    const rt = newRuntime();
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = rt.call('nobody', { type: 'seen' });
    }).not.toThrow();
    await expect(result).rejects.toSatisfy((err) => HotlineError.is(err, 'HOT_ERR_NOPROC'));
  });

  it('throws HOT_ERR_NOPROC for a send or cast to an unknown name', () => {
    const rt = newRuntime();
    expect(errorCode(thrown(() => rt.send('nobody', 'x')))).toBe('HOT_ERR_NOPROC');
    expect(errorCode(thrown(() => rt.cast('nobody', 'x')))).toBe('HOT_ERR_NOPROC');
  });
});

describe('names and process ends', () => {
  it('releases the name when the process ends, however it ends', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const stopped = rt.spawn(selfNamed, 'stopped');
    const crashed = rt.spawn(recorder, undefined, { name: 'crashed' });
    const killedPid = rt.spawn(recorder, undefined, { name: 'killed' });
    await expect(rt.call(stopped, { type: 'quit' })).rejects.toMatchObject({
      code: 'HOT_ERR_CALL_TARGET_EXITED',
    });
    await expect(rt.call('crashed', { type: 'crash', message: 'boom' })).rejects.toMatchObject({
      code: 'HOT_ERR_CALL_TARGET_EXITED',
    });
    rt.exit(killedPid, kill);
    await settleBriefly(rt);
    expect([exits.has(stopped), exits.has(crashed), exits.has(killedPid)]).toEqual([true, true, true]);
    expect(rt.registered()).toEqual([]);
    for (const name of ['stopped', 'crashed', 'killed']) {
      expect(rt.whereis(name)).toBeUndefined();
      await expect(rt.call(name, { type: 'seen' })).rejects.toMatchObject({ code: 'HOT_ERR_NOPROC' });
    }
    // Free for the taking again.
    const again = rt.spawn(recorder, undefined, { name: 'crashed' });
    expect(rt.whereis('crashed')).toBe(again);
  });

  it('does not let a dead process release a name someone else holds now', async () => {
    const rt = newRuntime();
    const a = rt.spawn(recorder, undefined, { name: 'svc' });
    rt.exit(a, kill);
    const b = rt.spawn(recorder, undefined, { name: 'svc' });
    // A second exit signal to the long-dead pid must not touch b's registration.
    rt.exit(a, kill);
    expect(rt.whereis('svc')).toBe(b);
  });
});

describe('spawn with a name', () => {
  it('registers the new process before anyone can address it', async () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder, undefined, { name: 'named' });
    expect(rt.whereis('named')).toBe(pid);
    rt.send('named', 'hello');
    expect(await rt.call(pid, { type: 'seen' })).toEqual(['hello']);
  });

  it('fails with HOT_ERR_NAME_TAKEN and leaves no process behind', () => {
    const rt = newRuntime();
    const holder = rt.spawn(recorder, undefined, { name: 'taken' });
    const count = rt.processCount;
    const running = rt.modules.versions().find((v) => v.module === 'recorder')?.processes;
    expect(errorCode(thrown(() => rt.spawn(recorder, undefined, { name: 'taken' })))).toBe(
      'HOT_ERR_NAME_TAKEN',
    );
    expect(rt.processCount).toBe(count);
    expect(rt.modules.versions().find((v) => v.module === 'recorder')?.processes).toBe(running);
    expect(rt.whereis('taken')).toBe(holder);
    expect(rt.isAlive(holder)).toBe(true);
  });

  it('does not send an exit signal to a linked parent when the name is taken', async () => {
    const rt = newRuntime();
    rt.modules.load(recorder);
    rt.spawn(recorder, undefined, { name: 'taken' });
    const parent = rt.spawn(recorder, { trapExit: true });
    expect(
      errorCode(thrown(() => rt.spawn('recorder', undefined, { name: 'taken', link: true, parent }))),
    ).toBe('HOT_ERR_NAME_TAKEN');
    await settleBriefly(rt);
    expect(rt.isAlive(parent)).toBe(true);
    expect(await rt.call(parent, { type: 'seen' })).toEqual([]);
    expect(rt.lookup(parent)?.links?.size ?? 0).toBe(0);
  });

  it('registers a process that names itself in init, and refuses a second name from a callback', async () => {
    const rt = newRuntime();
    const exits = exitLog(rt);
    const pid = rt.spawn(selfNamed, 'self');
    expect(rt.whereis('self')).toBe(pid);
    await expect(rt.call(pid, { type: 'register', name: 'alias' })).rejects.toMatchObject({
      code: 'HOT_ERR_CALL_TARGET_EXITED',
    });
    const reason = exits.get(pid);
    expect(reason?.type === 'error' && errorCode(reason.error)).toBe('HOT_ERR_ALREADY_REGISTERED');
    expect(rt.registered()).toEqual([]);
  });
});
