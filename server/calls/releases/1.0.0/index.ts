/** Release 1.0.0: the baseline call session and its service legs. It upgrades from nothing. */
import { RELEASE_API_VERSION } from '../../../release/module.ts';
import type { Release } from '../../contract.ts';
import { echoLeg, ivrLeg, noanswerLeg } from './services.ts';
import { session, VERSION } from './session.ts';

export const release: Release = {
  version: VERSION,
  apiVersion: RELEASE_API_VERSION,
  session,
  behaviours: [session, echoLeg, ivrLeg, noanswerLeg],
  upgradeFrom: [],
  downgradeTo: [],
};
