/**
 * The plan of an install: its named steps (full, canary, downgrade), the point of no return,
 * what each module does and how many processes each step would move, and the edges it refuses.
 */
import { describe, expect, it } from 'vitest';
import type { ReleaseModule } from '../../server/release/module.ts';
import { edgesBetween, formatPlan, type InstallPlan, planInstall } from '../../server/release/plan.ts';
import type { AnyBehaviour } from '../../server/runtime/index.ts';
import { caught } from '../support/release-fixtures.ts';
import { CANARY_STEPS, FULL_STEPS, mixed1, mixed2 } from './modules.ts';
import { EXTRA_1_TO_2, release1, release2, release3 } from './workers.ts';

/** Process counts by module name, whatever the behaviour object. */
const counting =
  (counts: Record<string, number>) =>
  (b: AnyBehaviour): number =>
    counts[b.name] ?? 0;

const names = (p: InstallPlan) => p.steps.map((s) => s.name);
const step = (p: InstallPlan, name: string) => p.steps.find((s) => s.name === name);

describe('install plan', () => {
  it('a full install: load, check, preflight, point of no return, move, watch, make current', () => {
    const [r1, r2] = [release1(), release2()];
    const plan = planInstall(r1, r2, edgesBetween(r1, r2), {}, counting({ worker: 40 }));
    expect(names(plan)).toEqual(FULL_STEPS);
    expect(plan).toMatchObject({ from: '1.0.0', to: '2.0.0', direction: 'up', mode: 'full', moves: 40 });
    expect(step(plan, 'move')?.moves).toBe(40);
    // Before the point of no return a failure changes nothing; from it on, it rolls back.
    expect(plan.steps.map((s) => s.onFailure)).toEqual([
      'abort',
      'abort',
      'abort',
      'roll_back',
      'roll_back',
      'roll_back',
      'roll_back',
    ]);
    expect(plan.rollback.name).toBe('roll_back');
    expect(plan.modules).toEqual([
      { module: 'worker', action: 'migrate', from: '1.0.0', to: '2.0.0', processes: 40, extra: EXTRA_1_TO_2 },
    ]);
    // Data: it survives JSON as it is.
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('a canary install moves the share, waits for promote, then moves the rest', () => {
    const [r1, r2] = [release1(), release2()];
    const plan = planInstall(
      r1,
      r2,
      edgesBetween(r1, r2),
      { mode: 'canary', canaryFraction: 0.1, watchMs: 5000 },
      counting({ worker: 200 }),
    );
    expect(names(plan)).toEqual(CANARY_STEPS);
    expect(step(plan, 'move_canary')?.moves).toBe(20);
    expect(step(plan, 'move_rest')?.moves).toBe(180);
    expect(step(plan, 'await_promote')?.moves).toBeUndefined();
    expect(step(plan, 'watch')?.does).toContain('5000 ms');
  });

  it('a downgrade runs the same steps, direction down, with the newer release’s extra', () => {
    const [r2, r1] = [release2(), release1()];
    const plan = planInstall(r2, r1, edgesBetween(r2, r1), {}, counting({ worker: 3 }));
    expect(plan.direction).toBe('down');
    expect(names(plan)).toContain('move');
    expect(plan.modules).toEqual([
      { module: 'worker', action: 'migrate', from: '2.0.0', to: '1.0.0', processes: 3 },
    ]);
  });

  it('finds the appup edge there and back, each with its entry’s module changes', () => {
    const r2 = mixed2();
    const edges = edgesBetween(mixed1(), r2);
    expect(edges.forward.entry.changes).toEqual(r2.upgradeFrom[0]?.changes);
    expect(edges.back.entry.changes).toEqual(r2.downgradeTo[0]?.changes);
    expect(edges.forward).toMatchObject({ direction: 'up', entry: { version: '1.0.0' } });
    expect(edges.back).toMatchObject({ direction: 'down', entry: { version: '1.0.0' } });
  });

  it('names per module what it does: migrate, reload, unchanged (left alone), added', () => {
    const r1 = mixed1();
    const r2: ReleaseModule = { ...mixed2() };
    const added = { ...(r2.behaviours[1] as AnyBehaviour), name: 'added' };
    r2.behaviours = [...r2.behaviours, added];
    const plan = planInstall(r1, r2, edgesBetween(r1, r2), {}, counting({ worker: 5, cache: 3, echo: 2 }));
    expect(plan.modules).toEqual([
      { module: 'worker', action: 'migrate', from: '1.0.0', to: '2.0.0', processes: 5, extra: EXTRA_1_TO_2 },
      { module: 'cache', action: 'reload', from: '1.0.0', to: '2.0.0', processes: 3 },
      { module: 'echo', action: 'unchanged', from: '1.0.0', to: '1.0.0', processes: 2 },
      { module: 'added', action: 'added', from: null, to: '2.0.0', processes: 0 },
    ]);
    // The unchanged module's processes are not counted among those moved.
    expect(plan.moves).toBe(8);
    expect(step(plan, 'check')?.does).toContain('migrated: worker; reloaded: cache; unchanged: echo');
    expect(step(plan, 'preflight')?.does).toContain('each process of worker;');
    expect(step(plan, 'point_of_no_return')?.does).toContain('worker, cache, added start on 2.0.0');
  });

  it('refuses an edge that changes a module the new release lacks, or does not bring it back', async () => {
    const r1 = mixed1();
    const r2 = mixed2();
    const lacking = edgesBetween(r1, r2);
    lacking.forward.entry.changes.push({ module: 'ghost', action: 'reload' });
    expect(await caught(() => planInstall(r1, r2, lacking, {}, () => 0))).toMatchObject({
      code: 'HOT_ERR_RELEASE_LOAD_FAILED',
      message: expect.stringContaining('changes ghost, which it lacks'),
    });
    const oneWay = edgesBetween(mixed1(), mixed2());
    oneWay.back.entry.changes = oneWay.back.entry.changes.filter((c) => c.module !== 'cache');
    expect(await caught(() => planInstall(mixed1(), mixed2(), oneWay, {}, () => 0))).toMatchObject({
      code: 'HOT_ERR_RELEASE_LOAD_FAILED',
      message: expect.stringContaining('reloads cache from 1.0.0 but not back'),
    });
    const noWayBack: ReleaseModule = { ...release2(), downgradeTo: [] };
    for (const to of [release3(), noWayBack])
      expect(await caught(() => edgesBetween(release1(), to))).toMatchObject({
        code: 'HOT_ERR_NO_UPGRADE_PATH',
      });
  });

  it('prints as text: a line per module and per step, the point of no return marked', () => {
    const plan = planInstall(
      mixed1(),
      mixed2(),
      edgesBetween(mixed1(), mixed2()),
      {},
      counting({ worker: 5, cache: 3, echo: 1 }),
    );
    const text = formatPlan(plan);
    expect(text).toMatch(/^install 2\.0\.0 over 1\.0\.0 \(upgrade, full\): 8 processes to move\n/);
    expect(text).toMatch(
      / {2}worker {2}migrate {4}1\.0\.0 → 2\.0\.0 {2}5 processes {2}extra \{"reason":"reshape","at":2\}/,
    );
    expect(text).toMatch(/ {2}echo {4}unchanged {2}1\.0\.0 → 1\.0\.0 {2}1 process\n/);
    expect(text).toMatch(/ {3}4\. point_of_no_return .*\[from here a failure rolls back\]/);
    expect(text).toMatch(/ {2}on failure: roll_back/);
  });
});
