/**
 * `servingNow`: a node says it is the one that serves, at start and again in a successor
 * when it takes over: it (re)writes the pid file and, under the keeper, tells the keeper,
 * which from then on passes signals to it and exits with its exit code.
 */
import { removePidFileIfOurs, writePidFile } from '../node/pid-file.ts';
import { underKeeper } from './keeper-channel.ts';

export function servingNow(pidFile: string | undefined): void {
  if (pidFile !== undefined) {
    writePidFile(pidFile);
    process.once('exit', () => removePidFileIfOurs(pidFile));
  }
  if (!underKeeper()) return;
  process.send?.({ keeper: 'serving' });
  // The keeper holds the place: if it is gone (killed), nothing tracks this node any more,
  // so it stops as on SIGTERM rather than run on unseen.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
