/**
 * The runtime's narrow API for the release layer: scans, batch suspend (busy and held ones
 * told apart), changeCode and resume, snapshots that are copies, the guard through methods;
 * and the release layer using nothing else of the runtime's processes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ReleaseModule } from '../../server/release/module.ts';
import {
  type AnyBehaviour,
  type ChangeCodeOptions,
  type CrashGuard,
  kill,
  type Pid,
} from '../../server/runtime/index.ts';
import { codeOf, settleUntilQuiet, spawnMany } from '../support/release-fixtures.ts';
import { deferred, simulatedRuntime } from '../support/runtime.ts';
import { EXTRA_1_TO_2, release1, release2, type V1 } from './workers.ts';

const worker = (r: ReleaseModule): AnyBehaviour => r.behaviours[0] as AnyBehaviour;

describe('release API', () => {
  it('scans in steps for the processes of some code, seeing those spawned between steps', async () => {
    const [r1, other] = [release1(), release1()];
    const { rt } = simulatedRuntime();
    const pids = spawnMany(rt, r1, 600);
    rt.spawn(worker(other), 0);
    const scan = rt.release.scan(new Set([worker(r1)]));
    // 0 ms: a step looks at the time every 256 processes and stops there.
    expect(scan.step(0)).toBe(false);
    expect(scan.pids).toHaveLength(256);
    const late = rt.spawn(worker(r1), 0);
    while (!scan.step(0));
    expect(scan.pids).toEqual([...pids, late]);
  });

  it('suspends a batch at a message boundary: busy and already-suspended ones are told apart', async () => {
    const gate = deferred();
    const r1 = release1({ slowUntil: () => gate.promise });
    const { rt } = simulatedRuntime();
    const [a, busy, held, other] = [...spawnMany(rt, r1, 3), rt.spawn(worker(release1()), 0)] as Pid[];
    rt.cast(busy as Pid, { type: 'slow', seq: 1 });
    await rt.idle();
    rt.sys.trySuspend(held as Pid);
    const batch = rt.release.suspend([a, busy, held, other] as Pid[], new Set([worker(r1)]));
    expect(batch).toEqual({ suspended: [a], busy: [busy], held: [held] });
    expect(rt.lookup(a as Pid)?.suspended).toBe(true);
    expect(rt.lookup(other as Pid)?.suspended).toBe(false);
    rt.cast(a as Pid, { type: 'msg', seq: 2 });
    await rt.idle();
    expect(rt.sys.getState(a as Pid)).toEqual({ n: 0, log: [] });
    rt.release.resume([a, held, other] as Pid[]);
    gate.resolve();
    await settleUntilQuiet(rt);
    expect(rt.sys.getState(a as Pid)).toEqual({ n: 1, log: ['1.0.0:2'] });
  });

  it('changes the code of suspended processes along the moves, reporting those that fail', async () => {
    const r1 = release1();
    const r2 = release2({ failMigration: (s) => (s as V1).n === 10 });
    const { rt } = simulatedRuntime();
    const pids = spawnMany(rt, r1, 3);
    const stranger = rt.spawn(worker(release1()), 0);
    const all = [...pids, stranger];
    for (const pid of all) rt.sys.trySuspend(pid);
    const failed: [Pid, string][] = [];
    const moves = new Map<AnyBehaviour, ChangeCodeOptions>([
      [worker(r1), { to: worker(r2), direction: 'up', extra: EXTRA_1_TO_2 }],
    ]);
    expect(rt.release.changeCode(all, moves, (pid, module) => failed.push([pid, module]))).toBe(2);
    expect(failed).toEqual([[pids[1], 'worker']]);
    expect(all.map((pid) => codeOf(rt, pid)?.version)).toEqual(['2.0.0', '1.0.0', '2.0.0', '1.0.0']);
    expect(codeOf(rt, stranger)).not.toBe(worker(r2));
    rt.release.resume(all);
    expect(all.every((pid) => rt.lookup(pid)?.suspended === false)).toBe(true);
  });

  it('snapshots a copy of a state; a gone process has none', async () => {
    const r1 = release1();
    const { rt } = simulatedRuntime();
    const [pid] = spawnMany(rt, r1, 1) as [Pid];
    const snap = rt.release.snapshot(pid);
    expect(snap).toEqual({ code: worker(r1), state: { n: 0, log: [] } });
    (snap?.state as V1 | undefined)?.log.push('scribble');
    expect(rt.sys.getState(pid)).toEqual({ n: 0, log: [] });
    rt.exit(pid, kill);
    await settleUntilQuiet(rt);
    expect(rt.release.snapshot(pid)).toBeUndefined();
    expect(rt.release.codeOf(pid)).toBeUndefined();
  });

  it('sets and clears the guard through methods; clearing another’s guard does nothing', () => {
    const { rt } = simulatedRuntime();
    const g: CrashGuard = { covers: () => false, caught: () => false };
    const h: CrashGuard = { covers: () => false, caught: () => false };
    rt.release.setGuard(g);
    expect(rt.release.guarding(g)).toBe(true);
    rt.release.clearGuard(h);
    expect(rt.release.guarding(g)).toBe(true);
    rt.release.clearGuard(g);
    expect(rt.release.guarding(g)).toBe(false);
    expect(rt.guard).toBeUndefined();
  });

  it('loads code, counts processes per behaviour object', () => {
    const r1 = release1();
    const { rt } = simulatedRuntime();
    rt.release.load([worker(r1)]);
    spawnMany(rt, r1, 4);
    expect(rt.modules.get('worker')).toBe(worker(r1));
    expect(rt.release.count(worker(r1))).toBe(4);
    expect(rt.release.count(worker(release1()))).toBe(0);
  });

  it('is all the release layer uses of processes: no lookup, no process table, no guard assignment', () => {
    const dir = fileURLToPath(new URL('../../server/release/', import.meta.url));
    const reaches = /\brt\.(lookup|processes|sys|modules|events|scheduler)\b|\.guard\s*=[^=]/;
    const offending = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => reaches.test(readFileSync(`${dir}${f}`, 'utf8')));
    expect(offending).toEqual([]);
  });
});
