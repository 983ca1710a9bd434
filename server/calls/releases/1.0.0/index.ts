/** Release 1.0.0: the baseline call session and its service legs. */
import type { Release } from '../../contract.ts';
import { echoLeg, ivrLeg, noanswerLeg } from './services.ts';
import { session, VERSION } from './session.ts';

export const release: Release = {
  version: VERSION,
  session,
  services: { echo_leg: echoLeg, ivr_leg: ivrLeg, noanswer_leg: noanswerLeg },
};
