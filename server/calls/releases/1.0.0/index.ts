/** Release 1.0.0: the baseline call session and its service legs. It upgrades from nothing. */
import { type AppupEntry, RELEASE_API_VERSION } from '../../../release/module.ts';
import type { AnyBehaviour } from '../../../runtime/index.ts';
import type { Release } from '../../contract.ts';
import type { ProtocolAdditions } from '../../protocol/messages.ts';
import { serviceLegs } from './services.ts';
import { session } from './session.ts';

/**
 * A call release: its session behaviour, the service legs under the same version, its appup
 * and the messages it adds to the base protocol.
 */
export function callRelease(
  session: AnyBehaviour,
  appup: { upgradeFrom: AppupEntry[]; downgradeTo: AppupEntry[] },
  protocol?: ProtocolAdditions,
): Release {
  return {
    ...(protocol === undefined ? {} : { protocol }),
    version: session.version,
    apiVersion: RELEASE_API_VERSION,
    session,
    behaviours: [session, ...serviceLegs(session.version)],
    upgradeFrom: appup.upgradeFrom,
    downgradeTo: appup.downgradeTo,
  };
}

export const release: Release = callRelease(session, { upgradeFrom: [], downgradeTo: [] });
