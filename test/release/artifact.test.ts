/**
 * Release artifacts: building, signing and verification. Verification refuses anything off
 * (schema, version name, appup, code hash, signature, key) with a typed error, before any
 * code runs. The build reads the appup from the release's manifest file and gives the same
 * bytes wherever the sources are.
 */
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Artifact, sha256, verifyArtifact } from '../../server/release/artifact.ts';
import { artifactFileName, buildRelease, type bundleRelease } from '../../server/release/build.ts';
import { keyId } from '../../server/release/keys.ts';
import { evaluateArtifact, evaluateRelease } from '../../server/release/loader.ts';
import { RELEASE_API_VERSION } from '../../server/release/module.ts';
import { checkVersion } from '../../server/release/version.ts';
import {
  bundledFixture,
  caught,
  fixtureEntry,
  fixturesDir,
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

  it('buildRelease bundles, signs the data of release.json, and writes hotline-<version>.release.json', async () => {
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
    // The manifest is the release.json beside the entry, read as data.
    expect(onDisk.format).toBe('hotline-release/2');
    expect(onDisk.manifest).toMatchObject({
      modules: { worker: '2.0.0' },
      upgradeFrom: [
        { version: '1.0.0', changes: [{ module: 'worker', action: 'migrate', extra: { reshaped: true } }] },
      ],
      downgradeTo: [{ version: '1.0.0', changes: [{ module: 'worker', action: 'migrate' }] }],
    });
    const loaded = evaluateArtifact(onDisk);
    expect(loaded.version).toBe('2.0.0');
    expect(loaded.upgradeFrom).toEqual(onDisk.manifest.upgradeFrom);
  });

  /** A checkout of this repository elsewhere (what a bundle reads), the fixtures at their own paths. */
  function checkout(): { dir: string; fixture: (version: string) => string } {
    const dir = mkdtempSync(join(tmpdir(), 'hotline-checkout-'));
    const repo = join(fixturesDir, '..', '..', '..');
    for (const part of ['server', 'test/release/fixtures', 'tsconfig.json', 'package.json'])
      cpSync(join(repo, part), join(dir, part), { recursive: true });
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
    return { dir, fixture: (version) => join(dir, 'test', 'release', 'fixtures', version, 'index.ts') };
  }

  it('the build runs none of the release code to read its appup', async () => {
    const { dir, fixture } = checkout();
    const entry = fixture('2.0.0');
    writeFileSync(entry, `throw new Error('ran at build');\n${readFileSync(entry, 'utf8')}`);
    const built = await buildRelease({ entry, version: '2.0.0', name: 'test', keys, outDir: dir });
    expect(built.artifact.manifest.version).toBe('2.0.0');
    expect(built.artifact.code).toContain('ran at build');
  });

  it('gives the same bundle bytes from another checkout path, with no source path in them', async () => {
    const { dir, fixture } = checkout();
    // That checkout's own build, as someone building there would run it.
    const theirs = (await import(join(dir, 'server', 'release', 'build.ts'))) as {
      bundleRelease: typeof bundleRelease;
    };
    expect(await theirs.bundleRelease(fixture('1.0.0'))).toBe(code);
    expect(code).not.toMatch(/^\s*\/\/ .*\.ts$/m);
  });

  it('a manifest file that does not match the schema, or whose appup names a module it lacks, is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotline-build-'));
    cpSync(join(fixturesDir, '2.0.0'), join(dir, '2.0.0'), { recursive: true });
    const entry = join(dir, '2.0.0', 'index.ts');
    const manifest = JSON.parse(readFileSync(join(dir, '2.0.0', 'release.json'), 'utf8'));
    const build = () => buildRelease({ entry, version: '2.0.0', name: 'test', keys, outDir: dir });
    for (const wrong of [
      { ...manifest, modules: undefined },
      { ...manifest, upgradeFrom: [{ version: '1.0.0', changes: [{ module: 'worker', action: 'swap' }] }] },
      { ...manifest, upgradeFrom: [{ version: '1.0.0', changes: [{ module: 'other', action: 'reload' }] }] },
      { ...manifest, version: '2.0.1' },
    ]) {
      writeFileSync(join(dir, '2.0.0', 'release.json'), JSON.stringify(wrong));
      expect(codeOf(await caught(build)), JSON.stringify(wrong)).toBe('HOT_ERR_RELEASE_MALFORMED');
    }
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
    appup.manifest.upgradeFrom = [{ version: '0.9.0', changes: [] }];
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
      { ...artifact, format: 'hotline-release/1' },
      { ...artifact, format: 'hotline-release/3' },
      { ...artifact, extra: true },
      { ...artifact, code: 42 },
      { ...artifact, manifest: { ...artifact.manifest, sha256: 'not-hex' } },
      { ...artifact, manifest: { ...artifact.manifest, apiVersion: 0 } },
      { ...artifact, manifest: { ...artifact.manifest, name: '' } },
      { ...artifact, manifest: { ...artifact.manifest, unknown: 1 } },
      { ...artifact, manifest: { ...artifact.manifest, upgradeFrom: [{ extra: 1 }] } },
      { ...artifact, manifest: { ...artifact.manifest, upgradeFrom: [{ version: '0.9.0' }] } },
      { ...artifact, manifest: { ...artifact.manifest, modules: undefined } },
      // An appup naming a module the release does not have.
      {
        ...artifact,
        manifest: {
          ...artifact.manifest,
          upgradeFrom: [{ version: '0.9.0', changes: [{ module: 'nobody', action: 'reload' }] }],
        },
      },
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
