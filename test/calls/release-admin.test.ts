/**
 * The admin routes that change what a node keeps, on a live node: remove (an unused release
 * goes; the current, the permanent, the baseline and one that sessions still run stay), make
 * permanent (answered once history.json is on disk; a write that fails is a typed error to
 * that request), an unknown version's 404 on every route that names one, the list's `old`,
 * and the history's events across a restart.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ReleaseList } from '../../server/release/handler.ts';
import type { History } from '../../server/release/store.ts';
import {
  adminDelete,
  adminPost,
  install,
  sessionsByRelease,
  settled,
  useTrustingNodes,
} from '../support/call-releases.ts';
import { assertServes } from '../support/calls.ts';
import { type TestNode, tempDataDir } from '../support/test-node.ts';

const trusting = useTrustingNodes();
const node = trusting.node;

beforeAll(async () => {
  for (const v of ['1.1.0', '2.0.0']) await trusting.artifact(v);
}, 60_000);

const uploadAll = (n: TestNode, versions: string[]) => trusting.uploadTo(n, versions);

const historyPath = (dataDir: string) => join(dataDir, 'releases', 'history.json');
/** history.json as it is on disk now (nothing waited for). */
const historyOf = (dataDir: string): History => JSON.parse(readFileSync(historyPath(dataDir), 'utf8'));
const eventsOf = (dataDir: string): string[] =>
  historyOf(dataDir).events.map((e) => `${e.type} ${e.version}${e.from ? ` from ${e.from}` : ''}`);

async function list(n: TestNode): Promise<ReleaseList> {
  const res = await n.admin<ReleaseList>('/admin/releases');
  expect(res.status).toBe(200);
  return res.body;
}
const unpackedOf = async (n: TestNode): Promise<string[]> =>
  (await list(n)).unpacked.map((u) => u.version).sort();

type ErrorBody = { code?: string; message?: string };

describe('remove', () => {
  it('deletes an unused unpacked release: its file goes, the list drops it, the history keeps it across a restart', async () => {
    const dataDir = tempDataDir();
    const first = await node({ dataDir });
    await uploadAll(first, ['1.1.0', '2.0.0']);
    const file = join(dataDir, 'releases', '2.0.0.release.json');
    expect(existsSync(file)).toBe(true);

    const res = await adminDelete(first, '/admin/releases/2.0.0');
    expect(res.status, JSON.stringify(res.body)).toBe(204);
    expect(existsSync(file)).toBe(false);
    expect(await unpackedOf(first)).toEqual(['1.1.0']);
    // Answered once the history on disk says so.
    const events = ['installed 1.0.0', 'unpacked 1.1.0', 'unpacked 2.0.0', 'removed 2.0.0'];
    expect(eventsOf(dataDir)).toEqual(events);
    const again = await adminDelete<ErrorBody>(first, '/admin/releases/2.0.0');
    expect([again.status, again.body.code]).toEqual([404, 'HOT_ERR_UNKNOWN_RELEASE']);

    await first.shutdown();
    trusting.forget(first);
    const second = await node({ dataDir });
    expect(await unpackedOf(second)).toEqual(['1.1.0']);
    expect(eventsOf(dataDir)).toEqual(events);
    expect((await adminPost(second, '/admin/releases/2.0.0/install')).status).toBe(404);
  });

  it('refuses the current, the permanent, the baseline and a release sessions still run (409); `old` lists the last while it runs', async () => {
    const n = await node();
    await uploadAll(n, ['1.1.0', '2.0.0']);
    const phones = await Promise.all(['ann', 'ben', 'cy'].map((u) => n.phone(u)));
    const refused = async (version: string, status: number, code: string, why = '') => {
      const res = await adminDelete<ErrorBody>(n, `/admin/releases/${version}`);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body).toMatchObject({ code, message: expect.stringContaining(why) });
    };
    await refused('..%2F..%2Fetc', 400, 'HOT_ERR_BAD_VERSION');
    await refused('1.0.0', 409, 'HOT_ERR_RELEASE_IN_USE', 'it is current');
    expect((await list(n)).old).toEqual([]);

    // A canary of nothing: the sessions there stay on 1.0.0, a new one begins on 1.1.0.
    expect((await install(n, '1.1.0', { mode: 'canary', canaryFraction: 0 })).phase).toBe('canary');
    phones.push(await n.phone('newcomer'));
    expect(await sessionsByRelease(n)).toEqual({ '1.0.0': 3, '1.1.0': 1 });
    expect(await list(n)).toMatchObject({ current: '1.0.0', old: ['1.1.0'] });
    await refused('1.1.0', 409, 'HOT_ERR_RELEASE_IN_USE', 'processes still run it');
    expect((await adminPost(n, '/admin/install/promote')).status).toBe(200);
    expect((await settled(n)).outcome).toBe('installed');
    expect(await list(n)).toMatchObject({ current: '1.1.0', old: [] });
    await refused('1.1.0', 409, 'HOT_ERR_RELEASE_IN_USE', 'it is current');
    await refused('1.0.0', 409, 'HOT_ERR_RELEASE_IN_USE', 'it is built into the node');

    expect((await adminPost(n, '/admin/releases/1.1.0/permanent')).status).toBe(200);
    expect((await install(n, '2.0.0')).outcome).toBe('installed');
    await refused('1.1.0', 409, 'HOT_ERR_RELEASE_IN_USE', 'it is permanent');
    await refused('2.0.0', 409, 'HOT_ERR_RELEASE_IN_USE', 'it is current');

    // Nothing was removed, every session is up, and the history tells the story.
    expect(await unpackedOf(n)).toEqual(['1.1.0', '2.0.0']);
    expect(await sessionsByRelease(n)).toEqual({ '2.0.0': 4 });
    for (const p of phones) expect(p.isOpen).toBe(true);
    await n.releases.store.flushed;
    expect(eventsOf(n.dataDir)).toEqual([
      'installed 1.0.0',
      'unpacked 1.1.0',
      'unpacked 2.0.0',
      'installed 1.1.0 from 1.0.0',
      'permanent 1.1.0',
      'installed 2.0.0 from 1.1.0',
    ]);
  }, 30_000);
});

describe('make permanent', () => {
  it('answers once history.json on disk names the release', async () => {
    const n = await node();
    await uploadAll(n, ['1.1.0']);
    expect((await install(n, '1.1.0')).outcome).toBe('installed');
    const res = await adminPost<ReleaseList>(n, '/admin/releases/1.1.0/permanent');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ current: '1.1.0', permanent: '1.1.0' });
    // Read at once, nothing waited for.
    expect(historyOf(n.dataDir)).toMatchObject({ current: '1.1.0', permanent: '1.1.0' });
    expect(eventsOf(n.dataDir).at(-1)).toBe('permanent 1.1.0');
  });

  it('a history that cannot be written answers 500 HOT_ERR_HISTORY_WRITE; the node serves on and a retry succeeds', async () => {
    const n = await node();
    await n.releases.store.flushed;
    // The write's rename onto history.json fails: it is a directory now.
    rmSync(historyPath(n.dataDir));
    mkdirSync(historyPath(n.dataDir));
    const res = await adminPost<ErrorBody>(n, '/admin/releases/1.0.0/permanent');
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({
      code: 'HOT_ERR_HISTORY_WRITE',
      message: expect.stringContaining('EISDIR'),
    });
    await assertServes(n);

    rmSync(historyPath(n.dataDir), { recursive: true });
    expect((await adminPost(n, '/admin/releases/1.0.0/permanent')).status).toBe(200);
    expect(historyOf(n.dataDir)).toMatchObject({ current: '1.0.0', permanent: '1.0.0' });
    expect(eventsOf(n.dataDir)).toEqual(['installed 1.0.0', 'permanent 1.0.0', 'permanent 1.0.0']);
  });

  it('a known release that is not current is refused as before (400)', async () => {
    const n = await node();
    await uploadAll(n, ['1.1.0']);
    const res = await adminPost<ErrorBody>(n, '/admin/releases/1.1.0/permanent');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: 'HOT_ERR_BAD_REQUEST',
      message: expect.stringContaining('only the current release (1.0.0)'),
    });
  });
});

describe('an unknown version', () => {
  it('is 404 HOT_ERR_UNKNOWN_RELEASE on every route that names one, and changes nothing', async () => {
    const n = await node();
    const answers = [
      await adminPost<ErrorBody>(n, '/admin/releases/7.7.7/install'),
      await adminPost<ErrorBody>(n, '/admin/releases/7.7.7/preflight'),
      await adminPost<ErrorBody>(n, '/admin/releases/7.7.7/permanent'),
      await adminDelete<ErrorBody>(n, '/admin/releases/7.7.7'),
    ];
    for (const a of answers) expect([a.status, a.body.code]).toEqual([404, 'HOT_ERR_UNKNOWN_RELEASE']);
    expect(await list(n)).toMatchObject({ current: '1.0.0', permanent: '1.0.0', install: null });
    await n.releases.store.flushed;
    expect(eventsOf(n.dataDir)).toEqual(['installed 1.0.0']);
  });
});
