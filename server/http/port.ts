/**
 * A port: the process that stands for one WebSocket, as an Erlang port stands for an
 * external resource. Session code sends it frames as ordinary messages; only the port
 * touches the socket. The session links to its port, so a closed socket ends the session
 * (EXIT), and a session that ends closes its socket — with no socket code in session code,
 * which is what lets session code be replaced while sockets stay up.
 */
import { WebSocket } from 'ws';
import { type Behaviour, type ExitReason, noreply, type SystemInfo, stop } from '../runtime/index.ts';

export interface PortArgs {
  socket: number;
}

export interface PortState {
  socket: number;
}

/** What the front door tells its metrics about outgoing frames. */
export interface PortHooks {
  sent(type: string): void;
  errorSent(code: string): void;
  /** The session answered a register: the user it registered, or null when it refused. */
  registration(socket: number, user: string | null): void;
}

/** Reasons a port ends with, beyond OTP's own. */
export const clientGone: ExitReason = Object.freeze({ type: 'shutdown', detail: 'client_gone' });
export const slowReader: ExitReason = Object.freeze({ type: 'shutdown', detail: 'slow_reader' });
/** The node moves to a new process without this connection (a TLS one): the phone reconnects. */
export const serviceRestart = Object.freeze({
  type: 'shutdown',
  detail: 'service_restart',
}) satisfies ExitReason;

/** WebSocket close codes (RFC 6455) for the ways a port ends. */
function closeCode(reason: ExitReason): number {
  switch (reason.type) {
    case 'normal':
      return 1000;
    case 'shutdown':
      // 1012 Service Restart (IANA's WebSocket close code registry): come back, to the same address.
      return reason.detail === serviceRestart.detail ? 1012 : 1001;
    default:
      return 1011;
  }
}

/**
 * Frames a slice of the scheduler sends to one socket leave in one write: the socket is
 * corked at its first frame and uncorked once the slice is over (nextTick runs after it).
 * An ack and the echoed media of one phone then cost one syscall, not two.
 */
const corked = new Set<{ cork(): void; uncork(): void }>();
function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.clear();
}
function corkForThisTick(ws: WebSocket): void {
  // `_socket` is ws's underlying net.Socket; cork/uncork are public net.Socket API.
  const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
  if (socket === undefined || corked.has(socket)) return;
  if (corked.size === 0) process.nextTick(uncorkAll);
  socket.cork();
  corked.add(socket);
}

export function createPort(
  sockets: Map<number, WebSocket>,
  hooks: PortHooks,
  maxBufferedBytes: number,
): Behaviour<PortState, PortArgs, { call: never; reply: never; cast: never; info: { type: string } }> {
  return {
    name: 'port',
    version: '1.0.0',

    init(args, ctx) {
      ctx.trapExit(true);
      return { socket: args.socket };
    },

    handleInfo(message, state) {
      if (message.type === 'EXIT') return stop((message as SystemInfo & { type: 'EXIT' }).reason, state);
      const answer = message as { type: string; user?: string; ref?: string };
      if (answer.type === 'registered') hooks.registration(state.socket, String(answer.user));
      else if (answer.type === 'error' && answer.ref === 'register') hooks.registration(state.socket, null);
      const ws = sockets.get(state.socket);
      if (ws === undefined || ws.readyState !== WebSocket.OPEN) return noreply(state);
      // A phone that does not read: end it rather than buffer without bound.
      if (ws.bufferedAmount > maxBufferedBytes) return stop(slowReader, state);
      corkForThisTick(ws);
      ws.send(JSON.stringify(message));
      hooks.sent(message.type);
      if (message.type === 'error') hooks.errorSent(String((message as { code?: unknown }).code));
      return noreply(state);
    },

    terminate(reason, state) {
      const ws = sockets.get(state.socket);
      sockets.delete(state.socket);
      if (ws === undefined || ws.readyState !== WebSocket.OPEN) return;
      if (reason.type === 'shutdown' && reason.detail === 'slow_reader') ws.terminate();
      else
        ws.close(closeCode(reason), reason.type === 'shutdown' ? (reason.detail ?? 'shutdown') : reason.type);
    },
  };
}
