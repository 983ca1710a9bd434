/**
 * A release's manifest: the data file (`release.json`) beside its code that says what the
 * release is without running it — its version, runtime API, the version of each module, and
 * its appup. The build copies it into the artifact's signed manifest; the loader checks the
 * code against it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { hotlineError } from '../errors/catalogue.ts';
import { checkVersion } from './version.ts';

export const MANIFEST_FILE = 'release.json';

const ModuleChangeSchema = Type.Union([
  Type.Object(
    { module: Type.String(), action: Type.Literal('migrate'), extra: Type.Optional(Type.Unknown()) },
    { additionalProperties: false },
  ),
  Type.Object({ module: Type.String(), action: Type.Literal('reload') }, { additionalProperties: false }),
]);

export const AppupSchema = Type.Array(
  Type.Object(
    { version: Type.String(), changes: Type.Array(ModuleChangeSchema) },
    { additionalProperties: false },
  ),
);

/** The fields a release's manifest file holds, also found in its artifact's manifest. */
export const releaseManifestFields = {
  version: Type.String(),
  apiVersion: Type.Integer({ minimum: 1 }),
  /** Every module of the release, with its version. */
  modules: Type.Record(Type.String(), Type.String()),
  upgradeFrom: AppupSchema,
  downgradeTo: AppupSchema,
};

const ReleaseManifestSchema = Type.Object(releaseManifestFields, { additionalProperties: false });
export type ReleaseManifest = Static<typeof ReleaseManifestSchema>;
const checkManifest = Compile(ReleaseManifestSchema);

/** Why an appup names something the manifest does not have, or undefined. */
export function appupProblem(m: ReleaseManifest): string | undefined {
  for (const [way, entries] of [
    ['upgradeFrom', m.upgradeFrom],
    ['downgradeTo', m.downgradeTo],
  ] as const) {
    for (const e of entries) {
      const seen = new Set<string>();
      for (const c of e.changes) {
        if (!Object.hasOwn(m.modules, c.module))
          return `${way} ${e.version} changes module ${c.module}, which the release does not have`;
        if (seen.has(c.module)) return `${way} ${e.version} changes module ${c.module} twice`;
        seen.add(c.module);
      }
    }
  }
  return undefined;
}

/** Read and check `<dir>/release.json`. */
export function readReleaseManifest(dir: string): ReleaseManifest {
  const path = join(dir, MANIFEST_FILE);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw hotlineError('HOT_ERR_RELEASE_MALFORMED', `${path}: ${String(err)}`);
  }
  if (!checkManifest.Check(doc)) {
    const first = checkManifest.Errors(doc)[0];
    throw hotlineError(
      'HOT_ERR_RELEASE_MALFORMED',
      `${path}: ${first ? `${first.instancePath || '/'} ${first.message}` : 'does not match the manifest schema'}`,
    );
  }
  const manifest = doc as ReleaseManifest;
  checkVersion(manifest.version);
  const problem = appupProblem(manifest);
  if (problem !== undefined) throw hotlineError('HOT_ERR_RELEASE_MALFORMED', `${path}: ${problem}`);
  return manifest;
}
