/**
 * Introspection (listProcesses, longestMailboxes, supervisionTree, supervisionSummary) and
 * runtime events.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Behaviour,
  type CastResult,
  listProcesses,
  longestMailboxes,
  noreply,
  normal,
  type Pid,
  type ProcessInfo,
  type Runtime,
  type RuntimeEventMap,
  reply,
  type SupervisorSummary,
  startChild,
  stop,
  supervisionSummary,
  supervisionTree,
  type TreeNode,
} from '../../server/runtime/index.ts';
import {
  deferred,
  eventLog,
  newRuntime,
  recorder,
  settleBriefly,
  simulatedRuntime,
} from '../support/runtime.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

const info = (rt: Runtime, pid: Pid): ProcessInfo | undefined => listProcesses(rt, (p) => p.pid === pid)[0];

/** A plain worker; `spawn` casts make it spawn children of its own. */
function worker(name: string, version = '1.0.0'): Behaviour<Record<string, never>> {
  return {
    name,
    version,
    init: () => ({}),
    handleCall(message, _from, state, ctx) {
      const { module, count } = message as { module: string; count: number };
      const pids: Pid[] = [];
      for (let i = 0; i < count; i++) pids.push(ctx.spawn(module, undefined));
      return reply(pids, state);
    },
  };
}

describe('listProcesses', () => {
  it('describes each process: pid, name, module, version, parent, mailbox, handled and bookkeeping', async () => {
    const { rt } = simulatedRuntime();
    rt.modules.load(worker('child', '0.9.0'));
    const parent = rt.spawn(worker('parent', '2.1.0'), undefined, { name: 'boss' });
    const child = ((await rt.call(parent, { module: 'child', count: 1 })) as Pid[])[0] as Pid;
    const trapper = rt.spawn(recorder, { trapExit: true });
    rt.link(trapper, parent);
    rt.monitor(parent, trapper);
    rt.sendAfter(60_000, 'later', trapper);
    for (let i = 0; i < 3; i++) rt.cast(trapper, i);
    await settleBriefly(rt);
    rt.cast(trapper, 'pending');

    const all = listProcesses(rt);
    expect(all.map((p) => p.pid).sort()).toEqual([parent, child, trapper].sort());
    expect(info(rt, parent)).toEqual({
      pid: parent,
      name: 'boss',
      module: 'parent',
      version: '2.1.0',
      status: 'waiting',
      mailbox: 0,
      handled: 1,
      parent: undefined,
      links: 1,
      monitors: 0,
      timers: 0,
      trapExit: false,
    });
    expect(info(rt, child)).toMatchObject({
      module: 'child',
      version: '0.9.0',
      parent,
      name: undefined,
      handled: 0,
    });
    expect(info(rt, trapper)).toEqual({
      pid: trapper,
      name: undefined,
      module: 'recorder',
      version: '1.0.0',
      status: 'runnable',
      mailbox: 1,
      handled: 3,
      parent: undefined,
      links: 1,
      monitors: 1,
      timers: 1,
      trapExit: true,
    });
    expect(listProcesses(rt, (p) => p.module === 'recorder').map((p) => p.pid)).toEqual([trapper]);
    await settleBriefly(rt);
    expect(info(rt, trapper)).toMatchObject({ status: 'waiting', mailbox: 0, handled: 4 });
  });

  it('follows a process through every status of its life', async () => {
    const rt = newRuntime();
    const initGate = deferred();
    const callbackGate = deferred();
    const terminateGate = deferred();
    const b: Behaviour<{ n: number }> = {
      name: 'lifecycle',
      version: '1.0.0',
      async init() {
        await initGate.promise;
        return { n: 0 };
      },
      async handleCast(m, state): Promise<CastResult<{ n: number }>> {
        if (m === 'slow') await callbackGate.promise;
        if (m === 'stop') return stop(normal, state);
        return noreply({ n: state.n + 1 });
      },
      async terminate() {
        await terminateGate.promise;
      },
    };
    const pid = rt.spawn(b);
    const statuses: string[] = [];
    const note = () => statuses.push(info(rt, pid)?.status ?? 'gone');

    note(); // initializing
    initGate.resolve();
    await settleBriefly(rt);
    note(); // waiting
    rt.cast(pid, 'slow');
    note(); // runnable: queued, the scheduler has not run yet
    await settleBriefly(rt);
    note(); // running: inside the async callback
    const suspended = rt.sys.suspend(pid);
    callbackGate.resolve();
    await suspended;
    note(); // suspended at the end of the callback
    rt.cast(pid, 'x');
    await settleBriefly(rt);
    expect(info(rt, pid)).toMatchObject({ status: 'suspended', mailbox: 1, handled: 1 });
    rt.sys.resume(pid);
    await settleBriefly(rt);
    note(); // waiting again, the queued message handled
    expect(info(rt, pid)?.handled).toBe(2);
    rt.cast(pid, 'stop');
    await settleBriefly(rt);
    note(); // exiting: inside the async terminate
    terminateGate.resolve();
    await settleBriefly(rt);
    note(); // gone
    expect(statuses).toEqual([
      'initializing',
      'waiting',
      'runnable',
      'running',
      'suspended',
      'waiting',
      'exiting',
      'gone',
    ]);
  });

  it('reports a process suspended at once when it is at a message boundary', () => {
    const rt = newRuntime();
    const pid = rt.spawn(recorder);
    expect(rt.sys.trySuspend(pid)).toBe(true);
    rt.cast(pid, 'held');
    expect(info(rt, pid)).toMatchObject({ status: 'suspended', mailbox: 1 });
  });
});

describe('longestMailboxes', () => {
  it('lists the processes with the most queued messages, longest first, skipping empty mailboxes', async () => {
    const rt = newRuntime();
    const pids: Pid[] = [];
    for (let i = 0; i < 45; i++) pids.push(rt.spawn(recorder));
    // Distinct lengths in a scrambled order, so the early entries are not the longest.
    const lengths = new Map<Pid, number>();
    pids.forEach((pid, i) => {
      const len = (i * 17) % 45;
      lengths.set(pid, len);
      rt.sys.trySuspend(pid);
      for (let k = 0; k < len; k++) rt.cast(pid, k);
    });
    const byLength = [...lengths].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);

    const top3 = longestMailboxes(rt, 3);
    expect(top3.map((p) => [p.pid, p.mailbox])).toEqual(byLength.slice(0, 3));
    expect(top3.map((p) => p.mailbox)).toEqual([44, 43, 42]);

    const top10 = longestMailboxes(rt, 10);
    expect(top10.map((p) => [p.pid, p.mailbox])).toEqual(byLength.slice(0, 10));

    const all = longestMailboxes(rt, 1000);
    expect(all).toHaveLength(44);
    expect(all.every((p) => p.mailbox > 0)).toBe(true);
    expect(all.map((p) => p.mailbox)).toEqual([...all.map((p) => p.mailbox)].sort((a, b) => b - a));

    for (const pid of pids) rt.sys.resume(pid);
    await settleBriefly(rt);
    expect(longestMailboxes(rt, 5)).toEqual([]);
  });
});

describe('supervisionSummary', () => {
  it('lists the supervisors and counts every other process below each, by module@version', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('journal'));
    rt.modules.load(worker('session'));
    rt.modules.load(worker('leg'));
    const top = rt.spawn('supervisor', {
      strategy: 'one_for_one',
      children: [
        { id: 'journal', start: { module: 'journal' } },
        {
          id: 'sessions',
          type: 'supervisor',
          start: { module: 'dynamic_supervisor', args: { module: 'session', name: 'sessions' } },
        },
      ],
    });
    await settleBriefly(rt);
    const sessions: Pid[] = [];
    for (let i = 0; i < 3; i++) sessions.push(await startChild(rt, 'sessions', undefined));
    rt.modules.load(worker('session', '2.0.0'));
    for (let i = 0; i < 2; i++) await startChild(rt, 'sessions', undefined);
    // Workers below a worker (a session's call legs) count under the same supervisor.
    await rt.call(sessions[0] as Pid, { module: 'leg', count: 2 });
    rt.spawn(recorder);

    const summary = supervisionSummary(rt);
    expect(summary.workers).toEqual({ 'recorder@1.0.0': 1 });
    expect(summary.supervisors).toHaveLength(1);
    const [sup] = summary.supervisors as [SupervisorSummary];
    expect(sup).toMatchObject({ pid: top, module: 'supervisor', version: '1.0.0', status: 'waiting' });
    expect(sup.workers).toEqual({ 'journal@1.0.0': 1 });
    expect(sup.supervisors).toEqual([
      {
        pid: rt.whereis('sessions'),
        name: 'sessions',
        module: 'dynamic_supervisor',
        version: '1.0.0',
        status: 'waiting',
        supervisors: [],
        workers: { 'session@1.0.0': 3, 'session@2.0.0': 2, 'leg@1.0.0': 2 },
      },
    ]);
  });
});

describe('supervisionTree', () => {
  it('nests processes under their parents and counts children over maxChildren by module@version', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('session', '1.0.0'));
    rt.modules.load(worker('leaf'));
    const root = rt.spawn(worker('root'), undefined, { name: 'top' });
    const sessionsV1 = (await rt.call(root, { module: 'session', count: 4 })) as Pid[];
    rt.modules.load(worker('session', '2.0.0'));
    const sessionsV2 = (await rt.call(root, { module: 'session', count: 3 })) as Pid[];
    const leaves = (await rt.call(sessionsV1[0] as Pid, { module: 'leaf', count: 2 })) as Pid[];
    const loner = rt.spawn(recorder);

    const tree = supervisionTree(rt, { maxChildren: 2 });
    expect(tree.map((n) => n.pid)).toEqual([root, loner]);
    const [top, alone] = tree as [TreeNode, TreeNode];
    expect(top).toMatchObject({
      pid: root,
      name: 'top',
      module: 'root',
      version: '1.0.0',
      status: 'waiting',
    });
    expect(top.children.map((c) => c.pid)).toEqual(sessionsV1.slice(0, 2));
    expect(top.more).toEqual({ 'session@1.0.0': 2, 'session@2.0.0': 3 });
    const first = top.children[0] as TreeNode;
    expect(first.children.map((c) => [c.pid, c.module])).toEqual(leaves.map((l) => [l, 'leaf']));
    expect(first.more).toBeUndefined();
    expect(alone).toEqual({
      pid: loner,
      name: undefined,
      module: 'recorder',
      version: '1.0.0',
      status: 'waiting',
      children: [],
    });

    // Without a limit small enough to bite, everything is listed and nothing counted.
    const full = supervisionTree(rt);
    expect(full[0]?.children.map((c) => c.pid)).toEqual([...sessionsV1, ...sessionsV2]);
    expect(full[0]?.more).toBeUndefined();
    expect(sessionsV2.every((p) => info(rt, p)?.version === '2.0.0')).toBe(true);
  });

  it('lists 50 children by default and counts the rest', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('session'));
    const root = rt.spawn(worker('root'));
    await rt.call(root, { module: 'session', count: 120 });
    const [top] = supervisionTree(rt);
    expect(top?.children).toHaveLength(50);
    expect(top?.more).toEqual({ 'session@1.0.0': 70 });
    expect(supervisionTree(rt, { maxChildren: 0 })[0]?.more).toEqual({ 'session@1.0.0': 120 });
  });

  it('shows the children of a parent that has ended as roots', async () => {
    const rt = newRuntime();
    rt.modules.load(worker('session'));
    const root = rt.spawn(worker('root'));
    const kids = (await rt.call(root, { module: 'session', count: 2 })) as Pid[];
    rt.exit(root, { type: 'shutdown' });
    expect(rt.isAlive(root)).toBe(false);
    const tree = supervisionTree(rt);
    expect(tree.map((n) => n.pid)).toEqual(kids);
    // They still name their parent, even though it is gone.
    expect(kids.map((k) => info(rt, k)?.parent)).toEqual([root, root]);
  });
});

describe('events', () => {
  it('emits spawn with module, version and parent', async () => {
    const rt = newRuntime();
    const spawns = eventLog(rt, 'spawn');
    rt.modules.load(worker('child', '3.0.0'));
    const parent = rt.spawn(worker('parent'));
    const [child] = (await rt.call(parent, { module: 'child', count: 1 })) as Pid[];
    expect(spawns).toEqual([
      { pid: parent, module: 'parent', version: '1.0.0', parent: undefined },
      { pid: child, module: 'child', version: '3.0.0', parent },
    ]);
  });

  it('emits exit with module, version and reason, once per process', async () => {
    const rt = newRuntime();
    const exits = eventLog(rt, 'exit');
    const crash = new Error('boom');
    const b: Behaviour<Record<string, never>> = {
      name: 'ender',
      version: '4.2.0',
      init: () => ({}),
      handleCast(m, state) {
        if (m === 'crash') throw crash;
        return stop({ type: 'shutdown', detail: String(m) }, state);
      },
    };
    const a = rt.spawn(b);
    const c = rt.spawn(b);
    const d = rt.spawn(b);
    rt.cast(a, 'crash');
    rt.cast(c, 'bye');
    rt.exit(d, { type: 'kill' });
    rt.exit(d, { type: 'kill' });
    await settleBriefly(rt);
    expect(exits).toEqual([
      { pid: d, module: 'ender', version: '4.2.0', reason: { type: 'killed' } },
      { pid: a, module: 'ender', version: '4.2.0', reason: { type: 'error', error: crash } },
      { pid: c, module: 'ender', version: '4.2.0', reason: { type: 'shutdown', detail: 'bye' } },
    ]);
  });

  it('emits code_change with the module and both versions', async () => {
    const rt = newRuntime();
    const changes = eventLog(rt, 'code_change');
    const v1: Behaviour<{ count: number }> = {
      name: 'counter',
      version: '1.0.0',
      init: () => ({ count: 5 }),
      handleCall: (_m, _f, state) => reply(state, state),
    };
    const v2: Behaviour<{ total: number }> = {
      name: 'counter',
      version: '1.1.0',
      init: () => ({ total: 0 }),
      handleCall: (_m, _f, state) => reply(state, state),
      codeChange: (_from, state) => ({ total: (state as { count: number }).count }),
    };
    const pid = rt.spawn(v1);
    await rt.sys.suspend(pid);
    rt.sys.changeCode(pid, { to: v2, direction: 'up' });
    rt.sys.resume(pid);
    expect(changes).toEqual([{ pid, module: 'counter', from: '1.0.0', to: '1.1.0' }]);
    expect(await rt.call(pid, 'state')).toEqual({ total: 5 });
    expect(info(rt, pid)?.version).toBe('1.1.0');
  });

  it('emits unhandled for a cast or info message without a handler, and the process runs on', async () => {
    const rt = newRuntime();
    const unhandled = eventLog(rt, 'unhandled');
    const pid = rt.spawn(worker('callonly'));
    rt.cast(pid, 'a cast');
    rt.send(pid, 'an info');
    rt.modules.load(worker('child'));
    expect(await rt.call(pid, { module: 'child', count: 1 })).toHaveLength(1);
    expect(unhandled).toEqual([
      { pid, module: 'callonly', kind: 'cast' },
      { pid, module: 'callonly', kind: 'info' },
    ]);
    expect(info(rt, pid)).toMatchObject({ status: 'waiting', handled: 3 });
  });

  it('emits error_report for an error a process reports, naming the code it runs, and the process runs on', async () => {
    const rt = newRuntime();
    const reports = eventLog(rt, 'error_report');
    const failure = new Error('could not do it');
    const pid = rt.spawn({
      name: 'careful',
      version: '2.1.0',
      init: () => ({}),
      handleCall(_m, _f, state, ctx) {
        ctx.reportError(failure);
        return reply('sorry', state);
      },
    } satisfies Behaviour<Record<string, never>>);
    expect(await rt.call(pid, 'try')).toBe('sorry');
    expect(reports).toEqual([{ pid, module: 'careful', version: '2.1.0', error: failure }]);
    expect(info(rt, pid)).toMatchObject({ status: 'waiting', handled: 1 });
  });

  it('stops delivering to a listener once it unsubscribes', () => {
    const rt = newRuntime();
    const got: Pid[] = [];
    const off = rt.events.on('spawn', (e) => got.push(e.pid));
    const first = rt.spawn(recorder);
    off();
    off();
    rt.spawn(recorder);
    expect(got).toEqual([first]);
  });

  it('removes only its own subscription, however often the unsubscribe function is called', () => {
    const rt = newRuntime();
    const got: Pid[] = [];
    const listener = (e: RuntimeEventMap['spawn']) => got.push(e.pid);
    const offFirst = rt.events.on('spawn', listener);
    rt.events.on('spawn', listener);
    offFirst();
    offFirst();
    const pid = rt.spawn(recorder);
    expect(got).toEqual([pid]);
  });

  it('still delivers to the next listener when one unsubscribes itself while handling the event', () => {
    const rt = newRuntime();
    const calls: string[] = [];
    const offOnce = rt.events.on('spawn', () => {
      calls.push('once');
      offOnce();
    });
    rt.events.on('spawn', () => calls.push('always'));
    rt.spawn(recorder);
    rt.spawn(recorder);
    expect(calls).toEqual(['once', 'always', 'always']);
  });

  it('survives a listener that throws: other listeners and the processes carry on', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const rt = newRuntime();
    rt.events.on('spawn', () => {
      throw new Error('listener broke on spawn');
    });
    rt.events.on('exit', () => {
      throw new Error('listener broke on exit');
    });
    const spawns = eventLog(rt, 'spawn');
    const exits = eventLog(rt, 'exit');
    const fragile = rt.spawn({
      name: 'fragile',
      version: '1.0.0',
      init: () => ({}),
      handleCast() {
        throw new Error('crash');
      },
    });
    const steady = rt.spawn(recorder);
    expect(spawns.map((e) => e.pid)).toEqual([fragile, steady]);
    rt.cast(fragile, 'x');
    rt.cast(steady, 1);
    await settleBriefly(rt);
    rt.cast(steady, 2);
    expect(await rt.call(steady, { type: 'seen' })).toEqual([1, 2]);
    expect(rt.isAlive(fragile)).toBe(false);
    expect(exits.map((e) => e.pid)).toEqual([fragile]);
    const warnings = warn.mock.calls.map((c) => String(c[0]));
    expect(
      warnings.filter((w) => w.includes("'spawn'") && w.includes('listener broke on spawn')),
    ).toHaveLength(2);
    expect(warnings.filter((w) => w.includes("'exit'") && w.includes('listener broke on exit'))).toHaveLength(
      1,
    );
  });
});
