/**
 * The CDR log: append-only JSON Lines per node, in segments (segments.ts): the head the
 * journal appends to and the closed segments before it. Opens, answers and CDRs are
 * appended in batches and fdatasync'd (group commit), never one synchronous write per call.
 * A CDR is in the log exactly once; a call whose open has no CDR was up when the node died.
 * Each head starts with what recovery needs of the segments before it, so recovery reads
 * the head alone.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
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
import { promisify } from 'node:util';
import type { CallEnd } from '../contract.ts';
import { linesOf, parseLine, readChunks } from './line-reader.ts';
import type { Cdr, LogLine, OpenCall } from './records.ts';
import { BLOCK_RECORDS, indexLine, newIndex } from './segment-index.ts';
import {
  bytesOf,
  closedSegments,
  dropExpired,
  type Entry,
  type Head,
  needsRoll,
  rollHead,
  type SegmentPolicy,
  wrote,
} from './segments.ts';

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

/** What appends to the head: its fd and its place in the segments. */
export interface LogWriter {
  path: string;
  policy: SegmentPolicy;
  fd: number;
  head: Head;
}

/**
 * Append a batch (group commit), first rolling to a new segment when the batch would take
 * the head past its size or the head is past its age; `carry` is what the new head starts
 * with. The roll is synchronous and rare (once a segment): its batch is durable with it.
 */
export async function writeBatch(
  w: LogWriter,
  batch: Entry[],
  now: number,
  carry: () => string[],
): Promise<void> {
  if (needsRoll(w.head, w.policy, now, bytesOf(batch))) {
    Object.assign(w, rollHead(w.path, w.fd, w.head, carry(), batch, now));
    dropExpired(w.path, w.policy, now);
    return;
  }
  await appendLines(
    w.fd,
    batch.map((e) => e.text),
  );
  wrote(w.head, batch);
}

export function appendLinesSync(fd: number, lines: string[]): void {
  if (lines.length === 0) return;
  writeSync(fd, lines.join(''));
  fdatasyncSync(fd);
}

export const closeLog = (fd: number): void => closeSync(fd);

export const line = (l: LogLine): string => `${JSON.stringify(l)}\n`;

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

function scanned(scan: LogScan, l: LogLine): void {
  const { open, claiming } = scan;
  switch (l.t) {
    case 'open': {
      const { t: _t, ...rest } = l;
      open.set(l.id, { ...rest, phase: 'setup', answeredAt: null });
      scan.lastAlive = Math.max(scan.lastAlive, l.setupAt);
      break;
    }
    case 'answered': {
      const call = open.get(l.id);
      if (call) {
        call.answeredAt = l.at;
        call.phase = 'up';
      }
      scan.lastAlive = Math.max(scan.lastAlive, l.at);
      break;
    }
    case 'claiming': {
      const { t: _t, token, ...cdr } = l;
      open.delete(l.id);
      claiming.set(l.id, { cdr, token });
      scan.lastAlive = Math.max(scan.lastAlive, l.endedAt);
      break;
    }
    case 'elsewhere':
      open.delete(l.id);
      claiming.delete(l.id);
      break;
    case 'cdr':
      open.delete(l.id);
      claiming.delete(l.id);
      scan.lastAlive = Math.max(scan.lastAlive, l.endedAt);
      break;
    case 'alive':
      scan.lastAlive = Math.max(scan.lastAlive, l.at);
      break;
  }
}

/**
 * The head in one pass: what is open in it, and the head as its writer continues it. A head
 * with no `segment` line was written before segments (a legacy `cdr.log`): it follows the
 * closed segments, opened when its first line was.
 */
export async function scanHead(
  path: string,
  blockRecords = BLOCK_RECORDS,
): Promise<{ scan: LogScan; head: Head }> {
  const scan: LogScan = { open: new Map(), claiming: new Map(), lastAlive: 0 };
  const index = newIndex((closedSegments(path).at(-1) ?? 0) + 1, 0, 0, blockRecords);
  const head: Head = { seq: index.seq, openedAt: 0, size: 0, start: 0, index };
  if (!existsSync(path)) return { scan, head };
  let firstSeen = 0;
  for await (const { text, offset, bytes } of linesOf(readChunks(path, 0, Number.POSITIVE_INFINITY), 0)) {
    const l = parseLine<LogLine>(text);
    head.size = offset + bytes;
    // A torn last line from a kill mid-write: the call it belonged to is still open.
    if (l === undefined) {
      indexLine(index, offset, bytes, undefined);
      continue;
    }
    if (l.t === 'segment' && offset === 0) {
      head.seq = index.seq = l.seq;
      head.openedAt = index.openedAt = l.at;
      head.start = bytes;
    }
    scanned(scan, l);
    firstSeen ||= scan.lastAlive;
    indexLine(index, offset, bytes, l.t === 'cdr' ? l : undefined);
  }
  if (head.start === 0) head.openedAt = index.openedAt = firstSeen;
  return { scan, head };
}

export const scanLog = async (path: string): Promise<LogScan> => (await scanHead(path)).scan;

/** Lines that give a new head the state of `scan`: what recovery must still find after a roll. */
export function carryLines({ open, claiming, lastAlive }: LogScan): string[] {
  const lines: LogLine[] = [];
  for (const { phase: _p, answeredAt, ...call } of open.values()) {
    lines.push({ t: 'open', ...call });
    if (answeredAt !== null) lines.push({ t: 'answered', id: call.id, at: answeredAt });
  }
  for (const c of claiming.values()) lines.push(claimingLine(c));
  if (lastAlive > 0) lines.push({ t: 'alive', at: lastAlive });
  return lines.map(line);
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
