/**
 * Every call release in this repository, by version, for tests and the release build. Each
 * loader imports its release only when asked: the node itself imports 1.0.0 alone, and
 * releases after it reach a running node as built artifacts.
 */
import type { Release } from '../contract.ts';

export const releaseSources: Record<string, () => Promise<Release>> = {
  '1.0.0': async () => (await import('./1.0.0/index.ts')).release,
  '1.1.0': async () => (await import('./1.1.0/index.ts')).release,
  '2.0.0': async () => (await import('./2.0.0/index.ts')).release,
  '1.2.0-faulty-migrate': async () => (await import('./1.2.0-faulty-migrate/index.ts')).release,
  '1.2.0-faulty-crash': async () => (await import('./1.2.0-faulty-crash/index.ts')).release,
};

/** Releases that ship: each passes the conformance suite (test/calls/conformance.test.ts). */
export const shippedReleases = ['1.0.0', '1.1.0', '2.0.0'];

/** Releases broken on purpose, for tests and the demo; their index.ts says how they fail. */
export const faultyReleases = ['1.2.0-faulty-migrate', '1.2.0-faulty-crash'];
