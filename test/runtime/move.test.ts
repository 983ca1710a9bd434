/**
 * rt.move: processes handed from one runtime of a node to another (old node process and
 * successor) keep their pid, state, mailbox, timers, links, monitors, name and place in the
 * supervision tree; what is sent to them while they move arrives once and in order.
 */
import { describe, expect, it } from 'vitest';
import { HotlineError } from '../../server/errors/catalogue.ts';
import {
  type NameDirectory,
  type Pid,
  type ProcessImage,
  pidNode,
  shutdown,
  whichChildren,
} from '../../server/runtime/index.ts';
import { errorOf, exitLog, outcome, type RecorderCall, recorder, thrown } from '../support/runtime.ts';
import { holder, ID_GAP, pair, ticker, w } from './move-pair.ts';

type RecorderMessages = { call: RecorderCall; reply: unknown; cast: unknown; info: unknown };
const idOf = (pid: Pid) => Number(pid.slice(1, pid.indexOf('@')));

describe('a moved process', () => {
  it('keeps its pid, state and mailbox; what is sent while it moves arrives once, in order, after the mailbox', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    h.a.send(x, 1);
    h.a.send(x, 2);
    await h.settle();
    await h.a.sys.suspend(x);
    h.a.send(x, 3); // queued in its mailbox: part of the image
    h.a.cast(x, 4);
    const { images, failed } = h.a.move.capture([x]);
    expect(failed).toEqual([]);
    expect(structuredClone(images)).toEqual(images);
    expect(images[0]).toMatchObject({
      pid: x,
      module: 'recorder',
      version: '1.0.0',
      state: { seen: [1, 2] },
    });
    expect(images[0]?.mailbox.map((m) => m.message)).toEqual([3, 4]);
    h.a.send(x, 5); // held
    h.a.send(x, 6);
    expect(h.a.isAlive(x)).toBe(false);
    await h.finish(images);
    h.a.send(x, 7); // routed
    await h.settle();
    expect(h.a.isAlive(x)).toBe(false);
    expect(h.b.isAlive(x)).toBe(true);
    expect(await h.b.call<RecorderMessages>(x, { type: 'seen' })).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(h.b.lookup(x)?.handled).toBe(7 + 1);
  });

  it('gets what the new side sent before, during and after its move in the order it was sent', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    h.b.send(x, 'b1'); // through the peer to A, before the capture
    await h.settle();
    const { images } = await h.capture([x]);
    h.b.send(x, 'b2'); // to A, held there
    await h.settle();
    // Restored in B but not started: B's own sends wait behind what A held.
    const wire = structuredClone(images);
    h.b.move.restore(wire);
    h.b.send(x, 'b3');
    h.a.send(x, 'a1');
    h.a.move.commit([x], h.toB);
    h.a.send(x, 'a2');
    await h.settle();
    expect(h.b.lookup(x)?.mailboxLength ?? 0).toBe(0); // not running yet, nothing let in
    h.b.move.start([x]);
    h.b.send(x, 'b4');
    await h.settle();
    const seen = (await h.b.call<RecorderMessages>(x, { type: 'seen' })) as string[];
    expect(seen.filter((m) => m.startsWith('b'))).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(seen.filter((m) => m.startsWith('a'))).toEqual(['a1', 'a2']);
  });

  it('takes its timers: each fires once, at its time, and one cancelled after the move never fires', async () => {
    const h = pair([ticker as never]);
    const t = h.a.spawn('ticker');
    h.a.cast(t, { set: 'x', ms: 1000 });
    h.a.cast(t, { set: 'y', ms: 2000 });
    await h.settle();
    const start = h.clock.now();
    h.clock.advance(300);
    const [image] = await h.move([t]);
    expect(image?.timers.map((tm) => tm.ms)).toEqual([700, 1700]);
    expect(h.a.activeTimers).toBe(0);
    h.b.cast(t, { cancel: 'y' }); // by the ref it got in A
    await h.settle();
    h.clock.advance(699);
    await h.settle();
    expect(await h.b.call(t, 'fired')).toEqual([]);
    h.clock.advance(1);
    await h.settle();
    h.clock.advance(5000);
    await h.settle();
    expect(await h.b.call(t, 'fired')).toEqual([{ tag: 'x', at: start + 1000 }]);
    expect(h.b.activeTimers).toBe(0);
  });

  it('keeps its name: it resolves in B, and sends by name from either side reach it', async () => {
    const h = pair();
    const x = h.a.spawn('recorder', undefined, { name: 'svc' });
    const registered: string[] = [];
    const directory: NameDirectory = {
      covers: (name) => name === 'svc',
      whereis: (name) => (name === 'svc' ? x : undefined),
      register: (name) => registered.push(name),
      unregister: () => {},
    };
    h.b.distribute({ send: () => {} }, directory);
    await h.move([x]);
    expect(h.b.whereis('svc')).toBe(x);
    expect(h.a.whereis('svc')).toBe(x); // A leaves the name as it was: the process still has it
    h.a.send('svc', 'from a');
    h.b.send('svc', 'from b');
    await h.settle();
    // Two senders: each one's messages arrive, in no particular order between them.
    const seen = (await h.b.call<RecorderMessages>('svc', { type: 'seen' })) as string[];
    expect(seen.sort()).toEqual(['from a', 'from b']);
    expect(registered).toEqual([]); // the directory already had it as this pid
  });

  it("reaches by name a process still in A once B has A's names, until the handoff ends", async () => {
    const h = pair();
    const journal = h.a.spawn('recorder', undefined, { name: 'journal' });
    const onlyInA = h.a.spawn('recorder', undefined, { name: 'user:ann' });
    const x = h.a.spawn('recorder', undefined, { name: 'user:bob' });
    await h.move([x]);
    // Without A's names a cast by name from B finds nobody: a CDR journal's `end` was lost so.
    expect(thrown(() => h.b.send('journal', 'lost'))).toMatchObject({ code: 'HOT_ERR_NOPROC' });
    // Only the processes A still has: bob moved, and B knows his name itself.
    expect(new Map(h.a.move.names())).toEqual(
      new Map([
        ['journal', journal],
        ['user:ann', onlyInA],
      ]),
    );
    h.b.move.peerNames(new Map(h.a.move.names()));
    expect(h.b.whereis('user:ann')).toBe(onlyInA);
    expect(h.b.whereis('user:bob')).toBe(x);
    h.b.send('journal', 'end 1');
    await h.move([journal]);
    h.b.send('journal', 'end 2');
    await h.settle();
    expect(await h.b.call<RecorderMessages>('journal', { type: 'seen' })).toEqual(['end 1', 'end 2']);
    h.b.move.peer(undefined);
    expect(h.b.whereis('user:ann')).toBeUndefined();
    expect(h.b.whereis('journal')).toBe(journal);
  });

  it('counts in the module table of the runtime it runs in', async () => {
    const h = pair();
    const pids = [h.a.spawn('recorder'), h.a.spawn('recorder'), h.a.spawn('recorder')];
    await h.move(pids.slice(0, 2));
    expect(h.a.release.count(recorder)).toBe(1);
    expect(h.b.release.count(recorder)).toBe(2);
    h.b.exit(pids[0] as Pid, { type: 'kill' });
    await h.settle();
    expect(h.b.release.count(recorder)).toBe(1);
    expect(h.a.release.count(recorder)).toBe(1);
  });
});

describe('links and monitors across the boundary', () => {
  it('a crash in B reaches a linked process in A as an EXIT, and an exit in A reaches one in B', async () => {
    const h = pair();
    const watcherA = h.a.spawn('recorder', { trapExit: true });
    const x = h.a.spawn('recorder', { trapExit: true });
    const partner = h.a.spawn('recorder');
    h.a.link(watcherA, x);
    h.a.link(x, partner);
    await h.move([x]);
    // A in B crash: the caller in A hears the target exited, the linked process an EXIT.
    h.a.exit(partner, shutdown);
    await h.settle();
    expect(await h.b.call<RecorderMessages>(x, { type: 'seen' })).toEqual([
      { type: 'EXIT', from: partner, reason: shutdown },
    ]);
    const call = h.a.call<RecorderMessages>(x, { type: 'crash', message: 'boom' });
    await expect(call).rejects.toMatchObject({ code: 'HOT_ERR_CALL_TARGET_EXITED' });
    await h.settle();
    const seen = (await h.a.call<RecorderMessages>(watcherA, { type: 'seen' })) as { from: Pid }[];
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ type: 'EXIT', from: x, reason: { type: 'error' } });
    expect(h.b.isAlive(x)).toBe(false);
  });

  it('an untrapped link kills across the boundary both ways', async () => {
    const h = pair();
    const exitsA = exitLog(h.a);
    const exitsB = exitLog(h.b);
    const x = h.a.spawn('recorder');
    const y = h.a.spawn('recorder');
    const z = h.a.spawn('recorder');
    h.a.link(x, y);
    h.a.link(z, x);
    await h.move([x]);
    h.b.exit(x, { type: 'kill' });
    await h.settle();
    expect(exitsB.get(x)).toEqual({ type: 'killed' });
    expect(exitsA.get(y)).toEqual({ type: 'killed' });
    expect(exitsA.get(z)).toEqual({ type: 'killed' });
  });

  it('monitors keep their refs: DOWNs cross both ways, and a demonitor after the move holds', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    const watcherA = h.a.spawn('recorder');
    const quiet = h.a.spawn('recorder');
    const targetA = h.a.spawn('recorder');
    const onX = h.a.monitor(watcherA, x);
    const quietRef = h.a.monitor(quiet, x);
    const xOnTarget = h.a.monitor(x, targetA);
    await h.move([x]);
    h.a.demonitor(quietRef);
    h.a.exit(targetA, shutdown);
    await h.settle();
    expect(await h.b.call<RecorderMessages>(x, { type: 'seen' })).toEqual([
      { type: 'DOWN', ref: xOnTarget, pid: targetA, reason: shutdown },
    ]);
    // It crossed as the monitor's own DOWN, so B's monitor table let go of it too.
    expect(h.sentToB.filter((m) => m.type === 'down')).toEqual([
      { type: 'down', ref: xOnTarget, pid: targetA, reason: shutdown },
    ]);
    h.b.exit(x, { type: 'shutdown', detail: 'done' });
    await h.settle();
    expect(await h.a.call<RecorderMessages>(watcherA, { type: 'seen' })).toEqual([
      { type: 'DOWN', ref: onX, pid: x, reason: { type: 'shutdown', detail: 'done' } },
    ]);
    expect(await h.a.call<RecorderMessages>(quiet, { type: 'seen' })).toEqual([]);
  });

  it('a monitor made from B on a process still in A, and one on a pid that is nowhere', async () => {
    const h = pair();
    const inA = h.a.spawn('recorder');
    const watcherB = h.b.spawn('recorder');
    const ref = h.b.monitor(watcherB, inA);
    const dead = h.a.spawn('recorder');
    h.a.exit(dead, { type: 'kill' });
    const deadRef = h.b.monitor(watcherB, dead);
    await h.settle();
    h.a.exit(inA, shutdown);
    await h.settle();
    expect(await h.b.call<RecorderMessages>(watcherB, { type: 'seen' })).toEqual([
      { type: 'DOWN', ref: deadRef, pid: dead, reason: { type: 'noproc' } },
      { type: 'DOWN', ref, pid: inA, reason: shutdown },
    ]);
  });

  it('neighbours: what a process links to, what it monitors and what monitors it; none once it moved', async () => {
    const h = pair();
    const spawn = () => h.a.spawn('recorder');
    const [x, linked, watched, watcher, apart] = [spawn(), spawn(), spawn(), spawn(), spawn()];
    h.a.link(x, linked);
    h.a.monitor(x, watched);
    h.a.monitor(watcher, x);
    await h.settle();
    expect(new Set(h.a.move.neighbours(x))).toEqual(new Set([linked, watched, watcher]));
    expect(h.a.move.neighbours(linked)).toEqual([x]);
    expect(h.a.move.neighbours(watched)).toEqual([x]);
    expect(h.a.move.neighbours(apart)).toEqual([]);
    await h.move([x]);
    expect(h.a.move.neighbours(x)).toEqual([]);
    expect(new Set(h.b.move.neighbours(x))).toEqual(new Set([linked, watched, watcher]));
  });

  it('a watcher and its target moved in separate batches: the monitor works in B', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    const watcher = h.a.spawn('recorder');
    const ref = h.a.monitor(watcher, x);
    await h.move([x]);
    await h.move([watcher]);
    h.b.exit(x, shutdown);
    await h.settle();
    expect(await h.b.call<RecorderMessages>(watcher, { type: 'seen' })).toEqual([
      { type: 'DOWN', ref, pid: x, reason: shutdown },
    ]);
    expect(h.sentToA.filter((m) => m.type === 'down')).toEqual([]); // local in B, not through A
  });
});

describe('calls across the boundary', () => {
  it('a caller in A reaches a moved process; a process in B reaches one still in A', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    const y = h.a.spawn('recorder');
    await h.move([x]);
    expect(await h.a.call<RecorderMessages>(x, { type: 'echo', value: 'to b' })).toBe('to b');
    expect(await h.b.call<RecorderMessages>(y, { type: 'echo', value: 'to a' })).toBe('to a');
    expect(h.sentToB.some((m) => m.type === 'call')).toBe(true);
    expect(h.sentToA.some((m) => m.type === 'call')).toBe(true);
  });

  it('a call waiting in the mailbox, and one whose From is kept in state, are answered from B', async () => {
    const h = pair([holder as never]);
    const x = h.a.spawn('holder');
    const kept = outcome(h.a.call(x, 'hold', 60_000));
    await h.settle();
    await h.a.sys.suspend(x);
    const queued = outcome(h.a.call<RecorderMessages>(x, 'hold' as never, 60_000));
    const { images } = h.a.move.capture([x]);
    expect(images[0]?.callsIn).toHaveLength(2);
    expect(images[0]?.mailbox).toHaveLength(1);
    await h.finish(images);
    await h.settle();
    h.b.cast(x, { release: 'first' });
    await h.settle();
    h.b.cast(x, { release: 'second' });
    await h.settle();
    expect(kept).toMatchObject({ settled: true, value: 'first' });
    expect(queued).toMatchObject({ settled: true, value: 'second' });
  });

  it('a call to a pid that is nowhere fails with noproc; without a peer, as before', async () => {
    const h = pair();
    const gone = h.a.spawn('recorder');
    h.a.exit(gone, { type: 'kill' });
    await expect(h.b.call(gone, { type: 'seen' })).rejects.toMatchObject({ code: 'HOT_ERR_NOPROC' });
    h.b.move.peer(undefined);
    const inA = h.a.spawn('recorder');
    const err = await h.b.call(inA, { type: 'seen' }).catch((e: unknown) => e);
    expect(HotlineError.is(err, 'HOT_ERR_NOPROC')).toBe(true);
    h.b.send(inA, 'lost');
    await h.settle();
    expect(await h.a.call<RecorderMessages>(inA, { type: 'seen' })).toEqual([]);
  });
});

describe('a supervision tree moved in two batches', () => {
  it('children first, the supervisor last; a child crash after the move restarts it in B', async () => {
    const h = pair([w as never]);
    const sup = h.a.spawn('supervisor', {
      intensity: 10,
      children: [
        { id: 'c1', start: { module: 'w', args: {} } },
        { id: 'c2', start: { module: 'w', args: {} } },
      ],
    });
    await h.settle();
    const children = (await whichChildren(h.a, sup)).map((c) => c.pid as Pid);
    await h.move(children);
    // Between the batches a child crash in B reaches its supervisor in A, which restarts it in A.
    h.b.cast(children[0] as Pid, { type: 'crash', message: 'between' });
    await h.settle();
    const between = (await whichChildren(h.a, sup)).map((c) => c.pid as Pid);
    expect(between[0]).not.toBe(children[0]);
    expect(h.a.isAlive(between[0] as Pid)).toBe(true);
    await h.move([between[0] as Pid, sup]);
    expect(h.a.processCount).toBe(0);
    expect(h.b.lookup(sup)?.links?.size).toBe(2);
    h.b.cast(between[1] as Pid, { type: 'crash', message: 'after' });
    await h.settle();
    const after = await whichChildren(h.b, sup);
    const restarted = after[1]?.pid as Pid;
    expect(restarted).not.toBe(between[1]);
    expect(h.b.isAlive(restarted)).toBe(true);
    expect(idOf(restarted)).toBeGreaterThanOrEqual(ID_GAP);
    expect(h.b.lookup(restarted)?.parent).toBe(sup);
    expect(h.b.lookup(between[0] as Pid)?.parent).toBe(sup);
  });
});

describe('handOver, takeOver, abort and refusals', () => {
  it('handOver runs in A before the capture and takeOver in B after the start', async () => {
    const h = pair([holder as never]);
    const x = h.a.spawn('holder');
    const [image] = await h.move([x]);
    expect(image?.state).toMatchObject({ log: ['handOver'] });
    expect((h.b.sys.getState(x) as { log: string[] }).log).toEqual(['handOver', `takeOver ${x}`]);
  });

  it('a process whose handOver throws is not captured, and runs on in A', async () => {
    const h = pair([holder as never]);
    const x = h.a.spawn('holder');
    h.a.cast(x, 'refuse');
    await h.settle();
    const { images, failed } = await h.capture([x]);
    expect(images).toEqual([]);
    expect(failed).toHaveLength(1);
    expect(HotlineError.is(failed[0]?.error, 'HOT_ERR_HANDOVER_FAILED')).toBe(true);
    expect(h.a.lookup(x)?.status).toBe('waiting');
    const answer = outcome(h.a.call(x, 'hold'));
    h.a.cast(x, { release: 'still here' });
    await h.settle();
    expect(answer).toMatchObject({ settled: true, value: 'still here' });
  });

  it('a process that is not suspended is not captured', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    const { images, failed } = h.a.move.capture([x]);
    expect(images).toEqual([]);
    expect(HotlineError.is(failed[0]?.error, 'HOT_ERR_NOT_SUSPENDED')).toBe(true);
    expect(h.a.isAlive(x)).toBe(true);
  });

  it('abort puts everything back: held messages after the mailbox, timers, takeOver, running again', async () => {
    const h = pair([ticker as never, holder as never]);
    const t = h.a.spawn('ticker');
    const x = h.a.spawn('recorder');
    const hold = h.a.spawn('holder');
    const watcher = h.a.spawn('recorder');
    const ref = h.a.monitor(watcher, x);
    h.a.cast(t, { set: 'x', ms: 1000 });
    await h.settle();
    const start = h.clock.now();
    await h.a.sys.suspend(x);
    h.a.send(x, 1);
    const { images } = await h.capture([t, x, hold]);
    expect(images).toHaveLength(3);
    h.a.send(x, 2);
    const call = outcome(h.a.call<RecorderMessages>(x, { type: 'echo', value: 'held call' }));
    h.clock.advance(400);
    h.a.move.abort([t, x, hold]);
    await h.settle();
    expect(call).toMatchObject({ settled: true, value: 'held call' });
    expect(await h.a.call<RecorderMessages>(x, { type: 'seen' })).toEqual([1, 2]);
    h.clock.advance(600);
    await h.settle();
    expect(await h.a.call(t, 'fired')).toEqual([{ tag: 'x', at: start + 1000 }]);
    expect((h.a.sys.getState(hold) as { log: string[] }).log).toEqual(['handOver', `takeOver ${hold}`]);
    h.a.exit(x, shutdown);
    await h.settle();
    expect(await h.a.call<RecorderMessages>(watcher, { type: 'seen' })).toEqual([
      { type: 'DOWN', ref, pid: x, reason: shutdown },
    ]);
    expect(h.b.processCount).toBe(0);
    expect(h.sentToB).toEqual([]);
  });

  it('restore refuses a version it does not have, and restores nothing of the batch', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    const y = h.a.spawn('recorder');
    const { images } = await h.capture([x, y]);
    const wire: ProcessImage[] = structuredClone(images);
    wire[1] = { ...(wire[1] as ProcessImage), version: '9.9.9' };
    const err = thrown(() => h.b.move.restore(wire));
    expect(HotlineError.is(err, 'HOT_ERR_MOVE_CODE_MISSING')).toBe(true);
    expect(h.b.release.count(recorder)).toBe(0);
    expect(
      HotlineError.is(
        thrown(() => h.b.move.start([x])),
        'HOT_ERR_MOVE_NOT_HELD',
      ),
    ).toBe(true);
    h.b.send(x, 'not here');
    // The old side takes them back and nothing was lost.
    h.a.move.abort([x, y]);
    await h.settle();
    expect(await h.a.call<RecorderMessages>(x, { type: 'seen' })).toEqual(['not here']);
    expect(h.b.processCount).toBe(0);
  });

  it('restore refuses a pid that is in use', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    const { images } = await h.capture([x]);
    h.b.move.restore(structuredClone(images));
    const err = thrown(() => h.b.move.restore(structuredClone(images)));
    expect(HotlineError.is(err, 'HOT_ERR_MOVE_PID_TAKEN')).toBe(true);
    const y = h.a.spawn('recorder');
    const twice = (await h.capture([y])).images;
    const err2 = thrown(() => h.b.move.restore(structuredClone([...twice, ...twice])));
    expect(HotlineError.is(err2, 'HOT_ERR_MOVE_PID_TAKEN')).toBe(true);
    expect(h.b.release.count(recorder)).toBe(1);
  });

  it('a discarded restore sends what B sent meanwhile back to A', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    const { images } = await h.capture([x]);
    h.b.move.restore(structuredClone(images));
    h.b.send(x, 'while restored');
    h.b.move.discard([x]);
    expect(h.b.release.count(recorder)).toBe(0);
    await h.settle();
    h.a.move.abort([x]);
    await h.settle();
    expect(await h.a.call<RecorderMessages>(x, { type: 'seen' })).toEqual(['while restored']);
  });
});

describe('ids', () => {
  it('the successor issues pids and refs above the old runtime, and moved pids keep theirs', async () => {
    const h = pair();
    const x = h.a.spawn('recorder');
    const watcher = h.a.spawn('recorder');
    const refA = h.a.monitor(watcher, x);
    const ids = h.a.move.nextIds();
    expect(ids.pid).toBe(idOf(watcher) + 1);
    expect(ids.ref).toBeGreaterThan(refA);
    await h.move([x]);
    // B was made before these spawns, above A's ids then (as a handoff makes it at hello).
    const fresh = h.b.spawn('recorder');
    expect(idOf(fresh)).toBeGreaterThanOrEqual(ID_GAP);
    expect(idOf(fresh)).toBeGreaterThan(idOf(x));
    expect(pidNode(fresh)).toBe('n');
    expect(h.b.monitor(fresh, x)).toBeGreaterThanOrEqual(ID_GAP);
    expect(h.b.isAlive(x)).toBe(true);
  });
});

it('an error a moved process crashes with reaches A plain', async () => {
  const h = pair();
  const watcherA = h.a.spawn('recorder', { trapExit: true });
  const x = h.a.spawn('recorder');
  h.a.link(watcherA, x);
  await h.move([x]);
  h.b.call(x, { type: 'crash', message: 'gone' }).catch(() => {});
  await h.settle();
  const seen = (await h.a.call<RecorderMessages>(watcherA, { type: 'seen' })) as { reason: never }[];
  expect((errorOf(seen[0]?.reason) as { message: string }).message).toBe('gone');
});

it('a moved process that ended answers calls from either side with noproc', async () => {
  const h = pair();
  const x = h.a.spawn('recorder');
  await h.move([x]);
  h.b.exit(x, { type: 'kill' });
  await h.settle();
  // From B the call goes to A (x is not in B), which had routed x to B: B answers its own caller.
  const fromB = outcome(h.b.call(x, { type: 'seen' }));
  const fromA = outcome(h.a.call(x, { type: 'seen' }));
  await h.settle();
  expect(HotlineError.is(fromB.error, 'HOT_ERR_NOPROC')).toBe(true);
  expect(HotlineError.is(fromA.error, 'HOT_ERR_NOPROC')).toBe(true);
});

it('when the other side is gone, what waited on processes there ends with noconnection', async () => {
  const h = pair([holder as never]);
  const x = h.a.spawn('holder');
  const watcher = h.a.spawn('recorder');
  const linked = h.a.spawn('recorder', { trapExit: true });
  const ref = h.a.monitor(watcher, x);
  h.a.link(linked, x);
  await h.move([x]);
  const waiting = outcome(h.a.call(x, 'hold', Number.POSITIVE_INFINITY));
  await h.settle();
  expect(waiting.settled).toBe(false);
  h.a.move.peer(undefined); // B died
  await h.settle();
  expect(HotlineError.is(waiting.error, 'HOT_ERR_CALL_TARGET_EXITED')).toBe(true);
  const noconnection = { type: 'noconnection' };
  expect(await h.a.call<RecorderMessages>(watcher, { type: 'seen' })).toEqual([
    { type: 'DOWN', ref, pid: x, reason: noconnection },
  ]);
  expect(await h.a.call<RecorderMessages>(linked, { type: 'seen' })).toEqual([
    { type: 'EXIT', from: x, reason: noconnection },
  ]);
  await expect(h.a.call(x, 'hold')).rejects.toMatchObject({ code: 'HOT_ERR_NOPROC' });
});

it('an exit signal held for one process of a batch reaches its linked batch-mate in B directly', async () => {
  const h = pair();
  const exitsB = exitLog(h.b);
  const x = h.a.spawn('recorder');
  const y = h.a.spawn('recorder');
  h.a.link(x, y);
  const { images } = await h.capture([x, y]);
  h.a.exit(x, { type: 'kill' }); // held with x
  await h.finish(images);
  await h.settle();
  expect(exitsB.get(x)).toEqual({ type: 'killed' });
  expect(exitsB.get(y)).toEqual({ type: 'killed' });
  expect(h.sentToA.filter((m) => m.type === 'exit')).toEqual([]);
});
