/** Shared by the release tests: signing keys, bundled fixtures, spawning their behaviours, waiting until a runtime is quiet. */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Artifact, signArtifact } from '../../server/release/artifact.ts';
import { bundleRelease } from '../../server/release/build.ts';
import type { KeyPair } from '../../server/release/keys.ts';
import type { ReleaseManifest } from '../../server/release/manifest.ts';
import { RELEASE_API_VERSION, type ReleaseModule } from '../../server/release/module.ts';
import type { AnyBehaviour, Pid, Runtime } from '../../server/runtime/index.ts';

export const fixturesDir = fileURLToPath(new URL('../release/fixtures', import.meta.url));
export const fixtureEntry = (version: string): string => join(fixturesDir, version, 'index.ts');

export const newKeys = (): KeyPair => generateKeyPairSync('ed25519');

const bundles = new Map<string, Promise<string>>();

/** The esbuild bundle of fixtures/<version>, built once per test file. */
export function bundledFixture(version: string): Promise<string> {
  let b = bundles.get(version);
  if (b === undefined) {
    b = bundleRelease(fixtureEntry(version));
    bundles.set(version, b);
  }
  return b;
}

/**
 * Sign any code as a release, as a build would (no evaluation: the refusals need broken code),
 * with a manifest of one module, `worker`, unless `meta` says otherwise.
 */
export function signAsTestRelease(
  keys: KeyPair,
  version: string,
  code: string,
  meta: Partial<Omit<ReleaseManifest, 'version'>> = {},
  name = 'test-release',
): Artifact {
  return signArtifact(
    code,
    {
      name,
      version,
      apiVersion: meta.apiVersion ?? RELEASE_API_VERSION,
      modules: meta.modules ?? { worker: version },
      upgradeFrom: meta.upgradeFrom ?? [],
      downgradeTo: meta.downgradeTo ?? [],
    },
    keys.privateKey,
    keys.publicKey,
    new Date('2025-01-01T00:00:00Z'),
  );
}

/** The error `fn` throws (sync or async); fails the test if it does not. */
export async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

export function spawnMany(rt: Runtime, release: ReleaseModule, n: number): Pid[] {
  const b = release.behaviours[0] as AnyBehaviour;
  return Array.from({ length: n }, (_, i) => rt.spawn(b, i * 10));
}

export const codeOf = (rt: Runtime, pid: Pid): AnyBehaviour | undefined => rt.lookup(pid)?.behaviour;

/**
 * Let the scheduler and pending callbacks run until every process waits at a message boundary
 * with an empty mailbox, or is suspended (async callbacks take a turn of the event loop each).
 */
export async function settleUntilQuiet(rt: Runtime, maxRounds = 1000): Promise<void> {
  for (let i = 0; i < maxRounds; i++) {
    await rt.idle();
    await new Promise((r) => setImmediate(r));
    if (rt.scheduler.runnable > 0) continue;
    let quiet = true;
    for (const p of rt.processes()) if (p.busy || (p.mailboxLength > 0 && !p.suspended)) quiet = false;
    if (quiet) return;
  }
  throw new Error(`the runtime is still busy after ${maxRounds} rounds`);
}
