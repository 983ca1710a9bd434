/**
 * CDRs: exactly one per call, however it ends — by the protocol, by a crash, by a killed
 * process, or by the whole node dying (recovered at the next start) — and the log
 * functions that make that hold, on hand-written log files.
 */
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import { CdrArchive, type CdrQuery } from '../../server/calls/cdr/archive.ts';
import { appendLinesSync, closeLog, openLog, recoverLog, scanLog } from '../../server/calls/cdr/log.ts';
import type { Cdr, LogLine } from '../../server/calls/cdr/records.ts';
import { JOURNAL, type Release, userName } from '../../server/calls/contract.ts';
import { release as baseline } from '../../server/calls/releases/1.0.0/index.ts';
import { session } from '../../server/calls/releases/1.0.0/session.ts';
import type { Pid } from '../../server/runtime/index.ts';
import {
  answeredCall,
  assertServes,
  type SteadyCall,
  serviceCall,
  steadyEchoCall,
} from '../support/calls.ts';
import { cdrOf, fetchCdrs, readCdrLog, sampleCdr, waitForCdrs } from '../support/cdrs.ts';
import { reapNodeProcesses, spawnNodeProcess } from '../support/node-process.ts';
import { startTestNode, type TestNode, tempDataDir } from '../support/test-node.ts';
import { sleep, waitFor } from '../support/wait.ts';

/** The newest CDRs of a log, one page as the admin surface gives it. */
const queryCdrs = async (path: string, q: CdrQuery) => (await new CdrArchive(path).page(q)).cdrs;

const nodes: TestNode[] = [];
const dirs: string[] = [];
const extraPhones: Phone[] = [];
let steady: SteadyCall | undefined;

afterEach(async () => {
  steady?.flow.stop();
  steady = undefined;
  for (const p of extraPhones.splice(0)) p.ws.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.shutdown()));
  await reapNodeProcesses();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function node(...args: Parameters<typeof startTestNode>): Promise<TestNode> {
  const n = await startTestNode(...args);
  nodes.push(n);
  return n;
}

function dir(): string {
  const d = tempDataDir();
  dirs.push(d);
  return d;
}

/** Each value in `values` appears exactly once. */
function expectUnique(values: string[], what: string): void {
  const seen = new Map<string, number>();
  for (const v of values) seen.set(v, (seen.get(v) ?? 0) + 1);
  expect(
    [...seen].filter(([, n]) => n !== 1),
    `${what} seen more than once`,
  ).toEqual([]);
}

describe('exactly one CDR per call', () => {
  it('for a batch of calls ended every way, none missing and none duplicated (also across a restart)', async () => {
    const data = dir();
    const n = await node({ dataDir: data, ringTimeoutMs: 800 });
    let users = 0;
    const pair = async () => {
      const [aUser, bUser] = [`u${++users}`, `u${++users}`];
      const a = await n.phone(aUser);
      const b = await n.phone(bUser);
      return { a, b, bUser };
    };
    const expected: Record<string, { cause: Cdr['cause']; endedBy: Cdr['endedBy']; answered: boolean }> = {};
    const scenario = (
      callId: string,
      cause: Cdr['cause'],
      endedBy: Cdr['endedBy'],
      answered: boolean,
      run: () => Promise<void>,
    ) => {
      expected[callId] = { cause, endedBy, answered };
      return run().catch((err: unknown) => {
        throw new Error(`${callId}: ${String(err)}`);
      });
    };

    await Promise.all([
      scenario('bye-caller', 'normal', 'caller', true, async () => {
        const { a, b, bUser } = await pair();
        await answeredCall(a, b, 'bye-caller', bUser);
        a.send({ type: 'bye', callId: 'bye-caller' });
        expect(await b.next('ended')).toMatchObject({ cause: 'normal' });
      }),
      scenario('bye-callee', 'normal', 'callee', true, async () => {
        const { a, b, bUser } = await pair();
        await answeredCall(a, b, 'bye-callee', bUser);
        b.send({ type: 'bye', callId: 'bye-callee' });
        expect(await a.next('ended')).toMatchObject({ cause: 'normal' });
      }),
      scenario('echo-bye', 'normal', 'caller', true, async () => {
        const a = await n.phone(`u${++users}`);
        await serviceCall(a, 'echo-bye');
        a.send({ type: 'media', callId: 'echo-bye', seq: 1, sentAt: 1 });
        await a.next('media');
        a.send({ type: 'bye', callId: 'echo-bye' });
        await a.next('ended');
      }),
      scenario('cancel', 'cancelled', 'caller', false, async () => {
        const { a, b, bUser } = await pair();
        a.send({ type: 'invite', callId: 'cancel', to: bUser });
        await b.next('incoming');
        b.send({ type: 'ringing', callId: 'cancel' });
        await a.next('ringing');
        a.send({ type: 'cancel', callId: 'cancel' });
        expect(await b.next('ended')).toMatchObject({ cause: 'cancelled' });
      }),
      scenario('busy', 'busy', 'callee', false, async () => {
        const { a, b, bUser } = await pair();
        a.send({ type: 'invite', callId: 'busy', to: bUser });
        await b.next('incoming');
        b.send({ type: 'busy', callId: 'busy' });
        expect(await a.next('ended')).toMatchObject({ cause: 'busy' });
      }),
      scenario('busy-in-call', 'busy', 'callee', false, async () => {
        // The callee is in another call: its session answers busy by itself.
        const { a: c, b, bUser } = await pair();
        await serviceCall(b, 'busy-holder');
        expected['busy-holder'] = { cause: 'normal', endedBy: 'caller', answered: true };
        c.send({ type: 'invite', callId: 'busy-in-call', to: bUser });
        expect(await c.next('ended')).toMatchObject({ cause: 'busy' });
        b.send({ type: 'bye', callId: 'busy-holder' });
        await b.next('ended');
      }),
      scenario('reject', 'rejected', 'callee', false, async () => {
        const { a, b, bUser } = await pair();
        a.send({ type: 'invite', callId: 'reject', to: bUser });
        await b.next('incoming');
        b.send({ type: 'reject', callId: 'reject' });
        expect(await a.next('ended')).toMatchObject({ cause: 'rejected' });
      }),
      scenario('ring-timeout', 'ring_timeout', 'system', false, async () => {
        const a = await n.phone(`u${++users}`);
        a.send({ type: 'invite', callId: 'ring-timeout', to: 'noanswer' });
        await a.next('ringing');
        expect(await a.next('ended')).toMatchObject({ cause: 'ring_timeout' });
      }),
      scenario('ring-timeout-2', 'ring_timeout', 'system', false, async () => {
        const { a, b, bUser } = await pair();
        a.send({ type: 'invite', callId: 'ring-timeout-2', to: bUser });
        await b.next('incoming');
        b.send({ type: 'ringing', callId: 'ring-timeout-2' });
        expect(await a.next('ended')).toMatchObject({ cause: 'ring_timeout' });
        expect(await b.next('ended')).toMatchObject({ cause: 'ring_timeout' });
      }),
      scenario('client-gone', 'client_gone', 'caller', true, async () => {
        const { a, b, bUser } = await pair();
        await answeredCall(a, b, 'client-gone', bUser);
        a.ws.terminate();
        expect(await b.next('ended')).toMatchObject({ cause: 'peer_gone' });
      }),
      scenario('client-gone-ringing', 'client_gone', 'caller', false, async () => {
        const { a, b, bUser } = await pair();
        a.send({ type: 'invite', callId: 'client-gone-ringing', to: bUser });
        await b.next('incoming');
        await a.close();
        expect(await b.next('ended')).toMatchObject({ cause: 'peer_gone' });
      }),
      scenario('echo-client-gone', 'client_gone', 'caller', true, async () => {
        const a = await n.phone(`u${++users}`);
        await serviceCall(a, 'echo-client-gone');
        await a.close();
      }),
      scenario('peer-socket-gone', 'client_gone', 'callee', true, async () => {
        const { a, b, bUser } = await pair();
        await answeredCall(a, b, 'peer-socket-gone', bUser);
        b.ws.terminate();
        expect(await a.next('ended')).toMatchObject({ cause: 'peer_gone' });
      }),
      scenario('peer-gone', 'peer_gone', 'callee', true, async () => {
        const { a, b, bUser } = await pair();
        await answeredCall(a, b, 'peer-gone', bUser);
        n.rt.exit(n.rt.whereis(userName(bUser)) as Pid, { type: 'kill' });
        expect(await a.next('ended')).toMatchObject({ cause: 'peer_gone' });
        expect((await b.closed).code).toBe(1011);
      }),
    ]);

    const ids = Object.keys(expected);
    const cdrs = await waitForCdrs(n, (l) => l.length >= ids.length);
    await sleep(200);
    const again = await fetchCdrs(n);
    expect(again).toHaveLength(ids.length);
    expectUnique(
      again.map((c) => c.id),
      'CDR id',
    );
    expectUnique(
      again.map((c) => c.callId),
      'callId',
    );
    expect(new Set(again.map((c) => c.callId))).toEqual(new Set(ids));
    expect(cdrs.map((c) => c.id).sort()).toEqual(again.map((c) => c.id).sort());
    for (const c of again) {
      const want = expected[c.callId];
      expect(c, c.callId).toMatchObject({ cause: want?.cause, endedBy: want?.endedBy });
      expect(c.answeredAt !== null, `${c.callId} answered`).toBe(want?.answered);
      expect(c.endedAt).toBeGreaterThanOrEqual(c.answeredAt ?? c.setupAt);
      expect(c.durationMs).toBe(c.answeredAt === null ? 0 : c.endedAt - c.answeredAt);
    }
    // In the log: one open and one CDR per call, and they pair up.
    const log = readCdrLog(data);
    const opens = log.filter((l) => l.t === 'open');
    const logged = log.filter((l) => l.t === 'cdr');
    expectUnique(
      opens.map((l) => l.id),
      'open line',
    );
    expectUnique(
      logged.map((l) => l.id),
      'cdr line',
    );
    expect(new Set(opens.map((l) => l.id))).toEqual(new Set(logged.map((l) => l.id)));

    // A restart on the same log finds nothing open and adds nothing.
    await n.shutdown();
    nodes.splice(nodes.indexOf(n), 1);
    const restarted = await node({ dataDir: data });
    expect(restarted.recovered).toBe(0);
    expect(await fetchCdrs(restarted)).toHaveLength(ids.length);
  });
});

/** Release 1.0.0 with a session that crashes on DTMF 'D' and is the real session otherwise. */
const crashingSession = {
  ...session,
  handleCast(message, state, ctx) {
    if (message.type === 'dtmf' && message.digit === 'D') throw new Error('test crash on DTMF D');
    const real = session.handleCast;
    if (real === undefined) throw new Error('the session has no handleCast');
    return real.call(session, message, state, ctx);
  },
} satisfies typeof session;
const crashOnD: Release = {
  ...baseline,
  upgradeFrom: [],
  downgradeTo: [],
  session: crashingSession,
  behaviours: baseline.behaviours.map((b) => (b.name === 'session' ? crashingSession : b)),
};

describe('a session process that dies mid-call', () => {
  it.each([['caller'], ['callee']] as const)(
    'a crashing %s: CDR with cause error, peer ended peer_gone, socket closed 1011, others untouched',
    async (who) => {
      const n = await node({}, { release: crashOnD });
      const tree = () => [JOURNAL, 'ports', 'sessions'].map((name) => n.rt.whereis(name));
      const before = tree();
      steady = await steadyEchoCall(n);
      const a = await n.phone('crash-a');
      const b = await n.phone('crash-b');
      await answeredCall(a, b, 'crash', 'crash-b');
      const [crasher, peer] = who === 'caller' ? [a, b] : [b, a];
      // Ordinary DTMF goes through the real session.
      crasher.send({ type: 'dtmf', callId: 'crash', digit: '5' });
      expect(await peer.next('dtmf')).toMatchObject({ digit: '5' });

      crasher.send({ type: 'dtmf', callId: 'crash', digit: 'D' });
      expect(await peer.next('ended')).toMatchObject({ callId: 'crash', cause: 'peer_gone' });
      expect((await crasher.closed).code).toBe(1011);
      expect(peer.isOpen).toBe(true);
      const cdr = await cdrOf(n, 'crash');
      expect(cdr).toMatchObject({
        caller: 'crash-a',
        callee: 'crash-b',
        cause: 'error',
        endedBy: who === 'caller' ? 'system' : 'callee',
      });
      expect(cdr.answeredAt).not.toBeNull();

      // The crashed user's name is free again; the peer calls on; the bystander never noticed.
      const crashedUser = who === 'caller' ? 'crash-a' : 'crash-b';
      await waitFor('crashed session gone', () => n.rt.whereis(userName(crashedUser)) === undefined);
      await n.phone(crashedUser);
      peer.send({ type: 'invite', callId: 'after-crash', to: 'echo' });
      await peer.next((m) => m.type === 'answered' && m.callId === 'after-crash');
      await steady.check();
      await assertServes(n);
      await steady.finish();
      // Only the one session died: no supervisor or the journal was restarted.
      expect(tree()).toEqual(before);
    },
  );

  it('a session killed outright (no terminate): the journal writes the CDR with cause error', async () => {
    const n = await node();
    steady = await steadyEchoCall(n);
    const a = await n.phone('kill-a');
    const b = await n.phone('kill-b');
    await answeredCall(a, b, 'killed', 'kill-b');
    const c = await n.phone('kill-c');
    await serviceCall(c, 'killed-echo');

    n.rt.exit(n.rt.whereis(userName('kill-a')) as Pid, { type: 'kill' });
    n.rt.exit(n.rt.whereis(userName('kill-c')) as Pid, { type: 'kill' });
    expect(await b.next('ended')).toMatchObject({ callId: 'killed', cause: 'peer_gone' });
    expect((await a.closed).code).toBe(1011);
    expect((await c.closed).code).toBe(1011);
    for (const callId of ['killed', 'killed-echo']) {
      const cdr = await cdrOf(n, callId);
      expect(cdr, callId).toMatchObject({ cause: 'error', endedBy: 'system' });
      expect(cdr.answeredAt).not.toBeNull();
      expect(cdr.endedAt).toBeGreaterThanOrEqual(cdr.answeredAt as number);
    }
    // The echo leg went with its caller.
    await waitFor(
      'echo legs gone',
      () =>
        ![...n.rt.processes()].some(
          (p) =>
            p.behaviour.name === 'echo_leg' &&
            p.state !== undefined &&
            (p.state as { callId?: string }).callId === 'killed-echo',
        ),
    );
    await steady.check();
    await assertServes(n);
    await steady.finish();
  });
});

describe('kill -9 of a node process', () => {
  it('every call that was up gets one node_lost CDR at the last alive time; ended calls keep theirs', async () => {
    const data = dir();
    const first = await spawnNodeProcess(data);
    const phones: Phone[] = [];
    const phone = async (user: string) => {
      const p = await Phone.connect(first.callsUrl, { token: first.tokens });
      phones.push(p);
      extraPhones.push(p);
      await p.register(user);
      return p;
    };
    const alice = await phone('alice');
    const bob = await phone('bob');
    const carol = await phone('carol');
    const dave = await phone('dave');
    const erin = await phone('erin');
    // Ended before the kill.
    await serviceCall(dave, 'k-done');
    dave.send({ type: 'bye', callId: 'k-done' });
    await dave.next('ended');
    await waitForCdrs(first, (l) => l.length === 1, { callId: 'k-done' });
    // Up at the kill: two-party, echo, and one still ringing.
    await answeredCall(alice, bob, 'k-two', 'bob');
    alice.send({ type: 'media', callId: 'k-two', seq: 1, sentAt: 1 });
    await bob.next('media');
    await serviceCall(carol, 'k-echo');
    erin.send({ type: 'invite', callId: 'k-ring', to: 'noanswer' });
    await erin.next('ringing');

    // Wait for an 'alive' mark written after both answers.
    const answeredAts = () => readCdrLog(data).flatMap((l) => (l.t === 'answered' ? [l.at] : []));
    await waitFor('both answers logged', () => answeredAts().length === 3, 5000);
    const lastAnswer = Math.max(...answeredAts());
    await waitFor(
      'an alive mark after the answers',
      () => readCdrLog(data).some((l) => l.t === 'alive' && l.at >= lastAnswer),
      5000,
    );
    await sleep(100);

    const killedAt = Date.now();
    first.proc.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const before = readCdrLog(data);
    const lastAlive = Math.max(...before.map(lastSeen));
    expect(before.some((l) => l.t === 'alive' && l.at === lastAlive)).toBe(true);
    for (const p of phones) expect((await p.closed).code).toBe(1006);

    const second = await spawnNodeProcess(data);
    expect(second.recovered).toBe(3);
    const cdrs = await fetchCdrs(second);
    expectUnique(
      cdrs.map((c) => c.id),
      'CDR id',
    );
    expectUnique(
      cdrs.map((c) => c.callId),
      'callId',
    );
    expect(cdrs.map((c) => c.callId).sort()).toEqual(['k-done', 'k-echo', 'k-ring', 'k-two']);
    const byCall = new Map(cdrs.map((c) => [c.callId, c]));
    expect(byCall.get('k-done')).toMatchObject({ cause: 'normal', endedBy: 'caller' });
    for (const callId of ['k-two', 'k-echo']) {
      const c = byCall.get(callId) as Cdr;
      expect(c, callId).toMatchObject({ cause: 'node_lost', endedBy: 'system', endedAt: lastAlive });
      expect(c.answeredAt).not.toBeNull();
      expect(c.endedAt).toBeGreaterThanOrEqual(c.answeredAt as number);
      expect(c.endedAt).toBeLessThanOrEqual(killedAt);
      expect(c.durationMs).toBe(c.endedAt - (c.answeredAt as number));
    }
    expect(byCall.get('k-two')).toMatchObject({ caller: 'alice', callee: 'bob' });
    expect(byCall.get('k-echo')).toMatchObject({ caller: 'carol', callee: 'echo' });
    expect(byCall.get('k-ring')).toMatchObject({
      cause: 'node_lost',
      answeredAt: null,
      durationMs: 0,
      endedAt: lastAlive,
    });

    // A second restart (after a graceful stop) adds nothing.
    second.proc.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const third = await node({ dataDir: data });
    expect(third.recovered).toBe(0);
    const after = await fetchCdrs(third);
    expect(after.map((c) => c.id).sort()).toEqual(cdrs.map((c) => c.id).sort());
  });
});

/** The latest time a log line shows the node alive. */
function lastSeen(l: LogLine): number {
  switch (l.t) {
    case 'open':
      return l.setupAt;
    case 'answered':
    case 'alive':
      return l.at;
    case 'cdr':
    case 'claiming':
      return l.endedAt;
    case 'elsewhere':
    case 'segment':
      return 0;
  }
}

describe('the CDR log', () => {
  const open = (id: string, setupAt: number, extra: Partial<LogLine> = {}) =>
    JSON.stringify({
      t: 'open',
      id,
      callId: `call-${id}`,
      caller: 'alice',
      callee: 'bob',
      leg: '<1@n>',
      setupAt,
      versions: ['1.0.0'],
      ...extra,
    });
  const answered = (id: string, at: number) => JSON.stringify({ t: 'answered', id, at });
  const alive = (at: number) => JSON.stringify({ t: 'alive', at });
  const cdr = (id: string, endedAt: number, extra: Partial<Cdr> = {}) =>
    JSON.stringify({ t: 'cdr', ...sampleCdr(id, endedAt, extra) });
  const logFile = (lines: string[], tail = '\n') => {
    const path = join(dir(), 'cdr.log');
    writeFileSync(path, lines.join('\n') + tail);
    return path;
  };

  it('scanLog: no file is an empty log', async () => {
    expect(await scanLog(join(dir(), 'missing.log'))).toEqual({
      open: new Map(),
      claiming: new Map(),
      lastAlive: 0,
    });
    expect(await recoverLog(join(dir(), 'missing.log'), 'n')).toEqual([]);
  });

  it('scanLog: calls with a CDR are closed; the rest are open with their answer; lastAlive is the latest time seen', async () => {
    const path = logFile([
      open('a', 100),
      answered('a', 110),
      open('b', 120),
      alive(500),
      cdr('a', 300),
      open('c', 130),
      answered('c', 140),
      alive(900),
      open('d', 950),
    ]);
    const { open: calls, lastAlive } = await scanLog(path);
    expect([...calls.keys()].sort()).toEqual(['b', 'c', 'd']);
    expect(calls.get('b')).toMatchObject({
      callId: 'call-b',
      answeredAt: null,
      phase: 'setup',
      leg: '<1@n>',
      setupAt: 120,
    });
    expect(calls.get('c')).toMatchObject({ answeredAt: 140, phase: 'up' });
    expect(lastAlive).toBe(950);
  });

  it('scanLog skips a torn last line and garbage lines', async () => {
    const torn = cdr('b', 600).slice(0, 40);
    const path = logFile(
      [open('a', 100), 'not json at all', open('b', 200), answered('b', 210), alive(400), torn],
      '',
    );
    const { open: calls, lastAlive } = await scanLog(path);
    expect([...calls.keys()].sort()).toEqual(['a', 'b']);
    expect(lastAlive).toBe(400);
  });

  it('recoverLog writes one node_lost CDR per open call, ended when the node was last seen', async () => {
    const path = logFile([
      open('a', 100),
      answered('a', 110),
      open('b', 120),
      open('c', 130),
      answered('c', 140),
      cdr('c', 150),
      alive(1000),
    ]);
    const recovered = await recoverLog(path, 'n2');
    expect(recovered.map((c) => c.id).sort()).toEqual(['a', 'b']);
    const a = recovered.find((c) => c.id === 'a');
    expect(a).toMatchObject({
      callId: 'call-a',
      node: 'n2',
      cause: 'node_lost',
      endedBy: 'system',
      answeredAt: 110,
      endedAt: 1000,
      durationMs: 890,
    });
    expect(recovered.find((c) => c.id === 'b')).toMatchObject({
      answeredAt: null,
      endedAt: 1000,
      durationMs: 0,
    });
    // Now in the log, so a second recovery finds nothing.
    expect(await recoverLog(path, 'n2')).toEqual([]);
    expect((await queryCdrs(path, { limit: 100 })).map((c) => c.id).sort()).toEqual(['a', 'b', 'c']);
  });

  it('recoverLog never ends a call before it was answered, even with no alive mark after it', async () => {
    const path = logFile([alive(50), open('a', 100), answered('a', 200)]);
    expect(await recoverLog(path, 'n')).toEqual([
      expect.objectContaining({ id: 'a', endedAt: 200, durationMs: 0 }),
    ]);
  });

  it('recoverLog after a torn last line: the recovered CDRs are readable and written once', async () => {
    const path = logFile([open('a', 100), answered('a', 110), alive(500), open('b', 600)], '');
    appendFileSync(path, `\n${cdr('b', 700).slice(0, 50)}`);
    const first = await recoverLog(path, 'n');
    expect(first.map((c) => c.id).sort()).toEqual(['a', 'b']);
    // The recovered CDRs must not be glued onto the torn line.
    const found = await queryCdrs(path, { limit: 100 });
    expect(found.map((c) => c.id).sort()).toEqual(['a', 'b']);
    expect(found.every((c) => c.cause === 'node_lost')).toBe(true);
    expect((await scanLog(path)).open.size).toBe(0);
    expect(await recoverLog(path, 'n')).toEqual([]);
    expect(await queryCdrs(path, { limit: 100 })).toHaveLength(2);
    // Every line but the torn one parses.
    const lines = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const bad = lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(bad).toHaveLength(1);
  });

  it('recoverLog ends a torn last line even with no call open, so the next line appended stands alone', async () => {
    const path = logFile([open('a', 100), cdr('a', 200), alive(300)], '');
    appendFileSync(path, `\n${open('b', 400).slice(0, 30)}`);
    expect(await recoverLog(path, 'n')).toEqual([]);
    // What the journal appends next is a line of its own.
    const fd = openLog(path);
    appendLinesSync(fd, [`${open('c', 500)}\n`]);
    closeLog(fd);
    const { open: calls, lastAlive } = await scanLog(path);
    expect([...calls.keys()]).toEqual(['c']);
    expect(lastAlive).toBe(500);
  });

  it('queryCdrs filters by user, cause, callId and time, newest first, up to the limit', async () => {
    const lines = [open('x', 1)];
    for (let i = 1; i <= 30; i++) {
      lines.push(
        cdr(`c${i}`, i * 100, {
          caller: i % 2 === 0 ? 'alice' : 'carol',
          callee: i % 3 === 0 ? 'dave' : 'bob',
          cause: i % 5 === 0 ? 'busy' : 'normal',
        }),
      );
    }
    lines.push(answered('x', 2), alive(5000));
    const path = logFile(lines, '\n{"t":"cdr","id":"torn"');
    const ids = async (q: Parameters<typeof queryCdrs>[1]) => (await queryCdrs(path, q)).map((c) => c.id);
    expect(await ids({ limit: 3 })).toEqual(['c30', 'c29', 'c28']);
    expect(await ids({ limit: 1000 })).toHaveLength(30);
    expect(await ids({ limit: 1 })).toEqual(['c30']);
    expect(await ids({ limit: 100, user: 'dave' })).toEqual([
      'c30',
      'c27',
      'c24',
      'c21',
      'c18',
      'c15',
      'c12',
      'c9',
      'c6',
      'c3',
    ]);
    expect(await ids({ limit: 100, user: 'alice', cause: 'busy' })).toEqual(['c30', 'c20', 'c10']);
    expect(await ids({ limit: 100, callId: 'call-c7' })).toEqual(['c7']);
    expect(await ids({ limit: 100, since: 2500, until: 2700 })).toEqual(['c27', 'c26', 'c25']);
    expect(await ids({ limit: 2, since: 500, until: 1000 })).toEqual(['c10', 'c9']);
    expect(await ids({ limit: 100, user: 'nobody' })).toEqual([]);
    const one = (await queryCdrs(path, { limit: 1, callId: 'call-c7' }))[0];
    expect(one).not.toHaveProperty('t');
    expect(one).toMatchObject({ id: 'c7', endedAt: 700, caller: 'carol', callee: 'bob' });
  });

  it('queryCdrs picks the newest by end time, not by place in the log, so paging with until misses none', async () => {
    // A CDR that waited for the cluster's claim lands after calls that ended later.
    const ends = [100, 200, 300, 150, 400, 500, 350, 600, 450, 700];
    const path = logFile(ends.map((at, i) => cdr(`c${i}`, at)));
    expect((await queryCdrs(path, { limit: 3 })).map((c) => c.endedAt)).toEqual([700, 600, 500]);
    // What a client paging through with until (inclusive) gets, 3 at a time.
    const seen = new Set<string>();
    let until: number | undefined;
    for (;;) {
      const page = await queryCdrs(path, { limit: 3, ...(until === undefined ? {} : { until }) });
      const before = seen.size;
      for (const c of page) seen.add(c.id);
      if (page.length < 3 || seen.size === before) break;
      until = page.at(-1)?.endedAt;
    }
    expect(seen.size).toBe(ends.length);
  });
});
