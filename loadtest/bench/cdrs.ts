/**
 * The CDR store at scale: N records written straight through the log's writer (segments,
 * rolls and indexes as the journal makes them, no calls), then the queries an operator and a
 * billing tool ask, each timed over warm indexes (as a running node has them) and compared
 * with a full scan of the same data, which is what every query cost before segments.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CdrArchive, type CdrQuery } from '../../server/calls/cdr/archive.ts';
import { type ChunkReader, linesOf, parseLine, readChunks } from '../../server/calls/cdr/line-reader.ts';
import { closeLog, type LogWriter, line, openLog, scanHead, writeBatch } from '../../server/calls/cdr/log.ts';
import type { Cdr, LogLine } from '../../server/calls/cdr/records.ts';
import {
  closedSegments,
  type Entry,
  type SegmentPolicy,
  segmentPath,
} from '../../server/calls/cdr/segments.ts';
import { prepareStore } from '../../server/calls/cdr/store.ts';
import type { EndCause } from '../../server/calls/protocol/messages.ts';
import { type Figure, median } from './report.ts';

export interface CdrsOptions {
  records: number;
  runs: number;
  days: number;
  users: number;
  segmentMb: number;
  dir?: string;
  keep?: boolean;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BATCH = 5000;

/** Deterministic, so two runs write the same log. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CAUSES: [EndCause, number][] = [
  ['normal', 0.7],
  ['busy', 0.12],
  ['ring_timeout', 0.1],
  ['rejected', 0.05],
  ['node_lost', 0.03],
];

function causeOf(r: number): EndCause {
  let acc = 0;
  for (const [cause, p] of CAUSES) {
    acc += p;
    if (r < acc) return cause;
  }
  return 'normal';
}

const user = (n: number) => `user${String(n).padStart(6, '0')}`;

/** The i-th of `records` CDRs ending evenly over [start, end], a little out of order as claims make them. */
function cdrAt(i: number, o: CdrsOptions, start: number, rand: () => number): Cdr {
  const endedAt = Math.round(start + (i / o.records) * o.days * DAY - rand() * 30_000);
  const cause = causeOf(rand());
  const answeredAt =
    cause === 'normal' || cause === 'node_lost' ? endedAt - Math.round(rand() * 600_000) : null;
  const setupAt = (answeredAt ?? endedAt) - Math.round(rand() * 20_000);
  const caller = Math.floor(rand() * o.users);
  return {
    id: randomUUID(),
    callId: `c${i.toString(36)}`,
    caller: user(caller),
    callee: user((caller + 1 + Math.floor(rand() * (o.users - 1))) % o.users),
    node: 'bench',
    setupAt,
    answeredAt,
    endedAt,
    durationMs: answeredAt === null ? 0 : endedAt - answeredAt,
    cause,
    endedBy: rand() < 0.5 ? 'caller' : 'callee',
    mediaAtoB: Math.floor(rand() * 30_000),
    mediaBtoA: Math.floor(rand() * 30_000),
    versions: ['2.0.0'],
  };
}

async function write(path: string, policy: SegmentPolicy, o: CdrsOptions, start: number): Promise<number> {
  await prepareStore(path, policy, start);
  const { head } = await scanHead(path);
  const w: LogWriter = { path, policy, fd: openLog(path), head };
  const rand = prng(42);
  const began = performance.now();
  for (let i = 0; i < o.records; i += BATCH) {
    const batch: Entry[] = [];
    for (let j = i; j < Math.min(o.records, i + BATCH); j++) {
      const cdr = cdrAt(j, o, start, rand);
      batch.push({ text: line({ t: 'cdr', ...cdr }), cdr });
    }
    // The writer's clock is the records': a day of CDRs rolls a day's segment.
    await writeBatch(w, batch, start + (i / o.records) * o.days * DAY, () => []);
  }
  closeLog(w.fd);
  return (performance.now() - began) / 1000;
}

/** What every query did before segments: parse every line of every file, keep the best `limit`. */
async function fullScan(path: string, q: CdrQuery): Promise<Cdr[]> {
  const files = [...closedSegments(path).map((s) => segmentPath(path, s)), path];
  let found: Cdr[] = [];
  for (const file of files) {
    for await (const l of linesOf(readChunks(file, 0, Number.POSITIVE_INFINITY), 0)) {
      const parsed = parseLine<LogLine>(l.text);
      if (parsed?.t !== 'cdr') continue;
      if (q.user !== undefined && parsed.caller !== q.user && parsed.callee !== q.user) continue;
      if (q.since !== undefined && parsed.endedAt < q.since) continue;
      if (q.until !== undefined && parsed.endedAt > q.until) continue;
      const { t: _t, ...cdr } = parsed;
      found.push(cdr);
      if (found.length > q.limit * 2) found = found.sort((a, b) => b.endedAt - a.endedAt).slice(0, q.limit);
    }
  }
  return found.sort((a, b) => b.endedAt - a.endedAt).slice(0, q.limit);
}

function diskBytes(dir: string): { data: number; index: number } {
  let data = 0;
  let index = 0;
  const walk = (d: string) => {
    for (const f of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.idx.json')) index += statSync(p).size;
      else data += statSync(p).size;
    }
  };
  walk(dir);
  return { data, index };
}

export async function cdrsBench(o: CdrsOptions): Promise<Figure[]> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'hotline-cdrs-'));
  const path = join(dir, 'cdr.log');
  const end = Date.now();
  const start = end - o.days * DAY;
  const policy: SegmentPolicy = { segmentBytes: o.segmentMb * 1024 * 1024, segmentMs: DAY, retentionMs: 0 };
  try {
    const writeSeconds = await write(path, policy, o, start);
    const disk = diskBytes(dir);
    let bytesRead = 0;
    const counting: ChunkReader = async function* (file, from, to) {
      for await (const chunk of readChunks(file, from, to)) {
        bytesRead += chunk.length;
        yield chunk;
      }
    };
    const archive = new CdrArchive(path, counting);
    const coldStarted = performance.now();
    await archive.page({ limit: 1 });
    const indexLoadMs = performance.now() - coldStarted;

    const someone = user(4242);
    const midDay = start + Math.floor(o.days / 2) * DAY;
    const queries: [string, string, CdrQuery][] = [
      ['last100', 'the newest 100 CDRs', { limit: 100 }],
      ['last_hour', 'every CDR of the last hour', { since: end - HOUR, limit: 10_000 }],
      ['user_recent', "one user's newest 100", { user: someone, limit: 100 }],
      [
        'user_day',
        "one user's CDRs of one day",
        { user: someone, since: midDay, until: midDay + DAY, limit: 10_000 },
      ],
      [
        'deep_page',
        `a page of 100 ending ${Math.floor((o.days * 7) / 10)} days ago`,
        { until: end - Math.floor((o.days * 7) / 10) * DAY, limit: 100 },
      ],
    ];
    const figures: Figure[] = [
      { key: 'records', value: o.records, label: 'CDRs written' },
      {
        key: 'write_records_per_s',
        value: Math.round(o.records / writeSeconds),
        label: 'write rate, CDRs/s (fdatasync per 5,000)',
      },
      {
        key: 'disk_bytes_per_record',
        value: Math.round((disk.data + disk.index) / o.records),
        label: 'disk bytes per CDR, segments and indexes',
      },
      {
        key: 'index_bytes_per_record',
        value: Math.round((disk.index / o.records) * 100) / 100,
        label: 'of which index',
      },
      { key: 'segments', value: closedSegments(path).length + 1, label: 'segments' },
      {
        key: 'index_load_ms',
        value: Math.round(indexLoadMs),
        label: 'first query of a fresh archive (reads every index), ms',
      },
    ];
    for (const [key, label, q] of queries) {
      const times: number[] = [];
      let read = 0;
      let found = 0;
      for (let r = 0; r < o.runs; r++) {
        bytesRead = 0;
        const t = performance.now();
        found = (await archive.page(q)).cdrs.length;
        times.push(performance.now() - t);
        read = bytesRead;
      }
      figures.push(
        {
          key: `${key}_ms`,
          value: Math.round(median(times) * 10) / 10,
          label: `${label}: ${found} found, ms`,
        },
        { key: `${key}_read_mb`, value: Math.round(read / 1e5) / 10, label: `${label}: MB read` },
      );
    }
    // A full scan costs the same whatever it asks; two of them, once each, to compare.
    for (const [key, , q] of queries.filter(([k]) => k === 'last100' || k === 'user_day')) {
      const t = performance.now();
      const scanned = await fullScan(path, q);
      const ms = performance.now() - t;
      const indexed = (await archive.page(q)).cdrs;
      if (scanned.map((c) => c.id).join() !== indexed.map((c) => c.id).join()) {
        throw new Error(`${key}: the indexed query and the full scan disagree`);
      }
      figures.push({
        key: `full_scan_${key}_ms`,
        value: Math.round(ms),
        label: `full scan for ${key} (one run), ms`,
      });
    }
    return figures;
  } finally {
    if (o.keep !== true && o.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
