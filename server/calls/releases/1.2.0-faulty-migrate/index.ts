/**
 * Release 1.2.0-faulty-migrate: broken on purpose, for tests and the demo of an upgrade that
 * fails. It is 1.1.0 (kit v1's call_info session) under another version, except that the
 * session's codeChange throws for some sessions.
 *
 * Trigger: the upgrade to it (from 1.1.0 or from 1.0.0) throws for every session whose call
 * is on hold at that moment, that is after a `hold` from either phone and before the
 * `resume` (`call.held` in the state). Sessions with no call, or with a call in any other
 * state, migrate as they would to 1.1.0. The downgrades (to 1.1.0 or 1.0.0) never throw.
 */
import { callRelease } from '../../call-release.ts';
import { callInfoMessages } from '../../kit/v1/call-info.ts';
import type { SessionState } from '../../kit/v1/call-model.ts';
import { variantOfV11 } from '../../kit/v1/variant.ts';

export const VERSION = '1.2.0-faulty-migrate';

export const session = variantOfV11(VERSION, {
  vetoMigration(from, state) {
    if (typeof from === 'string' && (state as SessionState).call?.held === true)
      throw new Error(`session ${VERSION} cannot migrate a call on hold (a fault, on purpose)`);
  },
});

export const release = callRelease(session, callInfoMessages);
