/**
 * An install that waits (a canary for its promote, or its watch window) goes to another
 * runtime with its processes, as in a handoff: held in the old one (its window's end and a
 * rollback its watch asks for wait), its image resumed in the new one on that side's own
 * copies of both releases. There it is promoted, rolled back or ends its window as if
 * nothing had happened, with the window's time left, its counts and its id.
 */
import { describe, expect, it } from 'vitest';
import { Install, type InstallOptions } from '../../server/release/installer.ts';
import type { ReleaseModule } from '../../server/release/module.ts';
import { type AnyBehaviour, type Pid, type Runtime, SimulatedClock } from '../../server/runtime/index.ts';
import { caught, codeOf, settleUntilQuiet, spawnMany } from '../support/release-fixtures.ts';
import { newRuntime } from '../support/runtime.ts';
import { logOf, release1, release2 } from './workers.ts';

const worker = (r: ReleaseModule): AnyBehaviour => r.behaviours[0] as AnyBehaviour;

/** A runtime on `clock` running `n` workers of release 1, and an install of release 2 started on it. */
async function installing(
  clock: SimulatedClock,
  n: number,
  options: Partial<InstallOptions>,
  to: ReleaseModule = release2(),
) {
  const from = release1();
  const rt = newRuntime({ node: 'n', clock });
  rt.modules.load(worker(from));
  const pids = spawnMany(rt, from, n);
  const install = new Install(rt, 'install-x', from, to, { watchMs: 1000, ...options });
  await install.start();
  return { rt, pids, install };
}

/**
 * Every process of `a` to a new runtime with its own copies of both releases, the module table
 * as `a` has it: suspend, capture, restore (each on its version's code), commit, start.
 */
async function handOver(a: Runtime, pids: Pid[], clock: SimulatedClock) {
  const from = release1();
  const to = release2();
  const ids = a.move.nextIds();
  const b = newRuntime({ node: 'n', clock, firstPid: ids.pid + 1_000_000, firstRef: ids.ref + 1_000_000 });
  // A's install is past its point of no return: new workers start on release 2.
  b.modules.load(worker(to));
  for (const pid of pids) await a.sys.suspend(pid);
  const { images, failed } = a.move.capture(pids);
  expect(failed).toEqual([]);
  const code = [worker(to), worker(from)];
  b.move.restore(structuredClone(images), (m, v) => code.find((c) => c.name === m && c.version === v));
  a.move.commit(pids, { send: (m) => b.move.receive(structuredClone(m)) });
  b.move.start(pids);
  return { b, from, to };
}

describe('an install handed over with its processes', () => {
  it('a waiting canary goes on in the other runtime: each process on the code it ran, then promote and the window', async () => {
    const clock = new SimulatedClock(1_000_000);
    const { rt: a, pids, install } = await installing(clock, 40, { mode: 'canary', canaryFraction: 0.5 });
    expect(install.progress.step).toBe('await_promote');
    const split = install.progress.processes;
    install.hold();
    const image = install.image();
    const versionOf = (rt: Runtime) => pids.map((pid) => codeOf(rt, pid)?.version);
    const before = versionOf(a);

    const { b, from, to } = await handOver(a, pids, clock);
    const resumed = Install.resumed(b, from, to, image);
    resumed.unhold();
    expect(versionOf(b)).toEqual(before);
    expect(resumed.progress).toMatchObject({ id: 'install-x', step: 'await_promote', outcome: null });
    expect(resumed.progress.moved).toBe(install.progress.moved);
    for (const pid of pids) b.cast(pid, { type: 'msg', seq: 1 });
    await settleUntilQuiet(b);
    for (const [i, pid] of pids.entries()) expect(logOf(b.sys.getState(pid))).toEqual([`${before[i]}:1`]);

    await resumed.promote();
    expect(resumed.progress.processes).toEqual({ '2.0.0': 40 });
    expect(split['1.0.0']).toBeGreaterThan(0);
    expect(pids.every((pid) => codeOf(b, pid) === worker(to))).toBe(true);
    clock.advance(1000);
    expect((await resumed.done).outcome).toBe('installed');
  });

  it('a canary rolled back in the other runtime moves its canaries back down', async () => {
    const clock = new SimulatedClock(1_000_000);
    const { rt: a, pids, install } = await installing(clock, 40, { mode: 'canary', canaryFraction: 0.5 });
    install.hold();
    const image = install.image();
    const { b, from, to } = await handOver(a, pids, clock);
    const resumed = Install.resumed(b, from, to, image);
    resumed.unhold();
    await resumed.rollback();
    expect((await resumed.done).outcome).toBe('rolled_back');
    expect(pids.every((pid) => codeOf(b, pid) === worker(from))).toBe(true);
  });

  it('the watch window goes on with the time it had left', async () => {
    const clock = new SimulatedClock(1_000_000);
    const { rt: a, pids, install } = await installing(clock, 10, {});
    expect(install.progress.step).toBe('watch');
    clock.advance(400);
    install.hold();
    const image = install.image();
    expect(image.watchLeftMs).toBe(600);
    const { b, from, to } = await handOver(a, pids, clock);
    const resumed = Install.resumed(b, from, to, image);
    resumed.unhold();
    clock.advance(599);
    expect(resumed.progress.outcome).toBe(null);
    clock.advance(1);
    expect((await resumed.done).outcome).toBe('installed');
  });

  it("held, the window's end waits until it is let go, and so does a canary's", async () => {
    const clock = new SimulatedClock(1_000_000);
    const { install } = await installing(clock, 10, {});
    install.hold();
    clock.advance(5000);
    expect(install.progress.outcome).toBe(null);
    expect(install.image().watchLeftMs).toBe(0);
    install.unhold();
    expect((await install.done).outcome).toBe('installed');

    const second = await installing(clock, 10, { mode: 'canary', canaryFraction: 1 });
    second.install.hold();
    clock.advance(5000);
    expect(second.install.progress.outcome).toBe(null);
    second.install.unhold();
    await second.install.promote();
    expect(second.install.progress.step).toBe('watch');
  });

  it('held, a rollback its watch asks for waits until it is let go; its image carries it', async () => {
    const clock = new SimulatedClock(1_000_000);
    const { rt, pids, install } = await installing(clock, 10, {}, release2({ crashOnBoom: true }));
    install.hold();
    rt.cast(pids[0] as Pid, { type: 'boom', seq: 1 });
    await settleUntilQuiet(rt);
    expect(install.progress).toMatchObject({ crashes: 1, outcome: null });
    expect(install.image().rollback).toContain('cannot take boom 1');
    install.unhold();
    expect((await install.done).outcome).toBe('rolled_back');
    await settleUntilQuiet(rt);
    expect(pids.every((pid) => codeOf(rt, pid)?.version === '1.0.0')).toBe(true);
  });

  it('an install that is moving processes cannot be held', async () => {
    const clock = new SimulatedClock(1_000_000);
    const from = release1();
    const rt = newRuntime({ node: 'n', clock });
    rt.modules.load(worker(from));
    spawnMany(rt, from, 10);
    const install = new Install(rt, 'install-y', from, release2(), {});
    expect(install.progress.step).toBe('preflight');
    expect(await caught(() => install.hold())).toMatchObject({ code: 'HOT_ERR_INSTALL_RUNNING' });
  });
});
