/**
 * The node's Prometheus metrics. Everything is fed by events and hooks (runtime events,
 * the journal's hooks, the gateway's and ports' hooks) or read at scrape time; nothing in
 * the runtime or the session code knows prom-client. Label sets are bounded: release,
 * message type, error code, cause — never a user, pid or call id.
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import { countPhases } from '../calls/cdr/journal.ts';
import type { Cdr } from '../calls/cdr/records.ts';
import type { CallPhase } from '../calls/contract.ts';
import { EndCause } from '../calls/protocol/messages.ts';
import type { Refusal } from '../cluster/cluster.ts';
import { phoneProtocolErrorCodes } from '../errors/catalogue.ts';
import type { InstallHooks, InstallOutcome, InstallPhase, InstallProgress } from '../release/installer.ts';
import type { Runtime } from '../runtime/index.ts';

export interface NodeMetrics {
  registry: Registry;
  /** What the release handler reports. */
  release: Pick<InstallHooks, 'phaseDone' | 'codeChangeFailed'> & { outcome(p: InstallProgress): void };
  /** Time session processes spend per message (the runtime's turn observer). */
  sessionTurn: { module: string; observe(ms: number, release: string): void };
  /** Hooks for the sources that push. */
  answered(setupSeconds: number): void;
  ended(cdr: Cdr): void;
  received(type: string): void;
  sent(type: string): void;
  protocolError(code: string): void;
  /** A message from another node of the cluster refused: malformed, or from a release that does not interoperate. */
  clusterRefused(why: Refusal): void;
  /** Frames counted since start, for the observer's rates (read without a scrape). */
  frameTotals(): FrameTotals;
  /** Wire the sources that are read at scrape time or emit events. */
  observe(sources: ScrapeSources): void;
}

export interface FrameTotals {
  received: number;
  sent: number;
  protocolErrors: number;
}

/** What the node's gauges read at scrape time. */
export interface ScrapeSources {
  rt: Runtime;
  openCalls(): Iterable<{ phase: CallPhase }>;
  releases(): { current: string; permanent: string; install: InstallProgress | null };
}

const END_CAUSES = EndCause.anyOf.map((c) => c.const);
const REFUSALS: Refusal[] = ['malformed', 'incompatible'];
const INSTALL_OUTCOMES: InstallOutcome[] = ['installed', 'aborted', 'rolled_back'];
const TIMED_PHASES: InstallPhase[] = ['preflight', 'commit', 'canary', 'promote', 'watch', 'rolling_back'];

export function createMetrics(node: string): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node });
  collectDefaultMetrics({ register: registry });
  let source: ScrapeSources | null = null;
  // Both mailbox gauges come from one walk over the processes per scrape.
  let walked: { at: number; byModule: Map<string, { total: number; max: number }> } = {
    at: -1,
    byModule: new Map(),
  };
  const sessionVersions = () => (source?.rt.modules.versions() ?? []).filter((v) => v.module === 'session');
  const mailboxes = () => {
    const now = performance.now();
    if (source !== null && now - walked.at > 100) walked = { at: now, byModule: mailboxDepths(source.rt) };
    return walked.byModule;
  };

  new Gauge({
    name: 'hotline_sessions_active',
    help: 'Session processes by the release they run',
    labelNames: ['release'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of sessionVersions()) this.inc({ release: v.version }, v.processes);
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
  // A node falling behind shows here first: messages queued, and the longest queue.
  new Gauge({
    name: 'hotline_mailbox_messages',
    help: 'Messages waiting in mailboxes, by behaviour module',
    labelNames: ['module'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [module, q] of mailboxes()) this.set({ module }, q.total);
    },
  });
  new Gauge({
    name: 'hotline_mailbox_max_messages',
    help: 'The longest mailbox, by behaviour module',
    labelNames: ['module'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [module, q] of mailboxes()) this.set({ module }, q.max);
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
  // Observed for every session message: counted in plain arrays, handed to prom-client at scrape.
  const processing = plainHistogram(
    registry,
    'hotline_session_processing_seconds',
    'Time a session process spends handling one message, by the release that handled it',
    'release',
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
  );
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
    phoneProtocolErrorCodes,
  );
  const ended = new Counter({
    name: 'hotline_calls_ended_total',
    help: 'Calls ended (CDRs written), by cause',
    labelNames: ['cause'],
    registers: [registry],
  });
  // Every release that runs sessions shows, at zero until its first count.
  const bySessionRelease = (name: string, help: string) =>
    new Counter({
      name,
      help,
      labelNames: ['release'],
      registers: [registry],
      collect() {
        for (const v of sessionVersions()) this.inc({ release: v.version }, 0);
      },
    });
  const crashes = bySessionRelease(
    'hotline_session_crashes_total',
    'Session processes that ended with an error, by the release they ran',
  );
  const errors = bySessionRelease(
    'hotline_session_errors_total',
    'Errors session processes reported and carried on from (the node failed a request), by the release they ran',
  );
  const refused = new Counter({
    name: 'hotline_cluster_messages_refused_total',
    help: 'Messages from other nodes refused, by reason (malformed, incompatible release)',
    labelNames: ['reason'],
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

  new Gauge({
    name: 'hotline_release_info',
    help: 'The release sessions start on (role current) and the one a restart boots (role permanent)',
    labelNames: ['release', 'role'],
    registers: [registry],
    collect() {
      this.reset();
      if (source === null) return;
      const { current, permanent } = source.releases();
      this.set({ release: current, role: 'current' }, 1);
      this.set({ release: permanent, role: 'permanent' }, 1);
    },
  });
  // The install in progress: its phase as a 1-valued series (annotations) and how far it got.
  new Gauge({
    name: 'hotline_release_install_phase',
    help: 'The running install: 1 for its current phase, with the release it installs',
    labelNames: ['release', 'phase'],
    registers: [registry],
    collect() {
      this.reset();
      const install = source?.releases().install;
      if (install && install.outcome === null) this.set({ release: install.to, phase: install.phase }, 1);
    },
  });
  new Gauge({
    name: 'hotline_release_install_progress_ratio',
    help: 'Share of the processes the latest install applies to that run its release',
    labelNames: ['release'],
    registers: [registry],
    collect() {
      this.reset();
      const install = source?.releases().install;
      if (install === null || install === undefined) return;
      const all = Object.values(install.processes).reduce((a, b) => a + b, 0);
      this.set({ release: install.to }, all === 0 ? 0 : (install.processes[install.to] ?? 0) / all);
    },
  });

  // Known label values start at zero, so a rate over them is 0 rather than no data.
  for (const cause of END_CAUSES) ended.labels({ cause }).inc(0);
  for (const reason of REFUSALS) refused.labels({ reason }).inc(0);
  for (const outcome of INSTALL_OUTCOMES) installs.labels({ outcome }).inc(0);
  // and a phase's first completion is a change of its count (annotations look for changes).
  for (const phase of TIMED_PHASES) phases.zero({ phase });

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
    sessionTurn: { module: 'session', observe: (ms, release) => processing.observe(release, ms / 1000) },
    answered: (s) => setup.observe(s),
    ended: (cdr) => ended.inc({ cause: cdr.cause }),
    received: received.count,
    sent: sent.count,
    protocolError: protocolErrors.count,
    clusterRefused: (reason) => refused.inc({ reason }),
    frameTotals: () => ({
      received: received.total(),
      sent: sent.total(),
      protocolErrors: protocolErrors.total(),
    }),
    observe(sources) {
      const { rt } = sources;
      rt.events.on('exit', (e) => {
        if (e.module === 'session' && e.reason.type === 'error') crashes.inc({ release: e.version });
      });
      rt.events.on('error_report', (e) => {
        if (e.module === 'session') errors.inc({ release: e.version });
      });
      rt.events.on('restart', () => restarts.inc());
      source = sources;
    },
  };
}

function mailboxDepths(rt: Runtime): Map<string, { total: number; max: number }> {
  const byModule = new Map<string, { total: number; max: number }>();
  for (const p of rt.processes()) {
    const module = p.behaviour.name;
    let q = byModule.get(module);
    if (q === undefined) {
      q = { total: 0, max: 0 };
      byModule.set(module, q);
    }
    q.total += p.mailboxLength;
    if (p.mailboxLength > q.max) q.max = p.mailboxLength;
  }
  return byModule;
}

/** A counter with one label, counted in a plain map and added to prom-client on each scrape. */
function framesCounter(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  known: readonly string[] = [],
): { count(value: string): void; total(): number } {
  const pending = new Map<string, number>(known.map((value) => [value, 0]));
  let total = 0;
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
  return {
    count: (value) => {
      total++;
      pending.set(value, (pending.get(value) ?? 0) + 1);
    },
    total: () => total,
  };
}

/** What one label value of a plain histogram has counted: per bucket (not cumulative), sum, count. */
interface PlainSeries {
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram with one label, as prom-client's exports it, observed with plain additions:
 * prom-client's own `observe` hashes its labels and allocates on every call, which the
 * per-message path cannot afford.
 */
function plainHistogram(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  bounds: number[],
): { observe(value: string, v: number): void } {
  const series = new Map<string, PlainSeries>();
  const get = async () => {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [value, s] of series) {
      let acc = 0;
      bounds.forEach((le, i) => {
        acc += s.buckets[i] as number;
        values.push({ labels: { le, [label]: value }, value: acc, metricName: `${name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', [label]: value }, value: s.count, metricName: `${name}_bucket` });
      values.push({ labels: { [label]: value }, value: s.sum, metricName: `${name}_sum` });
      values.push({ labels: { [label]: value }, value: s.count, metricName: `${name}_count` });
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  // prom-client's registry reads a metric through get() (and reset()); its Metric class is not meant to be extended.
  registry.registerMetric({ name, help, get, reset: () => series.clear() } as unknown as Metric);
  return {
    observe(value, v) {
      let s = series.get(value);
      if (s === undefined) {
        s = { buckets: new Float64Array(bounds.length), sum: 0, count: 0 };
        series.set(value, s);
      }
      s.sum += v;
      s.count++;
      // A value past the last bound counts in +Inf only, as in prom-client.
      for (let i = 0; i < bounds.length; i++) {
        if (v <= (bounds[i] as number)) {
          s.buckets[i] = (s.buckets[i] as number) + 1;
          break;
        }
      }
    },
  };
}
