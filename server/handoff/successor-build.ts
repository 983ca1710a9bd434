/**
 * A successor whose entry is TypeScript runs from JavaScript bundled here with esbuild, not
 * from its sources through tsx: it boots in about half the time (1.5 s instead of 2.8 s on a
 * quiet 2-core machine), while the old node serves every phone alone and the machine is at
 * its busiest. The bundle is kept and reused while the sources are the same, so a handoff
 * does not wait for esbuild.
 *
 * Only the checkout's own modules are bundled; packages stay imports, loaded from its
 * node_modules as a node run from sources loads them, so the bundle is written under that
 * node_modules (`.cache/hotline/successor/`), in a folder named by its content: a handoff
 * never rewrites a bundle another successor may be loading. Each module keeps its own
 * `import.meta.url` (its source file's), so the paths it finds from it are those of the
 * checkout, and a successor hands off in its turn from the same sources.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build as esbuild, type Loader, type Plugin, version } from 'esbuild';
import { replaceDurablyAsync } from '../files/durable-write.ts';
import { sha256 } from '../release/artifact.ts';
import type { SuccessorSpec } from './channel.ts';

/** A bundle as built: where, by which esbuild, and the files it was built from, by path and content hash. */
interface Built {
  readonly entry: string;
  readonly dir: string;
  readonly main: string;
  readonly esbuild: string;
  readonly sources: Record<string, string>;
}

/** The spec to spawn: a TypeScript entry bundled (and run without tsx), any other as it is. */
export async function successorToRun(spec: SuccessorSpec): Promise<SuccessorSpec> {
  if (!spec.entry.endsWith('.ts')) return spec;
  const entry = await bundled(spec.entry);
  // The bundle could not be kept (node_modules not writable): from sources, as before.
  if (entry === undefined) return spec;
  const flags = withoutTsx(spec.execArgv);
  return {
    ...spec,
    // Stack traces name the sources, as under tsx.
    execArgv: flags.includes(SOURCE_MAPS) ? flags : [SOURCE_MAPS, ...flags],
    entry,
  };
}

const SOURCE_MAPS = '--enable-source-maps';
/** Bundles no record names are removed once this old: a handoff may be writing its record. */
const ORPHAN_AGE_MS = 3_600_000;

/**
 * The bundle's entry file: the last one built for `entry` while none of its sources changed
 * (their contents are compared: a few milliseconds), else a new one; undefined if it cannot
 * be written. Throws what esbuild found wrong with the sources.
 */
async function bundled(entry: string): Promise<string | undefined> {
  const modules = nodeModulesOf(entry);
  const cache = join(modules, '.cache', 'hotline', 'successor');
  const record = join(cache, `${sha256(entry).slice(0, 16)}.json`);
  const last = await readFile(record, 'utf8').then(builtOf, () => undefined);
  if (last !== undefined && existsSync(join(cache, last.dir)) && (await unchanged(last.sources)))
    return join(cache, last.dir, last.main);
  // The checkout's settings decide how esbuild reads the sources: a change to them is a change.
  const settings = ['package.json', 'tsconfig.json'].map((f) => join(dirname(modules), f)).filter(existsSync);
  const built = await build(entry, cache, settings);
  try {
    const dir = join(cache, built.dir);
    if (!existsSync(dir)) writeWhole(dir, built.files);
    await replaceDurablyAsync(record, JSON.stringify({ ...built, files: undefined }));
    await prune(cache);
  } catch {
    return undefined;
  }
  return join(cache, built.dir, built.main);
}

/** A record as read back, or undefined if it is not one this code wrote (a miss, never an error). */
function builtOf(text: string): Built | undefined {
  try {
    const b = JSON.parse(text) as Partial<Built>;
    if (typeof b.entry !== 'string') return undefined;
    if (typeof b.dir !== 'string' || !/^[0-9a-f]{16}$/.test(b.dir)) return undefined;
    if (typeof b.main !== 'string' || isAbsolute(b.main) || b.main.split(/[\\/]/).includes('..'))
      return undefined;
    if (b.esbuild !== version || typeof b.sources !== 'object' || b.sources === null) return undefined;
    return b as Built;
  } catch {
    return undefined;
  }
}

async function unchanged(sources: Record<string, string>): Promise<boolean> {
  const now = await Promise.all(
    Object.entries(sources).map(([path, hash]) =>
      readFile(path, 'utf8').then(
        (text) => sha256(text) === hash,
        () => false,
      ),
    ),
  );
  return now.every(Boolean);
}

/** A bundle's file, by its path inside the bundle's folder. */
interface File {
  readonly path: string;
  readonly contents: Uint8Array;
}

const LOADERS: Record<string, Loader> = {
  ts: 'ts',
  mts: 'ts',
  cts: 'ts',
  tsx: 'tsx',
  js: 'js',
  mjs: 'js',
  cjs: 'js',
  jsx: 'jsx',
  json: 'json',
};

async function build(entry: string, cache: string, settings: string[]): Promise<Built & { files: File[] }> {
  const sources: Record<string, string> = {};
  for (const file of settings) sources[file] = sha256(await readFile(file, 'utf8'));
  /** Every source is read here, to know later whether it changed; each module's `import.meta.url` is its source file's. */
  const ownSources: Plugin = {
    name: 'hotline-sources',
    setup(b) {
      b.onLoad({ filter: /\.(json|[cm]?[jt]sx?)$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        sources[args.path] = sha256(text);
        const loader = LOADERS[extname(args.path).slice(1)] ?? 'js';
        const url = JSON.stringify(pathToFileURL(args.path).href);
        return { contents: loader === 'json' ? text : text.replace(/\bimport\.meta\.url\b/g, url), loader };
      });
    },
  };
  // Where esbuild thinks it writes: as deep as the bundle's own folder, so the source maps' relative paths hold there.
  const next = join(cache, 'next');
  const out = await esbuild({
    entryPoints: [entry],
    bundle: true,
    // The entry's dynamic imports stay separate files: a successor opens its line to the old
    // node before it loads the rest (server/main.ts).
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    outdir: next,
    write: false,
    metafile: true,
    plugins: [ownSources],
    logLevel: 'silent',
  }).catch((err: Error) => {
    throw doesNotBuild(err.message);
  });
  const unread = Object.keys(out.metafile.inputs).find((input) => sources[resolve(input)] === undefined);
  if (unread !== undefined) throw doesNotBuild(`${unread} is of a kind the bundle cannot follow`);
  const hash = createHash('sha256');
  for (const file of out.outputFiles) hash.update(`${relative(next, file.path)}\0`).update(file.contents);
  const main = Object.entries(out.metafile.outputs).find(
    ([, o]) => o.entryPoint !== undefined && resolve(o.entryPoint) === resolve(entry),
  )?.[0];
  if (main === undefined) throw new Error('its bundle has no entry');
  const files = out.outputFiles.map((f) => ({ path: relative(next, f.path), contents: f.contents }));
  return {
    entry,
    dir: hash.digest('hex').slice(0, 16),
    main: relative(next, resolve(main)),
    esbuild: version,
    sources,
    files,
  };
}

/** Written aside, then renamed into place whole: a successor never loads a half-written bundle. */
function writeWhole(dir: string, files: readonly File[]): void {
  const aside = `${dir}.${process.pid}.${Date.now()}`;
  for (const file of files) {
    const path = join(aside, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.contents);
  }
  try {
    renameSync(aside, dir);
  } catch (err) {
    // Another handoff put the same bundle there first.
    rmSync(aside, { recursive: true, force: true });
    if (!existsSync(dir)) throw err;
  }
}

/** Records whose entry is gone, and old bundles no record names. */
async function prune(cache: string): Promise<void> {
  const named = new Set<string>();
  const entries = await readdir(cache);
  for (const name of entries.filter((n) => n.endsWith('.json'))) {
    const path = join(cache, name);
    const b = builtOf(await readFile(path, 'utf8'));
    if (b === undefined || !existsSync(b.entry)) await rm(path, { force: true });
    else named.add(b.dir);
  }
  for (const name of entries.filter((n) => !n.endsWith('.json') && !named.has(n))) {
    const path = join(cache, name);
    if (Date.now() - (await stat(path)).mtimeMs > ORPHAN_AGE_MS)
      await rm(path, { recursive: true, force: true });
  }
}

const doesNotBuild = (why: string): Error => new Error(`its code does not build: ${why}`);

/** The node_modules the entry's checkout resolves its packages from. */
function nodeModulesOf(entry: string): string {
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules');
    if (dirname(dir) === dir) throw new Error(`no node_modules above ${entry}`);
  }
}

const LOADER_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
const isTsx = (module: string): boolean =>
  module === 'tsx' || module.startsWith('tsx/') || /[\\/]node_modules[\\/]tsx[\\/]/.test(module);

/** Node's flags without those that load tsx (`--import tsx`, or the tsx command's own). */
export function withoutTsx(flags: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i] as string;
    const eq = flag.indexOf('=');
    const name = eq < 0 ? flag : flag.slice(0, eq);
    const value = eq < 0 ? flags[i + 1] : flag.slice(eq + 1);
    if (LOADER_FLAGS.has(name) && value !== undefined && isTsx(value)) {
      if (eq < 0) i++;
      continue;
    }
    kept.push(flag);
  }
  return kept;
}
