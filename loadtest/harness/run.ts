/**
 * One load run: phones spread over worker processes and source addresses, a per-second
 * timeline merged from the workers and the node's own view (sessions by release, install
 * phase), a release installed mid-traffic — hot through the admin API, or by restarting
 * the node on the new release as a plain deploy does — then CDRs reconciled against what
 * the phones counted, and the figures the report shows.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type * as hdr from 'hdr-histogram-js';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { AdminClient } from '../../server/cli/admin-client.ts';
import type { InstallProgress } from '../../server/release/installer.ts';
import { forkShares } from '../client/fleet.ts';
import { latencyMs, mergeHistograms, newHistogram } from '../client/histogram.ts';
import {
  addCounts,
  type CompletedCall,
  emptyCounts,
  type FromScriptWorker,
  type ScriptPlan,
  type WorkerSecond,
} from './messages.ts';
import type { InstallMark, RunReport, RunSettings, RunSummary, TimelinePoint } from './report-model.ts';

const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** How the harness reaches the node: its admin API, and (restart mode) a way to redeploy it. */
export interface NodeTarget {
  url: string;
  adminUrl: string;
  token: string;
  /** Stop the node and start it on `release` (a plain deploy). Needed for --mode restart. */
  restart?(release: string): Promise<void>;
}

export interface Thresholds {
  maxDropped?: number;
  maxLostMedia?: number;
  maxP99Ms?: number;
}

export interface RunOptions extends Omit<RunSettings, 'url' | 'workers'> {
  node: NodeTarget;
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
/** Seconds after an install (or restart) ends that still count as "during" it. */
const AFTERMATH_S = 5;

/** The node's admin API, with what the harness reads from it once a second. */
class Admin extends AdminClient {
  constructor(node: NodeTarget) {
    super(node.adminUrl, node.token, 5000);
  }

  /** Sessions per release, or nothing while the node is down. */
  async releases(): Promise<Record<string, number>> {
    try {
      const { modules } = await this.get<{
        modules: { module: string; version: string; processes: number }[];
      }>('/admin/modules');
      const out: Record<string, number> = {};
      for (const m of modules) if (m.module === 'session' && m.processes > 0) out[m.version] = m.processes;
      return out;
    } catch {
      return {};
    }
  }

  async install(): Promise<InstallProgress | null> {
    try {
      return (await this.get<{ install: InstallProgress }>('/admin/install')).install;
    } catch {
      return null;
    }
  }

  /** Every CDR that ended since `since`, paging back from the newest. */
  async cdrsSince(since: number): Promise<Cdr[]> {
    const seen = new Map<string, Cdr>();
    let until: number | undefined;
    for (;;) {
      const query = `since=${since}&limit=10000${until === undefined ? '' : `&until=${until}`}`;
      const { cdrs } = await this.get<{ cdrs: Cdr[] }>(`/cdrs?${query}`);
      const before = seen.size;
      for (const c of cdrs) seen.set(c.id, c);
      if (cdrs.length < 10000 || seen.size === before) break;
      until = (cdrs.at(-1) as Cdr).endedAt;
    }
    return [...seen.values()];
  }
}

/** One second's worth from every worker, summed. */
class Bucket {
  counts = emptyCounts();
  errors = 0;
  rtt = newHistogram();
  setup = newHistogram();

  add(s: WorkerSecond, errorsByCode: Record<string, number>, recoveries: number[]): void {
    addCounts(this.counts, s);
    for (const [code, n] of Object.entries(s.errors)) {
      this.errors += n;
      errorsByCode[code] = (errorsByCode[code] ?? 0) + n;
    }
    recoveries.push(...s.recoveries);
    this.rtt.add(mergeHistograms([s.rtt]));
    this.setup.add(mergeHistograms([s.setup]));
  }
}

const pct = (h: hdr.Histogram, p: number): number | null =>
  h.totalCount === 0 ? null : latencyMs(h)[p === 50 ? 'p50' : 'p99'];

export async function runLoad(o: RunOptions): Promise<RunReport> {
  const admin = new Admin(o.node);
  const startedAt = new Date();
  const t0 = Date.now();
  const plan: Omit<ScriptPlan, 'phones' | 'localAddresses' | 'userPrefix'> = {
    url: o.node.url,
    rampMs: o.rampSeconds * SECOND,
    mediaRate: o.mediaRate,
    meanCallMs: o.meanCallSeconds * SECOND,
    answerTimeoutMs: 10_000,
    serviceShare: 0.4,
    holdShare: 0.2,
  };
  const shares = forkShares(workerPath, { ...o, phones: o.sessions });
  // Per worker: its latest gauges; and the counts of the second being collected.
  const gauges = new Map<number, { connected: number; inCall: number }>();
  let bucket = new Bucket();
  const all = { rtt: newHistogram(), setup: newHistogram(), during: newHistogram() };
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
            gauges.set(share.index, { connected: m.connected, inCall: m.inCall });
            bucket.add(m, errorsByCode, recoveries);
          } else {
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
        phones: share.phones,
        localAddresses: share.localAddresses,
        userPrefix: `${o.userPrefix}${share.index}-`,
      },
    });
  }

  const timeline: TimelinePoint[] = [];
  const marks: InstallMark[] = [];
  const now = () => (Date.now() - t0) / SECOND;
  const mark = (label: string) => marks.push({ label, t: Math.round(now() * 10) / 10 });
  let phase: string | null = null;
  let installOutcome: string | null = null;
  /** The install (or restart) window, in seconds since the start. */
  const window = { from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
  const tot = emptyCounts();
  let peak = 0;

  /** `drain`: the phones hanging up all at once at the end — shown, not part of the figures. */
  const closeSecond = async (t: number, drain = false) => {
    const b = bucket;
    bucket = new Bucket();
    const sum = (k: 'connected' | 'inCall') => [...gauges.values()].reduce((n, g) => n + g[k], 0);
    if (!drain) {
      all.rtt.add(b.rtt);
      all.setup.add(b.setup);
    }
    if (t >= window.from && t <= window.to + AFTERMATH_S) all.during.add(b.rtt);
    addCounts(tot, b.counts);
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
      releases: await admin.releases(),
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
        for (const ph of p.phases)
          marks.push({ label: ph.phase, t: Math.round((ph.startedAt - t0) / 100) / 10 });
        installOutcome = p.outcome;
        if (window.to === Number.POSITIVE_INFINITY) window.to = now();
        phase = null;
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const upgrade = async (release: string, label: string) => {
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
  at(o.rollbackAtSeconds, rollback);

  for (let t = 1; t <= endAt; t++) {
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

  const cdr = await reconcile(admin, calls, t0 - 60_000);
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
    cdr,
  };
  return finish(
    o,
    startedAt,
    shares.map((s) => s.child),
    summary,
    timeline,
    marks,
  );
}

/** CDRs are written in batches: the newest calls' records may land a moment after they end. */
const CDR_GRACE_MS = 15_000;

async function reconcile(admin: Admin, calls: CompletedCall[], since: number): Promise<RunSummary['cdr']> {
  const deadline = Date.now() + CDR_GRACE_MS;
  for (;;) {
    const out = match(calls, await admin.cdrsSince(since));
    if (out.missing === 0 || Date.now() > deadline) return out;
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
