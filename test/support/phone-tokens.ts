/** Phone tokens for test phones, from a node's data directory key, as `hotline phone-token` issues them. */
import type { PhoneTokenSource } from '../../loadtest/client/phone.ts';
import { operatorTokens } from '../../loadtest/client/tokens.ts';

/** Tokens for any user, signed with the phone key of `dataDir` (made on first use); valid an hour. */
export const tokensFor = (dataDir: string): PhoneTokenSource => operatorTokens(dataDir, 3_600_000);

/** Something that serves phones, and where they get their tokens. */
export interface PhoneTarget {
  callsUrl: string;
  tokens: PhoneTokenSource;
}
