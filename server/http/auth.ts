/**
 * The admin surface's credentials. A bearer token (admin-tokens.ts): the node's own, from the
 * environment or made at first start, stored in the data directory (mode 0600) and printed
 * once; or a named one. Or, for the observer page in a browser, the cookie of a session signed
 * in with one. Each route needs a scope (admin-scopes.ts) the credential must have.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hotlineError } from '../errors/catalogue.ts';
import { requiredScope } from './admin-scopes.ts';
import { type AdminTokens, scopeAllows, type TokenHolder } from './admin-tokens.ts';
import { OBSERVER_COOKIE, type ObserverSessions } from './observer-session.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answered without credentials: the observer's sign-in page, sign-in and sign-out. */
    public?: boolean;
  }
  interface FastifyRequest {
    /** Whose credential the request came with, once the auth hook has accepted it. */
    adminHolder: TokenHolder | null;
  }
}

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

export interface AdminAuth {
  tokens: AdminTokens;
  sessions: ObserverSessions;
}

/** Sent by the observer page with every change it asks for (see adminAuthHook). */
export const OBSERVER_HEADER = 'x-hotline-observer';
const READ_ONLY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 7235). */
function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^bearer +(.*)$/i.exec(header);
  return match?.[1];
}

export interface AdminCredential {
  via: 'bearer' | 'session';
  holder: TokenHolder;
}

/** How a request proves it may use the admin surface, and whose token it is, if it does. */
export function adminCredential(auth: AdminAuth, request: FastifyRequest): AdminCredential | null {
  const bearer = auth.tokens.identify(bearerToken(request.headers.authorization));
  if (bearer !== null) return { via: 'bearer', holder: bearer };
  const session = auth.sessions.holder(request.cookies[OBSERVER_COOKIE]);
  return session === undefined ? null : { via: 'session', holder: session };
}

function adminAuthHook(auth: AdminAuth) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.routeOptions.config.public === true) return;
    const credential = adminCredential(auth, request);
    if (credential === null) throw hotlineError('HOT_ERR_UNAUTHORIZED');
    request.adminHolder = credential.holder;
    const needed = requiredScope(request.method, request.routeOptions.url);
    if (!scopeAllows(credential.holder.scope, needed))
      throw hotlineError('HOT_ERR_SCOPE_REQUIRED', credential.holder.name, credential.holder.scope, needed);
    // Defence in depth against forged requests riding the cookie. SameSite=Strict keeps other
    // sites out, but every server on this host, whatever its port, counts as the same site.
    // A form cannot set a custom header, and a script on another origin can only with a CORS
    // preflight, which this surface never grants.
    if (
      credential.via === 'session' &&
      !READ_ONLY_METHODS.has(request.method) &&
      request.headers[OBSERVER_HEADER] !== '1'
    )
      throw hotlineError('HOT_ERR_OBSERVER_HEADER', OBSERVER_HEADER);
  };
}

/** Cookie parsing, then the check on every route. */
export async function installAdminAuth(app: FastifyInstance, auth: AdminAuth): Promise<void> {
  // Registered (and awaited) first: its onRequest hook must have parsed the cookie when ours runs.
  await app.register(fastifyCookie);
  app.decorateRequest('adminHolder', null);
  app.addHook('onRequest', adminAuthHook(auth));
}
