/** Connections the front door refused or closed before they did anything: the idle and abusive clients. */
import type { Registry } from 'prom-client';
import type { ConnectionRefusal } from '../../http/connection-guard.ts';
import { plainCounter } from './plain.ts';

const REFUSALS: ConnectionRefusal[] = ['pending_limit', 'address_limit'];

export interface ConnectionMetrics {
  connectionRefused(reason: ConnectionRefusal): void;
  handshakeTimedOut(): void;
  pongTimedOut(): void;
}

export function connectionMetrics(registry: Registry): ConnectionMetrics {
  const refused = plainCounter(
    registry,
    'hotline_connections_refused_total',
    'Connections closed as soon as accepted, too many not yet phones: in total or from one address',
    'reason',
    REFUSALS,
  );
  const timedOut = plainCounter(
    registry,
    'hotline_connections_timed_out_total',
    'Connections closed for doing nothing: no first request in time, or a phone that did not answer a ping',
    'reason',
    ['handshake', 'pong'],
  );
  return {
    connectionRefused: refused.count,
    handshakeTimedOut: () => timedOut.count('handshake'),
    pongTimedOut: () => timedOut.count('pong'),
  };
}
