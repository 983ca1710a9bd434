/**
 * Installs whose appup edge changes some modules and not others: migrated modules get
 * codeChange, reloaded ones switch code with their state as it is, unchanged ones are left
 * alone (not suspended, not moved, not re-pointed), both ways. And the progress names the
 * plan's step running.
 */
import { describe, expect, it } from 'vitest';
import { Install } from '../../server/release/installer.ts';
import type { ReleaseModule } from '../../server/release/module.ts';
import { type AnyBehaviour, kill, type Pid, type Runtime } from '../../server/runtime/index.ts';
import { codeOf, settleUntilQuiet } from '../support/release-fixtures.ts';
import { simulatedRuntime } from '../support/runtime.ts';
import { CANARY_STEPS, mixed1, mixed2 } from './modules.ts';
import { EXTRA_1_TO_2 } from './workers.ts';

const moduleOf = (r: ReleaseModule, name: string) =>
  r.behaviours.find((b) => b.name === name) as AnyBehaviour;

/** A node running `r`: 4 workers, 3 caches, 2 echoes, each having handled one message. */
async function running(r: ReleaseModule) {
  const { rt, clock } = simulatedRuntime();
  for (const b of r.behaviours) rt.modules.load(b);
  const spawn = (name: string, n: number) => Array.from({ length: n }, (_, i) => rt.spawn(name, i));
  const pids = { worker: spawn('worker', 4), cache: spawn('cache', 3), echo: spawn('echo', 2) };
  for (const pid of pids.worker) rt.cast(pid, { type: 'msg', seq: 1 });
  for (const pid of [...pids.cache, ...pids.echo]) rt.cast(pid, { seq: 1 });
  await settleUntilQuiet(rt);
  return { rt, clock, pids };
}

/** Every pid the runtime is asked to suspend. */
function suspensions(rt: Runtime): Set<Pid> {
  const seen = new Set<Pid>();
  const trySuspend = rt.sys.trySuspend.bind(rt.sys);
  rt.sys.trySuspend = (pid) => {
    seen.add(pid);
    return trySuspend(pid);
  };
  return seen;
}

describe('per-module changes', () => {
  it('migrates, reloads, and leaves unchanged modules alone; the rollback does the same backwards', async () => {
    const [r1, r2] = [mixed1(), mixed2()];
    const { rt, pids } = await running(r1);
    const suspended = suspensions(rt);
    const changes: string[] = [];
    rt.events.on('code_change', (e) => changes.push(e.module));
    const inst = new Install(rt, 'mixed', r1, r2, { watchMs: 1000 }, {});
    expect(inst.plan.modules.map((m) => [m.module, m.action, m.processes])).toEqual([
      ['worker', 'migrate', 4],
      ['cache', 'reload', 3],
      ['echo', 'unchanged', 2],
    ]);
    await inst.start();

    expect(inst.progress).toMatchObject({ step: 'watch', total: 7, moved: 7, failures: [] });
    pids.worker.forEach((pid, i) => {
      expect(codeOf(rt, pid)).toBe(moduleOf(r2, 'worker'));
      expect(rt.sys.getState(pid)).toEqual({ count: i + 1, history: ['1.0.0:1'], extra: EXTRA_1_TO_2 });
    });
    // Reloaded: new code, the same state, no codeChange run (cache's would throw).
    for (const pid of pids.cache) {
      expect(codeOf(rt, pid)).toBe(moduleOf(r2, 'cache'));
      expect(rt.sys.getState(pid)).toEqual({ seen: ['1.0.0:1'] });
    }
    // Unchanged: the very code object it had, never suspended; new ones start on it too.
    for (const pid of pids.echo) {
      expect(codeOf(rt, pid)).toBe(moduleOf(r1, 'echo'));
      expect(suspended.has(pid)).toBe(false);
    }
    expect(rt.modules.get('echo')).toBe(moduleOf(r1, 'echo'));
    expect(rt.modules.get('cache')).toBe(moduleOf(r2, 'cache'));
    expect(changes.sort()).toEqual([...Array(3).fill('cache'), ...Array(4).fill('worker')]);
    expect(inst.progress.processes).toEqual({ '2.0.0': 7 });

    for (const pid of pids.cache) rt.cast(pid, { seq: 2 });
    await settleUntilQuiet(rt);
    await inst.rollback();
    const done = await inst.done;
    expect(done).toMatchObject({ outcome: 'rolled_back', step: 'roll_back' });
    pids.worker.forEach((pid, i) => {
      expect(codeOf(rt, pid)).toBe(moduleOf(r1, 'worker'));
      expect(rt.sys.getState(pid)).toEqual({ n: i + 1, log: ['1.0.0:1'] });
    });
    for (const pid of pids.cache) {
      expect(codeOf(rt, pid)).toBe(moduleOf(r1, 'cache'));
      expect(rt.sys.getState(pid)).toEqual({ seen: ['1.0.0:1', '2.0.0:2'] });
    }
    for (const pid of pids.echo) expect(suspended.has(pid)).toBe(false);
    expect(rt.modules.get('cache')).toBe(moduleOf(r1, 'cache'));
    expect(rt.guard).toBeUndefined();
  });

  it('watches only the changed modules’ new code: an unchanged module crashing is its own business', async () => {
    const [r1, r2] = [mixed1(), mixed2()];
    const { rt, pids } = await running(r1);
    const inst = new Install(rt, 'mixed', r1, r2, { watchMs: 1000 }, {});
    await inst.start();
    rt.exit(pids.echo[0] as Pid, kill);
    await settleUntilQuiet(rt);
    expect(inst.progress.crashes).toBe(0);
    rt.exit(pids.cache[0] as Pid, kill);
    expect(await inst.done).toMatchObject({ outcome: 'rolled_back', crashes: 1 });
    await settleUntilQuiet(rt);
    expect(codeOf(rt, pids.worker[0] as Pid)).toBe(moduleOf(r1, 'worker'));
    expect(codeOf(rt, pids.echo[1] as Pid)).toBe(moduleOf(r1, 'echo'));
  });

  it('its progress names the step running, in the plan’s order', async () => {
    const [r1, r2] = [mixed1(), mixed2()];
    const { rt, clock } = await running(r1);
    const seen: string[] = [];
    const inst = new Install(
      rt,
      'mixed',
      r1,
      r2,
      { watchMs: 1000, mode: 'canary', canaryFraction: 1 },
      { progress: (p) => seen.at(-1) !== p.step && seen.push(p.step) },
    );
    expect(inst.progress.steps).toEqual(inst.plan.steps.map((s) => s.name));
    await inst.start();
    expect(inst.progress).toMatchObject({ step: 'await_promote', phase: 'canary' });
    await inst.promote();
    expect(inst.progress).toMatchObject({ step: 'watch', phase: 'watch' });
    clock.advance(1000);
    expect(await inst.done).toMatchObject({ outcome: 'installed', step: 'make_current' });
    // load and check were done when the install was made.
    expect(seen).toEqual(CANARY_STEPS.slice(2));
  });
});
