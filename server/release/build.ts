/**
 * `hotline release build <version>`: bundle a release's sources into one script with
 * esbuild, read its manifest file (release.json, beside the entry) without running any of
 * the code, and sign both into an artifact. Imports of the runtime, the error catalogue and
 * TypeBox are not bundled: they become `require` calls the loader answers with the node's
 * own modules, so every release shares one runtime.
 *
 * The bundle is the same bytes on every machine and checkout path: esbuild's `// <path>`
 * comment before each source file's code is dropped, so only the code decides the hash.
 */
import { writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { hotlineError } from '../errors/catalogue.ts';
import { type Artifact, signArtifact } from './artifact.ts';
import type { KeyPair } from './keys.ts';
import { type ReleaseManifest, readReleaseManifest } from './manifest.ts';
import { checkVersion } from './version.ts';

const serverDir = fileURLToPath(new URL('..', import.meta.url));
const repoDir = resolve(serverDir, '..');
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
    // Input paths relative to the repository, whatever the working directory (the metafile's keys).
    absWorkingDir: repoDir,
    metafile: true,
  });
  const text = (out.outputFiles[0] as { text: string }).text;
  // esbuild marks each input's code with a `// <its path>` line; the metafile names every input.
  const marks = new Set(Object.keys(out.metafile.inputs).map((path) => `// ${path}`));
  return text
    .split('\n')
    .filter((line) => !marks.has(line.trim()))
    .join('\n');
}

export interface BuildOptions {
  /** The release's entry module (exports `release`); its folder holds release.json. */
  entry: string;
  version: string;
  name: string;
  keys: KeyPair;
  /** Directory the artifact is written to. */
  outDir: string;
  now?: Date;
}

export const artifactFileName = (version: string): string => `hotline-${checkVersion(version)}.release.json`;

/** A release's bundle and its manifest file, read as data: none of its code runs. */
export async function bundleWithManifest(
  entry: string,
  version: string,
): Promise<{ code: string; manifest: ReleaseManifest }> {
  checkVersion(version);
  const manifest = readReleaseManifest(dirname(entry));
  if (manifest.version !== version)
    throw hotlineError(
      'HOT_ERR_RELEASE_MALFORMED',
      `${entry}: its release.json is version ${manifest.version}`,
    );
  return { code: await bundleRelease(entry), manifest };
}

export async function buildRelease(o: BuildOptions): Promise<{ artifact: Artifact; path: string }> {
  const { code, manifest } = await bundleWithManifest(o.entry, o.version);
  const artifact = signArtifact(
    code,
    { name: o.name, ...manifest },
    o.keys.privateKey,
    o.keys.publicKey,
    o.now ?? new Date(),
  );
  await mkdir(o.outDir, { recursive: true });
  const path = join(o.outDir, artifactFileName(o.version));
  writeFileSync(path, JSON.stringify(artifact));
  return { artifact, path };
}
