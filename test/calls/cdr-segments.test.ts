/**
 * The CDR log in segments: rolls by size and by age, retention, indexes that let a query
 * skip what cannot match (counted through an injected reader), cursors that stay put while
 * CDRs keep arriving, the migration of a log written before segments, torn lines, a crash
 * mid-roll, and recovery of the calls a roll carried over.
 */
import {
  appendFileSync,
  existsSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CdrArchive, type CdrQuery } from '../../server/calls/cdr/archive.ts';
import { createJournal } from '../../server/calls/cdr/journal.ts';
import { type ChunkReader, readChunks } from '../../server/calls/cdr/line-reader.ts';
import {
  claimAlone,
  closeLog,
  type LogWriter,
  line,
  openLog,
  recoverLog,
  scanHead,
  scanLog,
  writeBatch,
} from '../../server/calls/cdr/log.ts';
import type { Cdr, LogLine } from '../../server/calls/cdr/records.ts';
import {
  closedSegments,
  indexPath,
  readIndex,
  repairSegments,
  type SegmentPolicy,
  segmentPath,
} from '../../server/calls/cdr/segments.ts';
import { prepareStore } from '../../server/calls/cdr/store.ts';
import { JOURNAL } from '../../server/calls/contract.ts';
import { type AnyBehaviour, kill, Runtime } from '../../server/runtime/index.ts';
import { endMessage, killJournals, lostMessage, openMessage, sampleCdr } from '../support/cdrs.ts';
import { tempDataDir, useTestNode } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

const dirs: string[] = [];
const runtimes: Runtime[] = [];
const writers: LogWriter[] = [];
afterEach(async () => {
  await killJournals(runtimes);
  for (const w of writers.splice(0)) closeLog(w.fd);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function headPath(): string {
  const dir = tempDataDir();
  dirs.push(dir);
  return join(dir, 'cdr.log');
}

const policy = (p: Partial<SegmentPolicy>): SegmentPolicy => ({
  segmentBytes: 0,
  segmentMs: 0,
  retentionMs: 0,
  blockRecords: 4,
  ...p,
});

const cdr = (n: number, endedAt: number, extra: Partial<Cdr> = {}) => sampleCdr(`id-${n}`, endedAt, extra);

/** A log as the journal writes it, started at `now`. */
async function writer(path: string, p: SegmentPolicy, now: number): Promise<LogWriter> {
  await prepareStore(path, p, now);
  const { head } = await scanHead(path, p.blockRecords);
  const w: LogWriter = { path, policy: p, fd: openLog(path), head };
  writers.push(w);
  return w;
}

const put = (w: LogWriter, cdrs: Cdr[], now: number) =>
  writeBatch(
    w,
    cdrs.map((c) => ({ text: line({ t: 'cdr', ...c }), cdr: c })),
    now,
    () => [],
  );

const ids = (list: Cdr[]) => list.map((c) => c.id);
const all = async (path: string, q: Partial<CdrQuery> = {}) =>
  (await new CdrArchive(path).page({ limit: 10_000, ...q })).cdrs;

function linesOfFile(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

describe('rolling over', () => {
  it('by size: no closed segment grows past it, each has its index, every CDR is found once', async () => {
    const path = headPath();
    const w = await writer(path, policy({ segmentBytes: 4000 }), 0);
    for (let b = 0; b < 20; b++) {
      await put(
        w,
        Array.from({ length: 5 }, (_, i) => cdr(b * 5 + i, 1000 + b * 5 + i)),
        b,
      );
    }
    const closed = closedSegments(path);
    expect(closed.length).toBeGreaterThan(5);
    let indexed = 0;
    for (const seq of closed) {
      expect(statSync(segmentPath(path, seq)).size).toBeLessThanOrEqual(4000);
      const index = readIndex(path, seq);
      expect(index?.seq).toBe(seq);
      indexed += index?.count ?? 0;
    }
    // The rest are in the head, which starts with its segment line.
    const headLines = linesOfFile(path).map((l) => JSON.parse(l) as LogLine);
    expect(headLines[0]).toEqual({ t: 'segment', seq: (closed.at(-1) ?? 0) + 1, at: expect.any(Number) });
    expect(indexed + headLines.filter((l) => l.t === 'cdr').length).toBe(100);
    const found = await all(path);
    expect(new Set(ids(found)).size).toBe(100);
    expect(found.map((c) => c.endedAt)).toEqual(found.map((c) => c.endedAt).sort((a, b) => b - a));
  });

  it("by age, on the writer's clock", async () => {
    const path = headPath();
    const w = await writer(path, policy({ segmentMs: 1000 }), 10_000);
    await put(w, [cdr(1, 10_100)], 10_100);
    await put(w, [cdr(2, 10_900)], 10_999);
    expect(closedSegments(path)).toEqual([]);
    await put(w, [cdr(3, 11_000)], 11_000);
    expect(closedSegments(path)).toEqual([1]);
    expect(readIndex(path, 1)).toMatchObject({ openedAt: 10_000, closedAt: 11_000, count: 2 });
    expect(JSON.parse(linesOfFile(path)[0] ?? '')).toEqual({ t: 'segment', seq: 2, at: 11_000 });
    // A head with nothing but its first lines does not roll, however old.
    const idle = await writer(headPath(), policy({ segmentMs: 1000 }), 0);
    await put(idle, [], 50_000);
    expect(closedSegments(idle.path)).toEqual([]);
  });

  it('retention deletes whole closed segments older than it, never the head', async () => {
    const path = headPath();
    const p = policy({ segmentMs: 1000, retentionMs: 5000 });
    const w = await writer(path, p, 0);
    for (let t = 0; t <= 10_000; t += 1000) await put(w, [cdr(t, t)], t);
    const closed = closedSegments(path);
    expect(closed.length).toBeGreaterThan(0);
    for (const seq of closed) expect(readIndex(path, seq)?.closedAt).toBeGreaterThanOrEqual(5000);
    // The CDRs of deleted segments are gone; the rest are all there.
    const found = (await all(path)).map((c) => c.endedAt);
    expect(Math.min(...found)).toBeGreaterThanOrEqual(4000);
    expect(found).toContain(10_000);
    // At the next start, whatever expired meanwhile goes too; the head stays.
    await prepareStore(path, p, 100_000);
    expect(closedSegments(path)).toEqual([]);
    expect(ids(await all(path))).toEqual(['id-10000']);
  });
});

describe('queries', () => {
  /** Three segments of ten CDRs (a day each) and a head of five: who, when and why differ. */
  async function threeDays(): Promise<string> {
    const path = headPath();
    const w = await writer(path, policy({ segmentMs: 1000, blockRecords: 5 }), 0);
    const day = (d: number, n: number, who: [string, string], cause: Cdr['cause']) =>
      Array.from({ length: n }, (_, i) =>
        cdr(d * 100 + i, d * 1000 + i * 10, { caller: who[0], callee: who[1], cause }),
      );
    await put(w, day(0, 10, ['alice', 'bob'], 'normal'), 0);
    await put(w, day(1, 10, ['carol', 'dave'], 'busy'), 1000);
    await put(w, day(2, 10, ['erin', 'frank'], 'normal'), 2000);
    await put(w, day(3, 7, ['gina', 'hal'], 'normal'), 3000);
    expect(closedSegments(path)).toEqual([1, 2, 3]);
    return path;
  }

  /** An archive whose reads are recorded, as [file, start, end]. */
  function counted(path: string) {
    const reads: [string, number, number][] = [];
    const reader: ChunkReader = (file, start, end) => {
      reads.push([file, start, end]);
      return readChunks(file, start, end);
    };
    return { archive: new CdrArchive(path, reader), reads };
  }

  it('read only the segments (and blocks) their index says may match', async () => {
    const path = await threeDays();
    const { archive, reads } = counted(path);
    const files = (q: CdrQuery) =>
      archive.page(q).then((page) => {
        const read = [...new Set(reads.map(([f]) => f))];
        reads.length = 0;
        return { ids: ids(page.cdrs), read };
      });
    // The first query indexes the head; later ones read only what was appended since.
    await files({ limit: 1 });
    const seg = (seq: number) => segmentPath(path, seq);

    const alice = await files({ user: 'alice', limit: 100 });
    expect(alice.ids).toHaveLength(10);
    // The head's growing block (two of its CDRs, no Bloom filter yet) is read whatever is asked.
    expect(alice.read.sort()).toEqual([seg(1), path].sort());
    expect((await files({ caller: 'carol', limit: 100 })).read.sort()).toEqual([seg(2), path].sort());
    expect((await files({ callee: 'carol', limit: 100 })).ids).toEqual([]);

    const day2 = await files({ since: 2000, until: 2999, limit: 100 });
    expect(day2.ids).toHaveLength(10);
    expect(day2.read).toEqual([seg(3)]);

    const busy = await files({ cause: 'busy', limit: 100 });
    expect(busy.ids).toHaveLength(10);
    expect(busy.read).toEqual([seg(2)]);

    // One call: one block of one segment, not the whole segment.
    expect((await files({ callId: 'call-id-7', limit: 100 })).ids).toEqual(['id-7']);
    const blockReads = async () => {
      await archive.page({ callId: 'call-id-7', since: 0, until: 999, limit: 100 });
      const r = [...reads];
      reads.length = 0;
      return r;
    };
    const [only, ...more] = await blockReads();
    expect(more).toEqual([]);
    expect(only?.[0]).toBe(seg(1));
    expect((only?.[2] ?? 0) - (only?.[1] ?? 0)).toBeLessThan(statSync(seg(1)).size / 1.5);

    // The newest 5 come from the head and the last segment; the oldest segments are not read.
    const newest = await files({ limit: 5 });
    expect(newest.ids).toEqual(['id-306', 'id-305', 'id-304', 'id-303', 'id-302']);
    expect(newest.read).not.toContain(seg(1));
    expect(newest.read).not.toContain(seg(2));
    const oldest = await files({ limit: 5, order: 'oldest' });
    expect(oldest.ids).toEqual(['id-0', 'id-1', 'id-2', 'id-3', 'id-4']);
    expect(oldest.read).toEqual([seg(1)]);
  });

  it('page with a cursor: every CDR once, newest or oldest first, while more keep arriving', async () => {
    const path = headPath();
    const w = await writer(path, policy({ segmentBytes: 3000 }), 0);
    const first = Array.from({ length: 40 }, (_, i) => cdr(i, 1000 + i * 10));
    // Two CDRs end at the same moment: the place in the log breaks the tie.
    first.push(cdr(40, 1000), cdr(41, 1000));
    await put(w, first, 0);
    for (const order of ['newest', 'oldest'] as const) {
      const archive = new CdrArchive(path);
      const seen: string[] = [];
      let cursor: string | undefined;
      let added = 0;
      for (let pages = 0; pages < 20; pages++) {
        const page = await archive.page({ limit: 7, order, ...(cursor ? { cursor } : {}) });
        seen.push(...ids(page.cdrs));
        if (page.next === null) break;
        cursor = page.next;
        // New calls end (later than all), and a claimed CDR lands late with an old end time.
        added++;
        await put(
          w,
          [
            cdr(1000 + added * 10 + (order === 'newest' ? 0 : 1), 5000 + added),
            cdr(2000 + added * 10 + (order === 'newest' ? 0 : 1), 1005),
          ],
          added,
        );
      }
      expect(new Set(seen).size, `${order}: no CDR twice`).toBe(seen.length);
      for (const c of first) expect(seen, `${order}: ${c.id}`).toContain(c.id);
    }
    expect(closedSegments(path).length).toBeGreaterThan(2);
  });

  it('a roll in the middle of a query: the page is read again, nothing lost or doubled', async () => {
    const path = headPath();
    const w = await writer(path, policy({}), 0);
    await put(
      w,
      Array.from({ length: 20 }, (_, i) => cdr(i, 1000 + i)),
      0,
    );
    let rollNow = false;
    const reader: ChunkReader = async function* (file, start, end) {
      if (rollNow && file === path) {
        rollNow = false;
        w.policy = policy({ segmentBytes: 1 });
        await put(w, [cdr(99, 5000)], 1);
      }
      yield* readChunks(file, start, end);
    };
    const archive = new CdrArchive(path, reader);
    await archive.page({ limit: 1 });
    rollNow = true;
    const page = await archive.page({ limit: 100 });
    expect(closedSegments(path)).toEqual([1]);
    expect(ids(page.cdrs)).toEqual(['id-99', ...Array.from({ length: 20 }, (_, i) => `id-${19 - i}`)]);
  });

  it('refuses a cursor it did not give, one of the other order, and a range that ends before it starts', async () => {
    const path = headPath();
    const w = await writer(path, policy({}), 0);
    await put(w, [cdr(1, 100), cdr(2, 200)], 0);
    const archive = new CdrArchive(path);
    const { next } = await archive.page({ limit: 1 });
    expect(next).not.toBeNull();
    await expect(archive.page({ limit: 1, cursor: 'bogus' })).rejects.toMatchObject({
      code: 'HOT_ERR_BAD_CURSOR',
    });
    await expect(archive.page({ limit: 1, order: 'oldest', cursor: next ?? '' })).rejects.toMatchObject({
      code: 'HOT_ERR_BAD_CURSOR',
    });
    await expect(archive.page({ limit: 1, since: 5, until: 4 })).rejects.toMatchObject({
      code: 'HOT_ERR_BAD_TIME_RANGE',
    });
  });

  it('export: every CDR of a time range, oldest first, across segments', async () => {
    const path = headPath();
    const w = await writer(path, policy({ segmentBytes: 2000 }), 0);
    await put(
      w,
      Array.from({ length: 2500 }, (_, i) => cdr(i, 10_000 - i)),
      0,
    );
    const out: Cdr[] = [];
    for await (const c of new CdrArchive(path).export({ since: 7600, until: 9999 })) out.push(c);
    expect(out.map((c) => c.endedAt)).toEqual(Array.from({ length: 2400 }, (_, i) => 7600 + i));
  });
});

describe('surviving crashes and old data', () => {
  const open = (id: string, setupAt: number) =>
    JSON.stringify({
      t: 'open',
      id,
      callId: `call-${id}`,
      caller: 'a',
      callee: 'b',
      leg: '<1@n>',
      setupAt,
      versions: [],
    });

  it('an old single cdr.log becomes the first segment; its open calls and claims carry over', async () => {
    const path = headPath();
    const legacy = `${[
      open('a', 100),
      JSON.stringify({ t: 'answered', id: 'a', at: 110 }),
      open('c', 120),
      JSON.stringify({ t: 'cdr', ...cdr(0, 300, { id: 'c' }) }),
      JSON.stringify({ t: 'claiming', token: 'tok-d', ...cdr(1, 400, { id: 'd' }) }),
      JSON.stringify({ t: 'alive', at: 900 }),
    ].join('\n')}\n`;
    writeFileSync(path, legacy);
    await prepareStore(path, policy({}), 5000);
    expect(closedSegments(path)).toEqual([1]);
    expect(readFileSync(segmentPath(path, 1), 'utf8')).toBe(legacy);
    expect(readIndex(path, 1)).toMatchObject({ seq: 1, count: 1, closedAt: 5000 });
    const { open: calls, claiming, lastAlive } = await scanLog(path);
    expect([...calls.keys()]).toEqual(['a']);
    expect(calls.get('a')).toMatchObject({ answeredAt: 110 });
    expect(claiming.get('d')?.token).toBe('tok-d');
    expect(lastAlive).toBe(900);
    // Migrated once: a second start changes nothing.
    await prepareStore(path, policy({}), 6000);
    expect(closedSegments(path)).toEqual([1]);

    const recovered = await recoverLog(path, 'n', claimAlone);
    expect(recovered.map((c) => c.id).sort()).toEqual(['a', 'd']);
    expect(recovered.find((c) => c.id === 'a')).toMatchObject({
      cause: 'node_lost',
      answeredAt: 110,
      endedAt: 900,
    });
    expect(ids(await all(path)).sort()).toEqual(['a', 'c', 'd']);
  });

  it('a torn last line stays in its segment and is skipped; a lost index is rebuilt the same', async () => {
    const path = headPath();
    const p = policy({ segmentBytes: 4000 });
    let w = await writer(path, p, 0);
    await put(w, [cdr(1, 100), cdr(2, 200)], 0);
    closeLog(w.fd);
    writers.length = 0;
    // Killed mid-write.
    appendFileSync(path, line({ t: 'cdr', ...cdr(3, 300) }).slice(0, 60));
    expect(await recoverLog(path, 'n')).toEqual([]);
    w = await writer(path, p, 1);
    for (let i = 4; i < 50; i++) await put(w, [cdr(i, i * 100)], i);
    expect(closedSegments(path).length).toBeGreaterThan(1);
    const torn = linesOfFile(segmentPath(path, 1)).filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(torn).toHaveLength(1);
    const found = ids(await all(path));
    expect(found).toHaveLength(48);
    expect(found).not.toContain('id-3');
    const before = readIndex(path, 1);
    unlinkSync(indexPath(path, 1));
    await repairSegments(path, p.blockRecords);
    expect(readIndex(path, 1)).toEqual({
      ...before,
      closedAt: expect.any(Number),
      openedAt: before?.openedAt,
    });
  });

  it('a crash mid-roll: before the renames the old head stands; between them the new one is finished', async () => {
    const path = headPath();
    const w = await writer(path, policy({}), 0);
    await put(w, [cdr(1, 100)], 0);
    const head = readFileSync(path, 'utf8');
    // Crashed with the new head written but nothing renamed.
    writeFileSync(`${path}.next`, `${line({ t: 'segment', seq: 2, at: 5 })}`);
    await repairSegments(path);
    expect(existsSync(`${path}.next`)).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe(head);
    // Crashed after the head became segment 1, before the new head took its place.
    writeFileSync(
      `${path}.next`,
      `${line({ t: 'segment', seq: 2, at: 5 })}${line({ t: 'cdr', ...cdr(2, 200) })}`,
    );
    const { renameSync, mkdirSync } = await import('node:fs');
    mkdirSync(join(path, '..', 'cdr'), { recursive: true });
    renameSync(path, segmentPath(path, 1));
    await repairSegments(path);
    expect(existsSync(path)).toBe(true);
    expect(readIndex(path, 1)?.count).toBe(1);
    expect(ids(await all(path))).toEqual(['id-2', 'id-1']);
  });

  it('node_lost recovery across rolls: calls open before them and unclaimed candidates are not lost', async () => {
    const path = headPath();
    await prepareStore(path, policy({}), Date.now());
    const rt = new Runtime({ node: 'n1' });
    runtimes.push(rt);
    // A claim that is never answered: the candidate waits, and each roll must carry it.
    const silent = () => new Promise<boolean>(() => {});
    rt.modules.load(createJournal({}, silent));
    rt.spawn(JOURNAL, { path, policy: policy({ segmentBytes: 1500 }) });
    const idleLeg: AnyBehaviour = { name: 'leg', version: '1', init: () => ({}) };
    const leg = rt.spawn(idleLeg);
    // Both legs on this node: its CDR is written without a claim.
    const openMsg = (id: string) => openMessage(id, leg, leg, Date.now());
    rt.cast(JOURNAL, openMsg('up'));
    rt.cast(JOURNAL, { type: 'phase', id: 'up', phase: 'up', at: Date.now() });
    rt.cast(JOURNAL, openMsg('ringing'));
    rt.cast(JOURNAL, lostMessage('pending'));
    // Other calls come and go until the log has rolled a few times.
    for (let i = 0; closedSegments(path).length < 3; i++) {
      rt.cast(JOURNAL, openMsg(`done-${i}`));
      rt.cast(
        JOURNAL,
        endMessage(`done-${i}`, {
          cause: 'normal',
          endedBy: 'caller',
          endedAt: Date.now(),
          answeredAt: null,
        }),
      );
      await waitFor('a batch written', async () => linesOfFile(path).some((l) => l.includes(`"done-${i}"`)));
    }
    const ended = (await all(path)).length;
    // The node dies: nothing more is written.
    const journal = rt.whereis(JOURNAL);
    if (journal !== undefined) rt.exit(journal, kill);
    await rt.idle();
    const recovered = await recoverLog(path, 'n1', claimAlone);
    expect(recovered.map((c) => c.id).sort()).toEqual(['pending', 'ringing', 'up']);
    expect(recovered.find((c) => c.id === 'up')?.answeredAt).not.toBeNull();
    const after = await all(path);
    expect(after).toHaveLength(ended + 3);
    expect(new Set(ids(after)).size).toBe(after.length);
    expect(await recoverLog(path, 'n1', claimAlone)).toEqual([]);
  });
});

describe('on the admin surface', () => {
  const start = useTestNode();

  /** A node on a data directory from before segments, with twelve CDRs in its cdr.log. */
  async function oldDataDir() {
    const path = headPath();
    const cdrs = Array.from({ length: 12 }, (_, i) =>
      cdr(i, 1000 + i * 100, { caller: i % 2 ? 'alice' : 'carol', answeredAt: i % 3 ? 900 + i * 100 : null }),
    );
    writeFileSync(path, cdrs.map((c) => line({ t: 'cdr', ...c })).join(''));
    const n = await start({ dataDir: join(path, '..'), cdrSegmentBytes: 1000 });
    return { n, cdrs, path };
  }

  it('keeps the CDRs of an old data directory, and pages them with a cursor, either way', async () => {
    const { n, cdrs, path } = await oldDataDir();
    expect(closedSegments(path)).toEqual([1]);
    for (const order of ['newest', 'oldest'] as const) {
      const seen: string[] = [];
      let next: string | null = null;
      do {
        const cursor: string = next === null ? '' : `&cursor=${next}`;
        const res = await n.admin<{ cdrs: Cdr[]; next: string | null }>(
          `/admin/cdrs?limit=5&order=${order}${cursor}`,
        );
        expect(res.status).toBe(200);
        seen.push(...ids(res.body.cdrs));
        next = res.body.next;
      } while (next !== null);
      const want = ids(cdrs);
      expect(seen).toEqual(order === 'newest' ? want.reverse() : want);
    }
    // The first address and its parameters still answer alike.
    const old = await n.admin<{ cdrs: Cdr[] }>('/cdrs?user=alice&limit=2');
    expect(ids(old.body.cdrs)).toEqual(['id-11', 'id-9']);
    expect(
      ids((await n.admin<{ cdrs: Cdr[] }>('/admin/cdrs?caller=carol&cause=normal&limit=100')).body.cdrs),
    ).toHaveLength(6);
  });

  it('exports a time range as NDJSON or CSV, oldest first', async () => {
    const { n, cdrs } = await oldDataDir();
    const get = (query: string) =>
      fetch(`${n.adminUrl}/admin/cdrs/export${query}`, {
        headers: { authorization: `Bearer ${n.adminToken}` },
      });
    const nd = await get('?from=1200&to=1500');
    expect(nd.headers.get('content-type')).toBe('application/x-ndjson');
    const rows = (await nd.text())
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Cdr);
    expect(rows).toEqual(cdrs.slice(2, 6));
    const csv = await get('?format=csv&to=1100');
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(await csv.text()).toBe(
      'id,callId,caller,callee,node,setupAt,answeredAt,endedAt,durationMs,cause,endedBy,mediaAtoB,mediaBtoA,versions\r\n' +
        'id-0,call-id-0,carol,bob,n,990,,1000,0,normal,caller,0,0,1.0.0\r\n' +
        'id-1,call-id-1,alice,bob,n,1090,1000,1100,0,normal,caller,0,0,1.0.0\r\n',
    );
  });

  it('refuses bad parameters with typed errors', async () => {
    const { n } = await oldDataDir();
    const { next } = (await n.admin<{ next: string }>('/admin/cdrs?limit=1')).body;
    const cases: [string, string][] = [
      ['/admin/cdrs?cursor=nonsense', 'HOT_ERR_BAD_CURSOR'],
      [`/admin/cdrs?order=oldest&cursor=${next}`, 'HOT_ERR_BAD_CURSOR'],
      ['/admin/cdrs?since=10&until=9', 'HOT_ERR_BAD_TIME_RANGE'],
      ['/admin/cdrs?order=sideways', 'HOT_ERR_BAD_REQUEST'],
      [`/admin/cdrs?cursor=${'x'.repeat(200)}`, 'HOT_ERR_BAD_REQUEST'],
      ['/admin/cdrs?limit=0', 'HOT_ERR_BAD_REQUEST'],
      ['/admin/cdrs/export?from=10&to=9', 'HOT_ERR_BAD_TIME_RANGE'],
      ['/admin/cdrs/export?format=xml', 'HOT_ERR_BAD_REQUEST'],
      ['/admin/cdrs/export?from=soon', 'HOT_ERR_BAD_REQUEST'],
      ['/admin/cdrs/export?limit=5', 'HOT_ERR_BAD_REQUEST'],
    ];
    for (const [path, code] of cases) {
      const res = await n.admin<{ code: string }>(path);
      expect(res.status, path).toBe(400);
      expect(res.body.code, path).toBe(code);
    }
    expect((await n.admin('/admin/cdrs/export', null)).status).toBe(401);
  });
});
