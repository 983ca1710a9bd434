/**
 * Release 2.0.0: the call kept as a phase (see session.ts). Upgrades from 1.1.0 and from
 * 1.0.0, and downgrades to either.
 */
import { callRelease } from '../../call-release.ts';
import { callInfoMessages } from '../../kit/v1/call-info.ts';
import { session } from './session.ts';

export const release = callRelease(session, callInfoMessages);
