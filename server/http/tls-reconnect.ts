/**
 * Phones a node handoff cannot move: a TLS connection's session keys and sequence numbers live
 * in this process's OpenSSL, and no API hands them to another process. Each such phone gets
 * the error frame HOT_ERR_HANDOFF_TLS_RECONNECT; its session is ended as a graceful shutdown
 * ends it (the call's CDR is written, cause `node_shutdown`: the cause shipped session code
 * gives a call the node ends), and its port closes the socket with 1012 (Service Restart).
 * The phone reconnects to the same address, where the successor has the listening socket.
 */

import type { WebSocket } from 'ws';
import { hotlineError } from '../errors/catalogue.ts';
import type { Pid, Runtime } from '../runtime/index.ts';
import type { Gateway } from './gateway.ts';
import { serviceRestart } from './port.ts';
import { runsOverTls } from './ws-handoff.ts';

/** How long a session may take to end its call and its port to close the socket. */
const END_TIMEOUT_MS = 10_000;

export interface TlsPhones {
  readonly rt: Runtime;
  readonly gateway: Gateway;
  readonly sockets: ReadonlyMap<number, WebSocket>;
  /** The dynamic supervisor of sessions: the exit comes from it, as a shutdown's does. */
  readonly sessions: Pid;
  reconnected(phones: number): void;
}

/** Tell every phone on a TLS connection to reconnect and end it here; resolves with how many once they are gone. */
export async function reconnectTlsPhones(o: TlsPhones): Promise<number> {
  const phones = o.gateway.phones().filter((p) => {
    const ws = o.sockets.get(p.socket);
    return ws !== undefined && runsOverTls(ws);
  });
  if (phones.length === 0) return 0;
  const supervisor = o.rt.whereis(o.sessions) ?? o.sessions;
  const error = hotlineError('HOT_ERR_HANDOFF_TLS_RECONNECT');
  for (const p of phones) {
    // Through the port, which writes every frame of its socket: it goes out before the session's `ended`.
    o.rt.send(p.port, { type: 'error', code: error.code, message: error.message });
    o.rt.exit(p.session, serviceRestart, supervisor);
  }
  await Promise.all(phones.map((p) => o.rt.awaitExit(p.port, END_TIMEOUT_MS)));
  o.reconnected(phones.length);
  return phones.length;
}
