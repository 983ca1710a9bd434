/**
 * Which releases' processes may exchange messages: on one node while an install runs, and
 * across nodes during a rolling upgrade. A release declares the versions it talks to: itself
 * and every version of its appup, the versions it upgrades from and downgrades to — the
 * same declaration OTP's appup makes of the versions that coexist with it. Two releases
 * interoperate when either declares the other: the newer knows the older, never the reverse.
 */
import type { ReleaseModule } from './module.ts';

/** A release as it declares itself, on the wire and in a heartbeat. */
export interface Declared {
  release: string;
  talksTo: readonly string[];
}

export function declarationOf(r: Pick<ReleaseModule, 'version' | 'upgradeFrom' | 'downgradeTo'>): Declared {
  const versions = [
    r.version,
    ...r.upgradeFrom.map((e) => e.version),
    ...r.downgradeTo.map((e) => e.version),
  ];
  return { release: r.version, talksTo: [...new Set(versions)] };
}

export const interoperate = (a: Declared, b: Declared): boolean =>
  a.talksTo.includes(b.release) || b.talksTo.includes(a.release);

/**
 * Every release a node runs: its current release, and the others its processes run while an
 * install is under way (from its preflight to its outcome: the release it installs, and the
 * one it leaves) or after it, for processes still on old code. Outside those windows a node
 * runs its current release alone.
 */
export interface NodeReleases extends Declared {
  /** The releases other than the current one; absent (a node of a build before it) or empty: none. */
  alsoRuns?: readonly Declared[];
}

/** The releases a node runs, its current one first. */
export const runsOf = (n: NodeReleases): readonly Declared[] =>
  n.alsoRuns === undefined || n.alsoRuns.length === 0 ? [n] : [n, ...n.alsoRuns];

/** The pairs of `a` × `b` that do not interoperate. */
export const clashes = (a: readonly Declared[], b: readonly Declared[]): [Declared, Declared][] =>
  a.flatMap((x) => b.filter((y) => !interoperate(x, y)).map((y): [Declared, Declared] => [x, y]));
