/**
 * Release artifacts: signing and verification. Verification refuses anything off (schema,
 * version name, code hash, signature, key) with a typed error, before any code runs.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Artifact, sha256, verifyArtifact } from '../../server/release/artifact.ts';
import { artifactFileName, buildRelease } from '../../server/release/build.ts';
import { keyId } from '../../server/release/keys.ts';
import { evaluateRelease } from '../../server/release/loader.ts';
import { RELEASE_API_VERSION } from '../../server/release/module.ts';
import { checkVersion } from '../../server/release/version.ts';
import {
  bundledFixture,
  caught,
  fixtureEntry,
  newKeys,
  signAsTestRelease,
} from '../support/release-fixtures.ts';

const keys = newKeys();
const stranger = newKeys();
let code: string;
let artifact: Artifact;

beforeAll(async () => {
  code = await bundledFixture('1.0.0');
  artifact = signAsTestRelease(keys, '1.0.0', code);
});

const codeOf = (err: unknown): unknown => (err as { code?: unknown }).code;
const copy = (a: Artifact): Artifact => structuredClone(a);

/** The code of a verification failure (or 'ok'). */
function verdict(input: unknown, trusted = [keys.publicKey]): string {
  try {
    verifyArtifact(input, trusted);
    return 'ok';
  } catch (err) {
    return String(codeOf(err));
  }
}

describe('signing and verifying', () => {
  it('round-trips: the verified artifact is the signed one, as an object, a JSON string or a Buffer', () => {
    const text = JSON.stringify(artifact);
    for (const input of [artifact, text, Buffer.from(text)]) {
      const v = verifyArtifact(input, [keys.publicKey]);
      expect(v.code).toBe(code);
      expect(v.manifest).toEqual(artifact.manifest);
    }
    expect(artifact.manifest.sha256).toBe(sha256(code));
    expect(artifact.keyId).toBe(keyId(keys.publicKey));
    expect(artifact.manifest.apiVersion).toBe(RELEASE_API_VERSION);
  });

  it('accepts the artifact when any one of several trusted keys signed it', () => {
    expect(verdict(artifact, [stranger.publicKey, keys.publicKey])).toBe('ok');
  });

  it('buildRelease bundles, proves the bundle loads, signs, and writes hotline-<version>.release.json', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'hotline-build-'));
    const built = await buildRelease({
      entry: fixtureEntry('2.0.0'),
      version: '2.0.0',
      name: 'test',
      keys,
      outDir,
    });
    expect(built.path).toBe(join(outDir, artifactFileName('2.0.0')));
    const onDisk = verifyArtifact(readFileSync(built.path), [keys.publicKey]);
    // The appup in the manifest is what the code itself declares.
    expect(onDisk.manifest.upgradeFrom).toEqual([{ version: '1.0.0', extra: { reshaped: true } }]);
    expect(onDisk.manifest.downgradeTo).toEqual([{ version: '1.0.0' }]);
    expect(evaluateRelease(onDisk.code, '2.0.0').version).toBe('2.0.0');
  });
});

describe('refusals', () => {
  it('a changed byte of code is HOT_ERR_RELEASE_TAMPERED', () => {
    const a = copy(artifact);
    const at = a.code.indexOf('1.0.0:');
    a.code = `${a.code.slice(0, at)}9${a.code.slice(at + 1)}`;
    expect(verdict(a)).toBe('HOT_ERR_RELEASE_TAMPERED');
  });

  it('any single changed character of the code is refused as tampered (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), (i, ch) => {
        const at = i % code.length;
        fc.pre(code[at] !== ch);
        const a = copy(artifact);
        a.code = code.slice(0, at) + ch + code.slice(at + 1);
        return verdict(a) === 'HOT_ERR_RELEASE_TAMPERED';
      }),
      { numRuns: 200 },
    );
  });

  it('an edited manifest is HOT_ERR_RELEASE_UNTRUSTED, even with the sha256 recomputed for new code', () => {
    const appup = copy(artifact);
    appup.manifest.upgradeFrom = [{ version: '0.9.0' }];
    expect(verdict(appup)).toBe('HOT_ERR_RELEASE_UNTRUSTED');

    const api = copy(artifact);
    api.manifest.apiVersion = RELEASE_API_VERSION + 1;
    expect(verdict(api)).toBe('HOT_ERR_RELEASE_UNTRUSTED');

    const swapped = copy(artifact);
    swapped.code = `${code}\n;globalThis.owned = true;`;
    swapped.manifest.sha256 = sha256(swapped.code);
    expect(verdict(swapped)).toBe('HOT_ERR_RELEASE_UNTRUSTED');

    const renamed = copy(artifact);
    renamed.manifest.version = '1.0.1';
    expect(verdict(renamed)).toBe('HOT_ERR_RELEASE_UNTRUSTED');
  });

  it('an artifact signed by a key the node does not trust is HOT_ERR_RELEASE_UNTRUSTED', () => {
    const foreign = signAsTestRelease(stranger, '1.0.0', code);
    expect(verdict(foreign)).toBe('HOT_ERR_RELEASE_UNTRUSTED');
    // Claiming the trusted key's id changes nothing: the signature decides.
    expect(verdict({ ...foreign, keyId: artifact.keyId })).toBe('HOT_ERR_RELEASE_UNTRUSTED');
    expect(verdict(artifact, [])).toBe('HOT_ERR_RELEASE_UNTRUSTED');
    expect(verdict({ ...artifact, signature: 'AAAA' })).toBe('HOT_ERR_RELEASE_UNTRUSTED');
  });

  it('text that is not JSON, or JSON off the schema, is HOT_ERR_RELEASE_MALFORMED', () => {
    const text = JSON.stringify(artifact);
    const { signature: _signature, ...unsigned } = artifact;
    const cases: unknown[] = [
      text.slice(0, -1),
      '',
      Buffer.from([0xff, 0xfe, 0x00]),
      'null',
      '[]',
      null,
      42,
      unsigned,
      { ...artifact, format: 'hotline-release/2' },
      { ...artifact, extra: true },
      { ...artifact, code: 42 },
      { ...artifact, manifest: { ...artifact.manifest, sha256: 'not-hex' } },
      { ...artifact, manifest: { ...artifact.manifest, apiVersion: 0 } },
      { ...artifact, manifest: { ...artifact.manifest, name: '' } },
      { ...artifact, manifest: { ...artifact.manifest, unknown: 1 } },
      { ...artifact, manifest: { ...artifact.manifest, upgradeFrom: [{ extra: 1 }] } },
    ];
    for (const input of cases)
      expect(verdict(input), JSON.stringify(input)).toBe('HOT_ERR_RELEASE_MALFORMED');
  });

  it('version names that are not x.y.z[-tag] are HOT_ERR_BAD_VERSION: at signing, verifying and naming files', async () => {
    const bad = [
      '../../etc',
      '1.0',
      '1.0.0/../x',
      '1.0.0/x',
      '/1.0.0',
      '01.0.0',
      '1.0.0-',
      'v1.0.0',
      '',
      ' 1.0.0',
    ];
    bad.push(`1.0.0-${'a'.repeat(64)}`);
    for (const version of bad) {
      expect(codeOf(await caught(() => checkVersion(version))), version).toBe('HOT_ERR_BAD_VERSION');
      expect(codeOf(await caught(() => signAsTestRelease(keys, version, code))), version).toBe(
        'HOT_ERR_BAD_VERSION',
      );
      expect(codeOf(await caught(() => artifactFileName(version))), version).toBe('HOT_ERR_BAD_VERSION');
      // A manifest naming a path is refused by its name, before its hash or signature matter.
      const forged = { ...artifact, manifest: { ...artifact.manifest, version } };
      expect(verdict(forged), version).toBe('HOT_ERR_BAD_VERSION');
    }
    const outDir = mkdtempSync(join(tmpdir(), 'hotline-build-'));
    const err = await caught(() =>
      buildRelease({ entry: fixtureEntry('1.0.0'), version: '../1.0.0', name: 'test', keys, outDir }),
    );
    expect(codeOf(err)).toBe('HOT_ERR_BAD_VERSION');
    for (const good of ['0.0.0', '1.2.3', '10.20.30-rc.1', '1.2.0-faulty-migrate'])
      expect(checkVersion(good)).toBe(good);
  });

  it('runs none of the code when verification fails', () => {
    const flag = '__hotlineReleaseTestRan';
    const g = globalThis as Record<string, unknown>;
    const payload = `globalThis.${flag} = (globalThis.${flag} ?? 0) + 1;\n${code}`;
    const signed = signAsTestRelease(keys, '1.0.0', payload);
    const tampered = { ...signed, code: `${payload} ` };
    const untrusted = signAsTestRelease(stranger, '1.0.0', payload);
    const malformed = { ...signed, format: 'other' };
    for (const input of [tampered, untrusted, malformed, JSON.stringify(untrusted)]) {
      expect(verdict(input)).not.toBe('ok');
    }
    expect(g[flag]).toBeUndefined();
    // The control: the same code, verified, does run once evaluated.
    evaluateRelease(verifyArtifact(signed, [keys.publicKey]).code, '1.0.0');
    expect(g[flag]).toBe(1);
    delete g[flag];
  });
});
