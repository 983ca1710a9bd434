/**
 * Phone tokens: short-lived JWTs (EdDSA) that say which user a phone is. The operator's key
 * signs them (`hotline phone-token`, or `issuePhoneToken` in process); every node checks
 * them against the public keys it trusts, with no shared database, so any node of a
 * cluster admits a phone. The token's `kid` names the key that signed it (its `keyId`),
 * which is what lets several keys be trusted at once while one replaces another.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errors, jwtVerify, SignJWT } from 'jose';
import { type HotlineError, hotlineError } from '../errors/catalogue.ts';
import { devKeyPair, keyId, readPublicKeys } from '../release/keys.ts';

/** The issuer a node expects unless told otherwise (`--phone-issuer`). */
export const DEFAULT_PHONE_ISSUER = 'hotline';

export interface IssueOptions {
  issuer?: string;
  /** Sign with this private key instead of the data directory's phone key. */
  privateKey?: KeyObject;
  /** Valid from this time (ms since the epoch); now by default. */
  notBefore?: number;
}

/** A token for `user`, valid for `ttlMs`, signed with the data directory's phone key (made on first use). */
export async function issuePhoneToken(
  dataDir: string,
  user: string,
  ttlMs: number,
  options: IssueOptions = {},
): Promise<string> {
  const privateKey = options.privateKey ?? devKeyPair(dataDir, 'phone-signing').privateKey;
  const now = Date.now();
  const seconds = (t: number) => Math.floor(t / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: keyId(createPublicKey(privateKey)) })
    .setSubject(user)
    .setIssuer(options.issuer ?? DEFAULT_PHONE_ISSUER)
    .setIssuedAt(seconds(now))
    .setNotBefore(seconds(options.notBefore ?? now))
    .setExpirationTime(seconds(now + ttlMs))
    .sign(privateKey);
}

/**
 * The public keys a node checks phone tokens with, by key id: the data directory's own
 * phone key, and each `--phone-keys` entry (a PEM file, or a directory whose `*.pem` files
 * are public keys).
 */
export function trustedPhoneKeys(dataDir: string, paths: string[]): Map<string, KeyObject> {
  const files = paths.flatMap((path) =>
    statSync(path, { throwIfNoEntry: false })?.isDirectory()
      ? readdirSync(path)
          .filter((f) => f.endsWith('.pem'))
          .sort()
          .map((f) => join(path, f))
      : [path],
  );
  const keys = [devKeyPair(dataDir, 'phone-signing').publicKey, ...readPublicKeys(files)];
  return new Map(keys.map((k) => [keyId(k), k]));
}

export type Verified = { ok: true; user: string } | { ok: false; error: HotlineError };

type TokenRefusal =
  | 'HOT_ERR_PHONE_TOKEN_MISSING'
  | 'HOT_ERR_PHONE_TOKEN_MALFORMED'
  | 'HOT_ERR_PHONE_TOKEN_EXPIRED'
  | 'HOT_ERR_PHONE_TOKEN_NOT_YET_VALID'
  | 'HOT_ERR_PHONE_TOKEN_REJECTED';
const refused = (code: TokenRefusal): Verified => ({ ok: false, error: hotlineError(code) });

/** Check a presented token: the user it names, or the typed reason it is refused. */
export async function verifyPhoneToken(
  token: unknown,
  keys: Map<string, KeyObject>,
  issuer: string,
): Promise<Verified> {
  if (token === undefined) return refused('HOT_ERR_PHONE_TOKEN_MISSING');
  if (typeof token !== 'string' || token.length > 4096) return refused('HOT_ERR_PHONE_TOKEN_MALFORMED');
  try {
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const key = header.kid === undefined ? undefined : keys.get(header.kid);
        if (key === undefined) throw new errors.JWSSignatureVerificationFailed();
        return key;
      },
      { issuer, algorithms: ['EdDSA'], requiredClaims: ['sub', 'exp'] },
    );
    return { ok: true, user: payload.sub as string };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return refused('HOT_ERR_PHONE_TOKEN_EXPIRED');
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'nbf')
      return refused('HOT_ERR_PHONE_TOKEN_NOT_YET_VALID');
    if (
      err instanceof errors.JWSSignatureVerificationFailed ||
      (err instanceof errors.JWTClaimValidationFailed && err.claim === 'iss') ||
      err instanceof errors.JOSEAlgNotAllowed
    )
      return refused('HOT_ERR_PHONE_TOKEN_REJECTED');
    return refused('HOT_ERR_PHONE_TOKEN_MALFORMED');
  }
}
