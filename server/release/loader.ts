/**
 * Turns a release's bundled code into a live release module. The bundle is one CommonJS-
 * style script compiled with `vm.compileFunction` in this context: unlike an ES module,
 * whose cache Node never empties, its code is garbage-collected once nothing refers to
 * it — so a version no process runs any more costs nothing. The runtime API is passed in
 * through `require`, which answers no other module. Release code is trusted (it is signed)
 * and runs in the node's own context: this keeps releases on one shared runtime, it is not
 * a sandbox.
 */
import * as crypto from 'node:crypto';
import { compileFunction } from 'node:vm';
import * as typebox from 'typebox';
import * as errors from '../errors/catalogue.ts';
import { hotlineErrorWithCause } from '../errors/catalogue.ts';
import * as runtime from '../runtime/index.ts';
import { RELEASE_API_VERSION, type ReleaseModule, SUPPORTED_API_VERSIONS } from './module.ts';

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

/** Why `value` is not a release module, or undefined if it is one. */
function contractProblem(value: unknown): string | undefined {
  const r = value as Partial<ReleaseModule> | undefined;
  if (typeof r !== 'object' || r === null) return 'it exports no `release` object';
  if (typeof r.version !== 'string') return 'release.version is not a string';
  if (typeof r.apiVersion !== 'number') return 'release.apiVersion is not a number';
  if (!Array.isArray(r.upgradeFrom) || !Array.isArray(r.downgradeTo))
    return 'release.upgradeFrom and release.downgradeTo must be arrays';
  if (!Array.isArray(r.behaviours) || r.behaviours.length === 0) return 'release.behaviours is empty';
  const names = new Set<string>();
  for (const b of r.behaviours) {
    if (typeof b?.name !== 'string' || typeof b.version !== 'string')
      return 'a behaviour has no name or version';
    if (names.has(b.name)) return `behaviour ${b.name} appears twice`;
    names.add(b.name);
    if (b.version !== r.version) return `behaviour ${b.name} is version ${b.version}, not ${r.version}`;
    if (typeof b.init !== 'function') return `behaviour ${b.name} has no init`;
    for (const cb of CALLBACKS)
      if (b[cb] !== undefined && typeof b[cb] !== 'function') return `${b.name}.${cb} is not a function`;
  }
  return undefined;
}

/**
 * Evaluate a bundle and check what it exports against the behaviour contract and the API
 * version. `version` is what the manifest says; the code must agree.
 */
export function evaluateRelease<R extends ReleaseModule = ReleaseModule>(code: string, version: string): R {
  const module = { exports: {} as Record<string, unknown> };
  const require = (id: string): unknown => {
    if (!Object.hasOwn(HOST_MODULES, id))
      throw new Error(`release code may not require ${JSON.stringify(id)}`);
    return HOST_MODULES[id];
  };
  try {
    const fn = compileFunction(code, ['exports', 'require', 'module'], { filename: `release-${version}.js` });
    fn(module.exports, require, module);
  } catch (err) {
    throw hotlineErrorWithCause(
      err,
      'HOT_ERR_RELEASE_LOAD_FAILED',
      version,
      `its code threw: ${String(err)}`,
    );
  }
  const release = module.exports.release;
  const problem = contractProblem(release);
  if (problem !== undefined) throw errors.hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', version, problem);
  const r = release as R;
  if (r.version !== version)
    throw errors.hotlineError('HOT_ERR_RELEASE_LOAD_FAILED', version, `its code says it is ${r.version}`);
  if (!SUPPORTED_API_VERSIONS.includes(r.apiVersion))
    throw errors.hotlineError('HOT_ERR_RELEASE_API', version, r.apiVersion, RELEASE_API_VERSION);
  return r;
}
