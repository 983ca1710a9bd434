/**
 * The WebSocket endpoint where phones connect: one connection is one session process and
 * one port process. The gateway owns the socket's lifecycle and the checks every frame
 * goes through (binary, size, rate, JSON, schema); a valid message is cast to the session.
 * It does not know what the messages mean (the decoder and the session module come from
 * the calls layer), except two it must see for the call-attempt limit, which the node
 * enforces rather than release code: `register` (which user the connection becomes) and
 * `invite`.
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
import { clientGone } from './port.ts';
import { TokenBucket } from './rate-limit.ts';

export type FrameDecoder = (
  text: string,
) => { ok: true; message: { type: string } } | { ok: false; error: HotlineError; ref?: string };

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
  hooks: GatewayHooks;
  log: FastifyBaseLogger;
}

export interface Gateway {
  /** Refuse new connections from now on (graceful shutdown). */
  stopAccepting(): void;
  readonly connections: number;
  /** The session answered the connection's register: with its user, or null when it refused it. */
  registration(socket: number, user: string | null): void;
}

type Frame = { type: string; callId?: string };

function rejectUpgrade(socket: Duplex, error: HotlineError): void {
  const body = JSON.stringify({ code: error.code, message: error.message });
  const status = httpStatus[error.code];
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function attachGateway(app: FastifyInstance, o: GatewayOptions): Gateway {
  let accepting = true;
  let nextSocket = 0;
  const attempts = new CallAttempts(o.limits.callAttempts, o.limits.callAttemptWindowMs, Date.now());
  const registrations = new Map<number, (user: string | null) => void>();
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
    wss.handleUpgrade(req, socket, head, (ws) => {
      o.guard.becamePhone(socket as Socket);
      keepAlive(ws, o.limits.pingIntervalMs, o.limits.pongTimeoutMs, o.hooks.pongTimedOut);
      void connect(ws).catch((err: unknown) => {
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

  async function connect(ws: WebSocket): Promise<void> {
    const id = ++nextSocket;
    o.sockets.set(id, ws);
    const bucket = new TokenBucket(o.limits.messagesPerSecond, o.limits.burst, Date.now());
    // Frames wait here, in order, while the session starts and while a register is not yet
    // answered: an invite is counted against the user the session registered, so it waits
    // to know that user (a name merely claimed could be someone else's).
    let waiting: Frame[] | null = [];
    let session: Pid | null = null;
    let port: Pid | null = null;
    let closed = false;
    let user: string | null = null;

    const pass = (m: Frame) => {
      if (m.type === 'invite' && user !== null && !attempts.admit(user, Date.now())) {
        o.hooks.callAttemptRefused();
        const error = hotlineError('HOT_ERR_CALL_ATTEMPTS', attempts.limit, attempts.windowMs / 1000);
        return sendError(ws, error, m.type, m.callId);
      }
      o.rt.cast(session as Pid, m);
      if (m.type === 'register' && attempts.limit > 0) waiting = [];
    };
    const release = () => {
      const queued = waiting ?? [];
      waiting = null;
      for (const m of queued) {
        if (waiting === null) pass(m);
        else (waiting as Frame[]).push(m);
      }
    };
    registrations.set(id, (answered) => {
      user = answered ?? user;
      if (session !== null) release();
    });

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (closed) return;
      if (!bucket.take(Date.now())) {
        sendError(ws, hotlineError('HOT_ERR_RATE_LIMITED', o.limits.messagesPerSecond));
        closed = true;
        ws.close(1008, 'rate limit');
        return;
      }
      if (isBinary) return sendError(ws, hotlineError('HOT_ERR_BINARY_FRAME'));
      const decoded = o.decode(data.toString());
      if (!decoded.ok) return sendError(ws, decoded.error, decoded.ref);
      o.hooks.received(decoded.message.type);
      if (waiting !== null) waiting.push(decoded.message);
      else pass(decoded.message);
    });
    ws.on('error', (err) => o.log.debug({ err }, 'websocket error'));
    ws.on('close', () => {
      closed = true;
      registrations.delete(id);
      if (port !== null) o.rt.exit(port, clientGone);
      else o.sockets.delete(id);
    });

    // No call timeout: under load the supervisors may be slow to get a turn, and a start
    // abandoned by a timeout would still happen later, leaving a port nobody owns. The
    // wait is bounded by maxSessions (pending sockets count), and a supervisor that dies
    // fails the call at once.
    port = await startChild(o.rt, o.ports, { socket: id }, Number.POSITIVE_INFINITY);
    session = await startChild(o.rt, o.sessions, o.sessionArgs(port), Number.POSITIVE_INFINITY);
    if (closed) {
      // The phone left while its session was starting.
      o.rt.exit(port, clientGone);
      return;
    }
    release();
  }

  return {
    stopAccepting: () => {
      accepting = false;
    },
    get connections() {
      return o.sockets.size;
    },
    registration: (socket, user) => registrations.get(socket)?.(user),
  };
}
