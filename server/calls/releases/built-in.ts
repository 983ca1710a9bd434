/**
 * The release a node is built with (1.0.0), loaded the way an uploaded release is: its
 * bundle, evaluated by the release loader with its manifest (and any other shipped release
 * the same way, for tests). The bundle is built from the
 * sources and must be the locked one (lock.ts), so every node that says it runs 1.0.0 runs
 * the same bytes. A built bundle is kept in the data directory under its hash, and in
 * memory for the other nodes of this process, so a node starts without bundling again.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hotlineError } from '../../errors/catalogue.ts';
import { replaceDurably } from '../../files/durable-write.ts';
import { sha256 } from '../../release/artifact.ts';
import { bundleWithManifest } from '../../release/build.ts';
import { evaluateRelease } from '../../release/loader.ts';
import { readReleaseManifest } from '../../release/manifest.ts';
import type { Release } from '../contract.ts';
import { releaseEntry } from './index.ts';
import { type Locked, lockOf, lockProblem, readLock } from './lock.ts';

export const BUILT_IN = '1.0.0';

/** Bundles built by this process, by version. */
const built = new Map<string, Promise<string>>();

/** The bundle of `version`: the data directory's copy if it is the locked one, else built (and kept if it is). */
async function bundleOf(version: string, dataDir: string, locked: Locked | undefined): Promise<string> {
  const kept = locked === undefined ? undefined : join(dataDir, 'built-in', `${version}-${locked.bundle}.js`);
  if (kept !== undefined && existsSync(kept)) {
    const code = readFileSync(kept, 'utf8');
    if (sha256(code) === locked?.bundle) return code;
  }
  let building = built.get(version);
  if (building === undefined) {
    building = bundleWithManifest(releaseEntry(version), version).then((b) => b.code);
    built.set(version, building);
    // A failed build is not remembered: the next node tries again.
    building.catch(() => built.delete(version));
  }
  const code = await building;
  if (kept !== undefined && sha256(code) === locked?.bundle) {
    mkdirSync(dirname(kept), { recursive: true });
    replaceDurably(kept, code);
  }
  return code;
}

/** A shipped release, loaded from its locked bundle and its manifest; refused if either is not the locked one. */
export async function lockedRelease(dataDir: string, version: string): Promise<Release> {
  const manifest = readReleaseManifest(dirname(releaseEntry(version)));
  const lock = readLock();
  const code = await bundleOf(version, dataDir, lock[version]);
  const problem = lockProblem(version, lockOf(code, manifest), lock);
  if (problem !== undefined) throw hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', version, problem);
  return evaluateRelease<Release>(code, manifest);
}

/** The release a node boots when it has no permanent one. */
export const builtInRelease = (dataDir: string): Promise<Release> => lockedRelease(dataDir, BUILT_IN);
