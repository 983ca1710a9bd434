/**
 * One load run: phones spread over worker processes and source addresses (and over the
 * nodes, in a run over several), a per-second timeline merged from the workers and the
 * nodes' own view (sessions by release, install phase), a release installed mid-traffic —
 * hot through the admin API, by restarting the node on the new release as a plain deploy
 * does, or rolled out node by node — or the node's own process handed to a successor (handoff
 * mode), then CDRs reconciled against what the phones counted,
 * and the figures the report shows.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { AdminClient } from '../../server/ops/admin-client.ts';
import { forkShares } from '../client/fleet.ts';
import { latencyMs, mergeHistograms, newHistogram } from '../client/histogram.ts';
import { Bucket, pct } from './bucket.ts';
import {
  addCounts,
  type CompletedCall,
  emptyCounts,
  type FromScriptWorker,
  type ScriptPlan,
} from './messages.ts';
import { NodeAdmin } from './node-admin.ts';
import { NodeSeries } from './node-series.ts';
import type {
  ClusterSection,
  HandoffRecord,
  InstallMark,
  RunReport,
  RunSettings,
  RunSummary,
  TimelinePoint,
} from './report-model.ts';

const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** How the harness reaches the node: its admin API, and (restart mode) a way to redeploy it. */
export interface NodeTarget {
  url: string;
  adminUrl: string;
  token: string;
  /** Stop the node and start it on `release` (a plain deploy). Needed for --mode restart. */
  restart?(release: string): Promise<void>;
}

/** A node of a multi-node run. */
export interface ClusterNode {
  name: string;
  url: string;
  adminUrl: string;
  token: string;
}

/**
 * What a rollout tells the run as it goes: a node's install phase (null once the node is
 * through, with its outcome and a closing mark label), or a mark on the timeline.
 */
export type RolloutStep =
  | { type: 'phase'; node: string; phase: string; outcome?: undefined; label?: undefined }
  | { type: 'phase'; node: string; phase: null; outcome: string; label: string }
  | { type: 'mark'; label: string };

/**
 * Roll `release` out over the cluster, node by node, and settle with the outcome. The
 * rolling-upgrade orchestrator plugs in here (orchestrator.ts).
 */
export type RollOut = (release: string, step: (s: RolloutStep) => void) => Promise<{ outcome: string }>;

export interface ClusterRun {
  /** Every node, in the order phones are dealt to them. */
  nodes: ClusterNode[];
  /** Share of two-party calls placed to a callee on another node (placement.ts). */
  crossNode: number;
  rollOut?: RollOut;
}

export interface Thresholds {
  maxDropped?: number;
  maxLostMedia?: number;
  maxP99Ms?: number;
}

export interface RunOptions extends Omit<RunSettings, 'url' | 'workers'> {
  /** The node; in a run over several, the first of them. */
  node: NodeTarget;
  /** The data directory whose phone key signs the phones' tokens. */
  keyDir: string;
  cluster?: ClusterRun;
  phonesPerWorker: number;
  sourceAddresses: number;
  /** The release sessions run before the upgrade (what a rollback returns to). */
  fromRelease: string;
  watchMs: number;
  thresholds: Thresholds;
  userPrefix: string;
  /** Called once a second with the newest point (the live status line). */
  onSecond?(p: TimelinePoint, summary: { dropped: number }): void;
}

const SECOND = 1000;
/** Seconds after an install (or restart, or handoff) ends that still count as "during" it. */
const AFTERMATH_S = 5;
/** A handoff of many phones answers when it is over: give it longer than an admin read. */
const HANDOFF_TIMEOUT_MS = 120_000;

export async function runLoad(o: RunOptions): Promise<RunReport> {
  // Not a spread of o.node: a ManagedNode's url and adminUrl are getters.
  const { url, adminUrl, token } = o.node;
  const nodes = o.cluster?.nodes ?? [{ name: 'node', url, adminUrl, token }];
  const admins = nodes.map((n) => new NodeAdmin(n));
  const admin = admins[0] as NodeAdmin;
  const series = o.cluster === undefined ? undefined : new NodeSeries(nodes);
  const plan: Omit<ScriptPlan, 'phones' | 'localAddresses' | 'userPrefix' | 'placement'> = {
    urls: nodes.map((n) => n.url),
    keyDir: o.keyDir,
    rampMs: o.rampSeconds * SECOND,
    mediaRate: o.mediaRate,
    meanCallMs: o.meanCallSeconds * SECOND,
    answerTimeoutMs: 10_000,
    serviceShare: 0.4,
    holdShare: 0.2,
  };
  const shares = forkShares(workerPath, { ...o, phones: o.sessions });
  // A worker takes a second or more to load on a busy machine: the clock, and with it the
  // ramp and the upgrade times, starts once every worker is ready to place its phones.
  await Promise.all(shares.map((s) => ready(s.child)));
  const startedAt = new Date();
  const t0 = Date.now();
  // Per worker and node: its latest gauges; and per node, the counts of the second being collected.
  const gauges = new Map<number, { connected: number; inCall: number }[]>();
  const newBuckets = () => nodes.map(() => new Bucket());
  let buckets = newBuckets();
  const all = { rtt: newHistogram(), setup: newHistogram(), during: newHistogram(), steady: newHistogram() };
  const errorsByCode: Record<string, number> = {};
  const recoveries: number[] = [];
  const calls: CompletedCall[] = [];
  const connect: string[] = [];
  const done: Promise<void>[] = [];
  for (const share of shares) {
    done.push(
      new Promise((resolve, reject) => {
        share.child.on('message', (m: FromScriptWorker) => {
          if (m.type === 'second') {
            gauges.set(
              share.index,
              m.nodes.map((n) => ({ connected: n.connected, inCall: n.inCall })),
            );
            for (const [i, n] of m.nodes.entries()) buckets[i]?.add(n, errorsByCode, recoveries);
          } else if (m.type === 'done') {
            calls.push(...m.calls);
            connect.push(m.connect);
            resolve();
          }
        });
        share.child.once('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`load worker exited ${code}`)),
        );
      }),
    );
    share.child.send({
      type: 'start',
      plan: {
        ...plan,
        placement: { nodes: nodes.length, crossNode: o.cluster?.crossNode ?? 0, offset: share.index },
        phones: share.phones,
        localAddresses: share.localAddresses,
        userPrefix: `${o.userPrefix}${share.index}-`,
      },
    });
  }

  const timeline: TimelinePoint[] = [];
  const marks: InstallMark[] = [];
  const now = () => (Date.now() - t0) / SECOND;
  const round = (t: number) => Math.round(t * 10) / 10;
  const mark = (label: string) => {
    marks.push({ label, t: round(now()) });
  };
  const sinceStart = (epochMs: number) => Math.round((epochMs - t0) / 100) / 10;
  let phase: string | null = null;
  let installOutcome: string | null = null;
  /** Each node's install phase while a rollout runs; null on a node not installing. */
  const nodePhases: (string | null)[] = nodes.map(() => null);
  let rollout: ClusterSection['rollout'] = null;
  /** The install (or restart) window, in seconds since the start. */
  const window = { from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
  const tot = emptyCounts();
  let peak = 0;

  /** `drain`: the phones hanging up all at once at the end — shown, not part of the figures. */
  const closeSecond = async (t: number, drain = false) => {
    const perNode = buckets;
    buckets = newBuckets();
    const b = Bucket.merge(perNode);
    const sum = (k: 'connected' | 'inCall', i?: number) =>
      [...gauges.values()].reduce(
        (n, g) => n + (i === undefined ? g.reduce((m, x) => m + x[k], 0) : (g[i]?.[k] ?? 0)),
        0,
      );
    const during = t >= window.from && t <= window.to + AFTERMATH_S;
    const steady = !drain && t > o.rampSeconds && t < window.from;
    if (!drain) {
      all.rtt.add(b.rtt);
      all.setup.add(b.setup);
    }
    if (during) all.during.add(b.rtt);
    if (steady) all.steady.add(b.rtt);
    addCounts(tot, b.counts);
    const releases = await Promise.all(admins.map((a) => a.releases()));
    if (series !== undefined) {
      phase = nodePhases.find((p) => p !== null) ?? null;
      for (let i = 0; i < nodes.length; i++)
        series.add(
          i,
          {
            bucket: perNode[i] as Bucket,
            connected: sum('connected', i),
            releases: releases[i] ?? {},
            phase: nodePhases[i] ?? null,
          },
          { drain, steady, during },
        );
    }
    const point: TimelinePoint = {
      t,
      connected: sum('connected'),
      inCall: sum('inCall'),
      callsStarted: b.counts.callsStarted,
      callsCompleted: b.counts.callsCompleted,
      rttP50: pct(b.rtt, 50),
      rttP99: pct(b.rtt, 99),
      rttMax: b.rtt.totalCount === 0 ? null : latencyMs(b.rtt).max,
      setupP99: pct(b.setup, 99),
      acks: b.counts.acks,
      dropped: b.counts.droppedSessions + b.counts.droppedCalls,
      lostMedia: b.counts.lost,
      errors: b.errors,
      phase,
      releases: sumReleases(releases),
    };
    peak = Math.max(peak, point.connected);
    timeline.push(point);
    o.onSecond?.(point, { dropped: tot.droppedSessions + tot.droppedCalls });
  };

  // Follow a hot install until it has an outcome; its phases become marks at their real times.
  const follow = async () => {
    for (;;) {
      const p = await admin.install();
      if (p !== null) phase = p.phase;
      if (p?.outcome) {
        for (const ph of p.phases) marks.push({ label: ph.phase, t: sinceStart(ph.startedAt) });
        installOutcome = p.outcome;
        if (window.to === Number.POSITIVE_INFINITY) window.to = now();
        phase = null;
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  // Over several nodes: the orchestrator installs node by node and says so as it goes.
  const installs = new Map<string, number>();
  const step = (st: RolloutStep) => {
    if (st.type === 'mark') return mark(st.label);
    const i = nodes.findIndex((n) => n.name === st.node);
    if (i < 0) return;
    if (st.phase !== null) {
      if (!installs.has(st.node)) installs.set(st.node, now());
      if (nodePhases[i] !== st.phase) mark(`${st.node} ${st.phase}`);
      nodePhases[i] = st.phase;
      return;
    }
    nodePhases[i] = null;
    mark(`${st.node} ${st.label}`);
    const from = installs.get(st.node) ?? now();
    series?.setInstall(i, { from: round(from), to: round(now()), outcome: st.outcome });
  };
  const rollOut = async (release: string) => {
    if (o.cluster?.rollOut === undefined) throw new Error('a hot upgrade over several nodes needs a rollOut');
    const from = now();
    window.from = Math.min(window.from, from);
    window.to = Number.POSITIVE_INFINITY;
    mark(`roll out ${release}`);
    installs.clear();
    const { outcome } = await o.cluster.rollOut(release, step);
    nodePhases.fill(null);
    window.to = now();
    installOutcome = outcome;
    rollout = { release, from: round(from), to: round(window.to), outcome };
    mark(`rollout ${outcome}`);
  };

  // The node's process handed to a successor: the admin route answers once it is over.
  const handoffs: HandoffRecord[] = [];
  const handOff = async () => {
    window.from = Math.min(window.from, now());
    window.to = Number.POSITIVE_INFINITY;
    mark('handoff');
    phase = 'handoff';
    const { handoff: record } = await new AdminClient(adminUrl, token, HANDOFF_TIMEOUT_MS).post<{
      handoff: HandoffRecord;
    }>('/admin/node/handoff', o.handoffEntry === undefined ? {} : { entry: o.handoffEntry });
    handoffs.push(record);
    mark(`handed off: pid ${record.from} → ${record.to}`);
    phase = null;
    window.to = now();
    installOutcome = 'handed_off';
  };

  const upgrade = async (release: string, label: string) => {
    if (o.mode === 'handoff') return handOff();
    if (o.mode === 'restart') {
      if (o.node.restart === undefined) throw new Error('--mode restart needs a node the harness started');
      window.from = Math.min(window.from, now());
      mark(`restart on ${release}`);
      phase = 'restart';
      await o.node.restart(release);
      mark(`up on ${release}`);
      phase = null;
      window.to = now();
      installOutcome = 'restarted';
      return;
    }
    if (o.cluster !== undefined) return rollOut(release);
    window.from = Math.min(window.from, now());
    window.to = Number.POSITIVE_INFINITY;
    mark(`${label} ${release}`);
    await admin.post(`/admin/releases/${encodeURIComponent(release)}/install`, {
      watchMs: o.watchMs,
    });
    await follow();
  };

  const rollback = async () => {
    if (o.mode === 'restart') return upgrade(o.fromRelease, 'rollback to');
    const p = await admin.install();
    if (p !== null && p.outcome === null) {
      mark('rollback');
      await admin.post('/admin/install/rollback');
      return follow();
    }
    return upgrade(o.fromRelease, 'rollback to');
  };

  const endAt = o.rampSeconds + o.durationSeconds;
  const actions: Promise<void>[] = [];
  const at = (seconds: number | null, action: () => Promise<void>) => {
    if (seconds === null) return;
    actions.push(new Promise((r) => setTimeout(r, seconds * SECOND)).then(action));
  };
  // Upgrades run one after the other: the next waits for the previous one's outcome.
  let chain = Promise.resolve();
  for (const u of o.upgrades)
    at(u.atSeconds, () => (chain = chain.then(() => upgrade(u.release, 'install'))));
  // The load goes on until the last upgrade has ended, however long they take (a handoff
  // boots a new process): an upgrade that outlasts the duration must still find the phones up.
  let upgrading = o.upgrades.length > 0;
  void Promise.allSettled(actions).then(() => {
    upgrading = false;
  });
  at(o.rollbackAtSeconds, rollback);

  for (let t = 1; t <= endAt || upgrading; t++) {
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + t * SECOND - Date.now())));
    await closeSecond(t);
  }
  const actionsDone = Promise.allSettled(actions);
  for (const share of shares) share.child.send({ type: 'stop' });
  await Promise.all(done);
  await closeSecond(Math.ceil(now()), true);
  const outcomes = await actionsDone;
  const failed = outcomes.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;

  const cdrs = await reconcile(admins, calls, t0 - 60_000);
  const summary: RunSummary = {
    sessionsPeak: peak,
    callsCompleted: calls.length,
    droppedSessions: tot.droppedSessions,
    droppedCalls: tot.droppedCalls,
    lostMedia: tot.lost,
    duplicatedMedia: tot.duplicated,
    reorderedMedia: tot.reordered,
    errorsByCode,
    connectMs: latencyMs(mergeHistograms(connect)),
    setupMs: latencyMs(all.setup),
    rttMs: latencyMs(all.rtt),
    rttP99DuringInstallMs: all.during.totalCount === 0 ? null : latencyMs(all.during).p99,
    recoverMs: recoveries.length === 0 ? null : Math.max(...recoveries),
    installOutcome,
    cdr: cdrs.all,
  };
  const report = finish(
    o,
    startedAt,
    shares.map((s) => s.child),
    summary,
    timeline,
    marks,
  );
  if (o.mode === 'handoff') return { ...report, handoffs };
  if (o.cluster === undefined || series === undefined) return report;
  const cluster: ClusterSection = {
    crossNodeShare: o.cluster.crossNode,
    crossNodeCalls: cdrs.crossNode,
    rttP99SteadyMs: all.steady.totalCount === 0 ? null : latencyMs(all.steady).p99,
    rollout,
    nodes: series.report(),
  };
  return { ...report, cluster };
}

function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromScriptWorker) => {
      if (m.type !== 'ready') return;
      child.off('message', onMessage);
      resolve();
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`load worker exited ${code} before it was ready`)));
  });
}

/** Sessions by release over every node; one node's own object when there is one. */
function sumReleases(perNode: Record<string, number>[]): Record<string, number> {
  if (perNode.length === 1) return perNode[0] as Record<string, number>;
  const out: Record<string, number> = {};
  for (const r of perNode) for (const [v, n] of Object.entries(r)) out[v] = (out[v] ?? 0) + n;
  return out;
}

/** CDRs are written in batches: the newest calls' records may land a moment after they end. */
const CDR_GRACE_MS = 15_000;

/** Each call's CDR is on its caller's node: every node's CDRs, matched together. */
async function reconcile(
  admins: NodeAdmin[],
  calls: CompletedCall[],
  since: number,
): Promise<{ all: RunSummary['cdr']; crossNode: ClusterSection['crossNodeCalls'] }> {
  const deadline = Date.now() + CDR_GRACE_MS;
  const crossCalls = calls.filter((c) => c.crossNode);
  for (;;) {
    const cdrs = (await Promise.all(admins.map((a) => a.cdrsSince(since)))).flat();
    const out = match(calls, cdrs);
    if (out.missing === 0 || Date.now() > deadline)
      return {
        all: out,
        crossNode: { completed: crossCalls.length, matched: match(crossCalls, cdrs).matched },
      };
    await new Promise((r) => setTimeout(r, 500));
  }
}

function match(calls: CompletedCall[], cdrs: Cdr[]): RunSummary['cdr'] {
  const byCall = new Map<string, Cdr[]>();
  for (const c of cdrs) {
    const list = byCall.get(c.callId) ?? [];
    list.push(c);
    byCall.set(c.callId, list);
  }
  const out = { checked: calls.length, matched: 0, missing: 0, duplicated: 0, mismatched: 0 };
  for (const call of calls) {
    const found = (byCall.get(call.callId) ?? []).filter((c) => c.caller === call.caller);
    if (found.length === 0) out.missing++;
    else if (found.length > 1) out.duplicated++;
    else if (found[0]?.mediaAtoB !== call.sent || found[0]?.mediaBtoA !== call.received) out.mismatched++;
    else out.matched++;
  }
  return out;
}

function finish(
  o: RunOptions,
  startedAt: Date,
  workers: ChildProcess[],
  summary: RunSummary,
  timeline: TimelinePoint[],
  marks: InstallMark[],
): RunReport {
  for (const w of workers) w.kill();
  const settings: RunSettings = {
    url: o.node.url,
    sessions: o.sessions,
    rampSeconds: o.rampSeconds,
    durationSeconds: o.durationSeconds,
    upgrades: o.upgrades,
    ...(o.handoffEntry === undefined ? {} : { handoffEntry: o.handoffEntry }),
    rollbackAtSeconds: o.rollbackAtSeconds,
    mode: o.mode,
    mediaRate: o.mediaRate,
    meanCallSeconds: o.meanCallSeconds,
    workers: workers.length,
  };
  const thresholds = [
    ['max-dropped', o.thresholds.maxDropped, summary.droppedSessions + summary.droppedCalls],
    ['max-lost-media', o.thresholds.maxLostMedia, summary.lostMedia],
    ['max-p99-ms', o.thresholds.maxP99Ms, summary.rttMs.p99],
  ]
    .filter((t): t is [string, number, number] => t[1] !== undefined)
    .map(([name, limit, value]) => ({ name, limit, value, passed: value <= limit }));
  return { settings, startedAt: startedAt.toISOString(), summary, timeline, marks, thresholds };
}
