/**
 * The register step of every phone connection, between the gateway's frame checks and the
 * session: node policy, whatever release the session runs (phone-auth.ts says what is
 * checked). A register with a token waits for its check, and the frames behind it wait
 * with it, in order; only a register whose token names its user goes on, as the plain
 * `{type, user}` frame every release knows. A valid register for a user another connection
 * of this node holds closes that connection first (REPLACED_CLOSE_CODE), and goes on once
 * its session has ended, so the old call's CDR is written and the name is free; a user held
 * on another node of a cluster is taken over the same way there (`Elsewhere`).
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

/** What a gate reads of its connection: the gateway's own record of it, never a copy. */
export interface Gated {
  readonly address: string;
  /** Set once the socket is closing: later frames and answers are dropped. */
  readonly closed: boolean;
}

/** What a gate may do to a connection: the gateway's, one set for all its connections. */
export interface Door<C extends Gated> {
  /** Pass a frame on toward the connection's session, in order. */
  deliver(c: C, m: Message): void;
  /** Send the phone an error frame. */
  refuse(c: C, error: HotlineError, ref?: string): void;
  /** Close the socket now; later frames are ignored. */
  close(c: C, code: number, reason: string): void;
  /** End the connection's session; resolves once it is gone. */
  end(c: C): Promise<void>;
}

/** A user held on another node: have that node let go of it (cluster-replacement.ts). */
export interface Elsewhere {
  /**
   * Resolves once `user` is free here (at once when no other node holds it), or with the
   * error that says why it is not; `token` is the register's, which that node checks again.
   */
  takeOver(user: string, token: unknown): Promise<HotlineError | undefined>;
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
export class RegistrationGates<C extends Gated> {
  readonly #connections = new Map<number, C>();
  readonly #holders = new Map<string, number>();
  /** Connections whose register's token is being checked (their later frames wait behind it). */
  readonly #checking = new Set<number>();

  /** `auth` undefined: open registration, a register is believed (and any token ignored). */
  constructor(
    private readonly auth: PhoneAuth | undefined,
    private readonly decode: Decode,
    private readonly door: Door<C>,
    private readonly hooks: GateHooks,
    private readonly elsewhere?: Elsewhere,
  ) {}

  /** The gate of connection `id`; `authenticated` when it moved here registered. */
  open(id: number, c: C, authenticated = false): { receive(text: string): void } {
    const { door } = this;
    this.#connections.set(id, c);
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
      if (!decoded.ok) return door.refuse(c, decoded.error, decoded.ref);
      this.hooks.received(decoded.message.type);
      const m = decoded.message;
      if (this.auth === undefined || m.type !== 'register' || authenticated) return door.deliver(c, m);
      held = [];
      this.#checking.add(id);
      void admit(this.auth, m, token).finally(() => this.#checking.delete(id));
    };
    const admit = async (auth: PhoneAuth, m: Message, token: unknown): Promise<void> => {
      const verdict = await auth.admit(token, String(m.user), c.address);
      if (c.closed) return;
      if (!verdict.ok) {
        this.hooks.refused(verdict.error.code);
        door.refuse(c, verdict.error, 'register');
        if (verdict.close) return door.close(c, 1008, 'registration throttled');
      } else {
        await this.#replace(verdict.user, id);
        const elsewhere = await this.elsewhere?.takeOver(verdict.user, token);
        if (c.closed) return;
        if (elsewhere === undefined) {
          authenticated = true;
          door.deliver(c, m);
        } else door.refuse(c, elsewhere, 'register');
      }
      const queued = held ?? [];
      held = null;
      while (queued.length > 0 && held === null) receive(queued.shift() as string);
      if (held !== null) (held as string[]).push(...queued);
    };
    return { receive };
  }

  /**
   * Another node asks for `user`, having checked a valid token for it: close the connection
   * of this node that holds it, as a register here would. Resolves once its session has
   * ended; false when no connection here holds the user.
   */
  async replaceHolder(user: string): Promise<boolean> {
    return this.#replace(user, undefined);
  }

  /** The session of connection `id` registered `user`. */
  registered(id: number, user: string): void {
    this.#holders.set(user, id);
  }

  /**
   * Whether connection `id` has frames its gate has not dealt with: a register whose token is
   * being checked, and what came behind it. A connection moves to another process only once
   * this is false and it reads no more, or those frames would be lost with the check.
   */
  checking(id: number): boolean {
    return this.#checking.has(id);
  }

  /** Connection `id` (registered as `user`, if it was) is gone. */
  closed(id: number, user: string | null): void {
    this.#connections.delete(id);
    if (user !== null && this.#holders.get(user) === id) this.#holders.delete(user);
  }

  /** Close the connection other than `by` that holds `user`, and wait for its session's end. */
  async #replace(user: string, by: number | undefined): Promise<boolean> {
    const holder = this.#holders.get(user);
    const c = holder === undefined || holder === by ? undefined : this.#connections.get(holder);
    if (c === undefined) return false;
    this.closed(holder as number, user);
    this.hooks.replaced();
    this.door.refuse(c, hotlineError('HOT_ERR_REGISTRATION_REPLACED'));
    // Closed at once, not after the closing handshake: a phone that lost its network never
    // answers it, and this registration waits for the old session to end.
    this.door.close(c, REPLACED_CLOSE_CODE, 'replaced');
    await this.door.end(c);
    return true;
  }
}
