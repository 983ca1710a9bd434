/**
 * The loader: a bundle evaluated with vm.compileFunction, the node's runtime handed in through
 * `require('hotline:runtime')`, nothing else reachable, and what it exports checked against
 * the release contract, the runtime API version and its manifest: the manifest's modules and
 * versions must be the code's, and its appup becomes the release's. A bundle of the first
 * artifact format (its appup in its code, by version) loads as it always did: every module
 * migrates on each edge, with the entry's extra.
 */

import { sign } from 'node:crypto';
import Type from 'typebox';
import { beforeAll, describe, expect, it } from 'vitest';
import { LEGACY_ARTIFACT_FORMAT, sha256, verifyArtifact } from '../../server/release/artifact.ts';
import { keyId } from '../../server/release/keys.ts';
import { evaluateArtifact, evaluateRelease, HOST_MODULES } from '../../server/release/loader.ts';
import type { ReleaseManifest } from '../../server/release/manifest.ts';
import {
  RELEASE_API_VERSION,
  type ReleaseModule,
  SUPPORTED_API_VERSIONS,
} from '../../server/release/module.ts';
import * as runtime from '../../server/runtime/index.ts';
import { bundledFixture, caught, newKeys } from '../support/release-fixtures.ts';

let v1: string;
let v2: string;

beforeAll(async () => {
  [v1, v2] = await Promise.all([bundledFixture('1.0.0'), bundledFixture('2.0.0')]);
});

/** A release body as a bundle would export it, with `release` fields to override. */
function releaseCode(fields: string, prelude = ''): string {
  return `${prelude}
const rt = require('hotline:runtime');
const worker = { name: 'worker', version: '1.0.0', init: () => ({ n: 0 }), handleCast: (_m, s) => rt.noreply(s) };
exports.release = { version: '1.0.0', apiVersion: ${RELEASE_API_VERSION}, behaviours: [worker], upgradeFrom: [], downgradeTo: [], ${fields} };`;
}

async function loadError(code: string, version = '1.0.0'): Promise<{ code: unknown; message: string }> {
  const err = (await caught(() => evaluateRelease(code, version))) as Error & { code?: unknown };
  return { code: err.code, message: err.message };
}

describe('bundles', () => {
  it('map the runtime import onto hotline:runtime instead of bundling a copy of it', () => {
    for (const code of [v1, v2]) {
      expect(code).toContain('require("hotline:runtime")');
      expect(code).not.toContain('class Runtime');
      expect(code).not.toMatch(/server\/runtime\//);
    }
  });

  it('load through the vm path with the host runtime itself', () => {
    const r = evaluateRelease<ReleaseModule & { host: { noreply: unknown } }>(v1, '1.0.0');
    expect(r.version).toBe('1.0.0');
    expect(r.behaviours.map((b) => `${b.name}@${b.version}`)).toEqual(['worker@1.0.0']);
    expect(r.host.noreply).toBe(runtime.noreply);
    expect(HOST_MODULES['hotline:runtime']).toBe(runtime);
  });

  it('give fresh code on every load: two loads share no behaviour object', () => {
    const a = evaluateRelease(v2, '2.0.0');
    const b = evaluateRelease(v2, '2.0.0');
    expect(a.behaviours[0]).not.toBe(b.behaviours[0]);
    expect(a.behaviours[0]?.codeChange).not.toBe(b.behaviours[0]?.codeChange);
  });

  it('run in a runtime like any behaviour', async () => {
    const r = evaluateRelease(v1, '1.0.0');
    const rt = new runtime.Runtime({ node: 't', checkState: true });
    const pid = rt.spawn(r.behaviours[0] as runtime.AnyBehaviour, 5);
    rt.cast(pid, { type: 'msg', seq: 1 });
    expect(await rt.call(pid, { type: 'state' })).toEqual({ n: 6, log: ['1.0.0:1'] });
  });
});

describe('refusals', () => {
  it('top-level code that throws is HOT_ERR_RELEASE_LOAD_FAILED, with the error in the message', async () => {
    const e = await loadError(releaseCode('', 'throw new Error("boot failed");'));
    expect(e.code).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
    expect(e.message).toContain('boot failed');
    expect((await loadError('this is not javascript(')).code).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
    expect((await loadError('throw 42')).code).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
  });

  it('a runtime API version the node no longer or not yet supports is HOT_ERR_RELEASE_API', async () => {
    for (const api of [RELEASE_API_VERSION + 1, 0]) {
      const e = await loadError(releaseCode(`apiVersion: ${api}`));
      expect(e.code).toBe('HOT_ERR_RELEASE_API');
    }
  });

  it('a release built for API 1 (before ctx.reportError and TypeBox) still loads', () => {
    expect(SUPPORTED_API_VERSIONS).toEqual([1, RELEASE_API_VERSION]);
    expect(evaluateRelease(releaseCode('apiVersion: 1'), '1.0.0').apiVersion).toBe(1);
  });

  it("TypeBox reaches release code as a frozen copy: a release cannot change the node's schema builders", () => {
    const code = releaseCode(
      '',
      `const t = require('typebox'); try { t.default.Object = null; } catch {} try { t.Object = null; } catch {}`,
    );
    evaluateRelease(code, '1.0.0');
    expect(typeof Type.Object).toBe('function');
    expect(Object.isFrozen(HOST_MODULES.typebox)).toBe(true);
  });

  it('requiring anything but the host modules fails the load', async () => {
    for (const id of [
      'node:fs',
      'fs',
      'child_process',
      'node:vm',
      '../../server/runtime/index.ts',
      'hotline:other',
    ]) {
      const e = await loadError(releaseCode('', `require(${JSON.stringify(id)});`));
      expect(e.code, id).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
      expect(e.message).toContain('may not require');
    }
    // Not even by a name that exists on Object.prototype.
    expect((await loadError(releaseCode('', 'require("constructor");'))).code).toBe(
      'HOT_ERR_RELEASE_LOAD_FAILED',
    );
  });

  it('exports that break the contract are HOT_ERR_RELEASE_LOAD_FAILED, saying why', async () => {
    const cases: [string, string, RegExp][] = [
      ['nothing', 'exports.other = 1;', /exports no `release`/],
      ['an empty bundle', '', /exports no `release`/],
      ['no behaviours', releaseCode('behaviours: []'), /behaviours is empty/],
      ['behaviours not an array', releaseCode('behaviours: {}'), /behaviours is empty/],
      [
        'a behaviour of another version',
        releaseCode("behaviours: [{ ...worker, version: '0.9.0' }]"),
        /worker is version 0\.9\.0, not 1\.0\.0/,
      ],
      ['a behaviour twice', releaseCode('behaviours: [worker, { ...worker }]'), /appears twice/],
      ['no init', releaseCode('behaviours: [{ ...worker, init: undefined }]'), /has no init/],
      [
        'a callback not a function',
        releaseCode('behaviours: [{ ...worker, handleCall: 1 }]'),
        /not a function/,
      ],
      ['no name', releaseCode('behaviours: [{ ...worker, name: 7 }]'), /no name or version/],
      ['no appup', releaseCode('upgradeFrom: undefined'), /must be arrays/],
      ['no version', releaseCode('version: 1'), /version is not a string/],
      [
        'another version than its manifest',
        releaseCode("version: '1.0.1'"),
        /not 1\.0\.1|says it is 1\.0\.1/,
      ],
    ];
    for (const [what, code, why] of cases) {
      const e = await loadError(code);
      expect(e.code, what).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
      expect(e.message, what).toMatch(why);
    }
    // A bundle is only what its manifest says it is.
    const e = await loadError(v2, '2.0.1');
    expect(e.code).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
    expect(e.message).toContain('says it is 2.0.0');
  });
});

describe('manifests', () => {
  const manifest2: ReleaseManifest = {
    version: '2.0.0',
    apiVersion: RELEASE_API_VERSION,
    modules: { worker: '2.0.0' },
    upgradeFrom: [{ version: '1.0.0', changes: [{ module: 'worker', action: 'migrate', extra: { x: 1 } }] }],
    downgradeTo: [{ version: '1.0.0', changes: [{ module: 'worker', action: 'reload' }] }],
  };

  it('the release is the code with the appup of its manifest', () => {
    const r = evaluateRelease(v2, manifest2);
    expect(r.behaviours.map((b) => [b.name, b.version])).toEqual([['worker', '2.0.0']]);
    expect(r.upgradeFrom).toEqual(manifest2.upgradeFrom);
    expect(r.downgradeTo).toEqual(manifest2.downgradeTo);
  });

  it('a manifest naming a module or version the code does not have is refused, and so is code it does not list', async () => {
    const cases: [Partial<ReleaseManifest>, RegExp][] = [
      [{ modules: { worker: '1.9.0' } }, /says worker is version 1\.9\.0, its code has 2\.0\.0/],
      [
        { modules: { worker: '2.0.0', echo: '1.0.0' } },
        /lists module echo 1\.0\.0, which its code does not have/,
      ],
      [{ modules: {} }, /code has module worker, which its manifest does not list/],
      [{ apiVersion: 1 }, /built for runtime API 2, its manifest says 1/],
    ];
    for (const [change, why] of cases) {
      const err = (await caught(() => evaluateRelease(v2, { ...manifest2, ...change }))) as Error & {
        code?: unknown;
      };
      expect(err.code, JSON.stringify(change)).toBe('HOT_ERR_RELEASE_LOAD_FAILED');
      expect(err.message).toMatch(why);
    }
  });

  it('a behaviour at another version than the release is fine when the manifest says so', () => {
    const code = releaseCode("version: '1.1.0'");
    const r = evaluateRelease(code, {
      ...manifest2,
      version: '1.1.0',
      modules: { worker: '1.0.0' },
      upgradeFrom: [],
      downgradeTo: [],
    });
    expect(r.behaviours[0]?.version).toBe('1.0.0');
  });

  it('an artifact of the first format loads with the appup in its code, every module migrating with the extra', () => {
    const keys = newKeys();
    const manifest = {
      name: 'test',
      version: '2.0.0',
      apiVersion: 1,
      upgradeFrom: [{ version: '1.0.0', extra: { reshaped: true } }],
      downgradeTo: [{ version: '1.0.0' }],
      sha256: sha256(v2),
      builtAt: '2025-01-01T00:00:00.000Z',
    };
    const legacy = {
      format: LEGACY_ARTIFACT_FORMAT,
      manifest,
      code: v2,
      keyId: keyId(keys.publicKey),
      signature: sign(null, Buffer.from(JSON.stringify(manifest)), keys.privateKey).toString('base64'),
    };
    const r = evaluateArtifact(verifyArtifact(JSON.stringify(legacy), [keys.publicKey]));
    expect(r.upgradeFrom).toEqual([
      { version: '1.0.0', changes: [{ module: 'worker', action: 'migrate', extra: { reshaped: true } }] },
    ]);
    expect(r.downgradeTo).toEqual([
      { version: '1.0.0', changes: [{ module: 'worker', action: 'migrate', extra: undefined }] },
    ]);
  });
});
