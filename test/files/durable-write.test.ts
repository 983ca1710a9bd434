/**
 * The one durable write every layer uses: a replace is whole or not at all and leaves no
 * temporary file, a failed one leaves the old file as it was, an append adds at the end and
 * fsyncs the directory only when it makes the file.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  appendDurably,
  replaceDurably,
  replaceDurablyAsync,
  tempPathOf,
  type WriteOptions,
  writeSynced,
} from '../../server/files/durable-write.ts';

/** What each fsync was of, in order: the durable writes' fsyncs are watched, then done. */
const synced = vi.hoisted(() => [] as Array<'directory' | 'file'>);
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  return {
    ...fs,
    fsyncSync: (fd: number) => {
      synced.push(fs.fstatSync(fd).isDirectory() ? 'directory' : 'file');
      fs.fsyncSync(fd);
    },
  };
});

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-files-'));
  dirs.push(dir);
  return dir;
}

const replacers = {
  replaceDurably: async (path: string, text: string, options?: WriteOptions) =>
    replaceDurably(path, text, options),
  replaceDurablyAsync,
};

describe.each(Object.entries(replacers))('%s', (_name, replace) => {
  it('makes the file when it is missing', async () => {
    const file = join(tempDir(), 'state.json');
    await replace(file, 'first\n');
    expect(readFileSync(file, 'utf8')).toBe('first\n');
  });

  it('replaces the content whole, a shorter text leaving nothing of the longer one', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    writeFileSync(file, 'a much longer old content\n');
    await replace(file, 'new\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(readdirSync(dir)).toStrictEqual(['state.json']);
  });

  it('gives a new file the mode asked for', async () => {
    const file = join(tempDir(), 'secret.json');
    await replace(file, '{}', { mode: 0o600 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a failure before the rename leaves the old file as it was', async () => {
    const dir = tempDir();
    const file = join(dir, 'state.json');
    writeFileSync(file, 'old\n');
    // Something not a file stands where the replacement would be written.
    mkdirSync(tempPathOf(file));
    await expect(replace(file, 'new\n')).rejects.toThrow(/EISDIR/);
    expect(readFileSync(file, 'utf8')).toBe('old\n');
  });

  it('a failed rename leaves what was there and no temporary file', async () => {
    const dir = tempDir();
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'kept');
    await expect(replace(target, 'new\n')).rejects.toThrow();
    expect(readFileSync(join(target, 'inside'), 'utf8')).toBe('kept');
    expect(readdirSync(dir)).toStrictEqual(['taken']);
  });

  it('a missing directory is an error, not a file made elsewhere', async () => {
    const dir = tempDir();
    await expect(replace(join(dir, 'nowhere', 'state.json'), 'x')).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toStrictEqual([]);
  });
});

describe('appendDurably', () => {
  it('makes the file, then adds at its end', () => {
    const file = join(tempDir(), 'audit.log');
    appendDurably(file, 'one\n');
    appendDurably(file, 'two\n');
    expect(readFileSync(file, 'utf8')).toBe('one\ntwo\n');
  });

  it('fsyncs the directory with the append that makes the file; later ones fsync the file alone', () => {
    const file = join(tempDir(), 'audit.log');
    synced.length = 0;
    appendDurably(file, 'one\n');
    expect(synced).toEqual(['file', 'directory']);
    synced.length = 0;
    appendDurably(file, 'two\n');
    appendDurably(file, 'three\n');
    expect(synced).toEqual(['file', 'file']);
    expect(readFileSync(file, 'utf8')).toBe('one\ntwo\nthree\n');
  });

  it("a file that cannot be opened is an error, and nothing is fsync'd", () => {
    const dir = tempDir();
    synced.length = 0;
    expect(() => appendDurably(join(dir, 'nowhere', 'audit.log'), 'x')).toThrow(/ENOENT/);
    expect(synced).toEqual([]);
  });

  it('gives a new file the mode asked for', () => {
    const file = join(tempDir(), 'audit.log');
    appendDurably(file, 'one\n', { mode: 0o600 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('writeSynced', () => {
  it("'w' writes the file whole in place", () => {
    const file = join(tempDir(), 'next.log');
    writeFileSync(file, 'a longer old content');
    writeSynced(file, 'new', 'w');
    expect(readFileSync(file, 'utf8')).toBe('new');
  });
});
