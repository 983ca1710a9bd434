/**
 * A release artifact: one JSON document holding the bundled code, its manifest (name, the
 * release's manifest file — version, runtime API, modules, appup — and the sha256 of the
 * code) and an ed25519 signature over the manifest. Verifying checks the schema, the version
 * name, the code against the sha256 and the signature against the trusted keys — all before
 * any of the code runs.
 *
 * Format 2 carries the appup as data, per module. Format 1 (built before it) is still
 * verified and loaded: its appup lists versions only, and every module migrates on each.
 */
import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { hotlineError } from '../errors/catalogue.ts';
import { keyId } from './keys.ts';
import { appupProblem, type ReleaseManifest, releaseManifestFields } from './manifest.ts';
import { checkVersion } from './version.ts';

export const ARTIFACT_FORMAT = 'hotline-release/2';
export const LEGACY_ARTIFACT_FORMAT = 'hotline-release/1';

const built = {
  name: Type.String({ minLength: 1, maxLength: 100 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  builtAt: Type.String(),
};

export const ManifestSchema = Type.Object(
  { ...built, ...releaseManifestFields },
  { additionalProperties: false },
);
export type Manifest = Static<typeof ManifestSchema>;

const LegacyAppupSchema = Type.Array(
  Type.Object({ version: Type.String(), extra: Type.Optional(Type.Unknown()) }),
);
const LegacyManifestSchema = Type.Object(
  {
    ...built,
    version: Type.String(),
    apiVersion: Type.Integer({ minimum: 1 }),
    upgradeFrom: LegacyAppupSchema,
    downgradeTo: LegacyAppupSchema,
  },
  { additionalProperties: false },
);
export type LegacyManifest = Static<typeof LegacyManifestSchema>;

const signature = { code: Type.String(), keyId: Type.String(), signature: Type.String() };
const ArtifactSchema = Type.Union([
  Type.Object(
    { format: Type.Literal(ARTIFACT_FORMAT), manifest: ManifestSchema, ...signature },
    { additionalProperties: false },
  ),
  Type.Object(
    { format: Type.Literal(LEGACY_ARTIFACT_FORMAT), manifest: LegacyManifestSchema, ...signature },
    { additionalProperties: false },
  ),
]);
export type Artifact = Static<typeof ArtifactSchema>;
const checkArtifact = Compile(ArtifactSchema);

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const signedBytes = (manifest: Manifest | LegacyManifest): Buffer => Buffer.from(JSON.stringify(manifest));

export function signArtifact(
  code: string,
  meta: ReleaseManifest & { name: string },
  privateKey: KeyObject,
  publicKey: KeyObject,
  builtAt: Date,
): Artifact {
  const manifest: Manifest = {
    name: meta.name,
    sha256: sha256(code),
    builtAt: builtAt.toISOString(),
    version: checkVersion(meta.version),
    apiVersion: meta.apiVersion,
    modules: meta.modules,
    upgradeFrom: meta.upgradeFrom,
    downgradeTo: meta.downgradeTo,
  };
  return {
    format: ARTIFACT_FORMAT,
    manifest,
    code,
    keyId: keyId(publicKey),
    signature: sign(null, signedBytes(manifest), privateKey).toString('base64'),
  };
}

/** Parse and verify; throws a typed error and runs nothing if anything is off. */
export function verifyArtifact(input: unknown, trusted: KeyObject[]): Artifact {
  let doc = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      doc = JSON.parse(input.toString());
    } catch {
      throw hotlineError('HOT_ERR_RELEASE_MALFORMED', 'not JSON');
    }
  }
  if (!checkArtifact.Check(doc)) {
    const first = checkArtifact.Errors(doc)[0];
    throw hotlineError(
      'HOT_ERR_RELEASE_MALFORMED',
      first ? `${first.instancePath || '/'} ${first.message}` : 'does not match the artifact schema',
    );
  }
  const artifact = doc as Artifact;
  const version = checkVersion(artifact.manifest.version);
  if (artifact.format === ARTIFACT_FORMAT) {
    const problem = appupProblem(artifact.manifest);
    if (problem !== undefined) throw hotlineError('HOT_ERR_RELEASE_MALFORMED', problem);
  }
  if (sha256(artifact.code) !== artifact.manifest.sha256)
    throw hotlineError('HOT_ERR_RELEASE_TAMPERED', version);
  const signature = Buffer.from(artifact.signature, 'base64');
  const bytes = signedBytes(artifact.manifest);
  if (!trusted.some((key) => verify(null, bytes, key, signature)))
    throw hotlineError('HOT_ERR_RELEASE_UNTRUSTED', version);
  return artifact;
}
