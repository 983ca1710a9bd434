/** Release 1.1.0: 1.0.0 plus call_info. Upgrades from 1.0.0 and downgrades to it. */
import { callRelease } from '../../call-release.ts';
import { callInfoMessages } from '../../kit/v1/call-info.ts';
import { session } from './session.ts';

export const release = callRelease(session, callInfoMessages);
