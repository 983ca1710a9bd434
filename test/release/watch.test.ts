/**
 * The probation watch on its own: crashes (caught by the guard, or exits it could not catch)
 * and reported errors against their thresholds, and the rollback it asks for past them.
 */
import { describe, expect, it } from 'vitest';
import type { ReleaseModule } from '../../server/release/module.ts';
import { ProbationWatch, type WatchLimits } from '../../server/release/watch.ts';
import { type AnyBehaviour, kill, type Pid, type Runtime } from '../../server/runtime/index.ts';
import { settleUntilQuiet, spawnMany } from '../support/release-fixtures.ts';
import { simulatedRuntime } from '../support/runtime.ts';
import { release1, release2 } from './workers.ts';

const worker = (r: ReleaseModule): AnyBehaviour => r.behaviours[0] as AnyBehaviour;

/** `n` workers on `r`'s code, watched with `limits` as if `moved` had moved to it. */
function watched(r: ReleaseModule, n: number, limits: Partial<WatchLimits>, moved = n) {
  const { rt } = simulatedRuntime();
  rt.modules.load(worker(r));
  const pids = spawnMany(rt, r, n);
  const counts = { crashes: 0, errors: 0 };
  const rollbacks: string[] = [];
  const watch = new ProbationWatch(
    rt.release,
    {
      code: new Set([worker(r)]),
      versions: new Map([['worker', r.version]]),
      release: r.version,
      moved: () => moved,
    },
    { maxCrashes: 0, maxErrors: 0, maxErrorRate: 0, ...limits },
    counts,
    (reason) => rollbacks.push(reason),
  );
  watch.start();
  return { rt, pids, counts, rollbacks, watch };
}

const oops = (rt: Runtime, pid: Pid, seq: number) => rt.cast(pid, { type: 'oops', seq });
const boom = (rt: Runtime, pid: Pid, seq: number) => rt.cast(pid, { type: 'boom', seq });

describe('probation watch', () => {
  it('lets crashes up to maxCrashes happen, then holds the next one suspended and asks for a rollback', async () => {
    const { rt, pids, counts, rollbacks, watch } = watched(release2({ crashOnBoom: true }), 3, {
      maxCrashes: 1,
    });
    const exits: Pid[] = [];
    rt.events.on('exit', (e) => exits.push(e.pid));
    const [a, b] = pids as [Pid, Pid];
    boom(rt, a, 1);
    await settleUntilQuiet(rt);
    // Tolerated: it crashed as without a watch, and its exit is not counted twice.
    expect(exits).toEqual([a]);
    expect(counts.crashes).toBe(1);
    expect(rollbacks).toEqual([]);
    boom(rt, b, 1);
    await settleUntilQuiet(rt);
    expect(counts.crashes).toBe(2);
    expect(rollbacks).toEqual(['2 crash(es) on 2.0.0; last: worker 2.0.0 cannot take boom 1']);
    expect(watch.held).toEqual(new Set([b]));
    expect(rt.lookup(b)?.suspended).toBe(true);
    expect(exits).toEqual([a]);
  });

  it('counts abnormal exits the guard cannot catch', async () => {
    const { rt, pids, counts, rollbacks } = watched(release2(), 2, {});
    rt.exit(pids[0] as Pid, kill);
    await settleUntilQuiet(rt);
    expect(counts.crashes).toBe(1);
    expect(rollbacks).toEqual(['1 abnormal exit(s) on 2.0.0']);
  });

  it('rolls back once errors exceed maxErrors plus maxErrorRate × the processes on the new code', async () => {
    // 1 + 0.1 × (10 moved + 10 started) = 3 tolerated.
    const { rt, pids, counts, rollbacks } = watched(release2({ errorOnOops: true }), 10, {
      maxErrors: 1,
      maxErrorRate: 0.1,
    });
    const started = Array.from({ length: 10 }, () => rt.spawn('worker', 0));
    for (const pid of [pids[0], pids[1], started[0]] as Pid[]) oops(rt, pid, 1);
    await settleUntilQuiet(rt);
    expect(counts.errors).toBe(3);
    expect(rollbacks).toEqual([]);
    oops(rt, started[1] as Pid, 1);
    await settleUntilQuiet(rt);
    expect(counts.errors).toBe(4);
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatch(
      /^4 error\(s\) reported on 2\.0\.0 by 20 process\(es\) on it, over the 3 tolerated/,
    );
  });

  it('ignores other code, and everything once paused or stopped; stop takes the guard off', async () => {
    const r2 = release2({ errorOnOops: true, crashOnBoom: true });
    const { rt, pids, counts, rollbacks, watch } = watched(r2, 2, {});
    const old = rt.spawn(worker(release1({ errorOnOops: true })), 0);
    oops(rt, old, 1);
    await settleUntilQuiet(rt);
    expect(counts.errors).toBe(0);
    watch.pause();
    oops(rt, pids[0] as Pid, 1);
    await settleUntilQuiet(rt);
    expect(counts.errors).toBe(0);
    watch.stop();
    expect(rt.guard).toBeUndefined();
    boom(rt, pids[1] as Pid, 1);
    await settleUntilQuiet(rt);
    expect(counts.crashes).toBe(0);
    expect(rt.isAlive(pids[1] as Pid)).toBe(false);
    expect(rollbacks).toEqual([]);
  });
});
