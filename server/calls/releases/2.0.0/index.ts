/**
 * Release 2.0.0: the call kept as a phase (see session.ts). Upgrades from 1.1.0 and from
 * 1.0.0, and downgrades to either.
 */
import type { Release } from '../../contract.ts';
import { callRelease } from '../1.0.0/index.ts';
import { protocol } from '../1.1.0/protocol.ts';
import { appup, session } from './session.ts';

export const release: Release = callRelease(session, appup, protocol);
