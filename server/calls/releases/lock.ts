/**
 * The lock of the shipped releases (lock.json beside this file): the sha256 of each one's
 * bundle and of its manifest file. A shipped release never changes: a node refuses to boot a
 * built-in release whose bundle is not the locked one, and a test rebuilds every shipped
 * release against the lock. A change that would alter a shipped bundle goes into a new
 * release version (or a new kit version that only new releases import).
 *
 * `npm run release:lock` adds the shipped releases not locked yet; it never changes an entry.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../release/artifact.ts';
import { bundleWithManifest } from '../../release/build.ts';
import type { ReleaseManifest } from '../../release/manifest.ts';
import { releaseEntry, releasesDir, shippedReleases } from './index.ts';

export interface Locked {
  /** sha256 of the bundled code: the artifact manifest's `sha256`. */
  bundle: string;
  /** sha256 of the manifest file's data (release.json, as JSON without spacing). */
  manifest: string;
}

export const lockPath = join(releasesDir, 'lock.json');

export function readLock(): Record<string, Locked> {
  return JSON.parse(readFileSync(lockPath, 'utf8')) as Record<string, Locked>;
}

export const lockOf = (code: string, manifest: ReleaseManifest): Locked => ({
  bundle: sha256(code),
  manifest: sha256(JSON.stringify(manifest)),
});

/** Why a build of `version` is not the locked one, or undefined if it is. */
export function lockProblem(version: string, built: Locked, lock = readLock()): string | undefined {
  const locked = lock[version];
  if (locked === undefined) return `release ${version} is not in ${lockPath}`;
  const changed = (['bundle', 'manifest'] as const).filter((k) => built[k] !== locked[k]);
  if (changed.length === 0) return undefined;
  return (
    `the ${changed.join(' and ')} of shipped release ${version} changed (sha256 ${changed.map((k) => built[k]).join(', ')}; ` +
    `locked ${changed.map((k) => locked[k]).join(', ')}). A shipped release never changes: make the change a new ` +
    'release version, or put it in a new kit version that only new releases import.'
  );
}

/** Build each shipped release; lock the ones not locked yet. Resolves with what it did. */
export async function writeLock(): Promise<{ added: string[]; problems: string[] }> {
  const lock: Record<string, Locked> = (() => {
    try {
      return readLock();
    } catch {
      return {};
    }
  })();
  const added: string[] = [];
  const problems: string[] = [];
  for (const version of shippedReleases) {
    const { code, manifest } = await bundleWithManifest(releaseEntry(version), version);
    const built = lockOf(code, manifest);
    if (lock[version] === undefined) {
      lock[version] = built;
      added.push(version);
    } else {
      const problem = lockProblem(version, built, lock);
      if (problem !== undefined) problems.push(problem);
    }
  }
  if (added.length > 0) writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
  return { added, problems };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { added, problems } = await writeLock();
  console.log(added.length > 0 ? `locked ${added.join(', ')} in ${lockPath}` : 'nothing new to lock');
  for (const p of problems) console.error(p);
  process.exitCode = problems.length > 0 ? 1 : 0;
}
