/**
 * Sign-in sessions of the observer page. A browser cannot send a bearer header when it
 * navigates, so signing in with the admin token gives it a cookie instead: a random id that
 * names a session kept here, in memory, until it expires or the user signs out. The token
 * itself never goes into a cookie, and a restart signs everyone out.
 */
import { randomBytes } from 'node:crypto';

export const OBSERVER_COOKIE = 'hotline_observer';
/** A working day: long enough to watch a release through, short enough to expire overnight. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface ObserverSessionOptions {
  ttlMs?: number;
  /** Epoch ms; tests pass a clock they move. */
  now?: () => number;
}

export class ObserverSessions {
  readonly ttlMs: number;
  readonly #now: () => number;
  /** Session id → when it expires. */
  readonly #expiry = new Map<string, number>();

  constructor(options: ObserverSessionOptions = {}) {
    this.ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** A new session's id, for the cookie. Forgets the expired ones while at it. */
  create(): string {
    const now = this.#now();
    for (const [id, expires] of this.#expiry) if (expires <= now) this.#expiry.delete(id);
    const id = randomBytes(32).toString('base64url');
    this.#expiry.set(id, now + this.ttlMs);
    return id;
  }

  valid(id: string | undefined): boolean {
    if (id === undefined) return false;
    const expires = this.#expiry.get(id);
    if (expires === undefined) return false;
    if (expires > this.#now()) return true;
    this.#expiry.delete(id);
    return false;
  }

  revoke(id: string | undefined): void {
    if (id !== undefined) this.#expiry.delete(id);
  }
}
