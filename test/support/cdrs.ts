/** CDRs as the tests read them: from a node's admin surface, or straight from its log. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Cdr, LogLine } from '../../server/calls/cdr/records.ts';
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
