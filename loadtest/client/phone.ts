/**
 * A phone: one WebSocket to a node, speaking the protocol. Tests, benchmarks, the load
 * harness and the example CLI all drive nodes through it. Incoming messages queue until
 * awaited with `next()`, so a script reads like the call flow it follows.
 */
import type { SecureContextOptions } from 'node:tls';
import WebSocket from 'ws';
import type { ClientMessage, ServerMessage } from '../../server/calls/protocol/shipped.ts';

export interface PhoneOptions {
  /** Source address, to spread many phones over 127.0.0.x and past one address's ports. */
  localAddress?: string;
  /** Keep every message in `log` (tests); load runs keep only counters. */
  keepLog?: boolean;
  /**
   * Count frames that start with this text instead of parsing them (load runs: the media a
   * service echoes back is not needed, only its acks). Counted in `skipped`.
   */
  skipPrefix?: string;
  /**
   * Where `register` gets its phone token for a user (server/http/phone-tokens.ts); without
   * it the phone registers with no token, as only an open-registration node takes.
   */
  token?: PhoneTokenSource;
  /**
   * For a wss:// node whose certificate no system CA signed: the PEM certificates to trust
   * (its own, when self-signed). NODE_EXTRA_CA_CERTS does the same for a whole process.
   */
  ca?: SecureContextOptions['ca'];
}

/** A phone token for `user`, as a real client gets one from its operator. */
export type PhoneTokenSource = (user: string) => string | Promise<string>;

export type Closed = { code: number; reason: string };
type Waiter = {
  match: (m: ServerMessage) => boolean;
  resolve: (m: ServerMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
};

export class Phone {
  readonly log: ServerMessage[] = [];
  readonly closed: Promise<Closed>;
  #queue: ServerMessage[] = [];
  #waiters: Waiter[] = [];
  #handlers: ((m: ServerMessage) => void)[] = [];
  #isClosed = false;
  skipped = 0;

  private constructor(
    readonly ws: WebSocket,
    private readonly keepLog: boolean,
    skipPrefix: string | undefined,
    private readonly token: PhoneTokenSource | undefined,
  ) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.#isClosed = true;
        for (const w of this.#waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`socket closed (${code}) while waiting`));
        }
        resolve({ code, reason: reason.toString() });
      });
    });
    ws.on('message', (data) => {
      const text = data.toString();
      if (skipPrefix !== undefined && text.startsWith(skipPrefix)) this.skipped++;
      else this.#receive(JSON.parse(text) as ServerMessage);
    });
    ws.on('error', () => {
      // Surfaced through `closed`.
    });
  }

  static connect(url: string, options: PhoneOptions = {}): Promise<Phone> {
    const ws = new WebSocket(url, {
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      perMessageDeflate: false,
      // A node that is starting (or stopping) may take the connection and never answer.
      handshakeTimeout: 10_000,
    });
    const phone = new Phone(ws, options.keepLog ?? true, options.skipPrefix, options.token);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(phone));
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)),
      );
      ws.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return !this.#isClosed && this.ws.readyState === WebSocket.OPEN;
  }

  send(message: ClientMessage): void {
    this.ws.send(JSON.stringify(message));
  }

  /** Send text as it is (for bad-input tests). */
  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** Called for every message as it arrives (load runs use this instead of `next`). */
  onMessage(handler: (m: ServerMessage) => void): void {
    this.#handlers.push(handler);
  }

  /** The next message of this type (or matching this test), waiting at most `timeoutMs`. */
  next<T extends ServerMessage['type']>(
    type: T,
    timeoutMs?: number,
  ): Promise<Extract<ServerMessage, { type: T }>>;
  next(match: (m: ServerMessage) => boolean, timeoutMs?: number): Promise<ServerMessage>;
  next(what: string | ((m: ServerMessage) => boolean), timeoutMs = 5000): Promise<ServerMessage> {
    const match = typeof what === 'string' ? (m: ServerMessage) => m.type === what : what;
    const i = this.#queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#queue.splice(i, 1)[0] as ServerMessage);
    if (this.#isClosed) return Promise.reject(new Error('socket is closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(
            new Error(`no ${typeof what === 'string' ? what : 'matching'} message within ${timeoutMs} ms`),
          );
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Messages received and not yet taken by `next`. */
  pending(): ServerMessage[] {
    return [...this.#queue];
  }

  /** Send `register` for `user`, with a token from the phone's token source if it has one. */
  async sendRegister(user: string): Promise<void> {
    const token = await this.token?.(user);
    this.ws.send(JSON.stringify({ type: 'register', user, ...(token === undefined ? {} : { token }) }));
  }

  async register(user: string): Promise<void> {
    await this.sendRegister(user);
    const m = await this.next((x) => x.type === 'registered' || x.type === 'error');
    if (m.type === 'error') throw new Error(`${m.code}: ${m.message}`);
  }

  close(code = 1000): Promise<Closed> {
    this.ws.close(code);
    return this.closed;
  }

  #receive(m: ServerMessage): void {
    if (this.keepLog) this.log.push(m);
    for (const h of this.#handlers) h(m);
    const i = this.#waiters.findIndex((w) => w.match(m));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1) as [Waiter];
      clearTimeout(w.timer);
      w.resolve(m);
      return;
    }
    if (this.keepLog) this.#queue.push(m);
  }
}
