/**
 * The admin surface's tokens, each with a name and a scope: `read` (look) or `operate` (also
 * change: releases, installs, handoff, tokens). The node's own token (HOTLINE_ADMIN_TOKEN or
 * `<data-dir>/admin-token`) is the operate token `default`; the others are made and revoked
 * through the admin API and kept in `<data-dir>/admin-tokens.json` as SHA-256 digests only,
 * so the file never holds a secret. A token is 24 random bytes: a digest without a salt or a
 * slow hash is enough, since there is no dictionary to try.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hotlineError } from '../errors/catalogue.ts';
import { replaceDurably } from '../files/durable-write.ts';

export const SCOPES = ['read', 'operate'] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenHolder {
  name: string;
  scope: Scope;
}

/** The node's own token: it can do everything, and only its file or environment changes it. */
export const DEFAULT_HOLDER: TokenHolder = { name: 'default', scope: 'operate' };

interface StoredToken extends TokenHolder {
  sha256: string;
  created: string;
}

export type TokenListing = Omit<StoredToken, 'sha256'>;

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Does `scope` allow what `needed` asks? operate includes read. */
export const scopeAllows = (scope: Scope, needed: Scope): boolean => scope === 'operate' || needed === 'read';

export class AdminTokens {
  readonly #defaultDigest: Buffer;
  readonly #file: string | undefined;
  #stored: StoredToken[];

  /** `file`: where the named tokens are kept; without it they live in memory only. */
  constructor(defaultToken: string, file?: string) {
    this.#defaultDigest = digest(defaultToken);
    this.#file = file;
    this.#stored =
      file !== undefined && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as StoredToken[]) : [];
  }

  /**
   * Who holds the presented token, or null. Every digest is compared, in constant time, so
   * how long it takes says nothing about which token came close.
   */
  identify(presented: string | undefined): TokenHolder | null {
    if (presented === undefined) return null;
    const seen = digest(presented);
    let holder: TokenHolder | null = timingSafeEqual(this.#defaultDigest, seen) ? DEFAULT_HOLDER : null;
    for (const t of this.#stored) {
      if (timingSafeEqual(Buffer.from(t.sha256, 'hex'), seen)) holder ??= { name: t.name, scope: t.scope };
    }
    return holder;
  }

  list(): TokenListing[] {
    return [
      { ...DEFAULT_HOLDER, created: '' },
      ...this.#stored.map(({ name, scope, created }) => ({ name, scope, created })),
    ];
  }

  /** A new token's secret: the caller shows it once; only its digest is kept. */
  create(name: string, scope: Scope, now = new Date()): string {
    if (name === DEFAULT_HOLDER.name || this.#stored.some((t) => t.name === name))
      throw hotlineError('HOT_ERR_ADMIN_TOKEN_EXISTS', name);
    const secret = randomBytes(24).toString('base64url');
    this.#save([
      ...this.#stored,
      { name, scope, sha256: digest(secret).toString('hex'), created: now.toISOString() },
    ]);
    return secret;
  }

  revoke(name: string): void {
    if (name === DEFAULT_HOLDER.name) throw hotlineError('HOT_ERR_DEFAULT_ADMIN_TOKEN');
    const kept = this.#stored.filter((t) => t.name !== name);
    if (kept.length === this.#stored.length) throw hotlineError('HOT_ERR_NOT_FOUND', `admin token ${name}`);
    this.#save(kept);
  }

  /** Replaced whole: a crash leaves the old or the new list. */
  #save(tokens: StoredToken[]): void {
    if (this.#file !== undefined)
      replaceDurably(this.#file, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
    this.#stored = tokens;
  }
}
