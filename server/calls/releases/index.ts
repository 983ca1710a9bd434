/**
 * Every call release in this repository, by version, for tests, the release build and the
 * node's built-in release: where each one's sources are, and the phone messages it adds to
 * the base protocol (what the node learns when it loads the release, and what the
 * committed protocol.schema.json documents for the shipped ones).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withManifest } from '../../release/loader.ts';
import { readReleaseManifest } from '../../release/manifest.ts';
import type { Release, ReleaseCodeOfCalls } from '../contract.ts';
import { callInfoMessages } from '../kit/v1/call-info.ts';
import type { ProtocolAdditions } from '../protocol/messages.ts';

export const releasesDir = dirname(fileURLToPath(import.meta.url));

/** A release's folder: its entry module (index.ts, exporting `release`) and its release.json. */
export const releaseEntry = (version: string): string => join(releasesDir, version, 'index.ts');

interface Listed {
  code: () => Promise<ReleaseCodeOfCalls>;
  /** The messages it adds to the base protocol; its code exports the same. */
  protocol?: ProtocolAdditions;
}

const listed: Record<string, Listed> = {
  '1.0.0': { code: async () => (await import('./1.0.0/index.ts')).release },
  '1.1.0': { code: async () => (await import('./1.1.0/index.ts')).release, protocol: callInfoMessages },
  '2.0.0': { code: async () => (await import('./2.0.0/index.ts')).release, protocol: callInfoMessages },
  '1.2.0-faulty-migrate': {
    code: async () => (await import('./1.2.0-faulty-migrate/index.ts')).release,
    protocol: callInfoMessages,
  },
  '1.2.0-faulty-crash': {
    code: async () => (await import('./1.2.0-faulty-crash/index.ts')).release,
    protocol: callInfoMessages,
  },
};

/** Releases that ship: each passes the conformance suite (test/calls/conformance.test.ts). */
export const shippedReleases = ['1.0.0', '1.1.0', '2.0.0'];

/** Releases broken on purpose, for tests and the demo; their index.ts says how they fail. */
export const faultyReleases = ['1.2.0-faulty-migrate', '1.2.0-faulty-crash'];

/**
 * The release module of a version, imported in this process: its code with its folder's
 * release.json. Each is imported only when asked.
 */
export const releaseSources: Record<string, () => Promise<Release>> = Object.fromEntries(
  Object.entries(listed).map(([version, l]) => [
    version,
    async () => withManifest<Release>(await l.code(), readReleaseManifest(join(releasesDir, version))),
  ]),
);

/** What the shipped releases add to the base protocol, each addition once. */
export const shippedAdditions: ProtocolAdditions[] = [
  ...new Set(shippedReleases.flatMap((v) => (listed[v]?.protocol === undefined ? [] : [listed[v].protocol]))),
];

/**
 * The messages a release speaks beyond the base. Releases built for runtime API 1 declare
 * none: the node's own protocol then held call_info, so a node booting a stored 1.1.0 or
 * 2.0.0 of that build learns it for them.
 */
export const additionsOf = (r: Release): ProtocolAdditions | undefined =>
  r.protocol ?? (r.apiVersion === 1 ? callInfoMessages : undefined);
