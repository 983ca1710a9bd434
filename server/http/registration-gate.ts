/**
 * The register step of every phone connection, between the gateway's frame checks and the
 * session: node policy, whatever release the session runs (phone-auth.ts says what is
 * checked). A register with a token waits for its check, and the frames behind it wait
 * with it, in order; only a register whose token names its user goes on, as the plain
 * `{type, user}` frame every release knows. A valid register for a user another connection
 * of this node holds closes that connection first (REPLACED_CLOSE_CODE), and goes on once
 * its session has ended, so the old call's CDR is written and the name is free.
 */
import { type HotlineError, hotlineError } from '../errors/catalogue.ts';
import { type PhoneAuth, splitToken } from './phone-auth.ts';

/** WebSocket close code of a connection whose user another connection took over (private range). */
export const REPLACED_CLOSE_CODE = 4409;

export interface Message {
  type: string;
  callId?: string;
  user?: string;
}

export type Decode = (
  text: string,
) => { ok: true; message: Message } | { ok: false; error: HotlineError; ref?: string };

/** What a gate may do to its connection. */
export interface Line {
  /** Pass a frame on toward the session, in order. */
  deliver(m: Message): void;
  /** Send the phone an error frame. */
  refuse(error: HotlineError, ref?: string): void;
  /** Close the socket now; later frames are ignored. */
  close(code: number, reason: string): void;
  /** End the connection's session; resolves once it is gone. */
  end(): Promise<void>;
  readonly closed: boolean;
}

export interface GateHooks {
  /** A valid frame (by type). */
  received(type: string): void;
  /** A register refused by the token check (its error code). */
  refused(code: string): void;
  /** A connection closed because a newer one registered its user with a valid token. */
  replaced(): void;
}

/** The gates of one gateway: every connection's, and which connection holds which user. */
export class RegistrationGates {
  readonly #lines = new Map<number, Line>();
  readonly #holders = new Map<string, number>();

  /** `auth` undefined: open registration, a register is believed (and any token ignored). */
  constructor(
    private readonly auth: PhoneAuth | undefined,
    private readonly decode: Decode,
    private readonly hooks: GateHooks,
  ) {}

  /** The gate of connection `id` from `address`; `authenticated` when it moved here registered. */
  open(id: number, address: string, line: Line, authenticated = false): { receive(text: string): void } {
    this.#lines.set(id, line);
    let held: string[] | null = null;
    const receive = (text: string): void => {
      if (held !== null) return void held.push(text);
      let decoded = this.decode(text);
      let token: unknown;
      // Only a frame the decoder refused can be a register with its token: the frames of a
      // call pay nothing for the check.
      const split = !decoded.ok && decoded.ref === 'register' && splitToken(text);
      if (split) {
        token = split.token;
        decoded = this.decode(split.text);
      }
      if (!decoded.ok) return line.refuse(decoded.error, decoded.ref);
      this.hooks.received(decoded.message.type);
      const m = decoded.message;
      if (this.auth === undefined || m.type !== 'register' || authenticated) return line.deliver(m);
      held = [];
      void admit(this.auth, m, token);
    };
    const admit = async (auth: PhoneAuth, m: Message, token: unknown): Promise<void> => {
      const verdict = await auth.admit(token, String(m.user), address);
      if (line.closed) return;
      if (!verdict.ok) {
        this.hooks.refused(verdict.error.code);
        line.refuse(verdict.error, 'register');
        if (verdict.close) return line.close(1008, 'registration throttled');
      } else {
        authenticated = true;
        await this.#replace(verdict.user, id);
        if (line.closed) return;
        line.deliver(m);
      }
      const queued = held ?? [];
      held = null;
      while (queued.length > 0 && held === null) receive(queued.shift() as string);
      if (held !== null) (held as string[]).push(...queued);
    };
    return { receive };
  }

  /** The session of connection `id` registered `user`. */
  registered(id: number, user: string): void {
    this.#holders.set(user, id);
  }

  /** Connection `id` (registered as `user`, if it was) is gone. */
  closed(id: number, user: string | null): void {
    this.#lines.delete(id);
    if (user !== null && this.#holders.get(user) === id) this.#holders.delete(user);
  }

  async #replace(user: string, by: number): Promise<void> {
    const holder = this.#holders.get(user);
    const line = holder === undefined || holder === by ? undefined : this.#lines.get(holder);
    if (line === undefined) return;
    this.closed(holder as number, user);
    this.hooks.replaced();
    line.refuse(hotlineError('HOT_ERR_REGISTRATION_REPLACED'));
    // Closed at once, not after the closing handshake: a phone that lost its network never
    // answers it, and this registration waits for the old session to end.
    line.close(REPLACED_CLOSE_CODE, 'replaced');
    await line.end();
  }
}
