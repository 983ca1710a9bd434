/**
 * Shipped releases never change: every shipped release, rebuilt from this checkout, is the
 * bundle and manifest its lock entry says, and a node boots its built-in release from those
 * locked bytes (kept in its data directory by hash).
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILT_IN, builtInRelease } from '../../server/calls/releases/built-in.ts';
import { releaseEntry, releaseSources, shippedReleases } from '../../server/calls/releases/index.ts';
import { lockOf, lockProblem, readLock } from '../../server/calls/releases/lock.ts';
import { sha256 } from '../../server/release/artifact.ts';
import { bundleWithManifest } from '../../server/release/build.ts';
import { tempDataDir, useTestNode } from '../support/test-node.ts';

describe('the lock of the shipped releases', () => {
  it('locks every shipped release, and nothing else', () => {
    expect(Object.keys(readLock()).sort()).toEqual([...shippedReleases].sort());
  });

  it.each(shippedReleases)('%s rebuilds to its locked bundle and manifest', async (version) => {
    const { code, manifest } = await bundleWithManifest(releaseEntry(version), version);
    // On a difference, the message says what to do instead: a new version.
    expect(lockProblem(version, lockOf(code, manifest))).toBeUndefined();
  });

  it('a changed bundle or manifest is reported, with a new version as the way out', () => {
    const locked = readLock()[BUILT_IN] as { bundle: string; manifest: string };
    const problem = lockProblem(BUILT_IN, { ...locked, bundle: sha256('other code') });
    expect(problem).toMatch(/bundle of shipped release 1\.0\.0 changed/);
    expect(problem).toMatch(/make the change a new release version/);
    expect(lockProblem(BUILT_IN, { ...locked, manifest: sha256('{}') })).toMatch(
      /manifest of shipped release/,
    );
    expect(lockProblem('9.9.9', locked)).toMatch(/not in/);
  });
});

describe('the built-in release', () => {
  const start = useTestNode();

  it('is loaded from its locked bundle, not from the sources the node imports', async () => {
    const dataDir = tempDataDir();
    const r = await builtInRelease(dataDir);
    const sources = await (releaseSources[BUILT_IN] as () => ReturnType<typeof builtInRelease>)();
    expect(r.version).toBe(BUILT_IN);
    expect(r.session).not.toBe(sources.session);
    expect(r.upgradeFrom).toEqual(sources.upgradeFrom);
    const kept = join(dataDir, 'built-in', `${BUILT_IN}-${readLock()[BUILT_IN]?.bundle}.js`);
    expect(existsSync(kept)).toBe(true);
  });

  it('a kept bundle that is not the locked one is not used: the node builds it again', async () => {
    const dataDir = tempDataDir();
    await builtInRelease(dataDir);
    const [kept] = readdirSync(join(dataDir, 'built-in'));
    writeFileSync(join(dataDir, 'built-in', kept as string), 'exports.release = { tampered: true };');
    const r = await builtInRelease(dataDir);
    expect(r.behaviours.map((b) => b.name)).toContain('session');
  });

  it('a node boots it: the session code its phones run is the locked bundle', async () => {
    const n = await start();
    expect(n.releases.current.version).toBe(BUILT_IN);
    const sources = await (releaseSources[BUILT_IN] as () => ReturnType<typeof builtInRelease>)();
    expect(n.releases.current.session).not.toBe(sources.session);
    expect(n.rt.modules.get('session')).toBe(n.releases.current.session);
  });
});
