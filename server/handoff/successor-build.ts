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
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build as esbuild, type Plugin } from 'esbuild';
import type { SuccessorSpec } from './channel.ts';

/** A bundle as built: where, and the sources it was built from, by path and content hash. */
interface Built {
  readonly dir: string;
  readonly main: string;
  readonly sources: Record<string, string>;
}

const sha256 = (text: string | Uint8Array): string => createHash('sha256').update(text).digest('hex');

/** The spec to spawn: a TypeScript entry bundled (and run without tsx), any other as it is. */
export async function successorToRun(spec: SuccessorSpec): Promise<SuccessorSpec> {
  if (!spec.entry.endsWith('.ts')) return spec;
  const flags = withoutTsx(spec.execArgv);
  return {
    ...spec,
    // Stack traces name the sources, as under tsx.
    execArgv: flags.includes(SOURCE_MAPS) ? flags : [SOURCE_MAPS, ...flags],
    entry: await bundled(spec.entry),
  };
}

const SOURCE_MAPS = '--enable-source-maps';

/**
 * The bundle's entry file: the last one built for `entry` while none of its sources changed
 * (their contents are compared: a few milliseconds), else a new one. Throws what esbuild
 * found wrong with the sources.
 */
async function bundled(entry: string): Promise<string> {
  const cache = join(nodeModulesOf(entry), '.cache', 'hotline', 'successor');
  const record = join(cache, `${sha256(entry).slice(0, 16)}.json`);
  const last = await readFile(record, 'utf8').then(
    (text) => JSON.parse(text) as Built,
    () => undefined,
  );
  if (last !== undefined && existsSync(join(cache, last.dir)) && (await unchanged(last.sources)))
    return join(cache, last.dir, last.main);
  const built = await build(entry, cache);
  mkdirSync(cache, { recursive: true });
  const aside = `${record}.${process.pid}.${Date.now()}`;
  writeFileSync(aside, JSON.stringify(built));
  renameSync(aside, record);
  return join(cache, built.dir, built.main);
}

async function unchanged(sources: Record<string, string>): Promise<boolean> {
  const now = await Promise.all(
    Object.entries(sources).map(([path, hash]) =>
      readFile(path).then(
        (text) => sha256(text) === hash,
        () => false,
      ),
    ),
  );
  return now.every(Boolean);
}

async function build(entry: string, cache: string): Promise<Built> {
  const sources: Record<string, string> = {};
  /** Every source read here, to know later whether it changed; each module's `import.meta.url` is its source file's. */
  const ownUrls: Plugin = {
    name: 'hotline-sources',
    setup(b) {
      b.onLoad({ filter: /\.(ts|json|m?js)$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        sources[args.path] = sha256(text);
        const loader = args.path.endsWith('.json') ? 'json' : args.path.endsWith('.ts') ? 'ts' : 'js';
        const url = JSON.stringify(pathToFileURL(args.path).href);
        return { contents: loader === 'json' ? text : text.replace(/\bimport\.meta\.url\b/g, url), loader };
      });
    },
  };
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
    plugins: [ownUrls],
    logLevel: 'silent',
  }).catch((err: Error) => {
    throw new Error(`its code does not build: ${err.message}`);
  });
  const hash = createHash('sha256');
  for (const file of out.outputFiles) hash.update(`${relative(next, file.path)}\0`).update(file.contents);
  const dir = hash.digest('hex').slice(0, 16);
  const main = Object.entries(out.metafile.outputs).find(([, o]) => o.entryPoint !== undefined)?.[0];
  if (main === undefined) throw new Error('its bundle has no entry');
  if (!existsSync(join(cache, dir))) {
    // Written aside, then renamed into place whole: a successor never loads a half-written bundle.
    const aside = join(cache, `${dir}.${process.pid}.${Date.now()}`);
    for (const file of out.outputFiles) {
      const path = join(aside, relative(next, file.path));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.contents);
    }
    try {
      renameSync(aside, join(cache, dir));
    } catch (err) {
      // Another handoff put the same bundle there first.
      rmSync(aside, { recursive: true, force: true });
      if (!existsSync(join(cache, dir))) throw err;
    }
  }
  return { dir, main: relative(next, resolve(main)), sources };
}

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
