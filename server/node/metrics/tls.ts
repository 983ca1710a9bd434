/** TLS: certificate reloads, and the TLS phones a node handoff told to reconnect. */
import { Counter, type Registry } from 'prom-client';

export interface TlsMetrics {
  tlsReload(outcome: 'reloaded' | 'refused'): void;
  tlsReconnects(phones: number): void;
}

export function tlsMetrics(registry: Registry): TlsMetrics {
  const reloads = new Counter({
    name: 'hotline_tls_reloads_total',
    help: 'Certificate reloads (SIGHUP or a changed file) by outcome: reloaded, or refused (the certificate in use stays)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const reconnects = new Counter({
    name: 'hotline_handoff_tls_reconnects_total',
    help: 'Phones on TLS connections a node handoff told to reconnect (closed with 1012) instead of moving them',
    registers: [registry],
  });
  for (const outcome of ['reloaded', 'refused']) reloads.inc({ outcome }, 0);
  return {
    tlsReload: (outcome) => reloads.inc({ outcome }),
    tlsReconnects: (phones) => reconnects.inc(phones),
  };
}
