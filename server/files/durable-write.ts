/**
 * Writes that are on disk when they return, for the files a crash or a power cut must not
 * lose or leave half written. A file's data is on disk once the file is fsync'd; a name made
 * or changed by a create or a rename is on disk once the directory that holds it is, hence
 * the directory fsync after each (and only then).
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface WriteOptions {
  /** The permissions of a file this creates (a file that exists keeps its own). */
  mode?: number;
}

const DEFAULT_MODE = 0o666;

/** fsync a directory, so the names it holds (made, renamed) are on disk. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function syncDirectoryAsync(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `text` at `fd`, fsyncs it and closes it. */
function writeAndSync(fd: number, text: string): void {
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** `flags`: 'w' writes the file whole (replacing what was there in place), 'a' appends; then fsync. */
export function writeSynced(path: string, text: string, flags: 'w' | 'a', { mode }: WriteOptions = {}): void {
  writeAndSync(openSync(path, flags, mode ?? DEFAULT_MODE), text);
}

async function writeSyncedAsync(path: string, text: string, { mode }: WriteOptions): Promise<void> {
  const handle = await open(path, 'w', mode ?? DEFAULT_MODE);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Where a replacement is written before it is renamed into place: beside the file (a rename
 * stays within one file system), named for this process, so two processes replacing the same
 * file never write into each other's. Within a process, writes to one path must not overlap:
 * the synchronous ones cannot, an asynchronous one is awaited before the next starts.
 */
export const tempPathOf = (path: string): string => `${path}.${process.pid}.tmp`;

/** After a failed replace, the temporary file goes; if it was never made there is nothing to remove. */
function dropTemp(tmp: string): void {
  try {
    unlinkSync(tmp);
  } catch {
    // Not there (the failure came before it was made), or not a file of ours.
  }
}

/**
 * Replace `path` whole with `text`: a reader, or the file after a crash, has the old content or
 * the new, never a mix or half of one; once this returns the new content survives a power cut.
 * On failure the old file is untouched and no temporary file is left.
 */
export function replaceDurably(path: string, text: string, options: WriteOptions = {}): void {
  const tmp = tempPathOf(path);
  try {
    writeSynced(tmp, text, 'w', options);
    renameSync(tmp, path);
  } catch (err) {
    dropTemp(tmp);
    throw err;
  }
  syncDirectory(dirname(path));
}

/** replaceDurably off the event loop (an fsync can take a while on a busy disk). */
export async function replaceDurablyAsync(
  path: string,
  text: string,
  options: WriteOptions = {},
): Promise<void> {
  const tmp = tempPathOf(path);
  try {
    await writeSyncedAsync(tmp, text, options);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDirectoryAsync(dirname(path));
}

/** Opens `path` to append, making it if missing; `made` says it did (a new name in its directory). */
function openToAppend(path: string, mode: number): { fd: number; made: boolean } {
  try {
    return { fd: openSync(path, 'ax', mode), made: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { fd: openSync(path, 'a'), made: false };
  }
}

/**
 * Append `text` at the end of `path` and fsync it: on disk, name and all, when this returns.
 * The append that makes the file fsyncs its directory too, for the new name; later ones add
 * no name, so the file's own fsync is enough. A crash mid-append can leave a torn end: readers
 * of an append-only log skip an unfinished last line.
 */
export function appendDurably(path: string, text: string, { mode }: WriteOptions = {}): void {
  const { fd, made } = openToAppend(path, mode ?? DEFAULT_MODE);
  writeAndSync(fd, text);
  if (made) syncDirectory(dirname(path));
}
