/**
 * CDRs of calls that ended with a node lost: both sides of a call may record one (the
 * callee's leg with `lost`, the caller's journal with its `end` or its recovery at restart),
 * and only the side that wins the cluster's claim on the CDR id writes it. A claim refused
 * leaves a mark in the log, so a later restart does not recover the call again. The claim
 * here is a fake with the real one's contract (first claim of an id wins); the real one over
 * NATS is exercised by test/cluster/node-loss.test.ts.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { type ClaimCdr, createJournal } from '../../server/calls/cdr/journal.ts';
import { queryCdrs, recoverLog, scanLog } from '../../server/calls/cdr/log.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { type CallEnd, JOURNAL, type JournalMessage } from '../../server/calls/contract.ts';
import { type AnyBehaviour, type Pid, Runtime } from '../../server/runtime/index.ts';
import { tempDataDir, waitFor } from './helpers.ts';

const dirs: string[] = [];
const runtimes: Runtime[] = [];
afterEach(async () => {
  for (const rt of runtimes.splice(0)) {
    const journal = rt.whereis(JOURNAL);
    if (journal !== undefined) rt.exit(journal, { type: 'shutdown' });
    await rt.idle();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The cluster's claims as far as a test needs them: the first claim of an id wins. */
function fakeClaims(): { claim: ClaimCdr; claimed: Set<string> } {
  const claimed = new Set<string>();
  return {
    claimed,
    claim: async (id) => {
      if (claimed.has(id)) return false;
      claimed.add(id);
      return true;
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

const open = (id: string, leg: Pid): JournalMessage => ({
  type: 'open',
  id,
  callId: `call-${id}`,
  caller: 'alice',
  callee: 'bob',
  leg,
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
  expect(claims.claimed).toEqual(new Set(['a', 'b']));
});

it('an owner’s node_lost end whose claim another node won leaves the call settled, not open', async () => {
  const claims = fakeClaims();
  const { rt, path, leg } = journalNode(claims.claim);
  claims.claimed.add('x'); // the other leg's node recorded it first
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

it('a normal end is written at once, with no claim', async () => {
  const claim: ClaimCdr = () => Promise.reject(new Error('no claim expected'));
  const { rt, path, leg } = journalNode(claim);
  rt.cast(JOURNAL, open('n', leg));
  rt.cast(JOURNAL, { type: 'end', id: 'n', cause: 'normal', ...end, endedBy: 'caller' });
  expect(await cdrsIn(path, 1)).toEqual([expect.objectContaining({ id: 'n', cause: 'normal' })]);
});

it('recovery at restart writes the calls whose claim it wins and marks the rest as recorded elsewhere', async () => {
  const claims = fakeClaims();
  const { rt, path, leg } = journalNode(claims.claim);
  for (const id of ['p', 'q', 'r']) rt.cast(JOURNAL, open(id, leg));
  await waitFor('three calls open in the log', async () => (await scanLog(path)).open.size === 3);
  claims.claimed.add('q'); // q's surviving leg recorded it while this node was down
  const recovered = await recoverLog(path, 'n1', claims.claim);
  expect(recovered.map((c) => c.id).sort()).toEqual(['p', 'r']);
  expect((await scanLog(path)).open.size).toBe(0);
  expect(await recoverLog(path, 'n1', claims.claim)).toEqual([]);
  expect((await queryCdrs(path, { limit: 100 })).map((c) => c.id).sort()).toEqual(['p', 'r']);
});
