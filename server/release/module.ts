/**
 * What a release is, as the release handler sees it: a version, the runtime API version it
 * was written against, its behaviours (each with its own version), and its appup — the
 * versions it upgrades from and downgrades to, each with the modules that change on that
 * edge and how. The code exports the first three; the appup is data, from the release's
 * manifest. Nothing here knows what the behaviours do.
 */
import type { AnyBehaviour } from '../runtime/index.ts';

/**
 * The runtime API a release is built against. 2 added `ctx.reportError` and TypeBox as a
 * host module. A node loads releases built for any API it still supports; others are refused.
 */
export const RELEASE_API_VERSION = 2;
export const SUPPORTED_API_VERSIONS: readonly number[] = [1, 2];

/**
 * How one module changes on an appup edge, as OTP's `{update, M, {advanced, Extra}}` and
 * `{load_module, M}`: `migrate` runs its codeChange with `extra` (plain JSON); `reload`
 * switches its processes to the new code at a message boundary with their state as it is.
 */
export type ModuleChange =
  | { module: string; action: 'migrate'; extra?: unknown }
  | { module: string; action: 'reload' };

/** One appup entry: a version this release moves from (or back to), and what changes. */
export interface AppupEntry {
  version: string;
  /** The modules that change on this edge; a module not listed is the same code on both sides. */
  changes: ModuleChange[];
}

/** What a release's code exports. */
export interface ReleaseCode {
  version: string;
  apiVersion: number;
  behaviours: AnyBehaviour[];
}

export interface ReleaseModule extends ReleaseCode {
  /** Versions this release upgrades from: its codeChange accepts each as `from`. */
  upgradeFrom: AppupEntry[];
  /** Versions this release downgrades to: its codeChange accepts `{ down: version }`. */
  downgradeTo: AppupEntry[];
}
