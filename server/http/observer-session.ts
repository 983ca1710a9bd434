/**
 * Sign-in sessions of the observer page. A browser cannot send a bearer header when it
 * navigates, so signing in with the admin token gives it a cookie instead: a random id that
 * names a session kept here, in memory, until it expires or the user signs out. The token
 * itself never goes into a cookie, and a restart signs everyone out (a node handoff does not:
the sessions go to the successor). A session can do what
 * the token it was signed in with can, and ends when that token is revoked.
 */
import { randomBytes } from 'node:crypto';
import type { TokenHolder } from './admin-tokens.ts';

export const OBSERVER_COOKIE = 'hotline_observer';
/** A working day: long enough to watch a release through, short enough to expire overnight. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface ObserverSessionOptions {
  ttlMs?: number;
  /** Epoch ms; tests pass a clock they move. */
  now?: () => number;
}

export type ObserverSessionsImage = [string, { expires: number; holder: TokenHolder }][];

export class ObserverSessions {
  readonly ttlMs: number;
  readonly #now: () => number;
  /** Session id → when it expires, and whose token signed it in. */
  readonly #sessions = new Map<string, { expires: number; holder: TokenHolder }>();
  /** The ids the last `import` brought. */
  #imported = new Set<string>();

  constructor(options: ObserverSessionOptions = {}) {
    this.ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** A new session's id, for the cookie. Forgets the expired ones while at it. */
  create(holder: TokenHolder): string {
    const now = this.#now();
    for (const [id, s] of this.#sessions) if (s.expires <= now) this.#sessions.delete(id);
    const id = randomBytes(32).toString('base64url');
    this.#sessions.set(id, { expires: now + this.ttlMs, holder });
    return id;
  }

  /** Whose token signed the session in, while it lasts. */
  holder(id: string | undefined): TokenHolder | undefined {
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expires > this.#now()) return session.holder;
    this.#sessions.delete(id);
    return undefined;
  }

  valid(id: string | undefined): boolean {
    return this.holder(id) !== undefined;
  }

  revoke(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(id);
  }

  /** The sessions as they are, for a successor process (a node handoff): plain data. */
  export(): ObserverSessionsImage {
    return [...this.#sessions];
  }

  /**
   * Sessions of the process this one takes over from: the pages signed in there stay signed
   * in. Taken at its boot and again with its last batch: a session imported before and
   * missing now was signed out or revoked there meanwhile.
   */
  import(image: ObserverSessionsImage): void {
    const now = this.#now();
    const ids = new Set(image.map(([id]) => id));
    for (const id of this.#imported) if (!ids.has(id)) this.#sessions.delete(id);
    this.#imported = ids;
    for (const [id, s] of image) if (s.expires > now) this.#sessions.set(id, s);
  }

  /** Ends every session signed in with the token named `name`. */
  revokeHolder(name: string): void {
    for (const [id, s] of this.#sessions) if (s.holder.name === name) this.#sessions.delete(id);
  }
}
