/**
 * Phone tokens for the phones the load tools run, issued as `hotline phone-token` issues
 * them: with the phone key of a node's data directory (the operator's key).
 */
import { issuePhoneToken } from '../../server/http/phone-tokens.ts';
import { devKeyPair } from '../../server/release/keys.ts';
import type { PhoneTokenSource } from './phone.ts';

/** A day: longer than any run, so a phone that reconnects late still has a valid token. */
const DAY_MS = 86_400_000;

/** Tokens for any user, signed with the phone key of `dataDir` (made on first use, read once). */
export function operatorTokens(dataDir: string, ttlMs = DAY_MS): PhoneTokenSource {
  const { privateKey } = devKeyPair(dataDir, 'phone-signing');
  return (user) => issuePhoneToken(dataDir, user, ttlMs, { privateKey });
}
