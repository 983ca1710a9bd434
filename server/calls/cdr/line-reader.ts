/**
 * Lines of a CDR segment with their byte offsets, from any byte range: a query reads the
 * blocks its index picks, a scan reads from an offset to the end. Reading goes through a
 * `ChunkReader`, so tests can count what a query read.
 */
import { open } from 'node:fs/promises';

/** The bytes of [start, end) of a file, in chunks; nothing when the file is gone. */
export type ChunkReader = (path: string, start: number, end: number) => AsyncIterable<Buffer>;

const CHUNK = 1 << 20;

export const readChunks: ChunkReader = async function* (path, start, end) {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    // Dropped by retention (or rolled away) since it was listed: nothing left to read.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const stop = Math.min(end, (await fh.stat()).size);
    for (let at = start; at < stop; ) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, stop - at));
      const { bytesRead } = await fh.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      at += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
};

export interface Line {
  text: string;
  offset: number;
  /** Bytes it takes in the file, newline included. */
  bytes: number;
  /** False for a last line with no newline yet: torn, or still being written. */
  complete: boolean;
}

export async function* linesOf(
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  start: number,
): AsyncGenerator<Line> {
  let carry: Buffer | null = null;
  let offset = start;
  for await (const chunk of chunks) {
    const buf: Buffer = carry === null ? chunk : Buffer.concat([carry, chunk]);
    let from = 0;
    for (let nl = buf.indexOf(0x0a, from); nl !== -1; nl = buf.indexOf(0x0a, from)) {
      const bytes = nl + 1 - from;
      if (bytes > 1) yield { text: buf.toString('utf8', from, nl), offset, bytes, complete: true };
      offset += bytes;
      from = nl + 1;
    }
    carry = from < buf.length ? buf.subarray(from) : null;
  }
  if (carry !== null) yield { text: carry.toString('utf8'), offset, bytes: carry.length, complete: false };
}

/** A line as a log line, or undefined for a torn or garbled one (see log.ts). */
export function parseLine<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
