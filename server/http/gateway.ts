/**
 * The WebSocket endpoint where phones connect: one connection is one session process and
 * one port process. The gateway owns the socket's lifecycle and the checks every frame
 * goes through (binary, size, rate, JSON, schema); a valid message is cast to the session.
 * It does not know what the messages mean (the decoder and the session module come from
 * the calls layer), except two it must see for the call-attempt limit, which the node
 * enforces rather than release code: `register` (which user the connection becomes, and
 * the phone token that proves it: registration-gate.ts) and `invite`.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { type HotlineError, hotlineError } from '../errors/catalogue.ts';
import { type Pid, type Runtime, startChild } from '../runtime/index.ts';
import { originRefusal } from './allowed-origins.ts';
import { CallAttempts } from './call-attempts.ts';
import type { ConnectionGuard } from './connection-guard.ts';
import { httpStatus } from './errors.ts';
import { keepAlive } from './keepalive.ts';
import type { PhoneAuth } from './phone-auth.ts';
import { clientGone } from './port.ts';
import { TokenBucket } from './rate-limit.ts';
import { type Decode, type Door, type Elsewhere, RegistrationGates } from './registration-gate.ts';
import { socketOf } from './ws-handoff.ts';

export type FrameDecoder = Decode;

export interface GatewayLimits {
  maxPayloadBytes: number;
  messagesPerSecond: number;
  burst: number;
  maxSessions: number;
  /** Invites per user per window; 0 = no limit. */
  callAttempts: number;
  /** A minute, except in tests. */
  callAttemptWindowMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** Web origins allowed to open phone connections; empty: any (allowed-origins.ts). */
  allowedOrigins: readonly string[];
}

export interface GatewayHooks {
  received(type: string): void;
  /** A frame the gateway itself sent (its error frames). */
  sent(type: string): void;
  protocolError(code: string): void;
  /** An invite refused for the call-attempt limit (it never reached the session). */
  callAttemptRefused(): void;
  /** A phone closed for not answering a ping in time. */
  pongTimedOut(): void;
  /** A register refused by the phone-token check (its error code). */
  registrationRefused(code: string): void;
  /** A connection closed because a newer one registered its user with a valid token. */
  registrationReplaced(): void;
}

export interface GatewayOptions {
  path: string;
  rt: Runtime;
  /** Dynamic supervisors for port and session processes. */
  ports: Pid;
  sessions: Pid;
  sockets: Map<number, WebSocket>;
  sessionArgs(port: Pid): unknown;
  decode: FrameDecoder;
  limits: GatewayLimits;
  /** Counts the socket as pending until it is a phone. */
  guard: ConnectionGuard;
  /** The phone-token check; undefined: open registration (any register is believed). */
  auth: PhoneAuth | undefined;
  /** Users held on other nodes of the cluster, taken over by a valid register here. */
  elsewhere?: Elsewhere;
  hooks: GatewayHooks;
  log: FastifyBaseLogger;
  /**
   * New phones wait for this before their processes start (their frames queue meanwhile): a
   * successor's supervisors arrive with the last batch of a handoff.
   */
  supervisorsHere?: Promise<void>;
  /**
   * The socket id before this gateway's first (0 by default). A successor's starts far above the
   * old process's: phones that connect to it during a handoff must not take the ids of the
   * phones still to arrive from there, each with its own.
   */
  lastSocket?: number;
  /**
   * Told of each new phone's socket and of each phone's connection ending (under the keeper,
   * which holds a copy of every one for the node's next successor).
   */
  copies?: { keep(socket: number, handle: Socket): void; drop(socket: number): void };
}

export interface Gateway {
  /** Refuse new connections from now on (graceful shutdown); what it returns accepts them again (a failed handoff). */
  stopAccepting(): () => void;
  readonly connections: number;
  /** The session answered the connection's register: with its user, or null when it refused it. */
  registration(socket: number, user: string | null): void;
  /** Connections accepted whose port and session are not both up yet (a handoff waits for them). */
  readonly starting: number;
  /** Phones whose port and session are up: the ones a handoff moves, by socket id. */
  phones(): PhoneState[];
  /** One phone's state as it is now (undefined: not a phone here, or closed). */
  phone(socket: number): PhoneState | undefined;
  /** Whether the phone's registration gate still has frames it has not dealt with (a token being checked). */
  checking(socket: number): boolean;
  /** The phone moved to another process: forget it without ending its port (its pid lives on there). */
  forget(socket: number): void;
  /** A phone that moved here from another process, on a WebSocket adopted without a handshake. */
  adopt(ws: WebSocket, phone: PhoneState): void;
  /**
   * Close the connection that holds `user` here, for another node where it registered with a
   * valid token; resolves once its session has ended (false: no connection here holds it).
   */
  replaceHolder(user: string): Promise<boolean>;
  /** What the gateway keeps for all phones: carried to a successor with the last batch. */
  exportShared(): GatewayShared;
  importShared(shared: GatewayShared): void;
  /** The per-connection options its sockets are made with (an adopted one gets the same). */
  readonly socketOptions: { maxPayload: number };
}

/** A phone's front-door state: what moves with its socket. */
export interface PhoneState {
  readonly socket: number;
  /** Its source address (the registration throttle counts failures by it). */
  readonly address: string;
  readonly port: Pid;
  readonly session: Pid;
  /** The user its session registered, once it did (for the call-attempt limit). */
  readonly user: string | null;
  /** Its rate limiter's tokens. */
  readonly tokens: number;
  /** Frames held until its session answers a register (null: none held). */
  readonly waiting: readonly Frame[] | null;
}

export interface GatewayShared {
  /** The last socket id given: a successor's new phones go on from it. */
  readonly lastSocket: number;
  readonly attempts: ReadonlyMap<string, readonly number[]>;
}

export type Frame = { type: string; callId?: string };

function rejectUpgrade(socket: Duplex, error: HotlineError): void {
  const body = JSON.stringify({ code: error.code, message: error.message });
  const status = httpStatus[error.code];
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** One phone's connection as the gateway holds it. */
interface Connection {
  readonly ws: WebSocket;
  readonly address: string;
  readonly bucket: TokenBucket;
  port: Pid | null;
  session: Pid | null;
  user: string | null;
  /**
   * Frames wait here, in order, while the session starts and while a register is not yet
   * answered: an invite is counted against the user the session registered, so it waits
   * to know that user (a name merely claimed could be someone else's).
   */
  waiting: Frame[] | null;
  closed: boolean;
  stopKeepAlive(): void;
}

export function attachGateway(app: FastifyInstance, o: GatewayOptions): Gateway {
  let accepting = true;
  let nextSocket = o.lastSocket ?? 0;
  let attempts = new CallAttempts(o.limits.callAttempts, o.limits.callAttemptWindowMs, Date.now());
  const live = new Map<number, Connection>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: o.limits.maxPayloadBytes,
    perMessageDeflate: false,
  });

  // Plain HTTP to the endpoint: say it is a WebSocket endpoint.
  app.get(o.path, async () => {
    throw hotlineError('HOT_ERR_UPGRADE_REQUIRED', o.path);
  });

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== o.path)
      return rejectUpgrade(socket, hotlineError('HOT_ERR_NOT_FOUND', `WebSocket endpoint ${path}`));
    if (!accepting) return rejectUpgrade(socket, hotlineError('HOT_ERR_SHUTTING_DOWN'));
    const badOrigin = originRefusal(o.limits.allowedOrigins, req.headers.origin);
    if (badOrigin !== null) return rejectUpgrade(socket, badOrigin);
    if (o.sockets.size >= o.limits.maxSessions)
      return rejectUpgrade(socket, hotlineError('HOT_ERR_NODE_FULL', o.limits.maxSessions));
    const address = req.socket.remoteAddress ?? '';
    wss.handleUpgrade(req, socket, head, (ws) => {
      o.guard.becamePhone(socket as Socket);
      void connect(ws, address).catch((err: unknown) => {
        o.log.error({ err }, 'could not start a session');
        ws.close(1011, 'session start failed');
      });
    });
  });

  const sendError = (ws: WebSocket, error: HotlineError, ref?: string, callId?: string) => {
    o.hooks.protocolError(error.code);
    ws.send(
      JSON.stringify({
        type: 'error',
        code: error.code,
        message: error.message,
        ...(ref === undefined ? {} : { ref }),
        ...(callId === undefined ? {} : { callId }),
      }),
    );
    o.hooks.sent('error');
  };

  const close = (c: Connection, code: number, reason: string) => {
    c.closed = true;
    c.ws.close(code, reason);
  };
  const door: Door<Connection> = {
    deliver: (c, m) => {
      if (c.waiting !== null) c.waiting.push(m);
      else pass(c, m);
    },
    refuse: (c, error, ref) => sendError(c.ws, error, ref),
    close,
    end: async (c) => {
      if (c.port !== null) o.rt.exit(c.port, clientGone);
      if (c.session !== null) await o.rt.awaitExit(c.session, Number.POSITIVE_INFINITY);
    },
  };
  const gates = new RegistrationGates(
    o.auth,
    o.decode,
    door,
    {
      received: o.hooks.received,
      refused: o.hooks.registrationRefused,
      replaced: o.hooks.registrationReplaced,
    },
    o.elsewhere,
  );

  const pass = (c: Connection, m: Frame) => {
    if (m.type === 'invite' && c.user !== null && !attempts.admit(c.user, Date.now())) {
      o.hooks.callAttemptRefused();
      const error = hotlineError('HOT_ERR_CALL_ATTEMPTS', attempts.limit, attempts.windowMs / 1000);
      return sendError(c.ws, error, m.type, m.callId);
    }
    o.rt.cast(c.session as Pid, m);
    if (m.type === 'register' && attempts.limit > 0) c.waiting = [];
  };
  const release = (c: Connection) => {
    const queued = c.waiting ?? [];
    c.waiting = null;
    for (const m of queued) {
      if (c.waiting === null) pass(c, m);
      else (c.waiting as Frame[]).push(m);
    }
  };

  /** The gateway's side of a phone's WebSocket: every frame's checks, and its end. */
  function wire(id: number, c: Connection): void {
    live.set(id, c);
    o.sockets.set(id, c.ws);
    // A phone that moved here registered with its token already: its gate starts open.
    if (c.user !== null) gates.registered(id, c.user);
    const gate = gates.open(id, c, c.user !== null);
    c.ws.on('message', (data: RawData, isBinary: boolean) => {
      if (c.closed) return;
      if (!c.bucket.take(Date.now())) {
        sendError(c.ws, hotlineError('HOT_ERR_RATE_LIMITED', o.limits.messagesPerSecond));
        return close(c, 1008, 'rate limit');
      }
      if (isBinary) return sendError(c.ws, hotlineError('HOT_ERR_BINARY_FRAME'));
      gate.receive(data.toString());
    });
    c.ws.on('error', (err) => o.log.debug({ err }, 'websocket error'));
    c.ws.on('close', () => {
      c.closed = true;
      o.copies?.drop(id);
      gates.closed(id, c.user);
      live.delete(id);
      if (c.port !== null) o.rt.exit(c.port, clientGone);
      else o.sockets.delete(id);
    });
  }

  const keepAliveOf = (ws: WebSocket) =>
    keepAlive(ws, o.limits.pingIntervalMs, o.limits.pongTimeoutMs, o.hooks.pongTimedOut);

  async function connect(ws: WebSocket, address: string): Promise<void> {
    const id = ++nextSocket;
    const c: Connection = {
      ws,
      address,
      bucket: new TokenBucket(o.limits.messagesPerSecond, o.limits.burst, Date.now()),
      port: null,
      session: null,
      user: null,
      waiting: [],
      closed: false,
      stopKeepAlive: keepAliveOf(ws),
    };
    wire(id, c);
    const handle = socketOf(ws);
    if (handle !== undefined) o.copies?.keep(id, handle);
    if (o.supervisorsHere !== undefined) await o.supervisorsHere;
    // No call timeout: under load the supervisors may be slow to get a turn, and a start
    // abandoned by a timeout would still happen later, leaving a port nobody owns. The
    // wait is bounded by maxSessions (pending sockets count), and a supervisor that dies
    // fails the call at once.
    c.port = await startChild(o.rt, o.ports, { socket: id }, Number.POSITIVE_INFINITY);
    c.session = await startChild(o.rt, o.sessions, o.sessionArgs(c.port), Number.POSITIVE_INFINITY);
    if (c.closed) {
      // The phone left while its session was starting.
      o.rt.exit(c.port, clientGone);
      return;
    }
    release(c);
  }

  const stateOf = (socket: number, c: Connection, now: number): PhoneState | undefined =>
    c.port === null || c.session === null || c.closed
      ? undefined
      : {
          socket,
          address: c.address,
          port: c.port,
          session: c.session,
          user: c.user,
          tokens: c.bucket.tokensAt(now),
          waiting: c.waiting,
        };

  return {
    stopAccepting: () => {
      accepting = false;
      return () => {
        accepting = true;
      };
    },
    get connections() {
      return o.sockets.size;
    },
    registration: (socket, user) => {
      const c = live.get(socket);
      if (c === undefined) return;
      c.user = user ?? c.user;
      if (user !== null) gates.registered(socket, user);
      if (c.session !== null) release(c);
    },
    replaceHolder: (user) => gates.replaceHolder(user),
    get starting() {
      let n = 0;
      for (const c of live.values()) if (c.session === null) n++;
      return n;
    },
    phones() {
      const now = Date.now();
      const phones: PhoneState[] = [];
      for (const [socket, c] of live) {
        const phone = stateOf(socket, c, now);
        if (phone !== undefined) phones.push(phone);
      }
      return phones;
    },
    phone(socket) {
      const c = live.get(socket);
      return c === undefined ? undefined : stateOf(socket, c, Date.now());
    },
    checking: (socket) => gates.checking(socket),
    forget(socket) {
      const c = live.get(socket);
      if (c === undefined) return;
      live.delete(socket);
      o.sockets.delete(socket);
      gates.closed(socket, c.user);
      c.closed = true;
      c.stopKeepAlive();
      c.ws.removeAllListeners();
    },
    adopt(ws, phone) {
      nextSocket = Math.max(nextSocket, phone.socket);
      wire(phone.socket, {
        ws,
        address: phone.address,
        bucket: new TokenBucket(o.limits.messagesPerSecond, o.limits.burst, Date.now(), phone.tokens),
        port: phone.port,
        session: phone.session,
        user: phone.user,
        waiting: phone.waiting === null ? null : [...phone.waiting],
        closed: false,
        stopKeepAlive: keepAliveOf(ws),
      });
    },
    socketOptions: { maxPayload: o.limits.maxPayloadBytes },
    exportShared: () => ({ lastSocket: nextSocket, attempts: attempts.export() }),
    importShared(shared) {
      nextSocket = Math.max(nextSocket, shared.lastSocket);
      attempts = new CallAttempts(
        o.limits.callAttempts,
        o.limits.callAttemptWindowMs,
        Date.now(),
        shared.attempts,
      );
    },
  };
}
