/** Release 1.1.0: 1.0.0 plus call_info. Upgrades from 1.0.0 and downgrades to it. */
import type { Release } from '../../contract.ts';
import { callRelease } from '../1.0.0/index.ts';
import { protocol } from './protocol.ts';
import { appup, session } from './session.ts';

export const release: Release = callRelease(session, appup, protocol);
