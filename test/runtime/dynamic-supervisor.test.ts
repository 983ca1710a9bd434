/** The dynamic supervisor: many children of one module, started on demand, each with its own args. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HotlineError } from '../../server/errors/catalogue.ts';
import {
  type DynamicSupervisorArgs,
  type DynamicSupervisorMessages,
  type ExitReason,
  kill,
  killed,
  type Pid,
  type Runtime,
  shutdown,
  startChild,
  whichChildren,
} from '../../server/runtime/index.ts';
import {
  eventLog,
  exitLog,
  newRuntime,
  quiesce,
  simulatedRuntime,
  spawnWithParent,
  type WorkerArgs,
  type WorkerMessages,
  worker,
} from '../support/runtime.ts';

const giveUp: ExitReason = { type: 'shutdown', detail: 'reached_max_restart_intensity' };

function dynSup(rt: Runtime, args: Partial<DynamicSupervisorArgs> = {}): Pid<DynamicSupervisorMessages> {
  return rt.spawn('dynamic_supervisor', { module: 'w', ...args }) as Pid<DynamicSupervisorMessages>;
}

async function count(rt: Runtime, sup: Pid): Promise<number> {
  const r = await rt.call<DynamicSupervisorMessages>(sup, { type: 'count_children' });
  if (!r.ok) throw r.error;
  return r.count ?? -1;
}

async function terminateChild(rt: Runtime, sup: Pid, pid: Pid): Promise<void> {
  const r = await rt.call<DynamicSupervisorMessages>(sup, { type: 'terminate_child', pid });
  if (!r.ok) throw r.error;
}

const argsOf = (rt: Runtime, pid: Pid): Promise<WorkerArgs> => rt.call<WorkerMessages>(pid, { type: 'args' });

function isLinked(rt: Runtime, a: Pid, b: Pid): boolean {
  return (rt.lookup(a)?.links?.has(b) ?? false) && (rt.lookup(b)?.links?.has(a) ?? false);
}

/** The supervisor's children: the live processes it is linked to and is parent of. */
function childrenOf(rt: Runtime, sup: Pid): Pid[] {
  return [...rt.processes()].filter((p) => p.parent === sup).map((p) => p.self);
}

type Ending = 'normal' | 'shutdown' | 'error' | 'kill';

function end(rt: Runtime, pid: Pid, ending: Ending): void {
  switch (ending) {
    case 'normal':
      return rt.cast<WorkerMessages>(pid, { type: 'stop', reason: { type: 'normal' } });
    case 'shutdown':
      return rt.cast<WorkerMessages>(pid, { type: 'stop', reason: shutdown });
    case 'error':
      return rt.cast<WorkerMessages>(pid, { type: 'crash', message: 'boom' });
    case 'kill':
      return rt.exit(pid, kill);
  }
}

describe('dynamic_supervisor', () => {
  it('starts many children of one module, each with its own args, linked to it', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = dynSup(rt);
    const pids: Pid[] = [];
    for (let i = 0; i < 5; i++) pids.push(await startChild(rt, sup, { tag: { session: i } }));
    expect(new Set(pids).size).toBe(5);
    for (const [i, pid] of pids.entries()) {
      expect(await argsOf(rt, pid)).toEqual({ tag: { session: i } });
      expect(isLinked(rt, sup, pid)).toBe(true);
      expect(rt.lookup(pid)?.parent).toBe(sup);
    }
    expect(await count(rt, sup)).toBe(5);
    expect(rt.processCount).toBe(6);
  });

  it.each<Ending>(['normal', 'shutdown', 'error', 'kill'])(
    'does not restart children by default (temporary): %s',
    async (ending) => {
      const rt = newRuntime();
      rt.modules.load(worker('w'));
      const sup = dynSup(rt);
      const a = await startChild(rt, sup, { tag: 'a' });
      const b = await startChild(rt, sup, { tag: 'b' });
      end(rt, a, ending);
      await quiesce(rt);
      expect(rt.isAlive(sup)).toBe(true);
      expect(await count(rt, sup)).toBe(1);
      expect(childrenOf(rt, sup)).toEqual([b]);
    },
  );

  it.each<Ending>(['normal', 'shutdown', 'error', 'kill'])(
    'restarts transient children with the same args only after an abnormal exit: %s',
    async (ending) => {
      const rt = newRuntime();
      rt.modules.load(worker('w'));
      const events = eventLog(rt, 'restart');
      const sup = dynSup(rt, { restart: 'transient', intensity: 5 });
      const a = await startChild(rt, sup, { tag: 'a' });
      const b = await startChild(rt, sup, { tag: 'b' });
      end(rt, a, ending);
      await quiesce(rt);
      expect(rt.isAlive(a)).toBe(false);
      const live = childrenOf(rt, sup);
      if (ending === 'error' || ending === 'kill') {
        expect(live).toHaveLength(2);
        const fresh = live.find((p) => p !== b) as Pid;
        expect(await argsOf(rt, fresh)).toEqual({ tag: 'a' });
        expect(isLinked(rt, sup, fresh)).toBe(true);
        expect(events).toEqual([{ supervisor: sup, childId: a, pid: fresh, module: 'w' }]);
        expect(await count(rt, sup)).toBe(2);
      } else {
        expect(live).toEqual([b]);
        expect(events).toEqual([]);
        expect(await count(rt, sup)).toBe(1);
      }
    },
  );

  it.each<Ending>(['normal', 'shutdown', 'error', 'kill'])(
    'restarts permanent children with the same args after any exit: %s',
    async (ending) => {
      const rt = newRuntime();
      rt.modules.load(worker('w'));
      const events = eventLog(rt, 'restart');
      const sup = dynSup(rt, { restart: 'permanent', intensity: 5 });
      const a = await startChild(rt, sup, { tag: { call: 'a', legs: [1, 2] } });
      end(rt, a, ending);
      await quiesce(rt);
      const [fresh] = childrenOf(rt, sup);
      expect(fresh).toBeDefined();
      expect(fresh).not.toBe(a);
      expect(await argsOf(rt, fresh as Pid)).toEqual({ tag: { call: 'a', legs: [1, 2] } });
      expect(events.map((e) => e.pid)).toEqual([fresh]);
      // The restarted child is supervised like the first: it is restarted again.
      end(rt, fresh as Pid, 'error');
      await quiesce(rt);
      const [third] = childrenOf(rt, sup);
      expect(third).not.toBe(fresh);
      expect(await argsOf(rt, third as Pid)).toEqual({ tag: { call: 'a', legs: [1, 2] } });
    },
  );

  it('refuses children beyond maxChildren (HOT_ERR_MAX_CHILDREN), and takes them once there is room', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = dynSup(rt, { maxChildren: 2 });
    const a = await startChild(rt, sup, {});
    await startChild(rt, sup, {});
    const err = await startChild(rt, sup, {}).catch((e) => e);
    expect(HotlineError.is(err, 'HOT_ERR_MAX_CHILDREN')).toBe(true);
    expect(rt.processCount).toBe(3);
    end(rt, a, 'error');
    await quiesce(rt);
    const c = await startChild(rt, sup, { tag: 'c' });
    expect(await argsOf(rt, c)).toEqual({ tag: 'c' });
    expect(await count(rt, sup)).toBe(2);
  });

  it('terminate_child stops a child for good, even a permanent one; an unknown pid is HOT_ERR_NO_CHILD', async () => {
    const rt = newRuntime();
    const log: string[] = [];
    rt.modules.load(
      worker('w', (reason, state) => {
        log.push(`${String(state.args.tag)}:${reason.type}`);
      }),
    );
    const sup = dynSup(rt, { restart: 'permanent' });
    const a = await startChild(rt, sup, { tag: 'a', trapExit: true });
    const b = await startChild(rt, sup, { tag: 'b' });
    await terminateChild(rt, sup, a);
    expect(rt.isAlive(a)).toBe(false);
    expect(log).toEqual(['a:shutdown']);
    await quiesce(rt);
    expect(childrenOf(rt, sup)).toEqual([b]);
    expect(await count(rt, sup)).toBe(1);
    for (const pid of [a, sup, '<999@test>' as Pid]) {
      const err = await terminateChild(rt, sup, pid).catch((e) => e);
      expect(HotlineError.is(err, 'HOT_ERR_NO_CHILD')).toBe(true);
    }
    expect(rt.isAlive(sup)).toBe(true);
  });

  it('terminate_child answers once the child has ended, killing it after the shutdown timeout', async () => {
    const { rt, clock } = simulatedRuntime();
    rt.modules.load(worker('w', () => new Promise<void>(() => {})));
    const exits = exitLog(rt);
    const sup = dynSup(rt, { shutdown: 1000 });
    const a = await startChild(rt, sup, { trapExit: true });
    let answered = false;
    const call = terminateChild(rt, sup, a).then(() => {
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
    expect(await count(rt, sup)).toBe(0);
  });

  it('count_children follows starts, exits and terminations', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = dynSup(rt);
    expect(await count(rt, sup)).toBe(0);
    const pids = [];
    for (let i = 0; i < 4; i++) pids.push(await startChild(rt, sup, {}));
    expect(await count(rt, sup)).toBe(4);
    end(rt, pids[0] as Pid, 'normal');
    await terminateChild(rt, sup, pids[1] as Pid);
    await quiesce(rt);
    expect(await count(rt, sup)).toBe(2);
  });

  it('exits with reached_max_restart_intensity, stopping all its children', async () => {
    const { rt, clock } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const sup = dynSup(rt, { restart: 'transient', intensity: 2, periodMs: 1000 });
    const others = [await startChild(rt, sup, {}), await startChild(rt, sup, {})];
    await startChild(rt, sup, { tag: 'victim' });
    for (let i = 0; i < 2; i++) {
      const victim = childrenOf(rt, sup).find((p) => !others.includes(p)) as Pid;
      end(rt, victim, 'error');
      await quiesce(rt);
      clock.advance(400);
      expect(rt.isAlive(sup)).toBe(true);
    }
    end(rt, others[0] as Pid, 'kill');
    await quiesce(rt);
    expect(exits.get(sup)).toEqual(giveUp);
    expect(exits.get(others[1] as Pid)).toEqual(shutdown);
    expect(rt.processCount).toBe(0);
  });

  it('restarts spread over more than the period do not exceed the intensity', async () => {
    const { rt, clock } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const sup = dynSup(rt, { restart: 'permanent', intensity: 1, periodMs: 1000 });
    await startChild(rt, sup, {});
    for (let i = 0; i < 8; i++) {
      end(rt, childrenOf(rt, sup)[0] as Pid, 'error');
      await quiesce(rt);
      expect(rt.isAlive(sup)).toBe(true);
      clock.advance(1001);
    }
    end(rt, childrenOf(rt, sup)[0] as Pid, 'error');
    await quiesce(rt);
    clock.advance(999);
    end(rt, childrenOf(rt, sup)[0] as Pid, 'error');
    await quiesce(rt);
    expect(rt.isAlive(sup)).toBe(false);
  });

  it('counts every failed restart, and gives up when a child cannot start again', async () => {
    const { rt } = simulatedRuntime();
    const w = worker('w');
    let failures = 0;
    rt.modules.load({
      ...w,
      init: (args, ctx) => {
        if (failures > 0) {
          failures--;
          throw new Error('not yet');
        }
        return w.init(args, ctx);
      },
    });
    const exits = exitLog(rt);
    const sup = dynSup(rt, { restart: 'permanent', intensity: 3 });
    const a = await startChild(rt, sup, { tag: 'a' });
    const b = await startChild(rt, sup, { tag: 'b' });
    failures = 1;
    end(rt, a, 'error');
    await quiesce(rt);
    // One failed start, then success: two restarts of three allowed.
    const fresh = childrenOf(rt, sup).find((p) => p !== b) as Pid;
    expect(await argsOf(rt, fresh)).toEqual({ tag: 'a' });
    failures = 10;
    end(rt, fresh, 'error');
    await quiesce(rt);
    expect(exits.get(sup)).toEqual(giveUp);
    expect(exits.get(b)).toEqual(shutdown);
    expect(rt.processCount).toBe(0);
  });

  it('escalates to a parent supervisor, which restarts it empty', async () => {
    const { rt } = simulatedRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const top = rt.spawn('supervisor', {
      children: [
        {
          id: 'sessions',
          type: 'supervisor',
          start: { module: 'dynamic_supervisor', args: { module: 'w', restart: 'permanent', intensity: 0 } },
        },
      ],
    });
    const [first] = await whichChildren(rt, top);
    const sessions = first?.pid as Pid<DynamicSupervisorMessages>;
    const a = await startChild(rt, sessions, {});
    const b = await startChild(rt, sessions, { trapExit: true });
    end(rt, a, 'error');
    await quiesce(rt);
    expect(exits.get(sessions)).toEqual(giveUp);
    expect(exits.get(b)).toEqual(shutdown);
    const [again] = await whichChildren(rt, top);
    const sessions2 = again?.pid as Pid<DynamicSupervisorMessages>;
    expect(sessions2).not.toBe(sessions);
    expect(rt.isAlive(sessions2)).toBe(true);
    expect(await count(rt, sessions2)).toBe(0);
    expect(rt.processCount).toBe(2);
  });

  it('stops all children in parallel: the whole shutdown takes one shutdown timeout', async () => {
    const { rt, clock } = simulatedRuntime();
    const begun: string[] = [];
    rt.modules.load(
      worker('w', (_reason, state) => {
        begun.push(String(state.args.tag));
        return new Promise<void>(() => {});
      }),
    );
    const exits = exitLog(rt);
    const sup = spawnWithParent(rt, 'dynamic_supervisor', { module: 'w', shutdown: 1000 });
    const pids: Pid[] = [];
    for (let i = 0; i < 5; i++) pids.push(await startChild(rt, sup.pid, { tag: `s${i}`, trapExit: true }));
    sup.stop();
    await quiesce(rt, 20);
    expect(begun.sort()).toEqual(['s0', 's1', 's2', 's3', 's4']);
    clock.advance(999);
    await quiesce(rt, 20);
    for (const pid of pids) expect(rt.isAlive(pid)).toBe(true);
    clock.advance(1);
    await quiesce(rt);
    for (const pid of pids) expect(exits.get(pid)).toEqual(killed);
    expect(exits.get(sup.pid)).toEqual(shutdown);
    expect(rt.processCount).toBe(0);
  });

  it('gives the caller HOT_ERR_INIT_FAILED when a child cannot start, and keeps running', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = dynSup(rt, { restart: 'permanent' });
    const a = await startChild(rt, sup, { tag: 'a' });
    const err = await startChild(rt, sup, { failInit: true }).catch((e) => e);
    expect(HotlineError.is(err, 'HOT_ERR_INIT_FAILED')).toBe(true);
    await quiesce(rt);
    expect(rt.isAlive(sup)).toBe(true);
    expect(await count(rt, sup)).toBe(1);
    expect(childrenOf(rt, sup)).toEqual([a]);
    expect(rt.processCount).toBe(2);
    expect(await argsOf(rt, await startChild(rt, sup, { tag: 'b' }))).toEqual({ tag: 'b' });
  });

  it('refuses args that would not survive structuredClone, and keeps running', async () => {
    const rt = newRuntime();
    rt.modules.load({ name: 'w', version: '1.0.0', init: () => ({}) });
    const sup = dynSup(rt);
    await startChild(rt, sup, {});
    const err = await startChild(rt, sup, { onHangup: () => 1 }).catch((e) => e);
    expect(HotlineError.is(err, 'HOT_ERR_INVALID_CHILD_SPEC')).toBe(true);
    await quiesce(rt);
    expect(rt.isAlive(sup)).toBe(true);
    expect(await count(rt, sup)).toBe(1);
    expect(rt.processCount).toBe(2);
  });

  it('refuses invalid options at start', () => {
    const rt = newRuntime();
    const bad: Partial<DynamicSupervisorArgs>[] = [
      { intensity: -1 },
      { periodMs: 0 },
      { restart: 'sometimes' as 'temporary' },
      { shutdown: -1 },
      { maxChildren: -1 },
    ];
    for (const args of bad) {
      const err = (() => {
        try {
          dynSup(rt, args);
        } catch (e) {
          return e;
        }
      })();
      expect(
        HotlineError.is((err as Error | undefined)?.cause, 'HOT_ERR_INVALID_CHILD_SPEC'),
        JSON.stringify(args),
      ).toBe(true);
    }
    expect(rt.processCount).toBe(0);
  });

  it('keeps a state that survives structuredClone', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const sup = dynSup(rt, { restart: 'transient', maxChildren: 10 });
    const a = await startChild(rt, sup, { tag: { nested: [1, { two: 2 }] } });
    await startChild(rt, sup, { tag: 'b' });
    end(rt, a, 'error');
    await quiesce(rt);
    const state = rt.sys.getState(sup) as { children: Map<Pid, unknown> };
    expect(structuredClone(state)).toEqual(state);
    expect([...state.children.values()]).toEqual([{ tag: 'b' }, { tag: { nested: [1, { two: 2 }] } }]);
  });

  it('starts and stops 1,000 children cleanly', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('w'));
    const exits = exitLog(rt);
    const sup = spawnWithParent(rt, 'dynamic_supervisor', { module: 'w' });
    const pids = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => startChild(rt, sup.pid, { tag: i, trapExit: i % 2 === 0 })),
    );
    expect(new Set(pids).size).toBe(1000);
    expect(await count(rt, sup.pid)).toBe(1000);
    expect(rt.processCount).toBe(1002);
    expect(await argsOf(rt, pids[777] as Pid)).toEqual({ tag: 777, trapExit: false });
    sup.stop();
    expect(await quiesce(rt)).toBe(true);
    expect(rt.processCount).toBe(0);
    for (const pid of pids) expect(exits.get(pid)).toEqual(shutdown);
  });
});

// ---- property: random starts, crashes and terminations against a count model ----

const opArb = fc.oneof(
  fc.record({ op: fc.constant('start' as const) }),
  fc.record({
    op: fc.constant('end' as const),
    pick: fc.nat(),
    ending: fc.constantFrom<Ending>('normal', 'shutdown', 'error', 'kill'),
  }),
  fc.record({ op: fc.constant('terminate' as const), pick: fc.nat() }),
);

describe('dynamic_supervisor property', () => {
  it('keeps exactly the children the restart type says, with their args, until it stops', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<'permanent' | 'transient' | 'temporary'>('permanent', 'transient', 'temporary'),
        fc.integer({ min: 1, max: 4 }),
        fc.array(opArb, { maxLength: 25 }),
        async (restart, maxChildren, ops) => {
          const { rt, clock } = simulatedRuntime();
          rt.modules.load(worker('w'));
          // A large intensity: this property is about which children run, not about giving up.
          const sup = spawnWithParent(rt, 'dynamic_supervisor', {
            module: 'w',
            restart,
            maxChildren,
            intensity: 1000,
          });
          /** The tags of the children that should be running. */
          let model: number[] = [];
          let next = 0;
          for (const op of ops) {
            clock.advance(10);
            const live = childrenOf(rt, sup.pid);
            const tags = new Map<Pid, number>();
            for (const pid of live) tags.set(pid, (await argsOf(rt, pid)).tag as number);
            if (op.op === 'start') {
              const tag = next++;
              const r = await startChild(rt, sup.pid, { tag, trapExit: tag % 2 === 0 }).catch((e) => e);
              if (model.length < maxChildren) {
                expect(typeof r).toBe('string');
                model.push(tag);
              } else {
                expect(HotlineError.is(r, 'HOT_ERR_MAX_CHILDREN')).toBe(true);
              }
            } else if (live.length > 0) {
              const pid = live[op.pick % live.length] as Pid;
              const tag = tags.get(pid) as number;
              if (op.op === 'terminate') {
                await terminateChild(rt, sup.pid, pid);
                model = model.filter((t) => t !== tag);
              } else {
                end(rt, pid, op.ending);
                const abnormal = op.ending === 'error' || op.ending === 'kill';
                if (!(restart === 'permanent' || (restart === 'transient' && abnormal))) {
                  model = model.filter((t) => t !== tag);
                }
              }
            }
            expect(await quiesce(rt)).toBe(true);
            const now = childrenOf(rt, sup.pid);
            const nowTags = [];
            for (const pid of now) {
              expect(isLinked(rt, sup.pid, pid)).toBe(true);
              nowTags.push((await argsOf(rt, pid)).tag as number);
            }
            expect(nowTags.sort((x, y) => x - y)).toEqual([...model].sort((x, y) => x - y));
            expect(await count(rt, sup.pid)).toBe(model.length);
            expect(rt.processCount).toBe(2 + model.length);
          }
          sup.stop();
          expect(await quiesce(rt)).toBe(true);
          expect(rt.processCount).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
