/**
 * Which folder may import which: each file sits on its floor, and imports only from its own
 * floor or the ones below. Read from the sources, so a new import that breaks a rule fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** Every relative module a file imports (static, dynamic and type-only), as a path from the repo root. */
function importsOf(file: string): string[] {
  const source = readFileSync(join(root, file), 'utf8');
  const specifiers = [...source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map(
    (m) => m[1] as string,
  );
  return specifiers.map((s) => relative(root, resolve(dirname(join(root, file)), s)));
}

/** `file imports target` for every import of one of `files` that lands in `to` (a file or a folder). */
function importsInto(files: string[], to: string): string[] {
  return files.flatMap((file) =>
    importsOf(file)
      .filter((target) => target === to || target.startsWith(`${to}/`))
      .map((target) => `${file} imports ${target}`),
  );
}

const importsFromInto = (from: string, to: string): string[] => importsInto(sourcesUnder(from), to);

describe('every file on its floor', () => {
  it('reads the imports it checks', () => {
    // The rules below pass vacuously if the reader misses imports: it must see the root's own.
    expect(importsOf('server/main.ts')).toContain('server/node/start.ts');
    expect(importsOf('server/node/start.ts')).toContain('server/node/node.ts');
  });

  it('the entry point is above the composition root: nothing in server/ imports it', () => {
    expect(importsFromInto('server', 'server/main.ts')).toStrictEqual([]);
  });

  it('operator tools import nothing from the CLI: the CLI imports them', () => {
    expect(importsFromInto('server/ops', 'server/cli')).toStrictEqual([]);
  });

  it('in-node clustering imports neither the operator tools nor the CLI', () => {
    expect([
      ...importsFromInto('server/cluster', 'server/ops'),
      ...importsFromInto('server/cluster', 'server/cli'),
    ]).toStrictEqual([]);
  });

  it('durable file writes are the floor below everything: they import only the error catalogue', () => {
    const beyond = importsFromInto('server/files', 'server').filter(
      (line) => !line.includes(' imports server/files/') && !line.includes(' imports server/errors/'),
    );
    expect(beyond).toStrictEqual([]);
  });

  it('dev tooling is apart: nothing else in server/ imports it', () => {
    const outsideDev = sourcesUnder('server').filter((file) => !file.startsWith('server/dev/'));
    expect(importsInto(outsideDev, 'server/dev')).toStrictEqual([]);
  });
});
