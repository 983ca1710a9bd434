/**
 * The node's Prometheus metrics, one module per area, composed here into one registry.
 * Everything is fed by events and hooks (runtime events, the journal's hooks, the gateway's
 * and ports' hooks) or read at scrape time; nothing in the runtime or the session code knows
 * prom-client. Label sets are bounded: release, message type, error code, cause — never a
 * user, pid or call id.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Refusal } from '../../cluster/cluster.ts';
import { type CallMetrics, callMetrics } from './calls.ts';
import { clusterMetrics } from './cluster.ts';
import { type ConnectionMetrics, connectionMetrics } from './connections.ts';
import { type FrameTotals, frameMetrics } from './frames.ts';
import { type HandoffMetrics, handoffMetrics } from './handoff.ts';
import { type RegistrationMetrics, registrationMetrics } from './registration.ts';
import { type ReleaseMetrics, releaseMetrics } from './releases.ts';
import { runtimeMetrics } from './runtime.ts';
import { type SessionMetrics, sessionMetrics } from './sessions.ts';
import type { ScrapeSources } from './sources.ts';
import { type TlsMetrics, tlsMetrics } from './tls.ts';

export type { FrameTotals } from './frames.ts';
export type { ScrapeSources } from './sources.ts';

export interface NodeMetrics extends CallMetrics, ConnectionMetrics, RegistrationMetrics, TlsMetrics {
  registry: Registry;
  /** What the release handler reports. */
  release: ReleaseMetrics;
  /** What a node handoff reports. */
  handoff: HandoffMetrics;
  /** Time session processes spend per message (the runtime's turn observer). */
  sessionTurn: SessionMetrics['turn'];
  received(type: string): void;
  sent(type: string): void;
  protocolError(code: string): void;
  /** An invite refused for the call-attempt limit. */
  callAttemptRefused(): void;
  /** A message from another node of the cluster refused: malformed, or from a release that does not interoperate. */
  clusterRefused(why: Refusal): void;
  /** Frames counted since start, for the observer's rates (read without a scrape). */
  frameTotals(): FrameTotals;
  /** Wire the sources that are read at scrape time or emit events. */
  observe(sources: ScrapeSources): void;
}

/** `openRegistration`: the node takes registrations without a phone token. */
export function createMetrics(node: string, openRegistration = false): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node });
  collectDefaultMetrics({ register: registry });
  let wired: ScrapeSources | null = null;
  const sources = () => wired;

  const sessions = sessionMetrics(registry, sources);
  const runtime = runtimeMetrics(registry, sources);
  const calls = callMetrics(registry, sources);
  const frames = frameMetrics(registry);
  const cluster = clusterMetrics(registry);
  const release = releaseMetrics(registry, sources);

  return {
    registry,
    ...connectionMetrics(registry),
    ...registrationMetrics(registry, openRegistration),
    ...tlsMetrics(registry),
    release,
    handoff: handoffMetrics(registry),
    sessionTurn: sessions.turn,
    answered: calls.answered,
    ended: calls.ended,
    received: frames.received,
    sent: frames.sent,
    protocolError: frames.protocolError,
    callAttemptRefused: frames.callAttemptRefused,
    clusterRefused: cluster.refused,
    frameTotals: frames.totals,
    observe(s) {
      sessions.observe(s.rt);
      runtime.observe(s.rt);
      wired = s;
    },
  };
}
