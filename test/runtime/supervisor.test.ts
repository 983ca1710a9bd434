/** The supervisor behaviour: start order, strategies, restart types, intensity, shutdown, calls. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HotlineError } from '../../server/errors/catalogue.ts';
import {
  type ChildSpec,
  type ExitReason,
  kill,
  killed,
  type Pid,
  type Runtime,
  type Strategy,
  shutdown,
  supervisorCall,
  whichChildren,
} from '../../server/runtime/index.ts';
import {
  deferred,
  eventLog,
  exitLog,
  newRuntime,
  quiesce,
  recorder,
  simulatedRuntime,
  spawnWithParent,
  thrown,
  type WorkerArgs,
  type WorkerMessages,
  type WorkerState,
  worker,
} from '../support/runtime.ts';

type RestartType = NonNullable<ChildSpec['restart']>;

const giveUp: ExitReason = { type: 'shutdown', detail: 'reached_max_restart_intensity' };

/** A worker child spec; its args carry its id as a tag. */
function spec(id: string, extra: Partial<ChildSpec> = {}, args: WorkerArgs = {}): ChildSpec {
  return { id, start: { module: 'w', args: { tag: id, ...args } }, ...extra };
}

/** Child id → pid, as the supervisor reports it. */
async function childPids(rt: Runtime, sup: Pid): Promise<Map<string, Pid | null>> {
  return new Map((await whichChildren(rt, sup)).map((c) => [c.id, c.pid]));
}

async function pidOf(rt: Runtime, sup: Pid, id: string): Promise<Pid> {
  const pid = (await childPids(rt, sup)).get(id);
  if (typeof pid !== 'string') throw new Error(`child ${id} is not running`);
  return pid;
}

type Ending = 'normal' | 'shutdown' | 'shutdown_detail' | 'error' | 'kill';
const endings: Ending[] = ['normal', 'shutdown', 'shutdown_detail', 'error', 'kill'];
const abnormal = (ending: Ending): boolean => ending === 'error' || ending === 'kill';

/** Make a worker end the given way: stop with a reason, crash, or be killed. */
function end(rt: Runtime, pid: Pid, ending: Ending): void {
  switch (ending) {
    case 'normal':
      return rt.cast<WorkerMessages>(pid, { type: 'stop', reason: { type: 'normal' } });
    case 'shutdown':
      return rt.cast<WorkerMessages>(pid, { type: 'stop', reason: shutdown });
    case 'shutdown_detail':
      return rt.cast<WorkerMessages>(pid, { type: 'stop', reason: { type: 'shutdown', detail: 'done' } });
    case 'error':
      return rt.cast<WorkerMessages>(pid, { type: 'crash', message: 'boom' });
    case 'kill':
      return rt.exit(pid, kill);
  }
}

function isLinked(rt: Runtime, a: Pid, b: Pid): boolean {
  return (rt.lookup(a)?.links?.has(b) ?? false) && (rt.lookup(b)?.links?.has(a) ?? false);
}

/** Terminate callbacks log `tag:reason` here, in the order they run. */
function loggingWorker(log: string[], name = 'w') {
  return worker(name, (reason: ExitReason, state: WorkerState) => {
    log.push(`${String(state.args.tag)}:${reason.type}`);
  });
}

describe('supervisor start', () => {
  it('starts its children in order, each linked to it and naming it as parent', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const spawned: Pid[] = [];
    rt.events.on('spawn', (e) => {
      if (e.module === 'w') spawned.push(e.pid);
    });
    const sup = rt.spawn('supervisor', { children: [spec('a'), spec('b'), spec('c')] });
    const children = await whichChildren(rt, sup);
    expect(children.map((c) => c.id)).toEqual(['a', 'b', 'c']);
    expect(children.map((c) => c.pid)).toEqual(spawned);
    for (const child of children) {
      const pid = child.pid as Pid;
      expect(await rt.call<WorkerMessages>(pid, { type: 'args' })).toEqual({ tag: child.id });
      expect(isLinked(rt, sup, pid)).toBe(true);
      expect(rt.lookup(pid)?.parent).toBe(sup);
      expect(child).toMatchObject({ type: 'worker', module: 'w' });
    }
    expect(rt.processCount).toBe(4);
  });

  it('fails with HOT_ERR_INIT_FAILED when a child cannot start, leaving no child running', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    rt.modules.load(recorder);
    const spawned: string[] = [];
    rt.events.on('spawn', (e) => spawned.push(e.module));
    const exits = exitLog(rt);
    const base = rt.processCount;
    const err = thrown(() =>
      rt.spawn('supervisor', {
        children: [
          // Traps exits and ignores its parent's EXIT: only a kill stops it.
          { id: 'deaf', start: { module: 'recorder', args: { trapExit: true } } },
          spec('a', {}, { trapExit: true }),
          {
            id: 'inner',
            type: 'supervisor',
            start: {
              module: 'supervisor',
              args: { children: [spec('x'), spec('y', {}, { trapExit: true })] },
            },
          },
          spec('bad', {}, { failInit: true }),
          spec('never'),
        ],
      }),
    );
    expect(HotlineError.is(err, 'HOT_ERR_INIT_FAILED')).toBe(true);
    expect(HotlineError.is((err as Error).cause, 'HOT_ERR_INIT_FAILED')).toBe(true);
    await quiesce(rt);
    expect(rt.processCount).toBe(base);
    // The fourth child was never started; everything started was stopped.
    expect(spawned).toEqual(['supervisor', 'recorder', 'w', 'supervisor', 'w', 'w', 'w']);
    expect(exits.size).toBe(7);
  });

  it('rejects duplicate ids, a bad restart type and a bad intensity', () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const bad = [
      { children: [spec('a'), spec('a')] },
      { children: [spec('a', { restart: 'sometimes' as RestartType })] },
      { intensity: -1, children: [] },
      { periodMs: 0, children: [] },
    ];
    for (const args of bad) {
      const err = thrown(() => rt.spawn('supervisor', args));
      expect(HotlineError.is(err, 'HOT_ERR_INIT_FAILED')).toBe(true);
      expect(HotlineError.is((err as Error).cause, 'HOT_ERR_INVALID_CHILD_SPEC')).toBe(true);
    }
    expect(rt.processCount).toBe(0);
  });
});

describe('supervisor strategies', () => {
  it('one_for_one restarts only the crashed child', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', {
      strategy: 'one_for_one',
      children: [spec('a'), spec('b'), spec('c')],
    });
    const before = await childPids(rt, sup);
    end(rt, before.get('b') as Pid, 'error');
    await quiesce(rt);
    const after = await childPids(rt, sup);
    expect(after.get('a')).toBe(before.get('a'));
    expect(after.get('c')).toBe(before.get('c'));
    const b = after.get('b') as Pid;
    expect(b).not.toBe(before.get('b'));
    expect(rt.isAlive(b)).toBe(true);
    expect(rt.isAlive(before.get('b') as Pid)).toBe(false);
    expect(isLinked(rt, sup, b)).toBe(true);
    expect(await rt.call<WorkerMessages>(b, { type: 'args' })).toEqual({ tag: 'b' });
    expect(rt.processCount).toBe(4);
  });

  it('one_for_all stops the others in reverse order and restarts all in start order', async () => {
    const rt = newRuntime();
    const log: string[] = [];
    rt.modules.load(loggingWorker(log));
    const trap = { trapExit: true };
    const sup = rt.spawn('supervisor', {
      strategy: 'one_for_all',
      children: [spec('a', {}, trap), spec('b', {}, trap), spec('c', {}, trap)],
    });
    const before = await childPids(rt, sup);
    const spawned: Pid[] = [];
    rt.events.on('spawn', (e) => spawned.push(e.pid));
    end(rt, before.get('b') as Pid, 'error');
    await quiesce(rt);
    expect(log).toEqual(['b:error', 'c:shutdown', 'a:shutdown']);
    const after = await childPids(rt, sup);
    expect([...after.values()]).toEqual(spawned);
    for (const id of ['a', 'b', 'c']) {
      expect(after.get(id)).not.toBe(before.get(id));
      expect(rt.isAlive(before.get(id) as Pid)).toBe(false);
      expect(isLinked(rt, sup, after.get(id) as Pid)).toBe(true);
    }
    expect(rt.processCount).toBe(4);
  });

  it('rest_for_one restarts the crashed child and those started after it, in order', async () => {
    const rt = newRuntime();
    const log: string[] = [];
    rt.modules.load(loggingWorker(log));
    const trap = { trapExit: true };
    const sup = rt.spawn('supervisor', {
      strategy: 'rest_for_one',
      children: [spec('a', {}, trap), spec('b', {}, trap), spec('c', {}, trap), spec('d', {}, trap)],
    });
    const before = await childPids(rt, sup);
    const spawned: Pid[] = [];
    rt.events.on('spawn', (e) => spawned.push(e.pid));
    end(rt, before.get('b') as Pid, 'error');
    await quiesce(rt);
    expect(log).toEqual(['b:error', 'd:shutdown', 'c:shutdown']);
    const after = await childPids(rt, sup);
    expect(after.get('a')).toBe(before.get('a'));
    expect(spawned).toEqual([after.get('b'), after.get('c'), after.get('d')]);
    for (const id of ['b', 'c', 'd']) expect(rt.isAlive(before.get(id) as Pid)).toBe(false);
    expect(rt.processCount).toBe(5);
  });

  it('one_for_all restarts a nested supervisor sibling with a fresh subtree', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const sup = rt.spawn('supervisor', {
      strategy: 'one_for_all',
      children: [
        {
          id: 'inner',
          type: 'supervisor',
          start: { module: 'supervisor', args: { children: [spec('x', {}, { trapExit: true }), spec('y')] } },
        },
        spec('b'),
      ],
    });
    const inner = await pidOf(rt, sup, 'inner');
    const old = await childPids(rt, inner);
    end(rt, await pidOf(rt, sup, 'b'), 'error');
    await quiesce(rt);
    expect(exits.get(inner)).toEqual(shutdown);
    for (const pid of old.values()) expect(exits.get(pid as Pid)).toEqual(shutdown);
    const inner2 = await pidOf(rt, sup, 'inner');
    const fresh = await childPids(rt, inner2);
    expect([...fresh.keys()]).toEqual(['x', 'y']);
    for (const pid of fresh.values()) expect(isLinked(rt, inner2, pid as Pid)).toBe(true);
    expect(rt.processCount).toBe(5);
  });

  it('one_for_all stops a temporary sibling for good', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', {
      strategy: 'one_for_all',
      children: [spec('temp', { restart: 'temporary' }), spec('b'), spec('c')],
    });
    const before = await childPids(rt, sup);
    end(rt, before.get('c') as Pid, 'kill');
    await quiesce(rt);
    const after = await childPids(rt, sup);
    expect([...after.keys()]).toEqual(['b', 'c']);
    expect(rt.isAlive(before.get('temp') as Pid)).toBe(false);
    expect(rt.processCount).toBe(3);
  });

  it('a one_for_all restart also restarts a transient sibling that had ended normally', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', {
      strategy: 'one_for_all',
      children: [spec('t', { restart: 'transient' }), spec('p')],
    });
    end(rt, await pidOf(rt, sup, 't'), 'normal');
    await quiesce(rt);
    expect((await childPids(rt, sup)).get('t')).toBeNull();
    end(rt, await pidOf(rt, sup, 'p'), 'error');
    await quiesce(rt);
    const after = await childPids(rt, sup);
    expect(typeof after.get('t')).toBe('string');
    expect(rt.isAlive(after.get('t') as Pid)).toBe(true);
  });
});

describe('supervisor restart types', () => {
  it.each(endings)('permanent children are restarted after a %s exit', async (ending) => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { intensity: 5, children: [spec('a', { restart: 'permanent' })] });
    const old = await pidOf(rt, sup, 'a');
    end(rt, old, ending);
    await quiesce(rt);
    const now = await pidOf(rt, sup, 'a');
    expect(now).not.toBe(old);
    expect(rt.isAlive(now)).toBe(true);
    expect(rt.isAlive(old)).toBe(false);
  });

  it.each(endings)('transient children are restarted only after an abnormal exit (%s)', async (ending) => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { intensity: 5, children: [spec('a', { restart: 'transient' })] });
    const old = await pidOf(rt, sup, 'a');
    end(rt, old, ending);
    await quiesce(rt);
    expect(rt.isAlive(old)).toBe(false);
    const children = await whichChildren(rt, sup);
    expect(children.map((c) => c.id)).toEqual(['a']);
    const now = children[0]?.pid ?? null;
    if (abnormal(ending)) {
      expect(now).not.toBeNull();
      expect(rt.isAlive(now as Pid)).toBe(true);
    } else {
      expect(now).toBeNull();
    }
    expect(rt.processCount).toBe(abnormal(ending) ? 2 : 1);
  });

  it.each(endings)('temporary children are never restarted and leave the child list (%s)', async (ending) => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', {
      intensity: 5,
      children: [spec('a', { restart: 'temporary' }), spec('b')],
    });
    const old = await pidOf(rt, sup, 'a');
    const b = await pidOf(rt, sup, 'b');
    end(rt, old, ending);
    await quiesce(rt);
    expect(rt.isAlive(old)).toBe(false);
    expect([...(await childPids(rt, sup)).entries()]).toEqual([['b', b]]);
    expect(rt.processCount).toBe(2);
  });
});

describe('supervisor restart intensity', () => {
  it('exits with reached_max_restart_intensity after more than intensity restarts in the period', async () => {
    const { rt, clock } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const sup = rt.spawn('supervisor', { intensity: 2, periodMs: 1000, children: [spec('a'), spec('b')] });
    const b = await pidOf(rt, sup, 'b');
    for (let i = 0; i < 2; i++) {
      end(rt, await pidOf(rt, sup, 'a'), 'error');
      await quiesce(rt);
      clock.advance(300);
    }
    expect(rt.isAlive(sup)).toBe(true);
    const lastA = await pidOf(rt, sup, 'a');
    end(rt, lastA, 'error');
    await quiesce(rt);
    expect(rt.isAlive(sup)).toBe(false);
    expect(exits.get(sup)).toEqual(giveUp);
    expect(exits.get(b)).toEqual(shutdown);
    expect(rt.processCount).toBe(0);
  });

  it('does not exceed the intensity when restarts are spread over more than the period', async () => {
    const { rt, clock } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { intensity: 1, periodMs: 1000, children: [spec('a')] });
    for (let i = 0; i < 10; i++) {
      end(rt, await pidOf(rt, sup, 'a'), i % 2 === 0 ? 'error' : 'kill');
      await quiesce(rt);
      expect(rt.isAlive(sup)).toBe(true);
      clock.advance(1001);
    }
    // Two restarts 999 ms apart are two within the period: one too many.
    end(rt, await pidOf(rt, sup, 'a'), 'error');
    await quiesce(rt);
    clock.advance(999);
    expect(rt.isAlive(sup)).toBe(true);
    end(rt, await pidOf(rt, sup, 'a'), 'error');
    await quiesce(rt);
    expect(rt.isAlive(sup)).toBe(false);
    expect(rt.processCount).toBe(0);
  });

  it('intensity 0 gives up on the first restart; exits that need no restart do not count', async () => {
    const { rt } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const sup = rt.spawn('supervisor', {
      intensity: 0,
      children: [spec('t', { restart: 'transient' }), spec('tmp', { restart: 'temporary' }), spec('p')],
    });
    end(rt, await pidOf(rt, sup, 't'), 'normal');
    end(rt, await pidOf(rt, sup, 'tmp'), 'error');
    await quiesce(rt);
    expect(rt.isAlive(sup)).toBe(true);
    end(rt, await pidOf(rt, sup, 'p'), 'normal');
    await quiesce(rt);
    expect(exits.get(sup)).toEqual(giveUp);
    expect(rt.processCount).toBe(0);
  });

  it('counts every failed restart: a child that cannot start again makes it give up', async () => {
    const { rt } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const sup = rt.spawn('supervisor', { intensity: 3, children: [spec('a'), spec('b')] });
    const b = await pidOf(rt, sup, 'b');
    // A new current version of the module that can no longer start.
    rt.modules.load({
      ...worker('w'),
      init: () => {
        throw new Error('broken');
      },
    });
    let attempts = 0;
    rt.events.on('spawn', () => attempts++);
    end(rt, await pidOf(rt, sup, 'a'), 'error');
    await quiesce(rt);
    // The crash is restart 1; failed starts are restarts 2, 3 and 4, one too many.
    expect(attempts).toBe(3);
    expect(exits.get(sup)).toEqual(giveUp);
    expect(exits.get(b)).toEqual(shutdown);
    expect(rt.processCount).toBe(0);
  });

  it('keeps retrying a failing restart within the intensity, and runs on once it succeeds', async () => {
    const { rt } = simulatedRuntime();
    let failures = 0;
    const flaky = worker('w');
    rt.modules.load({
      ...flaky,
      init: (args, ctx) => {
        if (failures > 0) {
          failures--;
          throw new Error('not yet');
        }
        return flaky.init(args, ctx);
      },
    });
    const sup = rt.spawn('supervisor', {
      strategy: 'one_for_all',
      intensity: 3,
      children: [spec('a'), spec('b')],
    });
    const before = await childPids(rt, sup);
    failures = 2;
    end(rt, before.get('b') as Pid, 'error');
    await quiesce(rt);
    expect(rt.isAlive(sup)).toBe(true);
    const after = await childPids(rt, sup);
    for (const id of ['a', 'b']) {
      expect(after.get(id)).not.toBe(before.get(id));
      expect(rt.isAlive(after.get(id) as Pid)).toBe(true);
    }
    expect((rt.sys.getState(sup) as { restarts: number[] }).restarts).toHaveLength(3);
  });

  it('escalates to its parent supervisor, which restarts it with fresh children', async () => {
    const { rt } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const restarts = eventLog(rt, 'restart');
    const top = rt.spawn('supervisor', {
      intensity: 3,
      children: [
        spec('sibling'),
        {
          id: 'inner',
          type: 'supervisor',
          start: {
            module: 'supervisor',
            args: { intensity: 1, periodMs: 1000, children: [spec('x', {}, { trapExit: true }), spec('y')] },
          },
        },
      ],
    });
    const sibling = await pidOf(rt, top, 'sibling');
    const inner = await pidOf(rt, top, 'inner');
    const x0 = await pidOf(rt, inner, 'x');
    const y0 = await pidOf(rt, inner, 'y');
    end(rt, x0, 'error');
    await quiesce(rt);
    end(rt, await pidOf(rt, inner, 'x'), 'error');
    await quiesce(rt);
    expect(exits.get(inner)).toEqual(giveUp);
    expect(rt.isAlive(y0)).toBe(false);
    const inner2 = await pidOf(rt, top, 'inner');
    expect(inner2).not.toBe(inner);
    expect(restarts.at(-1)).toEqual({ supervisor: top, childId: 'inner', pid: inner2, module: 'supervisor' });
    const fresh = await whichChildren(rt, inner2);
    expect(fresh.map((c) => c.id)).toEqual(['x', 'y']);
    for (const c of fresh) {
      expect(rt.isAlive(c.pid as Pid)).toBe(true);
      expect(isLinked(rt, inner2, c.pid as Pid)).toBe(true);
    }
    expect(await pidOf(rt, top, 'sibling')).toBe(sibling);
    expect(rt.processCount).toBe(5);
  });

  it('escalation goes all the way up when the parent gives up as well', async () => {
    const { rt } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const top = rt.spawn('supervisor', {
      intensity: 0,
      children: [
        spec('sibling'),
        {
          id: 'inner',
          type: 'supervisor',
          start: { module: 'supervisor', args: { intensity: 0, children: [spec('x')] } },
        },
      ],
    });
    const inner = await pidOf(rt, top, 'inner');
    end(rt, await pidOf(rt, inner, 'x'), 'error');
    await quiesce(rt);
    expect(exits.get(inner)).toEqual(giveUp);
    expect(exits.get(top)).toEqual(giveUp);
    expect(rt.processCount).toBe(0);
  });
});

describe('supervisor shutdown', () => {
  it('stops children in reverse start order, each after the one before has ended', async () => {
    const { rt, clock } = simulatedRuntime();
    const log: string[] = [];
    rt.modules.load(
      worker('w', async (reason, state) => {
        const tag = String(state.args.tag);
        if (tag === 'b') {
          log.push('b:begin');
          await new Promise<void>((resolve) => clock.setTimeout(resolve, 500));
          log.push('b:end');
        } else {
          log.push(`${tag}:${reason.type}`);
        }
      }),
    );
    const exits = exitLog(rt);
    const trap = { trapExit: true };
    const sup = spawnWithParent(rt, 'supervisor', {
      children: [spec('a', {}, trap), spec('b', { shutdown: 1000 }, trap), spec('c', {}, trap), spec('d')],
    });
    const pids = await childPids(rt, sup.pid);
    sup.stop();
    await quiesce(rt, 20);
    expect(log).toEqual(['c:shutdown', 'b:begin']);
    expect(rt.isAlive(pids.get('a') as Pid)).toBe(true);
    expect(exits.get(pids.get('d') as Pid)).toEqual(shutdown);
    clock.advance(500);
    await quiesce(rt);
    expect(log).toEqual(['c:shutdown', 'b:begin', 'b:end', 'a:shutdown']);
    expect(exits.get(pids.get('b') as Pid)).toEqual(shutdown);
    expect(exits.get(sup.pid)).toEqual(shutdown);
    expect(rt.processCount).toBe(0);
  });

  it('kills a child whose terminate outlasts its shutdown timeout, not before', async () => {
    const { rt, clock } = simulatedRuntime();
    const log: string[] = [];
    rt.modules.load(loggingWorker(log));
    rt.modules.load(worker('slow', () => new Promise<void>(() => {})));
    const exits = exitLog(rt);
    const sup = spawnWithParent(rt, 'supervisor', {
      children: [
        spec('a', {}, { trapExit: true }),
        { id: 'slow', start: { module: 'slow', args: { trapExit: true } }, shutdown: 1000 },
      ],
    });
    const slow = await pidOf(rt, sup.pid, 'slow');
    sup.stop();
    await quiesce(rt, 20);
    clock.advance(999);
    await quiesce(rt, 20);
    expect(rt.isAlive(slow)).toBe(true);
    expect(log).toEqual([]);
    clock.advance(1);
    await quiesce(rt);
    expect(exits.get(slow)).toEqual(killed);
    expect(log).toEqual(['a:shutdown']);
    expect(rt.processCount).toBe(0);
  });

  it("kills a 'brutal_kill' child at once, without its terminate", async () => {
    const { rt } = simulatedRuntime();
    const log: string[] = [];
    rt.modules.load(loggingWorker(log));
    const exits = exitLog(rt);
    const sup = spawnWithParent(rt, 'supervisor', {
      children: [
        spec('a', {}, { trapExit: true }),
        spec('brutal', { shutdown: 'brutal_kill' }, { trapExit: true }),
      ],
    });
    const brutal = await pidOf(rt, sup.pid, 'brutal');
    sup.stop();
    await quiesce(rt);
    expect(exits.get(brutal)).toEqual(killed);
    expect(log).toEqual(['a:shutdown']);
    expect(rt.processCount).toBe(0);
  });

  it("waits for an 'infinity' child however long its terminate takes", async () => {
    const { rt, clock } = simulatedRuntime();
    const done = deferred();
    rt.modules.load(worker('w', () => done.promise));
    const exits = exitLog(rt);
    const sup = spawnWithParent(rt, 'supervisor', {
      children: [spec('a', { shutdown: 'infinity' }, { trapExit: true })],
    });
    const a = await pidOf(rt, sup.pid, 'a');
    sup.stop();
    clock.advance(1e9);
    await quiesce(rt, 20);
    expect(rt.isAlive(a)).toBe(true);
    expect(rt.isAlive(sup.pid)).toBe(true);
    done.resolve();
    await quiesce(rt);
    expect(exits.get(a)).toEqual(shutdown);
    expect(rt.processCount).toBe(0);
  });

  it('a nested supervisor shuts its own children down before its parent goes on', async () => {
    const { rt } = simulatedRuntime();
    const log: string[] = [];
    rt.modules.load(loggingWorker(log));
    const trap = { trapExit: true };
    const sup = spawnWithParent(rt, 'supervisor', {
      children: [
        spec('a', {}, trap),
        {
          id: 'inner',
          type: 'supervisor',
          start: { module: 'supervisor', args: { children: [spec('x', {}, trap), spec('y', {}, trap)] } },
        },
        spec('z', {}, trap),
      ],
    });
    await quiesce(rt);
    sup.stop();
    await quiesce(rt);
    expect(log).toEqual(['z:shutdown', 'y:shutdown', 'x:shutdown', 'a:shutdown']);
    expect(rt.processCount).toBe(0);
  });
});

describe('supervisor calls', () => {
  it('start_child starts a child at the end of the list, supervised like the others', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { children: [spec('a')] });
    const pid = await supervisorCall(rt, sup, { type: 'start_child', spec: spec('b') });
    expect(pid).not.toBeNull();
    expect(rt.isAlive(pid as Pid)).toBe(true);
    expect(isLinked(rt, sup, pid as Pid)).toBe(true);
    expect([...(await childPids(rt, sup)).entries()]).toEqual([
      ['a', await pidOf(rt, sup, 'a')],
      ['b', pid],
    ]);
    end(rt, pid as Pid, 'error');
    await quiesce(rt);
    const restarted = await pidOf(rt, sup, 'b');
    expect(restarted).not.toBe(pid);
    expect(rt.isAlive(restarted)).toBe(true);
  });

  it('start_child refuses an id in use, running or not (HOT_ERR_CHILD_EXISTS)', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { children: [spec('a'), spec('t', { restart: 'transient' })] });
    end(rt, await pidOf(rt, sup, 't'), 'normal');
    await quiesce(rt);
    for (const id of ['a', 't']) {
      const err = await supervisorCall(rt, sup, { type: 'start_child', spec: spec(id) }).catch((e) => e);
      expect(HotlineError.is(err, 'HOT_ERR_CHILD_EXISTS')).toBe(true);
    }
    expect(rt.processCount).toBe(2);
  });

  it('terminate_child stops a child for good; restart_child and delete_child follow', async () => {
    const rt = newRuntime();
    const log: string[] = [];
    rt.modules.load(loggingWorker(log));
    const sup = rt.spawn('supervisor', { children: [spec('a', {}, { trapExit: true }), spec('b')] });
    const a = await pidOf(rt, sup, 'a');
    expect(await supervisorCall(rt, sup, { type: 'terminate_child', id: 'a' })).toBeNull();
    expect(rt.isAlive(a)).toBe(false);
    expect(log).toEqual(['a:shutdown']);
    await quiesce(rt);
    // Stopped on purpose: not restarted although permanent.
    expect((await childPids(rt, sup)).get('a')).toBeNull();
    expect(rt.processCount).toBe(2);

    const a2 = await supervisorCall(rt, sup, { type: 'restart_child', id: 'a' });
    expect(a2).not.toBeNull();
    expect(a2).not.toBe(a);
    expect(rt.isAlive(a2 as Pid)).toBe(true);
    expect(isLinked(rt, sup, a2 as Pid)).toBe(true);
    expect((await childPids(rt, sup)).get('a')).toBe(a2);

    const running = await supervisorCall(rt, sup, { type: 'restart_child', id: 'a' }).catch((e) => e);
    expect(HotlineError.is(running, 'HOT_ERR_CHILD_EXISTS')).toBe(true);
    const notStopped = await supervisorCall(rt, sup, { type: 'delete_child', id: 'a' }).catch((e) => e);
    expect(HotlineError.is(notStopped, 'HOT_ERR_CHILD_EXISTS')).toBe(true);

    await supervisorCall(rt, sup, { type: 'terminate_child', id: 'a' });
    expect(await supervisorCall(rt, sup, { type: 'delete_child', id: 'a' })).toBeNull();
    expect([...(await childPids(rt, sup)).keys()]).toEqual(['b']);
    // Terminating a child that is already stopped is fine.
    await supervisorCall(rt, sup, { type: 'terminate_child', id: 'b' });
    await supervisorCall(rt, sup, { type: 'terminate_child', id: 'b' });
    expect(rt.processCount).toBe(1);
  });

  it('terminate_child answers once the child has ended, killing it after its shutdown timeout', async () => {
    const { rt, clock } = simulatedRuntime();
    rt.modules.load(worker('w', () => new Promise<void>(() => {})));
    const exits = exitLog(rt);
    const sup = rt.spawn('supervisor', { children: [spec('a', { shutdown: 1000 }, { trapExit: true })] });
    const a = await pidOf(rt, sup, 'a');
    let answered = false;
    const call = supervisorCall(rt, sup, { type: 'terminate_child', id: 'a' }).then(() => {
      answered = true;
    });
    await quiesce(rt, 20);
    clock.advance(999);
    await quiesce(rt, 20);
    expect(answered).toBe(false);
    expect(rt.isAlive(a)).toBe(true);
    clock.advance(1);
    await call;
    expect(exits.get(a)).toEqual(killed);
    expect((await childPids(rt, sup)).get('a')).toBeNull();
  });

  it('terminate_child removes a temporary child from the list', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { children: [spec('tmp', { restart: 'temporary' }), spec('b')] });
    await supervisorCall(rt, sup, { type: 'terminate_child', id: 'tmp' });
    expect([...(await childPids(rt, sup)).keys()]).toEqual(['b']);
  });

  it('answers HOT_ERR_NO_CHILD for an unknown id', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { children: [spec('a')] });
    for (const type of ['terminate_child', 'restart_child', 'delete_child'] as const) {
      const err = await supervisorCall(rt, sup, { type, id: 'ghost' }).catch((e) => e);
      expect(HotlineError.is(err, 'HOT_ERR_NO_CHILD')).toBe(true);
    }
    expect(rt.isAlive(sup)).toBe(true);
  });

  it('start_child refuses an invalid spec (HOT_ERR_INVALID_CHILD_SPEC) and stays up', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { children: [spec('a')] });
    const before = await whichChildren(rt, sup);
    const invalid = [
      { id: '', start: { module: 'w' } },
      { id: 'x' },
      { id: 'x', start: { module: 42 } },
      { id: 'x', start: { module: 'w' }, restart: 'sometimes' },
      { id: 'x', start: { module: 'w' }, shutdown: -5 },
      { id: 'x', start: { module: 'w' }, shutdown: 'later' },
      { id: 'x', start: { module: 'w' }, type: 'gadget' },
      { id: 'x', start: { module: 'w', args: { callback: () => 1 } } },
      null,
    ] as unknown as ChildSpec[];
    for (const bad of invalid) {
      const err = await supervisorCall(rt, sup, { type: 'start_child', spec: bad }).catch((e) => e);
      expect(HotlineError.is(err, 'HOT_ERR_INVALID_CHILD_SPEC'), JSON.stringify(bad)).toBe(true);
    }
    expect(await whichChildren(rt, sup)).toEqual(before);
    expect(rt.processCount).toBe(2);
  });

  it('start_child reports a child that cannot start, and an unknown module', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', { children: [] });
    const failed = await supervisorCall(rt, sup, {
      type: 'start_child',
      spec: spec('x', {}, { failInit: true }),
    }).catch((e) => e);
    expect(HotlineError.is(failed, 'HOT_ERR_INIT_FAILED')).toBe(true);
    const unknown = await supervisorCall(rt, sup, {
      type: 'start_child',
      spec: { id: 'y', start: { module: 'nope' } },
    }).catch((e) => e);
    expect(HotlineError.is(unknown, 'HOT_ERR_UNKNOWN_MODULE')).toBe(true);
    expect(await whichChildren(rt, sup)).toEqual([]);
    expect(rt.processCount).toBe(1);
  });
});

describe('supervisor events and state', () => {
  it("emits a 'restart' event for every child it restarts, with the new pid", async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const events = eventLog(rt, 'restart');
    const sup = rt.spawn('supervisor', {
      strategy: 'rest_for_one',
      children: [spec('a'), spec('b'), spec('c')],
    });
    expect(events).toEqual([]);
    end(rt, await pidOf(rt, sup, 'b'), 'error');
    await quiesce(rt);
    const after = await childPids(rt, sup);
    expect(events).toEqual(
      ['b', 'c'].map((childId) => ({ supervisor: sup, childId, pid: after.get(childId), module: 'w' })),
    );
  });

  it('keeps a state that survives structuredClone through starts, restarts and calls', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = rt.spawn('supervisor', {
      strategy: 'one_for_all',
      intensity: 10,
      children: [
        spec('a', {}, { tag: { nested: [1, 2, { deep: true }] } }),
        spec('b', { restart: 'transient' }),
      ],
    });
    await supervisorCall(rt, sup, { type: 'start_child', spec: spec('c', { shutdown: 'brutal_kill' }) });
    end(rt, await pidOf(rt, sup, 'a'), 'error');
    await quiesce(rt);
    await supervisorCall(rt, sup, { type: 'terminate_child', id: 'b' });
    expect(rt.isAlive(sup)).toBe(true);
    const state = rt.sys.getState(sup);
    expect(structuredClone(state)).toEqual(state);
    expect(state).toMatchObject({ strategy: 'one_for_all', intensity: 10, restarts: [expect.any(Number)] });
    expect(await rt.call<WorkerMessages>(await pidOf(rt, sup, 'a'), { type: 'args' })).toEqual({
      tag: { nested: [1, 2, { deep: true }] },
    });
  });
});

// ---- property: random crash sequences against a model of the supervisor ----

interface ModelChild {
  id: string;
  restart: RestartType;
  running: boolean;
}

const scenarioArb = fc.record({
  strategy: fc.constantFrom<Strategy>('one_for_one', 'one_for_all', 'rest_for_one'),
  intensity: fc.integer({ min: 0, max: 4 }),
  // None is a multiple of 7, and every delay is: no two restarts are ever exactly a period apart,
  // so the property holds whether a window's edge is counted in or out.
  periodMs: fc.constantFrom(500, 1000, 2000),
  children: fc.array(
    fc.record({
      restart: fc.constantFrom<RestartType>('permanent', 'transient', 'temporary'),
      trap: fc.boolean(),
    }),
    { minLength: 1, maxLength: 5 },
  ),
  steps: fc.array(
    fc.record({
      delay: fc.integer({ min: 0, max: 300 }).map((n) => n * 7),
      pick: fc.nat(),
      ending: fc.constantFrom<Ending>(...endings),
    }),
    { maxLength: 14 },
  ),
});

describe('supervisor property', () => {
  it('matches a model of strategies, restart types and intensity over random crash sequences', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const { rt, clock } = simulatedRuntime();
        rt.modules.load(worker('w'));
        const exits = exitLog(rt);
        const restarts = eventLog(rt, 'restart');
        const { strategy, intensity, periodMs } = scenario;
        const model: ModelChild[] = scenario.children.map((c, i) => ({
          id: `c${i}`,
          restart: c.restart,
          running: true,
        }));
        const sup = spawnWithParent(rt, 'supervisor', {
          strategy,
          intensity,
          periodMs,
          children: scenario.children.map((c, i) =>
            spec(`c${i}`, { restart: c.restart, shutdown: 1000 }, { trapExit: c.trap }),
          ),
        });
        let pids = await childPids(rt, sup.pid);
        const restartTimes: number[] = [];
        let alive = true;

        for (const step of scenario.steps) {
          clock.advance(step.delay);
          const running = model.filter((c) => c.running);
          if (running.length === 0) break;
          const victim = running[step.pick % running.length] as ModelChild;
          const victimPid = pids.get(victim.id) as Pid;
          const restarted: string[] = [];
          if (
            !(victim.restart === 'permanent' || (victim.restart === 'transient' && abnormal(step.ending)))
          ) {
            victim.running = false;
            if (victim.restart === 'temporary') model.splice(model.indexOf(victim), 1);
          } else {
            const now = clock.now();
            restartTimes.push(now);
            if (restartTimes.filter((t) => t > now - periodMs).length > intensity) {
              alive = false;
            } else {
              const at = model.indexOf(victim);
              const group =
                strategy === 'one_for_one'
                  ? [victim]
                  : strategy === 'one_for_all'
                    ? [...model]
                    : model.slice(at);
              for (const c of group) {
                if (c !== victim && c.restart === 'temporary') {
                  model.splice(model.indexOf(c), 1);
                } else {
                  c.running = true;
                  restarted.push(c.id);
                }
              }
            }
          }
          const restartsBefore = restarts.length;
          end(rt, victimPid, step.ending);
          expect(await quiesce(rt)).toBe(true);

          if (!alive) {
            expect(rt.isAlive(sup.pid)).toBe(false);
            expect(exits.get(sup.pid)).toEqual(giveUp);
            expect(rt.processCount).toBe(0);
            return;
          }
          expect(rt.isAlive(sup.pid)).toBe(true);
          const now = await childPids(rt, sup.pid);
          expect([...now.keys()]).toEqual(model.map((c) => c.id));
          for (const c of model) {
            const pid = now.get(c.id) ?? null;
            expect(pid !== null).toBe(c.running);
            if (pid === null) continue;
            expect(rt.isAlive(pid)).toBe(true);
            expect(isLinked(rt, sup.pid, pid)).toBe(true);
            if (restarted.includes(c.id)) expect(pid).not.toBe(pids.get(c.id));
            else expect(pid).toBe(pids.get(c.id));
          }
          for (const [id, pid] of pids) {
            if (pid !== null && now.get(id) !== pid) expect(rt.isAlive(pid)).toBe(false);
          }
          expect(restarts.slice(restartsBefore).map((e) => [e.supervisor, e.childId, e.pid])).toEqual(
            restarted.map((id) => [sup.pid, id, now.get(id)]),
          );
          // The supervisor, its parent and the running children: nothing else.
          expect(rt.processCount).toBe(2 + model.filter((c) => c.running).length);
          pids = now;
        }

        sup.stop();
        expect(await quiesce(rt)).toBe(true);
        expect(exits.get(sup.pid)).toEqual(shutdown);
        expect(rt.processCount).toBe(0);
      }),
      { numRuns: 80 },
    );
  });
});
