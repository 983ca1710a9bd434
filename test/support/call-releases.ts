/**
 * Test support for hot upgrades: artifacts of the shipped release sources built once with a
 * throwaway signing key the test nodes trust, uploaded and installed over the admin API.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Release } from '../../server/calls/contract.ts';
import { releaseEntry, releaseSources } from '../../server/calls/releases/index.ts';
import { AdminClient } from '../../server/ops/admin-client.ts';
import type { Artifact } from '../../server/release/artifact.ts';
import { buildRelease } from '../../server/release/build.ts';
import type { ReleaseList } from '../../server/release/handler.ts';
import type { InstallOptions, InstallProgress } from '../../server/release/installer.ts';
import type { KeyPair } from '../../server/release/keys.ts';
import type { ReleaseManifest } from '../../server/release/manifest.ts';
import type { AdminTarget } from './cdrs.ts';
import { signAsTestRelease } from './release-fixtures.ts';
import { startTestNode, type TestNode, tempDataDir } from './test-node.ts';
import { waitFor } from './wait.ts';

const fixturesDir = fileURLToPath(new URL('../calls/fixtures', import.meta.url));

/** Releases broken on purpose that only the tests use: their sources are under test/calls/fixtures. */
const TEST_ONLY = new Set(['1.2.0-faulty-error', '1.3.0-ping', '1.4.0-dtmf-loop']);

export interface Signer {
  keys: KeyPair;
  /** PEM file of the public key, for a node's trustedKeys. */
  publicKeyPath: string;
  dir: string;
}

export function newSigner(): Signer {
  const dir = tempDataDir();
  const keys = generateKeyPairSync('ed25519');
  const publicKeyPath = join(dir, 'signer.pub.pem');
  writeFileSync(publicKeyPath, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  return { keys, publicKeyPath, dir };
}

/** The release module of a version in this repository (server/calls/releases). */
export function loadRelease(version: string): Promise<Release> {
  const source = releaseSources[version];
  if (source === undefined) throw new Error(`no release source for ${version}`);
  return source();
}

/** Whether release `version` is `since` or later (x.y.z; a pre-release tag is ignored). */
export function atLeast(version: string, since: string): boolean {
  const parts = (v: string) => (v.split('-')[0] ?? '').split('.').map(Number);
  const [a, b] = [parts(version), parts(since)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** Bundle and sign the release sources of `version` (shipped, or a test-only fixture). */
export async function buildArtifact(signer: Signer, version: string): Promise<Artifact> {
  const { artifact } = await buildRelease({
    entry: TEST_ONLY.has(version) ? join(fixturesDir, version, 'index.ts') : releaseEntry(version),
    version,
    name: 'hotline-calls',
    keys: signer.keys,
    outDir: join(signer.dir, 'artifacts'),
  });
  return artifact;
}

/**
 * Sign arbitrary code as a release (for the refusals: code that throws, broken contracts),
 * with a manifest of no modules unless `manifest` says otherwise.
 */
export function signAsCallsRelease(
  signer: Signer,
  version: string,
  code: string,
  manifest: Partial<Omit<ReleaseManifest, 'version'>> = {},
): Artifact {
  return signAsTestRelease(signer.keys, version, code, { modules: {}, ...manifest }, 'hotline-calls');
}

/** A node's admin API, in this process or another. */
const adminOf = (node: AdminTarget) => new AdminClient(node.adminUrl, node.adminToken);

/** A request to the admin surface with the node's token (or `token`); a JSON body when one is given. */
async function adminRequest<T>(
  node: AdminTarget,
  method: string,
  path: string,
  body: unknown,
  token: string | null,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${node.adminUrl}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

export function adminPost<T>(
  node: AdminTarget,
  path: string,
  body: unknown = {},
  token: string | null = node.adminToken,
): Promise<{ status: number; body: T }> {
  return adminRequest<T>(node, 'POST', path, body, token);
}

export function adminDelete<T>(node: TestNode, path: string): Promise<{ status: number; body: T }> {
  return adminRequest<T>(node, 'DELETE', path, undefined, node.adminToken);
}

export async function upload(node: AdminTarget, artifact: Artifact): Promise<void> {
  const res = await adminPost(node, '/admin/releases', artifact);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

/** Install `version` and wait for its outcome (or for the canary decision). */
export async function install(
  node: AdminTarget,
  version: string,
  options: Partial<InstallOptions> = {},
): Promise<InstallProgress> {
  const res = await adminPost<{ install: InstallProgress }>(node, `/admin/releases/${version}/install`, {
    watchMs: 100,
    ...options,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return settled(node);
}

/** Wait until the running install has an outcome or waits for a canary decision. */
export async function settled(node: AdminTarget): Promise<InstallProgress> {
  return waitFor(
    'the install to settle',
    async () => {
      const p = (await adminOf(node).get<{ install: InstallProgress }>('/admin/install')).install;
      return p.outcome !== null || p.phase === 'canary' ? p : undefined;
    },
    15_000,
  );
}

/** The node's current and permanent release, and the releases its sessions run. */
export async function runningReleases(
  node: AdminTarget,
): Promise<{ current: string; permanent: string; sessions: string[] }> {
  const { current, permanent } = await adminOf(node).get<ReleaseList>('/admin/releases');
  return { current, permanent, sessions: Object.keys(await sessionsByRelease(node)) };
}

/** Sessions per release version, from the node's code server. */
export async function sessionsByRelease(node: AdminTarget): Promise<Record<string, number>> {
  const body = await adminOf(node).get<{ modules: { module: string; version: string; processes: number }[] }>(
    '/admin/modules',
  );
  const out: Record<string, number> = {};
  for (const m of body.modules)
    if (m.module === 'session' && m.processes > 0) out[m.version] = (out[m.version] ?? 0) + m.processes;
  return out;
}

/**
 * Nodes that trust a signer made for this test file; each is shut down after the file.
 * `signer()` is ready from the first beforeAll on.
 */
export function useTrustingNodes(): {
  signer(): Signer;
  node(overrides?: Parameters<typeof startTestNode>[0]): Promise<TestNode>;
  /** The node was shut down by the test itself. */
  forget(n: TestNode): void;
  /** The artifact of `version`, signed by this file's signer: built once, on first use. */
  artifact(version: string): Promise<Artifact>;
  /** Upload `versions`' artifacts to each of `nodes`. */
  uploadTo(nodes: AdminTarget | AdminTarget[], versions: string[]): Promise<void>;
} {
  const nodes: TestNode[] = [];
  const artifacts = new Map<string, Promise<Artifact>>();
  let signer: Signer | undefined;
  beforeAll(() => {
    signer = newSigner();
  });
  afterAll(async () => {
    for (const n of nodes.splice(0)) await n.shutdown();
  });
  const current = (): Signer => {
    if (signer === undefined) throw new Error('useTrustingNodes: no signer before beforeAll');
    return signer;
  };
  return {
    signer: current,
    async node(overrides = {}) {
      const n = await startTestNode({ trustedKeys: [current().publicKeyPath], ...overrides });
      nodes.push(n);
      return n;
    },
    forget(n) {
      nodes.splice(nodes.indexOf(n), 1);
    },
    artifact(version) {
      let built = artifacts.get(version);
      if (built === undefined) {
        built = buildArtifact(current(), version);
        artifacts.set(version, built);
      }
      return built;
    },
    async uploadTo(targets, versions) {
      for (const v of versions) {
        const artifact = await this.artifact(v);
        for (const n of [targets].flat()) await upload(n, artifact);
      }
    },
  };
}
