/**
 * Where a CDR log's segments live and how the head rolls over. The head is the file the
 * journal appends to (`<data-dir>/cdr.log`); closed segments sit beside it in `cdr/`, named
 * by sequence number, each with its index (`00000007.log`, `00000007.idx.json`).
 *
 * A roll must not lose what makes recovery work: the calls still open and the CDRs still
 * waiting for the cluster's claim. So each new head starts with a `segment` line and a carry
 * of that state (`open`/`answered`, `claiming` with its token, `alive`), and recovery and the
 * journal read the head alone, whatever its age. The new head is written to `cdr.log.next`
 * with the batch that triggered the roll and made durable before any rename; a crash before
 * the renames leaves the old head whole (the `.next` is dropped at start), a crash between
 * them is finished at start. An index is only ever a summary of its segment: a missing one is
 * rebuilt from the segment.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { replaceDurably, syncDirectory, writeSynced } from '../../files/durable-write.ts';
import { linesOf, parseLine, readChunks } from './line-reader.ts';
import type { Cdr, LogLine } from './records.ts';
import {
  BLOCK_RECORDS,
  finishIndex,
  type IndexBuilder,
  indexFromJson,
  indexLine,
  indexToJson,
  newIndex,
  type SegmentIndex,
} from './segment-index.ts';

export interface SegmentPolicy {
  /** The head rolls once it would grow past this (0: never by size). */
  segmentBytes: number;
  /** ...or once it is this old (0: never by age). */
  segmentMs: number;
  /** Closed segments older than this are deleted whole (0: kept forever). */
  retentionMs: number;
  blockRecords?: number;
}

export const keepEverything: SegmentPolicy = { segmentBytes: 0, segmentMs: 0, retentionMs: 0 };

/** The head as its writer knows it. */
export interface Head {
  seq: number;
  openedAt: number;
  size: number;
  /** Bytes of its `segment` line and carry: a head holding only those never rolls. */
  start: number;
  index: IndexBuilder;
}

export const segmentsDir = (head: string): string =>
  join(dirname(head), basename(head).replace(/\.log$/, '') || 'segments');
const pad = (seq: number): string => String(seq).padStart(8, '0');
export const segmentPath = (head: string, seq: number): string => join(segmentsDir(head), `${pad(seq)}.log`);
export const indexPath = (head: string, seq: number): string =>
  join(segmentsDir(head), `${pad(seq)}.idx.json`);
const nextPath = (head: string): string => `${head}.next`;

/** Sequence numbers of the closed segments, oldest first. */
export function closedSegments(head: string): number[] {
  const dir = segmentsDir(head);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => /^(\d{8})\.log$/.exec(f)?.[1])
    .filter((s) => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export function readIndex(head: string, seq: number): SegmentIndex | undefined {
  try {
    return indexFromJson(readFileSync(indexPath(head, seq), 'utf8'));
  } catch {
    return undefined;
  }
}

export const segmentLine = (seq: number, at: number): LogLine => ({ t: 'segment', seq, at });

/** The head that follows `head`, once its first lines (segment line and carry) are written. */
const headAfter = (head: Head, at: number, start: number, blockRecords?: number): Head => ({
  seq: head.seq + 1,
  openedAt: at,
  size: start,
  start,
  index: newIndex(head.seq + 1, at, start, blockRecords ?? head.index.blockRecords),
});

export function needsRoll(head: Head, policy: SegmentPolicy, now: number, incoming: number): boolean {
  if (head.size <= head.start) return false;
  const bySize = policy.segmentBytes > 0 && head.size + incoming > policy.segmentBytes;
  const byAge = policy.segmentMs > 0 && now - head.openedAt >= policy.segmentMs;
  return bySize || byAge;
}

/** A line on its way to the head, with its CDR when it is one (the index needs it). */
export interface Entry {
  text: string;
  cdr?: Cdr;
}

/** Lines now written at the end of the head: the head grows and indexes them. */
export function wrote(head: Head, entries: Entry[]): void {
  for (const e of entries) {
    const bytes = Buffer.byteLength(e.text);
    indexLine(head.index, head.size, bytes, e.cdr);
    head.size += bytes;
  }
}

export const bytesOf = (entries: Entry[]): number =>
  entries.reduce((n, e) => n + Buffer.byteLength(e.text), 0);

/**
 * Close the head as a segment and start the next one with `carry` (the state recovery needs,
 * as log lines) and `batch` (the lines that were on their way to the old head), durable
 * together before the renames. Returns the new head's fd (append mode) and state; `fd`, the
 * old head's, is closed.
 */
export function rollHead(
  path: string,
  fd: number,
  head: Head,
  carry: string[],
  batch: Entry[],
  now: number,
): { fd: number; head: Head } {
  mkdirSync(segmentsDir(path), { recursive: true });
  const first = [`${JSON.stringify(segmentLine(head.seq + 1, now))}\n`, ...carry].join('');
  writeSynced(nextPath(path), first + batch.map((e) => e.text).join(''), 'w');
  replaceDurably(indexPath(path, head.seq), indexToJson(finishIndex(head.index, head.size, now)));
  renameSync(path, segmentPath(path, head.seq));
  renameSync(nextPath(path), path);
  syncDirectory(segmentsDir(path));
  syncDirectory(dirname(path));
  closeSync(fd);
  const after = headAfter(head, now, Buffer.byteLength(first));
  wrote(after, batch);
  return { fd: openSync(path, 'a'), head: after };
}

/** Closed segments whose newest line is older than the retention, deleted whole. */
export function dropExpired(path: string, policy: SegmentPolicy, now: number): number[] {
  if (policy.retentionMs <= 0) return [];
  const dropped: number[] = [];
  for (const seq of closedSegments(path)) {
    const closedAt = readIndex(path, seq)?.closedAt ?? statSync(segmentPath(path, seq)).mtimeMs;
    if (closedAt >= now - policy.retentionMs) break;
    unlinkSync(segmentPath(path, seq));
    if (existsSync(indexPath(path, seq))) unlinkSync(indexPath(path, seq));
    dropped.push(seq);
  }
  return dropped;
}

/** The index of a closed segment, from its lines. */
export async function indexSegment(
  file: string,
  seq: number,
  closedAt: number,
  blockRecords = BLOCK_RECORDS,
) {
  const ix = newIndex(seq, closedAt, 0, blockRecords);
  let size = 0;
  let openedAt: number | undefined;
  for await (const l of linesOf(readChunks(file, 0, Number.POSITIVE_INFINITY), 0)) {
    size = l.offset + l.bytes;
    const parsed = l.complete ? parseLine<LogLine>(l.text) : undefined;
    if (parsed?.t === 'segment') openedAt ??= parsed.at;
    indexLine(ix, l.offset, l.bytes, parsed?.t === 'cdr' ? parsed : undefined);
  }
  return finishIndex({ ...ix, openedAt: openedAt ?? closedAt }, size, closedAt);
}

/**
 * Put the segments right before anything reads them: finish or undo a roll a crash
 * interrupted, drop indexes of segments that never closed, rebuild missing indexes.
 */
export async function repairSegments(path: string, blockRecords?: number): Promise<void> {
  const next = nextPath(path);
  if (existsSync(next)) {
    if (existsSync(path)) unlinkSync(next);
    else renameSync(next, path);
  }
  const dir = segmentsDir(path);
  if (!existsSync(dir)) return;
  const closed = new Set(closedSegments(path));
  for (const f of readdirSync(dir)) {
    const seq = /^(\d{8})\.idx\.json$/.exec(f)?.[1];
    if (f.endsWith('.tmp') || (seq !== undefined && !closed.has(Number(seq)))) unlinkSync(join(dir, f));
  }
  for (const seq of closed) {
    if (existsSync(indexPath(path, seq))) continue;
    const file = segmentPath(path, seq);
    replaceDurably(
      indexPath(path, seq),
      indexToJson(await indexSegment(file, seq, statSync(file).mtimeMs, blockRecords)),
    );
  }
}
