/**
 * The node's Prometheus metrics. Everything is fed by events and hooks (runtime events,
 * the journal's hooks, the gateway's and ports' hooks) or read at scrape time; nothing in
 * the runtime or the session code knows prom-client. Label sets are bounded: release,
 * message type, error code, cause — never a user, pid or call id.
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { countPhases } from '../calls/cdr/journal.ts';
import type { Cdr } from '../calls/cdr/records.ts';
import type { CallPhase } from '../calls/contract.ts';
import type { InstallHooks, InstallProgress } from '../release/installer.ts';
import type { Runtime } from '../runtime/index.ts';

export interface NodeMetrics {
  registry: Registry;
  /** What the release handler reports. */
  release: Pick<InstallHooks, 'phaseDone' | 'codeChangeFailed'> & { outcome(p: InstallProgress): void };
  /** Hooks for the sources that push. */
  /** Time session processes spend per message (the runtime's turn observer). */
  sessionTurn: { module: string; observe(ms: number): void };
  answered(setupSeconds: number): void;
  ended(cdr: Cdr): void;
  received(type: string): void;
  sent(type: string): void;
  protocolError(code: string): void;
  /** Wire the sources that are read at scrape time or emit events. */
  observe(rt: Runtime, openCalls: () => Iterable<{ phase: CallPhase }>): void;
}

export function createMetrics(node: string): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node });
  collectDefaultMetrics({ register: registry });
  let source: { rt: Runtime; openCalls: () => Iterable<{ phase: CallPhase }> } | null = null;

  new Gauge({
    name: 'hotline_sessions_active',
    help: 'Session processes by the release they run',
    labelNames: ['release'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of source?.rt.modules.versions() ?? [])
        if (v.module === 'session') this.inc({ release: v.version }, v.processes);
    },
  });
  new Gauge({
    name: 'hotline_processes',
    help: 'Processes by behaviour module',
    labelNames: ['module'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of source?.rt.modules.versions() ?? []) this.inc({ module: v.module }, v.processes);
    },
  });
  new Gauge({
    name: 'hotline_calls_active',
    help: 'Calls up or being set up, by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      if (source === null) return;
      for (const [state, n] of Object.entries(countPhases(source.openCalls()))) this.set({ state }, n);
    },
  });
  const setup = new Histogram({
    name: 'hotline_call_setup_seconds',
    help: 'Invite to answered',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const processing = new Histogram({
    name: 'hotline_session_processing_seconds',
    help: 'Time a session process spends handling one message',
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [registry],
  });
  // Frames are counted per frame, on the hot path: plain additions, handed to prom-client at scrape.
  const received = framesCounter(
    registry,
    'hotline_frames_received_total',
    'Valid frames from phones, by message type',
    'type',
  );
  const sent = framesCounter(
    registry,
    'hotline_frames_sent_total',
    'Frames sent to phones, by message type',
    'type',
  );
  const protocolErrors = framesCounter(
    registry,
    'hotline_protocol_errors_total',
    'Error frames sent to phones, by code',
    'code',
  );
  const ended = new Counter({
    name: 'hotline_calls_ended_total',
    help: 'Calls ended (CDRs written), by cause',
    labelNames: ['cause'],
    registers: [registry],
  });
  const crashes = new Counter({
    name: 'hotline_session_crashes_total',
    help: 'Session processes that ended with an error',
    registers: [registry],
  });
  const restarts = new Counter({
    name: 'hotline_supervisor_restarts_total',
    help: 'Children restarted by supervisors',
    registers: [registry],
  });

  const installs = new Counter({
    name: 'hotline_release_installs_total',
    help: 'Release installs by outcome (installed, aborted in preflight, rolled_back)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const phases = new Histogram({
    name: 'hotline_release_install_phase_seconds',
    help: 'How long each phase of an install took',
    labelNames: ['phase'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const codeChangeFailures = new Counter({
    name: 'hotline_release_code_change_failures_total',
    help: 'Processes whose codeChange failed (in preflight or commit)',
    registers: [registry],
  });
  const rollbacks = new Counter({
    name: 'hotline_release_rollbacks_total',
    help: 'Installs rolled back (by the watch or by request)',
    registers: [registry],
  });

  return {
    registry,
    release: {
      phaseDone: (phase, ms) => phases.observe({ phase }, ms / 1000),
      codeChangeFailed: () => codeChangeFailures.inc(),
      outcome: (p) => {
        installs.inc({ outcome: p.outcome ?? 'aborted' });
        if (p.outcome === 'rolled_back') rollbacks.inc();
      },
    },
    sessionTurn: { module: 'session', observe: (ms) => processing.observe(ms / 1000) },
    answered: (s) => setup.observe(s),
    ended: (cdr) => ended.inc({ cause: cdr.cause }),
    received,
    sent,
    protocolError: protocolErrors,
    observe(rt, openCalls) {
      rt.events.on('exit', (e) => {
        if (e.module === 'session' && e.reason.type === 'error') crashes.inc();
      });
      rt.events.on('restart', () => restarts.inc());
      source = { rt, openCalls };
    },
  };
}

/** A counter with one label, counted in a plain map and added to prom-client on each scrape. */
function framesCounter(
  registry: Registry,
  name: string,
  help: string,
  label: string,
): (value: string) => void {
  const pending = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [value, n] of pending) this.inc({ [label]: value }, n);
      pending.clear();
    },
  });
  return (value) => pending.set(value, (pending.get(value) ?? 0) + 1);
}
