/**
 * The index of a CDR segment: its CDRs in blocks of consecutive lines, each block with its
 * byte range, its end-time range, the causes in it and a Bloom filter of its users and call
 * ids. A query reads only the blocks whose summary may match. Built line by line as the
 * segment is written (plain data, so it lives in the journal's state), and written next to
 * the segment when it closes.
 */
import { type Bloom, type BloomJson, bloomFromJson, bloomOf, bloomToJson } from './bloom.ts';
import type { Cdr } from './records.ts';

export interface Block {
  /** Byte range of its lines in the segment. */
  start: number;
  end: number;
  count: number;
  minEnd: number;
  maxEnd: number;
  causes: string[];
  /** Users (`u:` caller and callee) and call ids (`c:`); absent while the block still grows. */
  keys?: Bloom;
}

export interface SegmentIndex {
  seq: number;
  openedAt: number;
  closedAt: number;
  bytes: number;
  count: number;
  blocks: Block[];
}

/** The block being filled: its keys are kept as a set until it closes. */
interface OpenBlock {
  start: number;
  end: number;
  count: number;
  minEnd: number;
  maxEnd: number;
  causes: Set<string>;
  keys: Set<string>;
}

export interface IndexBuilder {
  seq: number;
  openedAt: number;
  blockRecords: number;
  count: number;
  blocks: Block[];
  open: OpenBlock;
}

/**
 * CDRs per block by default: a block that may hold a user costs reading about 330 kB. The
 * index is about the same size whatever the block size (its Bloom filters take 8 bits per
 * distinct key), so small blocks cost little.
 */
export const BLOCK_RECORDS = 1024;

const emptyBlock = (start: number): OpenBlock => ({
  start,
  end: start,
  count: 0,
  minEnd: Number.POSITIVE_INFINITY,
  maxEnd: Number.NEGATIVE_INFINITY,
  causes: new Set(),
  keys: new Set(),
});

export const userKey = (user: string): string => `u:${user}`;
export const callKey = (callId: string): string => `c:${callId}`;

export function newIndex(
  seq: number,
  openedAt: number,
  start = 0,
  blockRecords = BLOCK_RECORDS,
): IndexBuilder {
  return { seq, openedAt, blockRecords, count: 0, blocks: [], open: emptyBlock(start) };
}

const sealed = (b: OpenBlock, keys: Bloom | undefined): Block => ({
  start: b.start,
  end: b.end,
  count: b.count,
  minEnd: b.minEnd,
  maxEnd: b.maxEnd,
  causes: [...b.causes].sort(),
  ...(keys ? { keys } : {}),
});

/** A line written at `offset`, `bytes` long; `cdr` when it is a CDR line. */
export function indexLine(ix: IndexBuilder, offset: number, bytes: number, cdr: Cdr | undefined): void {
  const b = ix.open;
  if (b.count === 0 && cdr === undefined) {
    // Lines before a block's first CDR are not read for it: the block starts at its first CDR.
    b.start = b.end = offset + bytes;
    return;
  }
  b.end = offset + bytes;
  if (cdr === undefined) return;
  b.count++;
  ix.count++;
  b.minEnd = Math.min(b.minEnd, cdr.endedAt);
  b.maxEnd = Math.max(b.maxEnd, cdr.endedAt);
  b.causes.add(cdr.cause);
  b.keys.add(userKey(cdr.caller)).add(userKey(cdr.callee)).add(callKey(cdr.callId));
  if (b.count >= ix.blockRecords) {
    ix.blocks.push(sealed(b, bloomOf(b.keys, b.keys.size)));
    ix.open = emptyBlock(b.end);
  }
}

/** The blocks so far, the growing one without keys (a query reads it whatever it asks). */
export function blocksSoFar(ix: IndexBuilder): Block[] {
  return ix.open.count === 0 ? ix.blocks : [...ix.blocks, sealed(ix.open, undefined)];
}

export function finishIndex(ix: IndexBuilder, bytes: number, closedAt: number): SegmentIndex {
  const last = ix.open.count === 0 ? [] : [sealed(ix.open, bloomOf(ix.open.keys, ix.open.keys.size))];
  return {
    seq: ix.seq,
    openedAt: ix.openedAt,
    closedAt,
    bytes,
    count: ix.count,
    blocks: [...ix.blocks, ...last],
  };
}

type IndexJson = Omit<SegmentIndex, 'blocks'> & {
  v: 1;
  blocks: (Omit<Block, 'keys'> & { keys: BloomJson })[];
};

export function indexToJson(ix: SegmentIndex): string {
  const json: IndexJson = {
    v: 1,
    ...ix,
    blocks: ix.blocks.map((b) => ({ ...b, keys: bloomToJson(b.keys ?? bloomOf([], 0)) })),
  };
  return JSON.stringify(json);
}

export function indexFromJson(text: string): SegmentIndex {
  const { v: _v, ...json } = JSON.parse(text) as IndexJson;
  return { ...json, blocks: json.blocks.map((b) => ({ ...b, keys: bloomFromJson(b.keys) })) };
}
