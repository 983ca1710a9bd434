/**
 * Release 1.1.0's call session: 1.0.0's plus `call_info` (kit v1's call-info.ts), which
 * tells a phone where its call is. Its state adds a per-call counter of call_info requests;
 * codeChange adds it on the way up from 1.0.0 and drops it on the way down (release.json
 * says which edges exist).
 */
import { type StateV11, specV11 } from '../../kit/v1/call-info.ts';
import { sessionBehaviour } from '../../kit/v1/call-model.ts';
import { migrationsV11 } from '../../kit/v1/migrate.ts';

export const VERSION = '1.1.0';

export const session = sessionBehaviour<StateV11>({
  ...specV11,
  version: VERSION,
  codeChange: migrationsV11(VERSION),
});
