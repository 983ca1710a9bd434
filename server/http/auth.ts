/**
 * The admin bearer token: from the environment, or made at first start, stored in the data
 * directory (mode 0600) and printed once. Compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hotlineError } from '../errors/catalogue.ts';

export interface AdminToken {
  token: string;
  /** True the one time the token was made: that is when it is printed. */
  generated: boolean;
}

export function resolveAdminToken(fromEnv: string | undefined, dataDir: string): AdminToken {
  if (fromEnv) return { token: fromEnv, generated: false };
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), generated: false };
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, generated: true };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Equal-length digests make the comparison constant-time whatever the input's length. */
export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(expected), digest(presented));
}

export function bearerAuth(token: string) {
  const expected = token;
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    const presented = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (!tokenMatches(expected, presented)) throw hotlineError('HOT_ERR_UNAUTHORIZED');
  };
}
