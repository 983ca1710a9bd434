/**
 * Release 1.0.0's call session: kit v1's 1.x call model with its handlers, nothing added.
 * It registers the phone's user, places and takes one call at a time, relays media to the
 * other leg and acknowledges it, and owns the call's CDR when it is the caller's leg.
 */
import { handlersFor, type SessionState, sessionBehaviour } from '../../kit/v1/call-model.ts';

export const VERSION = '1.0.0';

export const session = sessionBehaviour<SessionState>({
  version: VERSION,
  callFields: () => ({}),
  fromPhone: handlersFor<SessionState>(),
});
