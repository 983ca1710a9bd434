/**
 * The successor's bundle (successor-build.ts), on a small checkout of its own: it runs without
 * tsx, each module sees its own source file as `import.meta.url`, packages load from the
 * checkout's node_modules, a bundle is reused while no source changed and rebuilt when one
 * did, and sources that do not build are refused with esbuild's reason.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { successorToRun, withoutTsx } from '../../server/handoff/successor-build.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hotline-successor-build-'));
  mkdirSync(join(dir, 'server', 'lib'), { recursive: true });
  mkdirSync(join(dir, 'node_modules', 'greeting'), { recursive: true });
  writeFileSync(
    join(dir, 'node_modules', 'greeting', 'package.json'),
    JSON.stringify({ name: 'greeting', type: 'module', main: 'index.js' }),
  );
  writeFileSync(
    join(dir, 'node_modules', 'greeting', 'index.js'),
    "export const hello = 'hello from a package';\n",
  );
  writeFileSync(
    join(dir, 'server', 'lib', 'where.ts'),
    'export const where: string = import.meta.url;\nexport const version: number = 1;\n',
  );
  writeFileSync(
    join(dir, 'server', 'main.ts'),
    [
      "import { hello } from 'greeting';",
      "import { where, version } from './lib/where.ts';",
      "const later = await import('./lib/where.ts');",
      'console.log(JSON.stringify({ hello, where, version, same: later.where === where, main: import.meta.url }));',
      '',
    ].join('\n'),
  );
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const spec = (entry: string) => ({
  nodeBinary: process.execPath,
  execArgv: ['--import', 'tsx', '--max-old-space-size=512'],
  entry,
  args: ['--successor'],
});

function run(s: Awaited<ReturnType<typeof successorToRun>>): Record<string, unknown> {
  return JSON.parse(execFileSync(s.nodeBinary, [...s.execArgv, s.entry], { encoding: 'utf8' }));
}

describe('the successor bundle', () => {
  it('runs without tsx, each module with its own source URL, packages from the checkout', async () => {
    const entry = join(dir, 'server', 'main.ts');
    const s = await successorToRun(spec(entry));
    expect(s.entry.startsWith(join(dir, 'node_modules', '.cache', 'hotline', 'successor'))).toBe(true);
    expect(s.execArgv).toEqual(['--enable-source-maps', '--max-old-space-size=512']);
    expect(s.args).toEqual(['--successor']);
    expect(run(s)).toEqual({
      hello: 'hello from a package',
      where: pathToFileURL(join(dir, 'server', 'lib', 'where.ts')).href,
      version: 1,
      same: true,
      main: pathToFileURL(entry).href,
    });
  });

  it('is reused while no source changes, and rebuilt when one does', async () => {
    const entry = join(dir, 'server', 'main.ts');
    const first = await successorToRun(spec(entry));
    expect((await successorToRun(spec(entry))).entry).toBe(first.entry);
    writeFileSync(
      join(dir, 'server', 'lib', 'where.ts'),
      'export const where: string = import.meta.url;\nexport const version: number = 2;\n',
    );
    const second = await successorToRun(spec(entry));
    expect(second.entry).not.toBe(first.entry);
    expect(run(second).version).toBe(2);
    // The first bundle is still whole: a successor may have been loading it.
    expect(run(first).version).toBe(1);
  });

  it('takes a record it cannot read as a miss, and runs from sources when node_modules cannot be written', async () => {
    const entry = join(dir, 'server', 'main.ts');
    const first = await successorToRun(spec(entry));
    const cache = join(dir, 'node_modules', '.cache', 'hotline', 'successor');
    for (const record of readdirSync(cache).filter((n) => n.endsWith('.json')))
      writeFileSync(join(cache, record), '{"dir": "../../elsewhere", "main": "x.js"');
    expect((await successorToRun(spec(entry))).entry).toBe(first.entry);
    writeFileSync(
      join(dir, 'server', 'lib', 'where.ts'),
      'export const where: string = import.meta.url;\nexport const version: number = 3;\n',
    );
    rmSync(cache, { recursive: true });
    // A file where the cache's folder would be: nothing can be written there.
    writeFileSync(join(dir, 'node_modules', '.cache', 'hotline', 'successor'), '');
    expect(await successorToRun(spec(entry))).toEqual(spec(entry));
  });

  it('refuses sources that do not build, with the reason', async () => {
    writeFileSync(join(dir, 'server', 'lib', 'where.ts'), 'export const where: string = ;\n');
    await expect(successorToRun(spec(join(dir, 'server', 'main.ts')))).rejects.toThrow(
      /its code does not build: .*where\.ts/s,
    );
  });

  it('leaves an entry that is not TypeScript as it is', async () => {
    const s = spec(join(dir, 'exits.mjs'));
    expect(await successorToRun(s)).toBe(s);
  });

  it('drops only the flags that load tsx', () => {
    expect(
      withoutTsx([
        '--import',
        'tsx',
        '--import=tsx',
        '--require',
        '/x/node_modules/tsx/dist/preflight.cjs',
        '--import',
        'file:///x/node_modules/tsx/dist/loader.mjs',
        '--import',
        '/bench/loop-probe.mjs',
        '--cpu-prof',
      ]),
    ).toEqual(['--import', '/bench/loop-probe.mjs', '--cpu-prof']);
  });
});
