/**
 * Marked releases (what a node does after its watchdog ended it, server/node/watchdog-recovery.ts):
 * the release on probation is marked only when the stuck code was what it brought; a mark is
 * on disk, refuses an install unless forced, and is passed over at boot.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { WatchdogFired } from '../../server/node/watchdog-log.ts';
import { judgeFire } from '../../server/node/watchdog-recovery.ts';
import { ReleaseHandler } from '../../server/release/handler.ts';
import { bundledFixture, caught, newKeys, signAsTestRelease } from '../support/release-fixtures.ts';
import { simulatedRuntime } from '../support/runtime.ts';
import { tempDataDir } from '../support/test-node.ts';
import { release1 } from './workers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const keys = newKeys();

/** A handler on baseline 1.0.0 with 2.0.0 unpacked, on `dataDir` (a fresh one by default). */
async function handler(dataDir = tempDataDir(), told: (string | null)[] = []) {
  dirs.push(dataDir);
  const h = new ReleaseHandler({
    rt: simulatedRuntime().rt,
    dataDir,
    baseline: release1(),
    trustedKeys: [keys.publicKey],
    probationChanged: (v) => told.push(v),
  });
  if (!h.store.has('2.0.0'))
    await h.unpack(
      signAsTestRelease(keys, '2.0.0', await bundledFixture('2.0.0'), { modules: { worker: '2.0.0' } }),
    );
  return h;
}

const fire = (over: Partial<WatchdogFired> = {}): WatchdogFired => ({
  type: 'fired',
  at: '2026-12-07T07:00:00.000Z',
  node: 'n',
  osPid: 1,
  watchdogMs: 1000,
  stalledMs: 1100,
  inCallback: true,
  pid: '<7@n>',
  behaviour: 'worker',
  version: '2.0.0',
  kind: 'cast',
  message: 'msg',
  probation: '2.0.0',
  ...over,
});

describe('marked releases', () => {
  it('marks the release on probation whose code was stuck, on disk', async () => {
    const dataDir = tempDataDir();
    const h = await handler(dataDir);
    expect(await judgeFire(fire(), h)).toMatchObject({
      marked: '2.0.0',
      why: expect.stringContaining('cast msg'),
    });
    const again = await handler(dataDir);
    expect(again.marked('2.0.0')).toContain('worker 2.0.0 (<7@n>) stuck for 1100 ms');
    expect(again.list().marked).toHaveProperty(['2.0.0']);
    expect(again.store.history.events.at(-1)).toMatchObject({ type: 'marked', version: '2.0.0' });
  });

  it('marks nothing when the stuck code is not what probation brought, none was on probation, or no callback ran', async () => {
    const h = await handler();
    for (const f of [
      fire({ version: '1.0.0' }),
      fire({ behaviour: 'cdr_journal', version: '1.0.0' }),
      fire({ probation: null }),
      fire({ inCallback: false }),
    ]) {
      expect(await judgeFire(f, h), JSON.stringify(f)).toMatchObject({ marked: null });
    }
    expect(h.list().marked).toEqual({});
  });

  it('a marked release is refused by install unless forced, and passed over at boot', async () => {
    const told: (string | null)[] = [];
    const h = await handler(undefined, told);
    expect((await h.boot('2.0.0')).version).toBe('2.0.0');
    expect(h.probation).toBe('2.0.0');
    expect(told).toEqual(['2.0.0']);

    const marked = await handler();
    await marked.mark('2.0.0', 'stuck');
    expect(await caught(() => marked.install('2.0.0'))).toMatchObject({ code: 'HOT_ERR_RELEASE_MARKED' });
    expect(marked.running).toBeNull();
    expect((await marked.boot('2.0.0')).version).toBe('1.0.0');
    expect(marked.probation).toBeNull();
    // The boots' history writes, before the directories go.
    await Promise.all([h.store.flushed, marked.store.flushed]);
  });
});
