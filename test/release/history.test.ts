/**
 * The release history on disk: a change the handler answers for is on disk when its promise
 * resolves, and a write that fails is reported, rejects with HOT_ERR_HISTORY_WRITE for the
 * caller that waits for it, leaves no unhandled rejection for one that does not, and does not
 * stop later writes.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HotlineError } from '../../server/errors/catalogue.ts';
import { ReleaseHandler } from '../../server/release/handler.ts';
import type { History, HistoryEvent } from '../../server/release/store.ts';
import { caught, newKeys } from '../support/release-fixtures.ts';
import { simulatedRuntime } from '../support/runtime.ts';
import { tempDataDir } from '../support/test-node.ts';
import { release1 } from './workers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A handler on baseline 1.0.0 in a fresh data directory; failed writes land in `failed`. */
function handler() {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  const failed: { err: HotlineError; event: HistoryEvent }[] = [];
  const h = new ReleaseHandler({
    rt: simulatedRuntime().rt,
    dataDir,
    baseline: release1(),
    trustedKeys: [newKeys().publicKey],
    historyWriteFailed: (err, event) => failed.push({ err, event }),
  });
  const path = join(dataDir, 'releases', 'history.json');
  const onDisk = () => JSON.parse(readFileSync(path, 'utf8')) as History;
  return { h, path, onDisk, failed };
}

describe('release history', () => {
  it('makePermanent resolves once history.json on disk names the permanent release', async () => {
    const { h, onDisk } = handler();
    await h.makePermanent('1.0.0');
    expect(onDisk()).toMatchObject({
      permanent: '1.0.0',
      events: [{ type: 'permanent', version: '1.0.0', at: expect.any(String) }],
    });
  });

  it('a failed write rejects with HOT_ERR_HISTORY_WRITE and is reported; the next write carries the change', async () => {
    const { h, path, onDisk, failed } = handler();
    // The rename onto history.json fails: it is a directory.
    mkdirSync(path);
    const err = await caught(() => h.makePermanent('1.0.0'));
    expect(err).toMatchObject({ code: 'HOT_ERR_HISTORY_WRITE', fault: 'node' });
    expect((err as Error).message).toMatch(/could not be written to disk \(.*EISDIR/);
    expect(failed.map((f) => [f.err.code, f.event.type, f.event.version])).toEqual([
      ['HOT_ERR_HISTORY_WRITE', 'permanent', '1.0.0'],
    ]);
    // Held in memory meanwhile.
    expect(h.permanent).toBe('1.0.0');
    expect(h.store.history.permanent).toBe('1.0.0');

    rmSync(path, { recursive: true });
    await h.makePermanent('1.0.0');
    expect(onDisk()).toMatchObject({ permanent: '1.0.0' });
    expect(onDisk().events.map((e) => e.type)).toEqual(['permanent', 'permanent']);
  });

  it('a failed write nobody waits for (the boot record) is reported, not left as an unhandled rejection', async () => {
    const { h, path, onDisk, failed } = handler();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      mkdirSync(path);
      // The first boot records the release it starts on, without waiting for the disk.
      await h.boot();
      await h.store.flushed;
      // Unhandled rejections are reported after the microtasks of a turn: give it a few turns.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      expect(failed.map((f) => [f.event.type, f.event.version])).toEqual([['installed', '1.0.0']]);

      // The chain goes on: the next write succeeds, and has the boot's change too.
      rmSync(path, { recursive: true });
      await h.makePermanent('1.0.0');
      expect(onDisk()).toMatchObject({ current: '1.0.0', permanent: '1.0.0' });
      expect(onDisk().events.map((e) => e.type)).toEqual(['installed', 'permanent']);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('makePermanent of an unknown version is HOT_ERR_UNKNOWN_RELEASE and records nothing', async () => {
    const { h } = handler();
    expect(await caught(() => h.makePermanent('7.7.7'))).toMatchObject({
      code: 'HOT_ERR_UNKNOWN_RELEASE',
      fault: 'caller',
    });
    expect(await caught(() => h.makePermanent('../x'))).toMatchObject({ code: 'HOT_ERR_BAD_VERSION' });
    expect(h.store.history.events).toEqual([]);
  });
});
