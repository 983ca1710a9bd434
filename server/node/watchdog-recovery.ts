/**
 * What a node starting after its watchdog ended it does about that (the fire in
 * watchdog.log): the release that was on probation is marked as refused when the callback
 * stuck was its code, one it brought that the permanent release does not have. The node
 * then boots as any restarted node does, on the permanent release (the last one not on
 * probation), and recovers the calls that were up from the CDR log as after any crash.
 */
import type { ReleaseHandler } from '../release/handler.ts';
import type { WatchdogFired } from './watchdog-log.ts';

export interface WatchdogVerdict {
  /** The release marked as refused, if one was. */
  marked: string | null;
  why: string;
}

/** Decide, and mark the guilty release on disk before the node boots. */
export async function judgeFire(fired: WatchdogFired, releases: ReleaseHandler): Promise<WatchdogVerdict> {
  const stuck = `${fired.behaviour} ${fired.version} (${fired.pid}) stuck for ${fired.stalledMs} ms in ${fired.kind} ${fired.message || '(no type)'}`;
  const release = fired.probation;
  if (!fired.inCallback)
    return { marked: null, why: 'the event loop was stuck outside any process callback' };
  if (release === null) return { marked: null, why: `${stuck}; no release was on probation` };
  let brought: boolean;
  try {
    brought =
      releases.hasModule(release, fired.behaviour, fired.version) &&
      !releases.hasModule(releases.permanent, fired.behaviour, fired.version);
  } catch (err) {
    return { marked: null, why: `${stuck}; release ${release} cannot be read: ${String(err)}` };
  }
  if (!brought)
    return { marked: null, why: `${stuck}; that code is not what release ${release} on probation brought` };
  const why = `watchdog ${fired.at}: ${stuck}`;
  await releases.mark(release, why);
  return { marked: release, why };
}
