/**
 * The mover on the simulated clock: batches and slices, busy processes tried again then waited
 * for, the suspend timeout (on the runtime's clock), failures put back, reloads without
 * codeChange, processes of other code left alone, and the dry run that changes nothing.
 */
import { describe, expect, it } from 'vitest';
import type { ReleaseModule } from '../../server/release/module.ts';
import { type DryRun, Mover, type Moves, SUSPEND_TIMEOUT_MS } from '../../server/release/mover.ts';
import type { AnyBehaviour, ChangeCodeOptions, Pid, Runtime } from '../../server/runtime/index.ts';
import { codeOf, settleUntilQuiet, spawnMany } from '../support/release-fixtures.ts';
import { deferred, simulatedRuntime } from '../support/runtime.ts';
import { type Logged, mixed1, mixed2 } from './modules.ts';
import { EXTRA_1_TO_2, logOf, release1, release2, type V1, type V2 } from './workers.ts';

const worker = (r: ReleaseModule): AnyBehaviour => r.behaviours[0] as AnyBehaviour;
const moduleOf = (r: ReleaseModule, name: string) =>
  r.behaviours.find((b) => b.name === name) as AnyBehaviour;

/** A mover on `rt` that records what it reports. */
function mover(rt: Runtime, sliceMs = 1000) {
  const seen = { slices: 0, between: 0, failed: [] as { pid: Pid; module: string; error: unknown }[] };
  const m = new Mover(rt.release, sliceMs, {
    sliced: () => seen.slices++,
    between: () => seen.between++,
    failed: (pid, module, error) => seen.failed.push({ pid, module, error }),
  });
  return { m, seen };
}

const up = (from: ReleaseModule, to: ReleaseModule): Moves =>
  new Map<AnyBehaviour, ChangeCodeOptions>([
    [worker(from), { to: worker(to), direction: 'up', extra: EXTRA_1_TO_2 }],
  ]);

/** Move `pids`; resolves with the batch counts heard. */
async function moveAll(m: Mover, pids: Pid[], moves: Moves, stopped = () => false): Promise<number[]> {
  const counts: number[] = [];
  await m.move(pids, moves, stopped, (n) => counts.push(n));
  return counts;
}

describe('mover', () => {
  it('moves in batches of 32, yielding between slices, each state migrated', async () => {
    const [r1, r2] = [release1(), release2()];
    const { rt } = simulatedRuntime();
    const pids = spawnMany(rt, r1, 100);
    const one = mover(rt, 1000);
    expect(await moveAll(one.m, pids, up(r1, r2))).toEqual([32, 32, 32, 4]);
    expect(one.seen).toMatchObject({ slices: 1, between: 0, failed: [] });
    pids.forEach((pid, i) => {
      expect(codeOf(rt, pid)).toBe(worker(r2));
      expect(rt.sys.getState(pid)).toEqual({ count: i * 10, history: [], extra: EXTRA_1_TO_2 });
    });
    // Nothing is left suspended: the moved processes take their messages.
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 1 });
    await settleUntilQuiet(rt);
    for (const pid of pids) expect(logOf(rt.sys.getState(pid))).toEqual(['2.0.0:1']);

    // sliceMs 0: a slice per batch, with a yield (and a progress report) between.
    const { rt: rt2 } = simulatedRuntime();
    const sliced = mover(rt2, 0);
    await moveAll(sliced.m, spawnMany(rt2, r1, 100), up(r1, r2));
    expect(sliced.seen).toMatchObject({ slices: 4, between: 3 });
  });

  it('leaves processes of other code alone: not suspended, not moved', async () => {
    const [r1, r2] = [release1(), release2()];
    const { rt } = simulatedRuntime();
    const pids = spawnMany(rt, r1, 3);
    const other = rt.spawn(worker(release1()), 0);
    const suspends: Pid[] = [];
    const { m } = mover(rt);
    const trySuspend = rt.sys.trySuspend.bind(rt.sys);
    rt.sys.trySuspend = (pid) => {
      suspends.push(pid);
      return trySuspend(pid);
    };
    expect(await moveAll(m, [...pids, other], up(r1, r2))).toEqual([3]);
    expect(suspends).toEqual(pids);
    expect(codeOf(rt, other)).not.toBe(worker(r2));
  });

  it('reloads without codeChange: the state is kept as it is', async () => {
    const [r1, r2] = [mixed1(), mixed2()];
    const { rt } = simulatedRuntime();
    const cache = rt.spawn(moduleOf(r1, 'cache'));
    rt.cast(cache, { seq: 1 });
    await settleUntilQuiet(rt);
    const changes: string[] = [];
    rt.events.on('code_change', (e) => changes.push(`${e.module} ${e.from}→${e.to}`));
    const { m, seen } = mover(rt);
    const moves: Moves = new Map([
      [moduleOf(r1, 'cache'), { to: moduleOf(r2, 'cache'), direction: 'up', reload: true }],
    ]);
    expect(await moveAll(m, [cache], moves)).toEqual([1]);
    expect(seen.failed).toEqual([]);
    expect(codeOf(rt, cache)).toBe(moduleOf(r2, 'cache'));
    expect(rt.sys.getState(cache)).toEqual({ seen: ['1.0.0:1'] });
    expect(changes).toEqual(['cache 1.0.0→2.0.0']);
    rt.cast(cache, { seq: 2 });
    await settleUntilQuiet(rt);
    expect((rt.sys.getState(cache) as Logged).seen).toEqual(['1.0.0:1', '2.0.0:2']);
  });

  it('puts failures back: a process whose codeChange throws keeps its code and state, and runs on', async () => {
    const r1 = release1();
    const r2 = release2({ failMigration: (s) => (s as V1).n === 20 });
    const { rt } = simulatedRuntime();
    const pids = spawnMany(rt, r1, 4);
    const { m, seen } = mover(rt);
    expect(await moveAll(m, pids, up(r1, r2))).toEqual([3]);
    expect(seen.failed).toMatchObject([{ pid: pids[2], module: 'worker' }]);
    expect(seen.failed[0]?.error).toMatchObject({ code: 'HOT_ERR_CODE_CHANGE_FAILED' });
    const failed = pids[2] as Pid;
    expect(codeOf(rt, failed)).toBe(worker(r1));
    expect(rt.sys.getState(failed)).toEqual({ n: 20, log: [] });
    rt.cast(failed, { type: 'msg', seq: 1 });
    await settleUntilQuiet(rt);
    expect(rt.sys.getState(failed)).toEqual({ n: 21, log: ['1.0.0:1'] });
  });

  it('tries a busy process again, then waits for its boundary and moves it there', async () => {
    const gate = deferred();
    const r1 = release1({ slowUntil: () => gate.promise });
    const r2 = release2();
    const { rt } = simulatedRuntime();
    const pids = spawnMany(rt, r1, 3);
    const busy = pids[1] as Pid;
    rt.cast(busy, { type: 'slow', seq: 1 });
    await rt.idle();
    const { m, seen } = mover(rt);
    const counts: number[] = [];
    let over = false;
    const moving = m
      .move(
        pids,
        up(r1, r2),
        () => false,
        (n) => counts.push(n),
      )
      .then(() => {
        over = true;
      });
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(over).toBe(false);
    expect(counts).toEqual([2]);
    expect(codeOf(rt, busy)).toBe(worker(r1));
    gate.resolve();
    await moving;
    expect(counts).toEqual([2, 1]);
    expect(seen.failed).toEqual([]);
    expect((rt.sys.getState(busy) as V2).history).toEqual(['1.0.0:1']);
    expect(codeOf(rt, busy)).toBe(worker(r2));
  });

  it('gives up on a process busy past the suspend timeout, on the runtime’s clock: it keeps its code', async () => {
    const gate = deferred();
    const r1 = release1({ slowUntil: () => gate.promise });
    const r2 = release2();
    const { rt, clock } = simulatedRuntime();
    const [busy] = spawnMany(rt, r1, 1) as [Pid];
    rt.cast(busy, { type: 'slow', seq: 1 });
    await rt.idle();
    const { m, seen } = mover(rt);
    let over = false;
    const moving = moveAll(m, [busy], up(r1, r2)).then((counts) => {
      over = true;
      return counts;
    });
    // The quick retries are done once the wait has set its timer.
    while (clock.pending === 0) await new Promise((r) => setImmediate(r));
    clock.advance(SUSPEND_TIMEOUT_MS - 1);
    await new Promise((r) => setImmediate(r));
    expect(over).toBe(false);
    clock.advance(1);
    expect(await moving).toEqual([]);
    expect(seen.failed).toMatchObject([
      { pid: busy, module: 'worker', error: { code: 'HOT_ERR_SUSPEND_TIMEOUT' } },
    ]);
    gate.resolve();
    await settleUntilQuiet(rt);
    expect(codeOf(rt, busy)).toBe(worker(r1));
    expect(rt.sys.getState(busy)).toEqual({ n: 1, log: ['1.0.0:1'] });
  });

  it('stops between batches once told to', async () => {
    const [r1, r2] = [release1(), release2()];
    const { rt } = simulatedRuntime();
    const pids = spawnMany(rt, r1, 100);
    const { m } = mover(rt, 0);
    let batches = 0;
    const counts = await moveAll(m, pids, up(r1, r2), () => batches++ >= 2);
    expect(counts).toEqual([32, 32]);
    expect(pids.filter((pid) => codeOf(rt, pid) === worker(r2))).toHaveLength(64);
  });

  it('collects the processes of some code, and dry-runs their migration changing nothing', async () => {
    const [r1, r2] = [release1(), release2({ failMigration: (s) => (s as V1).n % 30 === 0 })];
    const { rt } = simulatedRuntime();
    const pids = spawnMany(rt, r1, 10);
    rt.spawn(worker(release1()), 0);
    const { m, seen } = mover(rt, 0);
    const found = await m.collect(new Set([worker(r1)]));
    expect(found).toEqual(pids);
    const before = pids.map((pid) => structuredClone(rt.sys.getState(pid)));
    const run: DryRun = {
      dry: { from: worker(r1), to: worker(r2) },
      real: { from: worker(r1), to: worker(r2) },
      direction: 'up',
      extra: EXTRA_1_TO_2,
    };
    expect(await m.dryRun(found, new Map([[worker(r1), run]]))).toBe(4);
    expect(seen.failed.map((f) => f.pid)).toEqual([pids[0], pids[3], pids[6], pids[9]]);
    expect(pids.map((pid) => rt.sys.getState(pid))).toEqual(before);
    expect(pids.every((pid) => codeOf(rt, pid) === worker(r1))).toBe(true);
  });
});
