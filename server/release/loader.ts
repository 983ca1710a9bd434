/**
 * Turns a release's bundled code into a live release module. The bundle is one CommonJS-
 * style script compiled with `vm.compileFunction` in this context: unlike an ES module,
 * whose cache Node never empties, its code is garbage-collected once nothing refers to
 * it — so a version no process runs any more costs nothing. The runtime API is passed in
 * through `require`, which answers no other module, and `process` is shadowed (undefined):
 * release code reaches the node through the API it is given, not by mistake through the
 * node's process. Release code is trusted (it is signed) and runs in the node's own context:
 * this keeps releases on one shared runtime, it is not a sandbox (`globalThis` is still
 * there). What keeps a bad release's top-level code from running here first is sandbox.ts.
 */
import * as crypto from 'node:crypto';
import { compileFunction } from 'node:vm';
import * as typebox from 'typebox';
import * as errors from '../errors/catalogue.ts';
import { hotlineErrorWithCause } from '../errors/catalogue.ts';
import * as runtime from '../runtime/index.ts';
import { ARTIFACT_FORMAT, type Artifact } from './artifact.ts';
import type { ReleaseManifest } from './manifest.ts';
import {
  type AppupEntry,
  RELEASE_API_VERSION,
  type ReleaseCode,
  type ReleaseModule,
  SUPPORTED_API_VERSIONS,
} from './module.ts';

/** Module ids a bundle may require, and what it gets. The build maps imports onto these ids. */
export const HOST_MODULES: Readonly<Record<string, unknown>> = {
  'hotline:runtime': runtime,
  'hotline:errors': errors,
  'node:crypto': crypto,
  // Schemas of the phone messages a release adds, built with the node's TypeBox: a frozen
  // copy, so that one release cannot change the schema builders of the node or of another.
  typebox: Object.freeze({ ...typebox, default: Object.freeze({ ...typebox.default }) }),
};

const CALLBACKS = ['init', 'handleCall', 'handleCast', 'handleInfo', 'terminate', 'codeChange'] as const;

/** Why `value` is not a release's code, or undefined if it is. */
function contractProblem(value: unknown): string | undefined {
  const r = value as Partial<ReleaseCode> | undefined;
  if (typeof r !== 'object' || r === null) return 'it exports no `release` object';
  if (typeof r.version !== 'string') return 'release.version is not a string';
  if (typeof r.apiVersion !== 'number') return 'release.apiVersion is not a number';
  if (!Array.isArray(r.behaviours) || r.behaviours.length === 0) return 'release.behaviours is empty';
  const names = new Set<string>();
  for (const b of r.behaviours) {
    if (typeof b?.name !== 'string' || typeof b.version !== 'string')
      return 'a behaviour has no name or version';
    if (names.has(b.name)) return `behaviour ${b.name} appears twice`;
    names.add(b.name);
    if (typeof b.init !== 'function') return `behaviour ${b.name} has no init`;
    for (const cb of CALLBACKS)
      if (b[cb] !== undefined && typeof b[cb] !== 'function') return `${b.name}.${cb} is not a function`;
  }
  return undefined;
}

/** Why the code is not what the manifest says, or undefined if they agree. */
function manifestProblem(code: ReleaseCode, m: ReleaseManifest): string | undefined {
  if (code.apiVersion !== m.apiVersion)
    return `its code is built for runtime API ${code.apiVersion}, its manifest says ${m.apiVersion}`;
  for (const b of code.behaviours) {
    const listed = Object.hasOwn(m.modules, b.name) ? m.modules[b.name] : undefined;
    if (listed === undefined) return `its code has module ${b.name}, which its manifest does not list`;
    if (listed !== b.version)
      return `its manifest says ${b.name} is version ${listed}, its code has ${b.version}`;
  }
  for (const [name, version] of Object.entries(m.modules))
    if (!code.behaviours.some((b) => b.name === name))
      return `its manifest lists module ${name} ${version}, which its code does not have`;
  return undefined;
}

/**
 * A release from its code and its manifest's data, once they agree: every module the
 * manifest lists is in the code, at that version, and nothing else is.
 */
export function withManifest<R extends ReleaseModule>(
  code: Omit<R, 'upgradeFrom' | 'downgradeTo'>,
  manifest: ReleaseManifest,
): R {
  const problem = manifestProblem(code, manifest);
  if (problem !== undefined)
    throw errors.hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', manifest.version, problem);
  return { ...code, upgradeFrom: manifest.upgradeFrom, downgradeTo: manifest.downgradeTo } as R;
}

/**
 * A release of the first artifact format, whose code exports its appup as versions with an
 * `extra`: every behaviour is at the release's version, and every one migrates on each edge.
 */
function fromLegacyCode(
  r: ReleaseCode & { upgradeFrom?: unknown; downgradeTo?: unknown },
): ReleaseModule | string {
  if (!Array.isArray(r.upgradeFrom) || !Array.isArray(r.downgradeTo))
    return 'release.upgradeFrom and release.downgradeTo must be arrays';
  const stray = r.behaviours.find((b) => b.version !== r.version);
  if (stray !== undefined) return `behaviour ${stray.name} is version ${stray.version}, not ${r.version}`;
  const entries = (list: { version: string; extra?: unknown }[]): AppupEntry[] =>
    list.map(({ version, extra }) => ({
      version,
      changes: r.behaviours.map((b) => ({ module: b.name, action: 'migrate', extra })),
    }));
  return { ...r, upgradeFrom: entries(r.upgradeFrom), downgradeTo: entries(r.downgradeTo) };
}

/**
 * Evaluate a bundle and check what it exports against the behaviour contract, the API
 * version and its manifest. `manifest` is the release's manifest data; a version alone
 * stands for the first artifact format, whose code carries its appup (see fromLegacyCode).
 */
export function evaluateRelease<R extends ReleaseModule = ReleaseModule>(
  code: string,
  manifest: ReleaseManifest | string,
): R {
  const version = typeof manifest === 'string' ? manifest : manifest.version;
  const module = { exports: {} as Record<string, unknown> };
  const require = (id: string): unknown => {
    if (!Object.hasOwn(HOST_MODULES, id))
      throw new Error(`release code may not require ${JSON.stringify(id)}`);
    return HOST_MODULES[id];
  };
  try {
    const fn = compileFunction(code, ['exports', 'require', 'module', 'process'], {
      filename: `release-${version}.js`,
    });
    fn(module.exports, require, module, undefined);
  } catch (err) {
    throw hotlineErrorWithCause(
      err,
      'HOT_ERR_RELEASE_LOAD_FAILED',
      version,
      `its code threw: ${String(err)}`,
    );
  }
  const exported = module.exports.release;
  const problem = contractProblem(exported);
  if (problem !== undefined) throw errors.hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', version, problem);
  const r = exported as ReleaseCode;
  if (r.version !== version)
    throw errors.hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', version, `its code says it is ${r.version}`);
  if (!SUPPORTED_API_VERSIONS.includes(r.apiVersion))
    throw errors.hotlineError('HOT_ERR_RELEASE_API', version, r.apiVersion, RELEASE_API_VERSION);
  if (typeof manifest !== 'string')
    return withManifest<R>(r as Omit<R, 'upgradeFrom' | 'downgradeTo'>, manifest);
  const legacy = fromLegacyCode(r);
  if (typeof legacy === 'string') throw errors.hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', version, legacy);
  return legacy as R;
}

/** What evaluateRelease is given with an artifact's code: its manifest, or for the first format its version. */
export const loadingManifest = (artifact: Artifact): ReleaseManifest | string =>
  artifact.format === ARTIFACT_FORMAT ? artifact.manifest : artifact.manifest.version;

/** The release a verified artifact holds, loaded by its format's rules. */
export function evaluateArtifact<R extends ReleaseModule = ReleaseModule>(artifact: Artifact): R {
  return evaluateRelease<R>(artifact.code, loadingManifest(artifact));
}
