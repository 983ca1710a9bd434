/**
 * What a release's code exports, as the release handler sees it: a version, the runtime API
 * version it was written against, its behaviours, and its appup — the versions it upgrades
 * from and downgrades to, with the extra data codeChange gets for each. Nothing here knows
 * what the behaviours do.
 */
import type { AnyBehaviour } from '../runtime/index.ts';

/**
 * The runtime API a release is built against. 2 added `ctx.reportError` and TypeBox as a
 * host module. A node loads releases built for any API it still supports; others are refused.
 */
export const RELEASE_API_VERSION = 2;
export const SUPPORTED_API_VERSIONS: readonly number[] = [1, 2];

/** One appup entry: a version this release moves from (or back to), and codeChange's `extra`. */
export interface AppupEntry {
  version: string;
  /** Plain JSON, handed to codeChange as its `extra` argument. */
  extra?: unknown;
}

export interface ReleaseModule {
  version: string;
  apiVersion: number;
  behaviours: AnyBehaviour[];
  /** Versions this release upgrades from: its codeChange accepts each as `from`. */
  upgradeFrom: AppupEntry[];
  /** Versions this release downgrades to: its codeChange accepts `{ down: version }`. */
  downgradeTo: AppupEntry[];
}
