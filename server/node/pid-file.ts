/**
 * The pid file (`--pid-file`): the pid of the process that serves, for a supervisor that
 * tracks the node without the keeper (systemd's `PIDFile=`). The serving node writes it at
 * start and a successor rewrites it when it takes over; each write replaces the file whole,
 * so a reader never sees it empty or half written.
 */
import { readFileSync, rmSync } from 'node:fs';
import { replaceDurably } from '../files/durable-write.ts';

export function writePidFile(path: string, pid = process.pid): void {
  replaceDurably(path, `${pid}\n`);
}

/** Remove it on exit, unless a successor has written its own pid there meanwhile. */
export function removePidFileIfOurs(path: string, pid = process.pid): void {
  let held: string;
  try {
    held = readFileSync(path, 'utf8').trim();
  } catch {
    return;
  }
  if (held === String(pid)) rmSync(path, { force: true });
}
