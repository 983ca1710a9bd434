/**
 * CDRs of calls with legs on two nodes: both sides may record one (the callee's leg with
 * `lost` when the caller's node is gone, the caller's journal with its `end` — in a partition
 * — or its recovery at restart), and only the side that wins the cluster's claim on the CDR
 * id writes it. A candidate is on disk (`claiming`) before it is claimed, so a journal or node
 * that stops in between asks again; a claim refused leaves an `elsewhere` mark, so a restart
 * does not recover the call again. The claim here is a fake with the real one's contract
 * (the first node to claim an id has it for good); the real one over NATS is exercised by
 * test/cluster/interop.test.ts and test/cluster/node-loss.test.ts.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { type ClaimCdr, createJournal } from '../../server/calls/cdr/journal.ts';
import { queryCdrs, recoverLog, scanLog } from '../../server/calls/cdr/log.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { type CallEnd, JOURNAL, type JournalMessage } from '../../server/calls/contract.ts';
import { type AnyBehaviour, kill, type Pid, Runtime } from '../../server/runtime/index.ts';
import { tempDataDir, waitFor } from './helpers.ts';

const dirs: string[] = [];
const runtimes: Runtime[] = [];
afterEach(async () => {
  for (const rt of runtimes.splice(0)) {
    const journal = rt.whereis(JOURNAL);
    if (journal !== undefined) rt.exit(journal, kill);
    await rt.idle();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The cluster's claims: the first claim of an id has it for good (id → the token it was made with). */
function fakeClaims(): { claim: ClaimCdr; claimed: Map<string, string> } {
  const claimed = new Map<string, string>();
  return {
    claimed,
    claim: async (id, token) => {
      if (!claimed.has(id)) claimed.set(id, token);
      return claimed.get(id) === token;
    },
  };
}

const idleLeg: AnyBehaviour = { name: 'leg', version: '1', init: () => ({}) };

function journalNode(claim: ClaimCdr): { rt: Runtime; path: string; leg: Pid } {
  const dir = tempDataDir();
  dirs.push(dir);
  const path = join(dir, 'cdr.log');
  const rt = new Runtime({ node: 'n1' });
  runtimes.push(rt);
  rt.modules.load(createJournal({}, claim));
  rt.spawn(JOURNAL, { path });
  return { rt, path, leg: rt.spawn(idleLeg) };
}

const end = {
  endedBy: 'system',
  endedAt: 2000,
  answeredAt: 1100,
  mediaAtoB: 7,
  mediaBtoA: 5,
  versions: ['1.0.0'],
} satisfies Omit<CallEnd, 'cause'>;

/** The other leg of a call across nodes. */
const remote = '<7@n2>' as Pid;

const open = (id: string, leg: Pid, peer: Pid = remote): JournalMessage => ({
  type: 'open',
  id,
  callId: `call-${id}`,
  caller: 'alice',
  callee: 'bob',
  leg,
  peer,
  setupAt: 1000,
  versions: ['1.0.0'],
});

const lost = (id: string): JournalMessage => ({
  type: 'lost',
  id,
  callId: `call-${id}`,
  caller: 'alice',
  callee: 'bob',
  setupAt: 1000,
  cause: 'node_lost',
  ...end,
});

async function cdrsIn(path: string, count: number): Promise<Cdr[]> {
  let found: Cdr[] = [];
  await waitFor(`${count} CDRs in the log`, async () => {
    found = await queryCdrs(path, { limit: 100 });
    return found.length >= count;
  });
  return found;
}

it('a surviving leg records a call lost with its caller’s node once, whoever else claims it', async () => {
  const claims = fakeClaims();
  const { rt, path } = journalNode(claims.claim);
  rt.cast(JOURNAL, lost('a'));
  const [cdr] = await cdrsIn(path, 1);
  expect(cdr).toMatchObject({
    id: 'a',
    callId: 'call-a',
    caller: 'alice',
    callee: 'bob',
    node: 'n1',
    cause: 'node_lost',
    endedBy: 'system',
    durationMs: 900,
    mediaAtoB: 7,
    mediaBtoA: 5,
    versions: ['1.0.0'],
  });
  // Told again (the other side's claim, or a repeat): refused, nothing written.
  rt.cast(JOURNAL, lost('a'));
  rt.cast(JOURNAL, lost('b'));
  const both = await cdrsIn(path, 2);
  expect(both.map((c) => c.id).sort()).toEqual(['a', 'b']);
  expect([...claims.claimed.keys()]).toEqual(['a', 'b']);
});

it('an owner’s node_lost end whose claim another node won leaves the call settled, not open', async () => {
  const claims = fakeClaims();
  const { rt, path, leg } = journalNode(claims.claim);
  claims.claimed.set('x', 'n2'); // the other leg's node recorded it first
  rt.cast(JOURNAL, open('x', leg));
  rt.cast(JOURNAL, open('y', leg));
  rt.cast(JOURNAL, { type: 'end', id: 'x', cause: 'node_lost', ...end });
  rt.cast(JOURNAL, { type: 'end', id: 'y', cause: 'node_lost', ...end });
  const [cdr] = await cdrsIn(path, 1);
  expect(cdr).toMatchObject({ id: 'y', cause: 'node_lost', mediaAtoB: 7 });
  await waitFor('x settled elsewhere', async () => (await scanLog(path)).open.size === 0);
  // A restart finds nothing to recover: x is the other node's, y is written.
  expect(await recoverLog(path, 'n1', claims.claim)).toEqual([]);
  expect((await queryCdrs(path, { limit: 100 })).map((c) => c.id)).toEqual(['y']);
});

it('a call with both legs on this node is written at once, with no claim', async () => {
  const claim: ClaimCdr = () => Promise.reject(new Error('no claim expected'));
  const { rt, path, leg } = journalNode(claim);
  rt.cast(JOURNAL, open('n', leg, leg));
  rt.cast(JOURNAL, { type: 'end', id: 'n', cause: 'normal', ...end, endedBy: 'caller' });
  expect(await cdrsIn(path, 1)).toEqual([expect.objectContaining({ id: 'n', cause: 'normal' })]);
});

it('a call across nodes ended normally is claimed too: the other side may have declared this node lost', async () => {
  const claims = fakeClaims();
  const { rt, path, leg } = journalNode(claims.claim);
  claims.claimed.set('p', 'n2'); // the callee's node recorded it as node_lost during a partition
  rt.cast(JOURNAL, open('p', leg));
  rt.cast(JOURNAL, open('q', leg));
  for (const id of ['p', 'q'])
    rt.cast(JOURNAL, { type: 'end', id, cause: 'normal', ...end, endedBy: 'caller' });
  expect((await cdrsIn(path, 1)).map((c) => c.id)).toEqual(['q']);
  await waitFor('p settled elsewhere', async () => (await scanLog(path)).open.size === 0);
  expect((await queryCdrs(path, { limit: 100 })).map((c) => c.id)).toEqual(['q']);
});

it('a candidate whose claim had no answer when the journal stopped is claimed again at the next start', async () => {
  const claims = fakeClaims();
  let answer = false;
  // NATS unreachable: the claim never answers while the journal runs.
  const { rt, path } = journalNode((id, token) =>
    answer ? claims.claim(id, token) : new Promise<boolean>(() => {}),
  );
  rt.cast(JOURNAL, lost('s'));
  await waitFor(
    'the candidate on disk',
    () => existsSync(path) && readFileSync(path, 'utf8').includes('"t":"claiming"'),
  );
  const journal = rt.whereis(JOURNAL) as Pid;
  const ended = rt.awaitExit(journal, 1000);
  rt.exit(journal, kill);
  expect(await ended, 'the journal ended').toBeDefined();
  expect(await queryCdrs(path, { limit: 100 })).toEqual([]);
  answer = true;
  const recovered = await recoverLog(path, 'n1', claims.claim);
  expect(recovered).toEqual([
    expect.objectContaining({ id: 's', cause: 'node_lost', mediaAtoB: 7, mediaBtoA: 5 }),
  ]);
  expect(await recoverLog(path, 'n1', claims.claim)).toEqual([]);
});

it('recovery at restart writes the calls whose claim it wins and marks the rest as recorded elsewhere', async () => {
  const claims = fakeClaims();
  const { rt, path, leg } = journalNode(claims.claim);
  for (const id of ['p', 'q', 'r']) rt.cast(JOURNAL, open(id, leg));
  await waitFor('three calls open in the log', async () => (await scanLog(path)).open.size === 3);
  claims.claimed.set('q', 'n2'); // q's surviving leg recorded it while this node was down
  const recovered = await recoverLog(path, 'n1', claims.claim);
  expect(recovered.map((c) => c.id).sort()).toEqual(['p', 'r']);
  expect((await scanLog(path)).open.size).toBe(0);
  expect(await recoverLog(path, 'n1', claims.claim)).toEqual([]);
  expect((await queryCdrs(path, { limit: 100 })).map((c) => c.id).sort()).toEqual(['p', 'r']);
});
