/**
 * Reading CDRs: paged queries and exports over every segment, reading only the blocks whose
 * index may match. A page is ordered by end time (then by place in the log, so the order is
 * total) and ends with a cursor for the next one; records appended meanwhile never shift a
 * page already given, since the cursor is a place in that order, not a count.
 *
 * The head has no index file while it grows: the archive indexes it itself, incrementally,
 * reading only what was appended since the last query.
 */
import { statSync } from 'node:fs';
import { hotlineError } from '../../errors/catalogue.ts';
import { mayHave } from './bloom.ts';
import { type ChunkReader, linesOf, parseLine, readChunks } from './line-reader.ts';
import type { Cdr, LogLine } from './records.ts';
import {
  type Block,
  blocksSoFar,
  callKey,
  type IndexBuilder,
  indexLine,
  newIndex,
  type SegmentIndex,
  userKey,
} from './segment-index.ts';
import { closedSegments, readIndex, segmentPath } from './segments.ts';

export type CdrOrder = 'newest' | 'oldest';

export interface CdrQuery {
  /** Caller or callee. */
  user?: string;
  caller?: string;
  callee?: string;
  cause?: string;
  callId?: string;
  /** Ended at or after / at or before, epoch ms. */
  since?: number;
  until?: number;
  limit: number;
  order?: CdrOrder;
  /** `next` of the previous page. */
  cursor?: string;
}

export interface CdrPage {
  cdrs: Cdr[];
  /** The cursor of the next page; null when this page was the last. */
  next: string | null;
}

/** A record's place: end time, then segment and byte offset. */
interface Place {
  e: number;
  s: number;
  o: number;
}

const compare = (a: Place, b: Place): number => a.e - b.e || a.s - b.s || a.o - b.o;

export function encodeCursor(order: CdrOrder, p: Place): string {
  return Buffer.from(`${order === 'newest' ? 'n' : 'o'}:${p.e}:${p.s}:${p.o}`).toString('base64url');
}

export function decodeCursor(cursor: string, order: CdrOrder): Place {
  const m = /^([no]):(\d{1,16}):(\d{1,10}):(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (m === null) throw hotlineError('HOT_ERR_BAD_CURSOR', 'it does not decode');
  if ((m[1] === 'n') !== (order === 'newest')) {
    throw hotlineError('HOT_ERR_BAD_CURSOR', `it pages ${m[1] === 'n' ? 'newest' : 'oldest'} first`);
  }
  return { e: Number(m[2]), s: Number(m[3]), o: Number(m[4]) };
}

/** One stretch of a segment to read; `block` null when the segment has no index (read whole). */
interface Unit {
  file: string;
  seq: number;
  block: Block | null;
}

const UNKNOWN = { minEnd: Number.NEGATIVE_INFINITY, maxEnd: Number.POSITIVE_INFINITY };
const range = (u: Unit) => u.block ?? UNKNOWN;

/** What a block's summary says: false only when none of its CDRs can match. */
function blockMayMatch(b: Block, q: CdrQuery, after: Place | undefined, newest: boolean): boolean {
  if (q.since !== undefined && b.maxEnd < q.since) return false;
  if (q.until !== undefined && b.minEnd > q.until) return false;
  if (after !== undefined && (newest ? b.minEnd > after.e : b.maxEnd < after.e)) return false;
  if (q.cause !== undefined && !b.causes.includes(q.cause)) return false;
  const { keys } = b;
  if (keys === undefined) return true;
  const users = [q.user, q.caller, q.callee].filter((u) => u !== undefined);
  if (users.some((u) => !mayHave(keys, userKey(u)))) return false;
  return q.callId === undefined || mayHave(keys, callKey(q.callId));
}

function matches(c: Cdr, q: CdrQuery): boolean {
  if (q.user !== undefined && c.caller !== q.user && c.callee !== q.user) return false;
  if (q.caller !== undefined && c.caller !== q.caller) return false;
  if (q.callee !== undefined && c.callee !== q.callee) return false;
  if (q.cause !== undefined && c.cause !== q.cause) return false;
  if (q.callId !== undefined && c.callId !== q.callId) return false;
  if (q.since !== undefined && c.endedAt < q.since) return false;
  return q.until === undefined || c.endedAt <= q.until;
}

/** Strings a matching line must contain: most lines are dropped without parsing them. */
const needles = (q: CdrQuery): string[] =>
  [q.user, q.caller, q.callee, q.callId].filter((v) => v !== undefined).map((v) => JSON.stringify(v));

const CDR_LINE = '{"t":"cdr",';

interface HeadCache {
  ino: number;
  /** End of the last whole line indexed. */
  scannedTo: number;
  index: IndexBuilder;
}

export class CdrArchive {
  readonly #path: string;
  readonly #read: ChunkReader;
  /** Closed segments' indexes never change: each is read once. */
  readonly #indexes = new Map<number, SegmentIndex>();
  #head: HeadCache | undefined;

  /** `path`: the head (`<data-dir>/cdr.log`); `read`: how bytes are read (tests count it). */
  constructor(path: string, read: ChunkReader = readChunks) {
    this.#path = path;
    this.#read = read;
  }

  /** The head's index, brought up to date with what was appended since it was last read. */
  async #catchUpHead(): Promise<HeadCache | undefined> {
    let st: { ino: number; size: number };
    try {
      st = statSync(this.#path);
    } catch {
      this.#head = undefined;
      return undefined;
    }
    let head = this.#head;
    if (head === undefined || head.ino !== st.ino || st.size < head.scannedTo) {
      // Before segments, the head followed the last closed one; a `segment` line says otherwise.
      const seq = (closedSegments(this.#path).at(-1) ?? 0) + 1;
      head = { ino: st.ino, scannedTo: 0, index: newIndex(seq, 0) };
    }
    const appended = st.size > head.scannedTo ? this.#read(this.#path, head.scannedTo, st.size) : [];
    for await (const l of linesOf(appended, head.scannedTo)) {
      // A line still being written (or torn) is indexed once it is whole.
      if (!l.complete) break;
      head.scannedTo = l.offset + l.bytes;
      const parsed = l.text.startsWith('{"t":"') ? parseLine<LogLine>(l.text) : undefined;
      if (parsed?.t === 'segment' && l.offset === 0) head.index.seq = parsed.seq;
      indexLine(head.index, l.offset, l.bytes, parsed?.t === 'cdr' ? parsed : undefined);
    }
    this.#head = head;
    return head;
  }

  async #units(): Promise<Unit[]> {
    // The head first: if it rolls meanwhile, the listing below has it as closed, and that wins.
    const head = await this.#catchUpHead();
    const closed = closedSegments(this.#path);
    for (const seq of this.#indexes.keys()) if (!closed.includes(seq)) this.#indexes.delete(seq);
    const units: Unit[] = [];
    for (const seq of closed) {
      const file = segmentPath(this.#path, seq);
      let index = this.#indexes.get(seq);
      if (index === undefined) {
        index = readIndex(this.#path, seq);
        if (index !== undefined) this.#indexes.set(seq, index);
      }
      if (index === undefined) units.push({ file, seq, block: null });
      else for (const block of index.blocks) units.push({ file, seq, block });
    }
    if (head !== undefined && !closed.includes(head.index.seq)) {
      for (const block of blocksSoFar(head.index))
        units.push({ file: this.#path, seq: head.index.seq, block });
    }
    return units;
  }

  async page(q: CdrQuery): Promise<CdrPage> {
    const page = await this.#page(q);
    // The head rolled while it was read: what was read of it may be the new head's. Once more.
    return this.#headMoved() ? this.#page(q) : page;
  }

  #headMoved(): boolean {
    try {
      return this.#head !== undefined && statSync(this.#path).ino !== this.#head.ino;
    } catch {
      return true;
    }
  }

  async #page(q: CdrQuery): Promise<CdrPage> {
    const order = q.order ?? 'newest';
    const newest = order === 'newest';
    if (q.since !== undefined && q.until !== undefined && q.since > q.until) {
      throw hotlineError('HOT_ERR_BAD_TIME_RANGE', q.since, q.until);
    }
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor, order);
    const first = (a: Place, b: Place) => (newest ? compare(b, a) : compare(a, b));
    const units = (await this.#units())
      .filter((u) => u.block === null || blockMayMatch(u.block, q, after, newest))
      .sort((a, b) => (newest ? range(b).maxEnd - range(a).maxEnd : range(a).minEnd - range(b).minEnd));
    const must = needles(q);
    let found: [Cdr, Place][] = [];
    for (const u of units) {
      const worst = found.length >= q.limit ? found[q.limit - 1]?.[1] : undefined;
      // Units come in order of their best record: none left can beat the page's worst.
      if (worst !== undefined && (newest ? range(u).maxEnd < worst.e : range(u).minEnd > worst.e)) break;
      const start = u.block?.start ?? 0;
      for await (const l of linesOf(
        this.#read(u.file, start, u.block?.end ?? Number.POSITIVE_INFINITY),
        start,
      )) {
        if (!l.complete || !l.text.startsWith(CDR_LINE) || must.some((m) => !l.text.includes(m))) continue;
        const parsed = parseLine<LogLine>(l.text);
        if (parsed?.t !== 'cdr') continue;
        const { t: _t, ...cdr } = parsed;
        if (!matches(cdr, q)) continue;
        const place = { e: cdr.endedAt, s: u.seq, o: l.offset };
        if (after !== undefined && first(after, place) >= 0) continue;
        found.push([cdr, place]);
      }
      found.sort((a, b) => first(a[1], b[1]));
      if (found.length > q.limit) found = found.slice(0, q.limit);
    }
    const last = found.length === q.limit ? found.at(-1)?.[1] : undefined;
    return { cdrs: found.map(([c]) => c), next: last === undefined ? null : encodeCursor(order, last) };
  }

  /** Every CDR that ended in [since, until], oldest first, a page at a time. */
  async *export(q: Pick<CdrQuery, 'since' | 'until'>): AsyncGenerator<Cdr> {
    let cursor: string | undefined;
    do {
      const page = await this.page({ ...q, order: 'oldest', limit: 1000, ...(cursor ? { cursor } : {}) });
      yield* page.cdrs;
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
  }
}
