/**
 * `hotline release build <version>`: bundle a release's sources into one script with
 * esbuild, read its appup by evaluating it, and sign the result into an artifact. Imports
 * of the runtime, the error catalogue and TypeBox are not bundled: they become `require`
 * calls the loader answers with the node's own modules, so every release shares one runtime.
 */
import { writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { type Artifact, signArtifact } from './artifact.ts';
import type { KeyPair } from './keys.ts';
import { evaluateRelease } from './loader.ts';
import { checkVersion } from './version.ts';

const serverDir = fileURLToPath(new URL('..', import.meta.url));
const hostDirs: [string, string][] = [
  [join(serverDir, 'runtime') + sep, 'hotline:runtime'],
  [join(serverDir, 'errors') + sep, 'hotline:errors'],
];

/** Imports that land in the runtime or the error catalogue become host modules. */
const hostModules: Plugin = {
  name: 'hotline-host-modules',
  setup(b) {
    b.onResolve({ filter: /^\.{1,2}\// }, (args) => {
      const target = resolve(args.resolveDir, args.path);
      for (const [dir, id] of hostDirs) if (target.startsWith(dir)) return { path: id, external: true };
      return undefined;
    });
  },
};

export async function bundleRelease(entry: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    write: false,
    plugins: [hostModules],
    external: ['typebox'],
    legalComments: 'none',
    logLevel: 'silent',
  });
  return (out.outputFiles[0] as { text: string }).text;
}

export interface BuildOptions {
  /** The release's entry module (exports `release`). */
  entry: string;
  version: string;
  name: string;
  keys: KeyPair;
  /** Directory the artifact is written to. */
  outDir: string;
  now?: Date;
}

export const artifactFileName = (version: string): string => `hotline-${checkVersion(version)}.release.json`;

export async function buildRelease(o: BuildOptions): Promise<{ artifact: Artifact; path: string }> {
  checkVersion(o.version);
  const code = await bundleRelease(o.entry);
  // Evaluating reads the appup and proves the bundle loads before anyone ships it.
  const release = evaluateRelease(code, o.version);
  const artifact = signArtifact(
    code,
    {
      name: o.name,
      version: o.version,
      apiVersion: release.apiVersion,
      upgradeFrom: release.upgradeFrom,
      downgradeTo: release.downgradeTo,
    },
    o.keys.privateKey,
    o.keys.publicKey,
    o.now ?? new Date(),
  );
  await mkdir(o.outDir, { recursive: true });
  const path = join(o.outDir, artifactFileName(o.version));
  writeFileSync(path, JSON.stringify(artifact));
  return { artifact, path };
}
