/** Writes that are on disk when they return (fsync), for records a crash must not lose. */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/** `flags`: 'a' appends, 'w' replaces; a new file is made readable by its owner only. */
export function writeDurably(path: string, flags: 'a' | 'w', text: string): void {
  const fd = openSync(path, flags, 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
