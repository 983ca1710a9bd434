/** CDRs as the tests read them: from a node's admin surface, or straight from its log. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Cdr, LogLine } from '../../server/calls/cdr/records.ts';
import { type CallEnd, JOURNAL, type JournalMessage } from '../../server/calls/contract.ts';
import { kill, type Pid, type Runtime } from '../../server/runtime/index.ts';
import { sleep, waitFor } from './wait.ts';

/** What the admin helpers need: a TestNode or a node in a child process. */
export interface AdminTarget {
  adminUrl: string;
  adminToken: string;
}

/** CDRs from the admin surface, newest first. */
export async function fetchCdrs(
  node: AdminTarget,
  query: Record<string, string | number> = {},
): Promise<Cdr[]> {
  const qs = new URLSearchParams(
    Object.entries({ limit: 10_000, ...query }).map(([k, v]): [string, string] => [k, String(v)]),
  );
  const res = await fetch(`${node.adminUrl}/cdrs?${qs}`, {
    headers: { authorization: `Bearer ${node.adminToken}` },
  });
  if (res.status !== 200) throw new Error(`GET /cdrs answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { cdrs: Cdr[] }).cdrs;
}

/** Poll /cdrs until `done` holds for them. */
export function waitForCdrs(
  node: AdminTarget,
  done: (cdrs: Cdr[]) => boolean,
  query: Record<string, string | number> = {},
  timeoutMs = 5000,
): Promise<Cdr[]> {
  return waitFor(
    'CDRs',
    async () => {
      const list = await fetchCdrs(node, query);
      return done(list) ? list : undefined;
    },
    timeoutMs,
  );
}

/**
 * The one CDR of a call: waits for it, then checks a little later that no second record
 * for the same call turned up.
 */
export async function cdrOf(node: AdminTarget, callId: string): Promise<Cdr> {
  await waitForCdrs(node, (l) => l.length > 0, { callId });
  await sleep(30);
  const list = await fetchCdrs(node, { callId });
  expect(list, `CDRs of ${callId}`).toHaveLength(1);
  return list[0] as Cdr;
}

/** Every parseable line of a data directory's CDR log (a torn line is skipped). */
export function readCdrLog(dataDir: string): LogLine[] {
  const path = join(dataDir, 'cdr.log');
  if (!existsSync(path)) return [];
  const lines: LogLine[] = [];
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (text === '') continue;
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      // torn
    }
  }
  return lines;
}

/** A CDR for hand-written logs: alice calls bob, unanswered, ended at `endedAt`. */
export function sampleCdr(id: string, endedAt: number, extra: Partial<Cdr> = {}): Cdr {
  return {
    id,
    callId: `call-${id}`,
    caller: 'alice',
    callee: 'bob',
    node: 'n',
    setupAt: endedAt - 10,
    answeredAt: null,
    endedAt,
    durationMs: 0,
    cause: 'normal',
    endedBy: 'caller',
    mediaAtoB: 0,
    mediaBtoA: 0,
    versions: ['1.0.0'],
    ...extra,
  };
}

/** How a call told to a journal ends unless a test says otherwise: answered, with media, by the system. */
const sampleEnd = {
  endedBy: 'system',
  endedAt: 2000,
  answeredAt: 1100,
  mediaAtoB: 7,
  mediaBtoA: 5,
  versions: ['1.0.0'],
} satisfies Omit<CallEnd, 'cause'>;

/** A journal `open`: alice calls bob from `leg` to `peer` (the same pid: both legs on this node). */
export const openMessage = (id: string, leg: Pid, peer: Pid, setupAt = 1000): JournalMessage => ({
  type: 'open',
  id,
  callId: `call-${id}`,
  caller: 'alice',
  callee: 'bob',
  leg,
  peer,
  setupAt,
  versions: ['1.0.0'],
});

/** A journal `end` of call `id`: sampleEnd, but for what `end` says. */
export const endMessage = (id: string, end: Pick<CallEnd, 'cause'> & Partial<CallEnd>): JournalMessage => ({
  type: 'end',
  id,
  ...sampleEnd,
  ...end,
});

/** A journal `lost`: the callee's leg tells of alice's call to bob, ended with her node lost. */
export const lostMessage = (id: string): JournalMessage => ({
  type: 'lost',
  id,
  callId: `call-${id}`,
  caller: 'alice',
  callee: 'bob',
  setupAt: 1000,
  cause: 'node_lost',
  ...sampleEnd,
});

/** Kill the journal of each runtime (as a node that dies would lose it) and let them settle. */
export async function killJournals(runtimes: Runtime[]): Promise<void> {
  for (const rt of runtimes.splice(0)) {
    const journal = rt.whereis(JOURNAL);
    if (journal !== undefined) rt.exit(journal, kill);
    await rt.idle();
  }
}
