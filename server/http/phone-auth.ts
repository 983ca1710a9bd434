/**
 * Authenticated registration: node policy in the front door, ahead of any release. A phone
 * puts a phone token in its `register` frame (`{type, user, token}`); the door checks it
 * once per connection (registration-gate.ts holds the connection's frames meanwhile), and
 * only a register whose user is the token's reaches the session, as the plain
 * `{type, user}` frame every shipped release knows (the token never reaches session code).
 * Failed registrations are counted per source address: past the limit the
 * door answers HOT_ERR_PHONE_AUTH_THROTTLED and closes the socket with 1008, without
 * checking any more tokens from that address until the window has passed. Whether a user
 * exists or is registered never changes an answer.
 *
 * Open registration (`--open-registration`, for trusted labs) takes no token: the register
 * frame's user is believed, as before tokens existed.
 */
import type { KeyObject } from 'node:crypto';
import { hotlineError } from '../errors/catalogue.ts';
import { CallAttempts } from './call-attempts.ts';
import { type Verified, verifyPhoneToken } from './phone-tokens.ts';

export interface PhoneAuthSettings {
  keys: Map<string, KeyObject>;
  issuer: string;
  /** Users a token may name on this node, or undefined for any user name. */
  users: RegExp | undefined;
  /** Failed registrations per source address in any window, then the door closes. */
  failures: number;
  failureWindowMs: number;
}

/** Every code a register can be refused with here (the metric's label values start at 0). */
export const REGISTRATION_REFUSALS = [
  'HOT_ERR_PHONE_TOKEN_MISSING',
  'HOT_ERR_PHONE_TOKEN_MALFORMED',
  'HOT_ERR_PHONE_TOKEN_EXPIRED',
  'HOT_ERR_PHONE_TOKEN_NOT_YET_VALID',
  'HOT_ERR_PHONE_TOKEN_REJECTED',
  'HOT_ERR_PHONE_USER_NOT_ALLOWED',
  'HOT_ERR_PHONE_USER_MISMATCH',
  'HOT_ERR_PHONE_AUTH_THROTTLED',
] as const;

/**
 * A register frame that carries a token, split into the token and the frame without it;
 * undefined when the text is not such a frame. Only frames the decoder refused reach here,
 * so the frames of a call pay nothing for it. An open-registration node splits too, and
 * ignores the token: a client that has one works against either kind of node.
 */
export function splitToken(text: string): { token: unknown; text: string } | undefined {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || !('token' in frame))
    return undefined;
  const { token, ...rest } = frame as { token: unknown };
  return { token, text: JSON.stringify(rest) };
}

/** What the door makes of a register: admit it as `user`, or refuse it (closing the socket when throttled). */
export type Admission = Verified & { close?: boolean };

const USER = /^[A-Za-z0-9_.-]{1,64}$/;

export class PhoneAuth {
  readonly #failed: CallAttempts;

  constructor(private readonly s: PhoneAuthSettings) {
    this.#failed = new CallAttempts(s.failures, s.failureWindowMs, Date.now());
  }

  /** Check the register of `user` with `token` from `address`. */
  async admit(token: unknown, user: string, address: string): Promise<Admission> {
    if (this.#failed.blocked(address, Date.now())) return this.#throttled();
    const verdict = await this.#check(token, user);
    if (verdict.ok || this.#failed.admit(address, Date.now())) return verdict;
    return this.#throttled();
  }

  /**
   * Check `token` for `user` without counting a failure against any address: a register on
   * another node asks this one to let go of its user (cluster-replacement.ts).
   */
  verify(token: unknown, user: string): Promise<Verified> {
    return this.#check(token, user);
  }

  async #check(token: unknown, user: string): Promise<Verified> {
    const verified = await verifyPhoneToken(token, this.s.keys, this.s.issuer);
    if (!verified.ok) return verified;
    // A service number is left to the session, which refuses it as every release always has.
    const allowed =
      USER.test(verified.user) && (this.s.users === undefined || this.s.users.test(verified.user));
    if (!allowed) return { ok: false, error: hotlineError('HOT_ERR_PHONE_USER_NOT_ALLOWED') };
    if (verified.user !== user) return { ok: false, error: hotlineError('HOT_ERR_PHONE_USER_MISMATCH') };
    return verified;
  }

  #throttled(): Admission {
    const error = hotlineError(
      'HOT_ERR_PHONE_AUTH_THROTTLED',
      this.s.failures,
      this.s.failureWindowMs / 1000,
    );
    return { ok: false, error, close: true };
  }
}
