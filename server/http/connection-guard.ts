/**
 * Connections that do nothing are closed. Every accepted socket is "pending" until it
 * becomes a phone (its WebSocket handshake done) or closes: pending ones are capped in
 * total and per source address, and one that has not sent a complete first request (an
 * HTTP request or a WebSocket upgrade) within the handshake timeout is destroyed. Node's
 * own timeouts cover what comes later: the headers and body of each request, and the wait
 * between requests on a keep-alive connection. Without this, a socket that never sends a
 * byte holds one of the process's open files for ever.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

export interface ConnectionLimits {
  /** A new connection must complete its first request (HTTP, or a phone's WebSocket upgrade) within this. */
  handshakeTimeoutMs: number;
  /** Any request's headers must arrive within this of its first byte. */
  headersTimeoutMs: number;
  /** A whole request, body included, must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive HTTP connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections not (yet) phones, per surface: beyond these, new ones are closed at once. */
  maxPendingConnections: number;
  maxPendingPerAddress: number;
}

export type ConnectionRefusal = 'pending_limit' | 'address_limit';

export interface ConnectionHooks {
  refused(reason: ConnectionRefusal): void;
  handshakeTimedOut(): void;
}

export interface ConnectionGuard {
  /** The socket carries a phone now: it no longer counts as pending. */
  becamePhone(socket: Socket): void;
}

/** Fastify's options for Node's own timeouts (fastify's keep-alive default is 72 s). */
export function serverTimeouts(l: ConnectionLimits) {
  return {
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    http: {
      headersTimeout: l.headersTimeoutMs,
      // Node checks those two timeouts at this interval (30 s by default), not at the deadline.
      connectionsCheckingInterval: Math.max(50, Math.min(l.headersTimeoutMs, l.requestTimeoutMs) / 4),
    },
  };
}

/**
 * The TCP socket a request or upgrade came on. Over TLS, 'connection' gives the TCP socket and
 * requests and upgrades the TLSSocket wrapped around it, which keeps it as `_parent` (Node's
 * tls, unchanged since Node 0.x; there is no public accessor).
 */
const tcpOf = (socket: Socket): Socket => (socket as { _parent?: Socket | null })._parent ?? socket;

export function guardConnections(
  app: FastifyInstance,
  l: ConnectionLimits,
  hooks: ConnectionHooks,
): ConnectionGuard {
  const server = app.server;
  const pending = new Map<Socket, { address: string; timer: NodeJS.Timeout | undefined }>();
  const perAddress = new Map<string, number>();

  const release = (socket: Socket) => {
    const p = pending.get(socket);
    if (p === undefined) return;
    clearTimeout(p.timer);
    pending.delete(socket);
    const n = (perAddress.get(p.address) ?? 1) - 1;
    if (n === 0) perAddress.delete(p.address);
    else perAddress.set(p.address, n);
  };

  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = perAddress.get(address) ?? 0;
    const refusal: ConnectionRefusal | null =
      pending.size >= l.maxPendingConnections
        ? 'pending_limit'
        : fromAddress >= l.maxPendingPerAddress
          ? 'address_limit'
          : null;
    if (refusal !== null) {
      hooks.refused(refusal);
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      hooks.handshakeTimedOut();
      socket.destroy();
    }, l.handshakeTimeoutMs);
    timer.unref();
    pending.set(socket, { address, timer });
    perAddress.set(address, fromAddress + 1);
    socket.once('close', () => release(socket));
  });
  // A first complete request ends the handshake wait; the socket stays pending (not a phone).
  // An upgrade does not: the handshake ends when the socket becomes a phone, and one refused
  // whose client never closes its side is destroyed when the wait runs out.
  server.on('request', (req: { socket: Socket }) => {
    const p = pending.get(tcpOf(req.socket));
    if (p?.timer === undefined) return;
    clearTimeout(p.timer);
    p.timer = undefined;
  });

  // Sockets still waiting for a first request have nothing in flight: a stopping node does
  // not wait out their timeout (Node's close leaves them open).
  app.addHook('preClose', async () => {
    for (const [socket, p] of pending) if (p.timer !== undefined) socket.destroy();
  });

  return { becamePhone: (socket) => release(tcpOf(socket)) };
}
