/**
 * What a call release's code exports: its session, the service legs every release runs, and
 * the messages it adds to the base protocol. Its appup is not here: it is data, in the
 * release folder's release.json.
 */
import { RELEASE_API_VERSION } from '../release/module.ts';
import type { AnyBehaviour } from '../runtime/index.ts';
import type { ReleaseCodeOfCalls } from './contract.ts';
import { serviceLegs } from './kit/v1/services.ts';
import type { ProtocolAdditions } from './protocol/messages.ts';

/** A call release's code: the session's version is the release's. */
export function callRelease(session: AnyBehaviour, protocol?: ProtocolAdditions): ReleaseCodeOfCalls {
  return {
    ...(protocol === undefined ? {} : { protocol }),
    version: session.version,
    apiVersion: RELEASE_API_VERSION,
    session,
    behaviours: [session, ...serviceLegs],
  };
}
