/**
 * Installs: live processes moved between releases without stopping them. Preflight (nothing
 * changes when a migration fails), commit (every process, at a message boundary, with no
 * message lost, duplicated or reordered), canary, watch (a crash on new code is caught and
 * rolls back), downgrades, and the slices that keep the event loop free.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Install,
  type InstallHooks,
  type InstallOptions,
  type InstallProgress,
} from '../../server/release/installer.ts';
import { evaluateRelease } from '../../server/release/loader.ts';
import type { ReleaseModule } from '../../server/release/module.ts';
import { type AnyBehaviour, kill, type Pid, type Runtime } from '../../server/runtime/index.ts';
import { bundledFixture, caught, codeOf, settleUntilQuiet, spawnMany } from '../support/release-fixtures.ts';
import { deferred, simulatedRuntime } from '../support/runtime.ts';
import {
  EXTRA_1_TO_2,
  logOf,
  release1,
  release2,
  release3,
  seqsOf,
  type V1,
  type V2,
  type WorkerCast,
} from './workers.ts';

const worker = (r: ReleaseModule): AnyBehaviour => r.behaviours[0] as AnyBehaviour;

function install(
  rt: Runtime,
  from: ReleaseModule,
  to: ReleaseModule,
  options: Partial<InstallOptions> = {},
  hooks: InstallHooks = {},
): Install {
  return new Install(rt, 'test-install', from, to, { watchMs: 1000, ...options }, hooks);
}

/** A runtime whose current 'worker' is `r`, with `n` workers on it (worker i starts at n = 10·i). */
function running(r: ReleaseModule, n: number) {
  const { rt, clock } = simulatedRuntime();
  rt.modules.load(worker(r));
  return { rt, clock, pids: spawnMany(rt, r, n) };
}

const codeChanges = (rt: Runtime) => {
  const log: { pid: Pid; from: string; to: string }[] = [];
  rt.events.on('code_change', (e) => log.push(e));
  return log;
};

const stateOf = <S>(rt: Runtime, pid: Pid): S => rt.sys.getState(pid) as S;
const errCode = (err: unknown): unknown => (err as { code?: unknown }).code;

/** Versions in a log never go back: every entry of the old code comes before the new code's. */
function versionsInOrder(log: string[], order: string[]): boolean {
  const ranks = log.map((e) => order.indexOf(e.split(':')[0] as string));
  return ranks.every((r, i) => r >= 0 && (i === 0 || r >= (ranks[i - 1] as number)));
}

/**
 * Casts `msg` messages to the picked workers, `perTurn` per event-loop turn, from now until
 * `until` settles (and at least one full pass over `picks`). Returns the last seq sent to each.
 */
function traffic(
  rt: Runtime,
  pids: Pid[],
  picks: number[],
  perTurn: number,
  until: Promise<unknown>,
  kind: (k: number) => WorkerCast['type'] = () => 'msg',
): Promise<Map<Pid, number>> {
  const sent = new Map<Pid, number>();
  let over = false;
  void until.finally(() => {
    over = true;
  });
  let k = 0;
  return new Promise((resolve) => {
    const turn = () => {
      for (let j = 0; j < perTurn; j++, k++) {
        const pid = pids[(picks[k % picks.length] as number) % pids.length] as Pid;
        const seq = (sent.get(pid) ?? 0) + 1;
        sent.set(pid, seq);
        rt.cast(pid, { type: kind(k), seq } as WorkerCast);
      }
      if (over && k >= picks.length) resolve(sent);
      else setImmediate(turn);
    };
    turn();
  });
}

describe('full install', () => {
  it('moves every process with its state migrated, and new processes start on the new code', async () => {
    const r1 = release1();
    const r2 = release2();
    const { rt, clock, pids } = running(r1, 50);
    const bystander = rt.spawn({ ...worker(release3()), name: 'bystander' }, 0);
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 1 });
    await settleUntilQuiet(rt);
    const phasesDone: string[] = [];
    const inst = install(rt, r1, r2, {}, { phaseDone: (phase) => phasesDone.push(phase) });
    await inst.start();

    expect(inst.progress).toMatchObject({
      phase: 'watch',
      outcome: null,
      total: 50,
      moved: 50,
      failures: [],
    });
    pids.forEach((pid, i) => {
      expect(codeOf(rt, pid)).toBe(worker(r2));
      expect(stateOf<V2>(rt, pid)).toEqual({ count: i * 10 + 1, history: ['1.0.0:1'], extra: EXTRA_1_TO_2 });
    });
    // Another module's process is not the install's business.
    expect(codeOf(rt, bystander)?.version).toBe('3.0.0');
    expect(rt.modules.get('worker')).toBe(worker(r2));
    const fresh = rt.spawn('worker', 7);
    expect(codeOf(rt, fresh)).toBe(worker(r2));
    expect(stateOf(rt, fresh)).toEqual({ count: 7, history: [], extra: null });

    // The watch window is on the runtime's clock.
    clock.advance(999);
    await settleUntilQuiet(rt);
    expect(inst.progress.outcome).toBeNull();
    clock.advance(1);
    const done = await inst.done;
    expect(done.outcome).toBe('installed');
    expect(done.phases.map((p) => p.phase)).toEqual(['commit', 'watch', 'installed']);
    expect(phasesDone).toEqual(['preflight', 'commit', 'watch']);
    expect(rt.guard).toBeUndefined();
    // The old code is out of the module table: nothing refers to it any more.
    expect(rt.modules.versions().filter((v) => v.module === 'worker')).toEqual([
      { module: 'worker', version: '2.0.0', processes: 51, current: true },
    ]);
    expect(done.processes).toEqual({ '2.0.0': 51 });
  });

  it('loses, duplicates and reorders no message sent during the commit (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 150 }),
        fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 8 }),
        async (n, picks, perTurn, slowEvery) => {
          const r1 = release1();
          const r2 = release2();
          const { rt, pids } = running(r1, n);
          // sliceMs 0: the install yields every 32 processes, so traffic interleaves with it.
          const inst = install(rt, r1, r2, { sliceMs: 0 });
          const started = inst.start();
          const slow = (k: number) => (slowEvery > 0 && k % slowEvery === 0 ? 'slow' : 'msg');
          const sent = await traffic(rt, pids, picks, perTurn, started, slow);
          await started;
          await settleUntilQuiet(rt);
          expect(inst.progress).toMatchObject({ phase: 'watch', moved: n, failures: [] });
          for (const pid of pids) {
            const log = logOf(rt.sys.getState(pid));
            const last = sent.get(pid) ?? 0;
            expect(seqsOf(log)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
            expect(versionsInOrder(log, ['1.0.0', '2.0.0'])).toBe(true);
            expect(codeOf(rt, pid)).toBe(worker(r2));
          }
          await inst.rollback('end of run');
        },
      ),
      { numRuns: 30 },
    );
  });

  it('moves a process that is inside an async callback once the callback settles', async () => {
    const gate = deferred();
    const r1 = release1({ slowUntil: () => gate.promise });
    const r2 = release2();
    const { rt, pids } = running(r1, 3);
    const busy = pids[1] as Pid;
    rt.cast(busy, { type: 'slow', seq: 1 });
    rt.cast(busy, { type: 'msg', seq: 2 });
    await rt.idle();
    expect(rt.lookup(busy)?.busy).toBe(true);
    const inst = install(rt, r1, r2);
    let committed = false;
    const started = inst.start().then(() => {
      committed = true;
    });
    // Far longer than a few retries: the commit must keep waiting for the boundary.
    for (let i = 0; i < 300; i++) await new Promise((r) => setImmediate(r));
    expect(committed).toBe(false);
    expect(codeOf(rt, pids[0] as Pid)).toBe(worker(r2));
    expect(codeOf(rt, busy)).toBe(worker(r1));
    gate.resolve();
    await started;
    await settleUntilQuiet(rt);
    expect(codeOf(rt, busy)).toBe(worker(r2));
    expect(stateOf<V2>(rt, busy).history).toEqual(['1.0.0:1', '2.0.0:2']);
    expect(inst.progress).toMatchObject({ moved: 3, failures: [] });
  });

  it('also moves processes spawned on the old code while it collected and preflighted, once each', async () => {
    const r1 = release1();
    const r2 = release2();
    const { rt, pids } = running(r1, 1000);
    const late: Pid[] = [];
    const changes = codeChanges(rt);
    const inst = install(
      rt,
      r1,
      r2,
      { sliceMs: 0 },
      {
        progress: (p) => {
          if (p.phase === 'preflight' && late.length < 4) late.push(rt.spawn('worker', 1));
        },
      },
    );
    const started = inst.start();
    // The first yield is within the collection of targets (sliceMs 0: every 256 processes).
    setImmediate(() => late.push(rt.spawn('worker', 2)));
    await started;
    expect(late.length).toBeGreaterThan(1);
    for (const pid of [...pids, ...late]) expect(codeOf(rt, pid)).toBe(worker(r2));
    expect(inst.progress).toMatchObject({ total: 1000 + late.length, moved: 1000 + late.length });
    expect(changes).toHaveLength(1000 + late.length);
  });
});

describe('preflight', () => {
  it('aborts when codeChange fails for some states, names those processes, and changes nothing', async () => {
    // Workers 0, 3, 6, … cannot be migrated (worker i has n = 10·i plus the messages it had).
    const r1 = release1();
    const r2 = release2({ failMigration: (s) => Math.floor((s as V1).n / 10) % 3 === 0 });
    const { rt, pids } = running(r1, 400);
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 1 });
    await settleUntilQuiet(rt);
    const failing = pids.filter((_, i) => i % 3 === 0).sort();
    const before = new Map(pids.map((pid) => [pid, structuredClone(rt.sys.getState(pid))]));
    const changes = codeChanges(rt);
    const reported: string[] = [];
    const inst = install(rt, r1, r2, { sliceMs: 0 }, { codeChangeFailed: (f) => reported.push(f.pid) });
    const started = inst.start();
    // Messages keep flowing to the old code meanwhile.
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 2 });
    await started;
    const done = await inst.done;
    await settleUntilQuiet(rt);

    expect(done.outcome).toBe('aborted');
    expect(done.reason).toContain(`preflight of 2.0.0 failed for ${failing.length} process(es)`);
    // The report keeps the first 100; the hook and the count see them all.
    expect(done.failures).toHaveLength(100);
    expect(reported.sort()).toEqual(failing);
    for (const f of done.failures) {
      expect(failing).toContain(f.pid);
      expect(f.module).toBe('worker');
      expect(f.error).toContain('refuses to migrate');
    }
    expect(changes).toEqual([]);
    expect(rt.guard).toBeUndefined();
    expect(rt.modules.get('worker')).toBe(worker(r1));
    expect(codeOf(rt, rt.spawn('worker', 0))).toBe(worker(r1));
    for (const pid of pids) {
      expect(codeOf(rt, pid)).toBe(worker(r1));
      const was = before.get(pid) as V1;
      expect(stateOf<V1>(rt, pid)).toEqual({ n: was.n + 1, log: [...was.log, '1.0.0:2'] });
    }
  });

  it('leaves everything as it was when a single state fails', async () => {
    const r1 = release1();
    const r2 = release2({ failMigration: (s) => (s as V1).n === 20 });
    const { rt, pids } = running(r1, 5);
    const before = pids.map((pid) => structuredClone(rt.sys.getState(pid)));
    const inst = install(rt, r1, r2);
    await inst.start();
    expect(inst.progress.outcome).toBe('aborted');
    expect(inst.progress.failures.map((f) => f.pid)).toEqual([pids[2]]);
    expect(pids.map((pid) => rt.sys.getState(pid))).toEqual(before);
    expect(pids.every((pid) => codeOf(rt, pid) === worker(r1))).toBe(true);
  });
});

describe('canary', () => {
  it('moves a share first; promote moves the rest', async () => {
    const r1 = release1();
    const r2 = release2();
    const { rt, clock, pids } = running(r1, 200);
    const inst = install(rt, r1, r2, { mode: 'canary', canaryFraction: 0.3 });
    await inst.start();
    expect(inst.progress.phase).toBe('canary');
    const moved = pids.filter((pid) => codeOf(rt, pid) === worker(r2));
    expect(moved.length).toBe(inst.progress.moved);
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.length).toBeLessThan(200);
    expect(inst.progress.processes).toEqual({ '1.0.0': 200 - moved.length, '2.0.0': moved.length });
    // Both versions serve meanwhile; new processes get the new one.
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 1 });
    await settleUntilQuiet(rt);
    for (const pid of pids)
      expect(logOf(rt.sys.getState(pid))).toEqual([moved.includes(pid) ? '2.0.0:1' : '1.0.0:1']);
    expect(codeOf(rt, rt.spawn('worker', 0))).toBe(worker(r2));

    await inst.promote();
    expect(inst.progress.phase).toBe('watch');
    expect(inst.progress.moved).toBe(200);
    expect(pids.every((pid) => codeOf(rt, pid) === worker(r2))).toBe(true);
    clock.advance(1000);
    expect((await inst.done).outcome).toBe('installed');
    expect(await caught(() => inst.promote())).toMatchObject({ code: 'HOT_ERR_NO_INSTALL' });
  });

  it('rollback moves the canaries back, with their state migrated down', async () => {
    const r1 = release1();
    const r2 = release2();
    const { rt, pids } = running(r1, 100);
    const inst = install(rt, r1, r2, { mode: 'canary', canaryFraction: 0.5 });
    await inst.start();
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 1 });
    await settleUntilQuiet(rt);
    const canaries = pids.filter((pid) => codeOf(rt, pid) === worker(r2));
    expect(canaries.length).toBeGreaterThan(0);
    const changes = codeChanges(rt);
    await inst.rollback();
    const done = await inst.done;
    expect(done).toMatchObject({ outcome: 'rolled_back', reason: 'rolled back by request' });
    expect(changes.map((c) => c.pid).sort()).toEqual([...canaries].sort());
    expect(changes.every((c) => c.from === '2.0.0' && c.to === '1.0.0')).toBe(true);
    pids.forEach((pid, i) => {
      expect(codeOf(rt, pid)).toBe(worker(r1));
      const tag = canaries.includes(pid) ? '2.0.0:1' : '1.0.0:1';
      expect(stateOf<V1>(rt, pid)).toEqual({ n: i * 10 + 1, log: [tag] });
    });
    expect(rt.modules.get('worker')).toBe(worker(r1));
    expect(rt.guard).toBeUndefined();
    expect(await caught(() => inst.rollback())).toMatchObject({ code: 'HOT_ERR_NO_INSTALL' });
  });

  it('promote is refused when no canary waits', async () => {
    const r1 = release1();
    const { rt } = running(r1, 1);
    const inst = install(rt, r1, release2());
    await inst.start();
    expect(await caught(() => inst.promote())).toMatchObject({ code: 'HOT_ERR_NO_INSTALL' });
  });
});

describe('watch', () => {
  it('catches a crash on the new code, rolls back, and the old code handles the message that crashed', async () => {
    const r1 = release1();
    const r2 = release2({ crashOnBoom: true });
    const { rt, pids } = running(r1, 20);
    const exits: Pid[] = [];
    rt.events.on('exit', (e) => exits.push(e.pid));
    const inst = install(rt, r1, r2);
    await inst.start();
    const target = pids[3] as Pid;
    rt.cast(target, { type: 'msg', seq: 1 });
    rt.cast(target, { type: 'msg', seq: 2 });
    rt.cast(target, { type: 'boom', seq: 3 });
    rt.cast(target, { type: 'msg', seq: 4 });
    for (const pid of pids) if (pid !== target) rt.cast(pid, { type: 'msg', seq: 1 });
    const done = await inst.done;
    await settleUntilQuiet(rt);

    expect(done.outcome).toBe('rolled_back');
    expect(done.crashes).toBe(1);
    expect(done.reason).toContain('cannot take boom 3');
    expect(exits).toEqual([]);
    // Alive, on the old code, with the state it had before the crash (its damage undone).
    expect(codeOf(rt, target)).toBe(worker(r1));
    expect(stateOf<V1>(rt, target)).toEqual({ n: 34, log: ['2.0.0:1', '2.0.0:2', '1.0.0:3', '1.0.0:4'] });
    for (const pid of pids) {
      expect(codeOf(rt, pid)).toBe(worker(r1));
      expect(rt.lookup(pid)?.status).toBe('waiting');
    }
    expect(rt.guard).toBeUndefined();
    expect(rt.modules.get('worker')).toBe(worker(r1));
  });

  it('a caught process whose move back fails is not left suspended: it runs on, unguarded', async () => {
    const r1 = release1();
    // 2.0.0 cannot migrate the crasher back down (the only state that has handled a message).
    const r2 = release2({
      crashOnBoom: true,
      failMigration: (s) => (s as Partial<V2>).history?.includes('2.0.0:1') === true,
    });
    const { rt, pids } = running(r1, 6);
    const inst = install(rt, r1, r2);
    await inst.start();
    const target = pids[3] as Pid;
    rt.cast(target, { type: 'msg', seq: 1 });
    rt.cast(target, { type: 'boom', seq: 2 });
    const ended = rt.awaitExit(target, Number.POSITIVE_INFINITY);
    const done = await inst.done;
    expect(done.outcome).toBe('rolled_back');
    expect(done.failures.map((f) => f.pid)).toEqual([target]);
    // Without the guard, the message it could not take ends it, as any crash would.
    expect((await ended)?.type).toBe('error');
    expect(pids.filter((pid) => pid !== target).every((pid) => codeOf(rt, pid) === worker(r1))).toBe(true);
  });

  it('a crashing call is answered by the old code', async () => {
    const r1 = release1();
    const r2 = release2();
    // The new code's handleCall throws: the caller still gets its answer, from the old code.
    (worker(r2) as { handleCall: unknown }).handleCall = () => {
      throw new Error('2.0.0 cannot answer');
    };
    const { rt, pids } = running(r1, 2);
    const inst = install(rt, r1, r2);
    await inst.start();
    const answer = await rt.call(pids[1] as Pid, { type: 'state' });
    expect(answer).toEqual({ n: 10, log: [] });
    expect((await inst.done).outcome).toBe('rolled_back');
  });

  it('tolerates maxCrashes crashes (those processes crash as usual); one more rolls back', async () => {
    const r1 = release1();
    const r2 = release2({ crashOnBoom: true });
    const { rt, pids } = running(r1, 10);
    const exits: Pid[] = [];
    rt.events.on('exit', (e) => exits.push(e.pid));
    const inst = install(rt, r1, r2, { maxCrashes: 1 });
    await inst.start();
    const [a, b, c] = pids as [Pid, Pid, Pid];
    rt.cast(a, { type: 'boom', seq: 1 });
    await settleUntilQuiet(rt);
    expect(exits).toEqual([a]);
    expect(inst.progress).toMatchObject({ phase: 'watch', crashes: 1, outcome: null });
    expect(codeOf(rt, c)).toBe(worker(r2));

    rt.cast(b, { type: 'boom', seq: 1 });
    const done = await inst.done;
    await settleUntilQuiet(rt);
    expect(done).toMatchObject({ outcome: 'rolled_back', crashes: 2 });
    expect(exits).toEqual([a]);
    expect(stateOf<V1>(rt, b)).toEqual({ n: 11, log: ['1.0.0:1'] });
    expect(codeOf(rt, c)).toBe(worker(r1));
  });

  it('counts abnormal exits it could not catch (a kill) as crashes', async () => {
    const r1 = release1();
    const r2 = release2();
    const { rt, pids } = running(r1, 4);
    const inst = install(rt, r1, r2);
    await inst.start();
    rt.exit(pids[0] as Pid, kill);
    const done = await inst.done;
    expect(done).toMatchObject({ outcome: 'rolled_back', crashes: 1 });
    expect(done.reason).toContain('abnormal exit');
    expect(pids.slice(1).every((pid) => codeOf(rt, pid) === worker(r1))).toBe(true);
  });

  it('after the window, the new code is installed and a crash is an ordinary crash again', async () => {
    const r1 = release1();
    const r2 = release2({ crashOnBoom: true });
    const { rt, clock, pids } = running(r1, 3);
    const inst = install(rt, r1, r2, { watchMs: 60_000 });
    await inst.start();
    clock.advance(60_000);
    expect((await inst.done).outcome).toBe('installed');
    const ended = rt.awaitExit(pids[0] as Pid, Number.POSITIVE_INFINITY);
    rt.cast(pids[0] as Pid, { type: 'boom', seq: 1 });
    expect((await ended)?.type).toBe('error');
    expect(codeOf(rt, pids[1] as Pid)).toBe(worker(r2));
  });

  it('a crash during the commit stops the commit: every process ends on the old code', async () => {
    const r1 = release1();
    const r2 = release2({ crashOnBoom: true });
    const { rt, pids } = running(r1, 2000);
    const first = pids[0] as Pid;
    let sent = false;
    const inst = install(
      rt,
      r1,
      r2,
      { sliceMs: 0 },
      {
        progress: (p) => {
          // Between two commit slices, once the first process is on the new code.
          if (p.phase === 'commit' && !sent && codeOf(rt, first) === worker(r2)) {
            sent = true;
            rt.cast(first, { type: 'boom', seq: 1 });
          }
        },
      },
    );
    await inst.start();
    const done = await inst.done;
    await settleUntilQuiet(rt);
    expect(sent).toBe(true);
    expect(done.outcome).toBe('rolled_back');
    expect(done.phase).toBe('rolled_back');
    expect(done.phases.at(-1)?.phase).toBe('rolled_back');
    expect(done.phases.map((p) => p.phase)).not.toContain('watch');
    expect(pids.filter((pid) => codeOf(rt, pid) !== worker(r1))).toEqual([]);
    expect(stateOf<V1>(rt, first).log).toEqual(['1.0.0:1']);
    expect(rt.guard).toBeUndefined();
  });
});

describe('watch: errors the new code reports', () => {
  const oops = (rt: Runtime, pid: Pid, seq: number) => rt.cast(pid, { type: 'oops', seq });

  it('counts them; one past maxErrors rolls every process back, and none exits', async () => {
    const r1 = release1();
    const r2 = release2({ errorOnOops: true });
    const { rt, pids } = running(r1, 10);
    const exits: Pid[] = [];
    rt.events.on('exit', (e) => exits.push(e.pid));
    const inst = install(rt, r1, r2, { maxErrors: 1 });
    await inst.start();
    const [a, b] = pids as [Pid, Pid];
    oops(rt, a, 1);
    await settleUntilQuiet(rt);
    expect(inst.progress).toMatchObject({ phase: 'watch', errors: 1, crashes: 0, outcome: null });
    expect(codeOf(rt, b)).toBe(worker(r2));

    oops(rt, b, 2);
    const done = await inst.done;
    await settleUntilQuiet(rt);
    expect(done).toMatchObject({ outcome: 'rolled_back', errors: 2, crashes: 0 });
    expect(done.reason).toMatch(
      /^2 error\(s\) reported on 2\.0\.0 by 10 process\(es\) on it, over the 1 tolerated/,
    );
    expect(done.reason).toContain('worker 2.0.0 failed on oops 2');
    expect(exits).toEqual([]);
    // An error is not a crash: the message was handled by the new code and stays handled.
    expect(stateOf<V1>(rt, b)).toEqual({ n: 11, log: ['2.0.0:2'] });
    expect(pids.filter((pid) => codeOf(rt, pid) !== worker(r1))).toEqual([]);
    expect(rt.guard).toBeUndefined();
  });

  it('maxErrorRate tolerates more as more processes run the new code, moved or started on it', async () => {
    const r1 = release1();
    const r2 = release2({ errorOnOops: true });
    const { rt, pids } = running(r1, 10);
    // 0.2 × 10 moved: 2 tolerated.
    const inst = install(rt, r1, r2, { maxErrorRate: 0.2 });
    await inst.start();
    oops(rt, pids[0] as Pid, 1);
    oops(rt, pids[1] as Pid, 1);
    await settleUntilQuiet(rt);
    expect(inst.progress).toMatchObject({ phase: 'watch', errors: 2 });
    // 5 more on the new code: 0.2 × 15, 3 tolerated.
    const started = Array.from({ length: 5 }, () => rt.spawn('worker', 0));
    expect(codeOf(rt, started[0] as Pid)).toBe(worker(r2));
    oops(rt, started[0] as Pid, 1);
    await settleUntilQuiet(rt);
    expect(inst.progress).toMatchObject({ phase: 'watch', errors: 3 });

    oops(rt, started[1] as Pid, 1);
    const done = await inst.done;
    expect(done).toMatchObject({ outcome: 'rolled_back', errors: 4 });
    expect(done.reason).toMatch(
      /^4 error\(s\) reported on 2\.0\.0 by 15 process\(es\) on it, over the 3 tolerated/,
    );
    await settleUntilQuiet(rt);
    expect([...pids, ...started].filter((pid) => codeOf(rt, pid) !== worker(r1))).toEqual([]);
  });

  it("counts only processes on the new code: the old code of a canary's rest reports in vain", async () => {
    const r1 = release1({ errorOnOops: true });
    const r2 = release2({ errorOnOops: true });
    const { rt, pids } = running(r1, 4);
    const inst = install(rt, r1, r2, { mode: 'canary', canaryFraction: 0 });
    await inst.start();
    for (const pid of pids) oops(rt, pid, 1);
    await settleUntilQuiet(rt);
    expect(inst.progress).toMatchObject({ phase: 'canary', errors: 0, outcome: null });
    // One started on the new code reports: that one counts.
    oops(rt, rt.spawn('worker', 0), 1);
    expect(await inst.done).toMatchObject({ outcome: 'rolled_back', errors: 1 });
  });

  it('stays installed under the threshold; after the window an error counts no more', async () => {
    const r1 = release1();
    const r2 = release2({ errorOnOops: true });
    const { rt, clock, pids } = running(r1, 3);
    const inst = install(rt, r1, r2, { maxErrors: 2 });
    await inst.start();
    oops(rt, pids[0] as Pid, 1);
    oops(rt, pids[1] as Pid, 1);
    await settleUntilQuiet(rt);
    clock.advance(1000);
    const done = await inst.done;
    expect(done).toMatchObject({ outcome: 'installed', errors: 2 });
    oops(rt, pids[2] as Pid, 1);
    await settleUntilQuiet(rt);
    expect(done.errors).toBe(2);
    expect(pids.every((pid) => codeOf(rt, pid) === worker(r2))).toBe(true);
  });
});

describe('paths', () => {
  it('downgrades (direction down): the newer code migrates the state back', async () => {
    const r2 = release2();
    const { rt, clock, pids } = running(r2, 10);
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 1 });
    await settleUntilQuiet(rt);
    const r1 = release1();
    const inst = install(rt, r2, r1);
    expect(inst.progress.direction).toBe('down');
    await inst.start();
    clock.advance(1000);
    expect((await inst.done).outcome).toBe('installed');
    pids.forEach((pid, i) => {
      expect(codeOf(rt, pid)).toBe(worker(r1));
      expect(stateOf(rt, pid)).toEqual({ n: i * 10 + 1, log: ['2.0.0:1'] });
    });
  });

  it('runs a chain 1 → 2 → 3 → 2 → 1 with the appup extra, and the states come back as they were', async () => {
    const chain = [release1(), release2(), release3(), release2(), release1()];
    const { rt, clock, pids } = running(chain[0] as ReleaseModule, 5);
    for (let step = 1; step < chain.length; step++) {
      const inst = install(rt, chain[step - 1] as ReleaseModule, chain[step] as ReleaseModule);
      await inst.start();
      for (const pid of pids) rt.cast(pid, { type: 'msg', seq: step });
      await settleUntilQuiet(rt);
      clock.advance(1000);
      expect((await inst.done).outcome).toBe('installed');
      if (step === 1) expect(stateOf<V2>(rt, pids[0] as Pid).extra).toEqual(EXTRA_1_TO_2);
    }
    await settleUntilQuiet(rt);
    pids.forEach((pid, i) => {
      expect(codeOf(rt, pid)).toBe(worker(chain[4] as ReleaseModule));
      expect(stateOf(rt, pid)).toEqual({ n: i * 10 + 4, log: ['2.0.0:1', '3.0.0:2', '2.0.0:3', '1.0.0:4'] });
    });
  });

  it('refuses releases with no path either way: HOT_ERR_NO_UPGRADE_PATH', async () => {
    const { rt } = simulatedRuntime();
    const r1 = release1();
    const noWayBack = { ...release2(), downgradeTo: [] };
    for (const [from, to] of [
      [r1, release3()],
      [release3(), r1],
      [r1, noWayBack],
      [r1, release1()],
    ] as const) {
      const err = await caught(() => install(rt, from, to));
      expect(errCode(err), `${from.version} → ${to.version}`).toBe('HOT_ERR_NO_UPGRADE_PATH');
    }
    // Refused before anything started: no guard was set.
    expect(rt.guard).toBeUndefined();
  });

  it('installs the real bundles, loaded through the vm path', async () => {
    const [c1, c2] = await Promise.all([bundledFixture('1.0.0'), bundledFixture('2.0.0')]);
    const r1 = evaluateRelease(c1, '1.0.0');
    const { rt, clock, pids } = running(r1, 20);
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 1 });
    await settleUntilQuiet(rt);
    const up = install(rt, r1, evaluateRelease(c2, '2.0.0'));
    await up.start();
    for (const pid of pids) rt.cast(pid, { type: 'msg', seq: 2 });
    clock.advance(1000);
    expect((await up.done).outcome).toBe('installed');
    await settleUntilQuiet(rt);
    pids.forEach((pid, i) => {
      expect(codeOf(rt, pid)?.version).toBe('2.0.0');
      expect(stateOf(rt, pid)).toEqual({
        count: i * 10 + 2,
        history: ['1.0.0:1', '2.0.0:2'],
        extra: { reshaped: true },
      });
    });
    // Back down onto a fresh load of 1.0.0.
    const current = {
      ...evaluateRelease(c2, '2.0.0'),
      behaviours: [codeOf(rt, pids[0] as Pid) as AnyBehaviour],
    };
    const r1again = evaluateRelease(c1, '1.0.0');
    const down = install(rt, current, r1again);
    await down.start();
    clock.advance(1000);
    expect((await down.done).outcome).toBe('installed');
    expect(stateOf(rt, pids[1] as Pid)).toEqual({ n: 12, log: ['1.0.0:1', '2.0.0:2'] });
    expect(codeOf(rt, pids[1] as Pid)).toBe(worker(r1again));
  });
});

describe('slices', () => {
  it('yields to the event loop during preflight and commit, reporting progress between slices', async () => {
    const r1 = release1();
    const r2 = release2();
    const { rt, pids } = running(r1, 5000);
    const reports: { phase: string; moved: number; slices: number }[] = [];
    const inst = install(
      rt,
      r1,
      r2,
      { sliceMs: 1 },
      {
        progress: (p: InstallProgress) =>
          reports.push({ phase: p.phase, moved: p.moved, slices: rt.scheduler.slices }),
      },
    );
    const started = inst.start();
    // Keep the scheduler busy: it must get turns while the install runs.
    const sent = await traffic(rt, pids, [0, 1234, 4999], 3, started);
    await started;
    await settleUntilQuiet(rt);
    const commits = reports.filter((r) => r.phase === 'commit');
    expect(commits.length).toBeGreaterThan(1);
    expect((commits.at(-1) as { slices: number }).slices).toBeGreaterThan(
      (commits[0] as { slices: number }).slices,
    );
    // Progress moves forward between slices.
    const moved = commits.map((r) => r.moved);
    expect(moved).toEqual([...moved].sort((a, b) => a - b));
    expect(moved.at(-1)).toBeLessThan(5000);
    expect(inst.progress.longestSliceMs).toBeGreaterThan(0);
    expect(inst.progress.longestSliceMs).toBeLessThan(1000);
    for (const pid of [pids[0], pids[1234], pids[4999]] as Pid[])
      expect(seqsOf(logOf(rt.sys.getState(pid)))).toHaveLength(sent.get(pid) ?? 0);
  });
});

describe('memory', () => {
  /** V8's gc(), without starting the test process with --expose-gc. */
  const exposedGc = (): (() => void) => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  };

  /** Whether `ref`'s target is gone after a few collections (deref() keeps it alive to the end of its job, so look last). */
  async function collected(ref: WeakRef<object>): Promise<boolean> {
    const gc = exposedGc();
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return ref.deref() === undefined;
  }

  /** Up from r1 to a fresh load of 2.0.0 and, unless `stayUp`, back down; a weak reference to 2.0.0's code. */
  async function upAndDown(stayUp: boolean) {
    const [c1, c2] = await Promise.all([bundledFixture('1.0.0'), bundledFixture('2.0.0')]);
    const r1 = evaluateRelease(c1, '1.0.0');
    const { rt, clock, pids } = running(r1, 20);
    const ref = await (async () => {
      const r2 = evaluateRelease(c2, '2.0.0');
      const up = install(rt, r1, r2);
      await up.start();
      clock.advance(1000);
      expect((await up.done).outcome).toBe('installed');
      if (!stayUp) {
        const down = install(rt, r2, r1);
        await down.start();
        clock.advance(1000);
        expect((await down.done).outcome).toBe('installed');
      }
      return new WeakRef(worker(r2));
    })();
    await settleUntilQuiet(rt);
    for (const pid of pids) expect(codeOf(rt, pid)?.version).toBe(stayUp ? '2.0.0' : '1.0.0');
    return { ref, rt };
  }

  it('a release no process runs any more is garbage: its code is collected after the downgrade', async () => {
    const { ref } = await upAndDown(false);
    expect(await collected(ref)).toBe(true);
  });

  it('a release processes still run is kept', async () => {
    const { ref, rt } = await upAndDown(true);
    expect(await collected(ref)).toBe(false);
    expect(rt.modules.versions().some((v) => v.version === '2.0.0' && v.processes === 20)).toBe(true);
  });
});

describe('traffic first', () => {
  /** Event-loop turns a full install of 2,000 processes takes while the scheduler says it is `behind` or not. */
  async function turnsOfInstall(behind: boolean): Promise<number> {
    const r1 = release1();
    const { rt, clock, pids } = running(r1, 2000);
    Object.defineProperty(rt.scheduler, 'behind', { get: () => behind });
    let turns = 0;
    let counting = true;
    const tick = () => {
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const inst = install(rt, r1, release2(), { sliceMs: 0 });
    await inst.start();
    counting = false;
    clock.advance(1000);
    expect((await inst.done).outcome).toBe('installed');
    for (const pid of pids) expect(codeOf(rt, pid)?.version).toBe('2.0.0');
    return turns;
  }

  it('waits a few turns between its slices while the scheduler is behind, and still finishes', async () => {
    const free = await turnsOfInstall(false);
    const yielding = await turnsOfInstall(true);
    // Every slice waits up to eight more turns for the scheduler.
    expect(yielding).toBeGreaterThan(5 * free);
  });
});
