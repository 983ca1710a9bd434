/**
 * The CDR log: one append-only JSON Lines file per node. Opens, answers and CDRs are
 * appended in batches and fdatasync'd (group commit), never one synchronous write per call.
 * A CDR is in the log exactly once; a call whose open has no CDR was up when the node died.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  write,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { CallEnd } from '../contract.ts';
import type { Cdr, LogLine, OpenCall } from './records.ts';

const writeAsync = promisify(write);
const datasyncAsync = promisify(fdatasync);

export function openLog(path: string): number {
  mkdirSync(dirname(path), { recursive: true });
  return openSync(path, 'a');
}

export async function appendLines(fd: number, lines: string[]): Promise<void> {
  await writeAsync(fd, lines.join(''));
  await datasyncAsync(fd);
}

export function appendLinesSync(fd: number, lines: string[]): void {
  if (lines.length === 0) return;
  writeSync(fd, lines.join(''));
  fdatasyncSync(fd);
}

export const closeLog = (fd: number): void => closeSync(fd);

export const line = (l: LogLine): string => `${JSON.stringify(l)}\n`;

async function* readLines(path: string): AsyncGenerator<LogLine> {
  if (!existsSync(path)) return;
  const rl = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of rl) {
    if (text === '') continue;
    try {
      yield JSON.parse(text) as LogLine;
    } catch {
      // A torn last line from a kill mid-write: the call it belonged to is still open.
    }
  }
}

/**
 * Claims a CDR id across the cluster: true when the claim made with `token` is the first of
 * that id (asked again with the same token, the same answer), false otherwise.
 */
export type ClaimCdr = (id: string, token: string) => Promise<boolean>;
/** A node alone is the only one that could write the CDR. */
export const claimAlone: ClaimCdr = async () => true;

/** A CDR that waits for the cluster's claim on its id, and the token its claim is made with. */
export interface Candidate {
  cdr: Cdr;
  token: string;
}

export const newCandidate = (cdr: Cdr): Candidate => ({ cdr, token: randomUUID() });
/** Its line in the log, written before its claim is asked. */
export const claimingLine = ({ cdr, token }: Candidate): LogLine => ({ t: 'claiming', token, ...cdr });

export interface LogScan {
  /** Calls opened and not closed by a CDR. */
  open: Map<string, OpenCall>;
  /** Candidate CDRs whose cluster claim has no answer in the log yet. */
  claiming: Map<string, Candidate>;
  /** The last moment the node is known to have been alive. */
  lastAlive: number;
}

export async function scanLog(path: string): Promise<LogScan> {
  const open = new Map<string, OpenCall>();
  const claiming = new Map<string, Candidate>();
  let lastAlive = 0;
  for await (const l of readLines(path)) {
    switch (l.t) {
      case 'open': {
        const { t: _t, ...rest } = l;
        open.set(l.id, { ...rest, phase: 'setup', answeredAt: null });
        lastAlive = Math.max(lastAlive, l.setupAt);
        break;
      }
      case 'answered': {
        const call = open.get(l.id);
        if (call) {
          call.answeredAt = l.at;
          call.phase = 'up';
        }
        lastAlive = Math.max(lastAlive, l.at);
        break;
      }
      case 'claiming': {
        const { t: _t, token, ...cdr } = l;
        open.delete(l.id);
        claiming.set(l.id, { cdr, token });
        lastAlive = Math.max(lastAlive, l.endedAt);
        break;
      }
      case 'elsewhere':
        open.delete(l.id);
        claiming.delete(l.id);
        break;
      case 'cdr':
        open.delete(l.id);
        claiming.delete(l.id);
        lastAlive = Math.max(lastAlive, l.endedAt);
        break;
      case 'alive':
        lastAlive = Math.max(lastAlive, l.at);
        break;
    }
  }
  return { open, claiming, lastAlive };
}

/** A call's CDR on `node`, from what the call opened with and how it ended. */
export function cdrOf(
  node: string,
  call: Pick<OpenCall, 'id' | 'callId' | 'caller' | 'callee' | 'setupAt' | 'versions'>,
  end: CallEnd,
): Cdr {
  return {
    id: call.id,
    callId: call.callId,
    caller: call.caller,
    callee: call.callee,
    node,
    setupAt: call.setupAt,
    ...end,
    durationMs: end.answeredAt === null ? 0 : end.endedAt - end.answeredAt,
    versions: [...new Set([...call.versions, ...end.versions])],
  };
}

/** The CDR of a call that was up when its node died: ended when the node was last seen. */
export function lostCdr(call: OpenCall, node: string, lastAlive: number): Cdr {
  const endedAt = Math.max(lastAlive, call.answeredAt ?? call.setupAt);
  const { answeredAt } = call;
  return cdrOf(node, call, {
    cause: 'node_lost',
    endedBy: 'system',
    endedAt,
    answeredAt,
    mediaAtoB: 0,
    mediaBtoA: 0,
    versions: [],
  });
}

/**
 * A kill mid-write can leave a torn last line. End it, so that the next line appended
 * (a recovered CDR, or the journal's next open) is not glued onto it and lost with it.
 */
function endTornLine(path: string): void {
  if (!existsSync(path)) return;
  const fd = openSync(path, 'a+');
  try {
    const { size } = fstatSync(fd);
    const last = Buffer.alloc(1);
    if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) appendLinesSync(fd, ['\n']);
  } finally {
    closeLog(fd);
  }
}

/**
 * At start, before any call: every call the log still has open was up when the node died,
 * and every candidate CDR (`claiming`) still waits for the cluster's answer. Each gets its
 * CDR now, so none is lost and none is written twice: in a cluster, a call whose other leg
 * survived may have its CDR from that side already, and `claim` (the cluster's claim on the
 * CDR id) says which are this node's to write; the others get an `elsewhere` line. An open
 * call becomes a candidate on disk before its claim is asked, as in the journal; a claim
 * that fails for good leaves its candidate for the journal, which asks again.
 */
export async function recoverLog(path: string, node: string, claim: ClaimCdr = claimAlone): Promise<Cdr[]> {
  endTornLine(path);
  const { open, claiming, lastAlive } = await scanLog(path);
  const fresh = [...open.values()].map((call) => newCandidate(lostCdr(call, node, lastAlive)));
  const candidates = [...fresh, ...claiming.values()];
  if (candidates.length === 0) return [];
  append(path, fresh.map(claimingLine));
  const answers = await Promise.allSettled(candidates.map(({ cdr, token }) => claim(cdr.id, token)));
  const won = (i: number) => answers[i]?.status === 'fulfilled' && answers[i].value;
  const lost = (i: number) => answers[i]?.status === 'fulfilled' && !answers[i].value;
  const cdrs = candidates.filter((_, i) => won(i)).map((c) => c.cdr);
  append(path, [
    ...cdrs.map((c): LogLine => ({ t: 'cdr', ...c })),
    ...candidates.filter((_, i) => lost(i)).map(({ cdr }): LogLine => ({ t: 'elsewhere', id: cdr.id })),
  ]);
  return cdrs;
}

/** Append and fdatasync, at start (before the journal holds the log). */
function append(path: string, lines: LogLine[]): void {
  if (lines.length === 0) return;
  const fd = openLog(path);
  try {
    appendLinesSync(fd, lines.map(line));
  } finally {
    closeLog(fd);
  }
}

export interface CdrQuery {
  user?: string;
  cause?: string;
  callId?: string;
  since?: number;
  until?: number;
  limit: number;
}

/** Later end first; at the same end, the later line in the log first. */
const newestFirst = (a: [Cdr, number], b: [Cdr, number]): number =>
  b[0].endedAt - a[0].endedAt || b[1] - a[1];

/**
 * CDRs matching the query, newest (by end time) first. The log is not in end-time order: a
 * CDR that waited for the cluster's claim is written after calls that ended later, so the
 * newest `limit` are chosen by `endedAt`, and paging with `until` misses none.
 */
export async function queryCdrs(path: string, q: CdrQuery): Promise<Cdr[]> {
  let out: [Cdr, number][] = [];
  let n = 0;
  for await (const l of readLines(path)) {
    if (l.t !== 'cdr') continue;
    if (q.user !== undefined && l.caller !== q.user && l.callee !== q.user) continue;
    if (q.cause !== undefined && l.cause !== q.cause) continue;
    if (q.callId !== undefined && l.callId !== q.callId) continue;
    if (q.since !== undefined && l.endedAt < q.since) continue;
    if (q.until !== undefined && l.endedAt > q.until) continue;
    const { t: _t, ...cdr } = l;
    out.push([cdr, n++]);
    // Keep memory bounded on a large log: only the newest `limit` matter.
    if (out.length > q.limit * 2) out = out.sort(newestFirst).slice(0, q.limit);
  }
  return out
    .sort(newestFirst)
    .slice(0, q.limit)
    .map(([cdr]) => cdr);
}
