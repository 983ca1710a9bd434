/** Release 1.0.0: the baseline call session and the service legs. It upgrades from nothing. */
import { callRelease } from '../../call-release.ts';
import { session } from './session.ts';

export const release = callRelease(session);
