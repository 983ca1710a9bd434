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
import { CdrArchive, type CdrQuery } from '../../server/calls/cdr/archive.ts';
import { createJournal } from '../../server/calls/cdr/journal.ts';
import { type ClaimCdr, recoverLog, scanLog } from '../../server/calls/cdr/log.ts';
import type { Cdr, LogLine } from '../../server/calls/cdr/records.ts';
import { JOURNAL } from '../../server/calls/contract.ts';
import { type AnyBehaviour, kill, type Pid, Runtime } from '../../server/runtime/index.ts';
import { endMessage, killJournals, lostMessage, openMessage } from '../support/cdrs.ts';
import { tempDataDir } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

/** The newest CDRs of a log, one page as the admin surface gives it. */
const queryCdrs = async (path: string, q: CdrQuery) => (await new CdrArchive(path).page(q)).cdrs;

const dirs: string[] = [];
const runtimes: Runtime[] = [];
afterEach(async () => {
  await killJournals(runtimes);
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

/** The other leg of a call across nodes. */
const remote = '<7@n2>' as Pid;

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
  rt.cast(JOURNAL, lostMessage('a'));
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
  rt.cast(JOURNAL, lostMessage('a'));
  rt.cast(JOURNAL, lostMessage('b'));
  const both = await cdrsIn(path, 2);
  expect(both.map((c) => c.id).sort()).toEqual(['a', 'b']);
  expect([...claims.claimed.keys()]).toEqual(['a', 'b']);
});

/** The lines of the log, parsed. */
const lines = (path: string): LogLine[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as LogLine)
    : [];

/** Kill the journal outright (no terminate), as a crash would. */
async function killJournal(rt: Runtime): Promise<void> {
  const journal = rt.whereis(JOURNAL) as Pid;
  const ended = rt.awaitExit(journal, 1000);
  rt.exit(journal, kill);
  expect(await ended, 'the journal ended').toBeDefined();
}

it('an owner’s node_lost end whose claim another node won: an elsewhere line, no CDR, nothing left to recover', async () => {
  const claims = fakeClaims();
  const { rt, path, leg } = journalNode(claims.claim);
  claims.claimed.set('x', 'n2-token'); // the other leg's node recorded it first
  rt.cast(JOURNAL, openMessage('x', leg, remote));
  rt.cast(JOURNAL, openMessage('y', leg, remote));
  rt.cast(JOURNAL, endMessage('x', { cause: 'node_lost' }));
  rt.cast(JOURNAL, endMessage('y', { cause: 'node_lost' }));
  const [cdr] = await cdrsIn(path, 1);
  expect(cdr).toMatchObject({ id: 'y', cause: 'node_lost', mediaAtoB: 7 });
  await waitFor('x settled elsewhere by the journal', () =>
    lines(path).some((l) => l.t === 'elsewhere' && l.id === 'x'),
  );
  await killJournal(rt);
  expect(await scanLog(path)).toMatchObject({ open: new Map(), claiming: new Map() });
  expect(await recoverLog(path, 'n1', claims.claim)).toEqual([]);
  expect((await queryCdrs(path, { limit: 100 })).map((c) => c.id)).toEqual(['y']);
});

it('a call with both legs on this node is written at once, with no claim', async () => {
  const claim: ClaimCdr = () => Promise.reject(new Error('no claim expected'));
  const { rt, path, leg } = journalNode(claim);
  rt.cast(JOURNAL, openMessage('n', leg, leg));
  rt.cast(JOURNAL, endMessage('n', { cause: 'normal', endedBy: 'caller' }));
  expect(await cdrsIn(path, 1)).toEqual([expect.objectContaining({ id: 'n', cause: 'normal' })]);
  expect(lines(path).some((l) => l.t === 'claiming')).toBe(false);
});

it('a call across nodes ended normally is claimed too: the other side may have declared this node lost', async () => {
  const claims = fakeClaims();
  const { rt, path, leg } = journalNode(claims.claim);
  claims.claimed.set('p', 'n2-token'); // the callee's node recorded it as node_lost during a partition
  rt.cast(JOURNAL, openMessage('p', leg, remote));
  rt.cast(JOURNAL, openMessage('q', leg, remote));
  for (const id of ['p', 'q']) rt.cast(JOURNAL, endMessage(id, { cause: 'normal', endedBy: 'caller' }));
  expect((await cdrsIn(path, 1)).map((c) => c.id)).toEqual(['q']);
  await waitFor('p settled elsewhere by the journal', () =>
    lines(path).some((l) => l.t === 'elsewhere' && l.id === 'p'),
  );
  expect((await queryCdrs(path, { limit: 100 })).map((c) => c.id)).toEqual(['q']);
});

/** Claims that reach the cluster (the first token of an id holds it) but whose answers are lost. */
function answersLost(claims: ReturnType<typeof fakeClaims>): ClaimCdr {
  return (id, token) => {
    void claims.claim(id, token);
    return new Promise<boolean>(() => {});
  };
}

it('a candidate whose claim was won but never answered is written at the next start, with its token', async () => {
  const claims = fakeClaims();
  const { rt, path } = journalNode(answersLost(claims));
  rt.cast(JOURNAL, lostMessage('s'));
  await waitFor('the claim asked', () => claims.claimed.has('s'));
  await killJournal(rt);
  expect(await queryCdrs(path, { limit: 100 })).toEqual([]);
  // Asked again with a fresh token it would lose; with the one on disk it has it.
  const recovered = await recoverLog(path, 'n1', claims.claim);
  expect(recovered).toEqual([
    expect.objectContaining({ id: 's', cause: 'node_lost', mediaAtoB: 7, mediaBtoA: 5 }),
  ]);
  expect(await recoverLog(path, 'n1', claims.claim)).toEqual([]);
});

it('a journal restarted with candidates pending asks their claims again and writes what it wins', async () => {
  const claims = fakeClaims();
  const { rt, path } = journalNode(answersLost(claims));
  rt.cast(JOURNAL, lostMessage('u'));
  await waitFor('the claim asked', () => claims.claimed.has('u'));
  await killJournal(rt);
  rt.modules.load(createJournal({}, claims.claim));
  rt.spawn(JOURNAL, { path });
  expect((await cdrsIn(path, 1)).map((c) => c.id)).toEqual(['u']);
});

it('recovery at restart: open calls become candidates on disk first; it writes what it wins, marks what it loses, and leaves unanswered ones for the journal', async () => {
  const claims = fakeClaims();
  const { rt, path, leg } = journalNode(claims.claim);
  for (const id of ['p', 'q', 'r', 'z']) rt.cast(JOURNAL, openMessage(id, leg, remote));
  await waitFor('four calls open in the log', async () => (await scanLog(path)).open.size === 4);
  await killJournal(rt);
  claims.claimed.set('q', 'n2-token'); // q's surviving leg recorded it while this node was down
  const failing: ClaimCdr = (id, token) =>
    id === 'z' ? Promise.reject(new Error('JetStream unavailable')) : claims.claim(id, token);
  const recovered = await recoverLog(path, 'n1', failing);
  expect(recovered.map((c) => c.id).sort()).toEqual(['p', 'r']);
  const scan = await scanLog(path);
  expect(scan.open.size).toBe(0);
  expect([...scan.claiming.keys()]).toEqual(['z']);
  // The next start (or the journal) asks z again, with the token its claiming line keeps.
  const z = scan.claiming.get('z');
  expect(await recoverLog(path, 'n1', claims.claim)).toEqual([expect.objectContaining({ id: 'z' })]);
  expect(claims.claimed.get('z')).toBe(z?.token);
  expect((await queryCdrs(path, { limit: 100 })).map((c) => c.id).sort()).toEqual(['p', 'r', 'z']);
});
