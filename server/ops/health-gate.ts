/**
 * The health gate of a rolling upgrade: a node's own figures, read from its Prometheus
 * `/metrics` before its install and again after its watch window, compared. Counters and
 * histograms only grow, so the difference is exactly what happened in between, whatever
 * scraped the node meanwhile. No new endpoint: the gate reads what Prometheus reads.
 */

/** Ends of a call that mean it was dropped: the node or the network failed it. */
const DROP_CAUSES = new Set([
  'media_timeout',
  'client_gone',
  'peer_gone',
  'slow_reader',
  'error',
  'node_shutdown',
  'node_lost',
]);
// Not `ring_timeout`: a callee who does not answer is not the node failing the call.

/** Cumulative bucket counts of a histogram by upper bound (`+Inf` included), summed over labels. */
export type Buckets = Record<string, number>;

/** What the gate compares: plain JSON, so a mark survives in the rollout's state file. */
export interface NodeFigures {
  at: number;
  /** Calls ended by a drop cause, by cause. */
  dropped: Record<string, number>;
  /** Session processes that ended with an error. */
  crashes: number;
  /** Errors session processes reported and carried on from (the node failed a request). */
  errors: number;
  /** Time a session spends on one message. */
  processing: Buckets;
  /** Invite to answered. */
  setup: Buckets;
}

export interface GateThresholds {
  /** Calls dropped during the window (ended with a drop cause). */
  maxDropped: number;
  /** Session processes crashed during the window. */
  maxCrashes: number;
  /** Errors sessions reported during the window (requests the node failed, not a phone's mistakes). */
  maxErrors: number;
  /** p99 of a session's time on one message during the window, ms (a histogram bucket's bound). */
  maxP99Ms: number;
  /** p99 of call setup during the window, ms; not gated when absent (it includes the callee's answer). */
  maxSetupP99Ms?: number;
}

export const defaultThresholds: GateThresholds = { maxDropped: 0, maxCrashes: 0, maxErrors: 0, maxP99Ms: 50 };

export interface GateVerdict {
  ok: boolean;
  dropped: number;
  crashes: number;
  errors: number;
  /** null: no message (or no call set up) in the window. */
  p99Ms: number | null;
  setupP99Ms: number | null;
  windowMs: number;
  /** Why it failed, one line per threshold crossed. */
  failures: string[];
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

export function figuresFrom(text: string, at = Date.now()): NodeFigures {
  const figures: NodeFigures = { at, dropped: {}, crashes: 0, errors: 0, processing: {}, setup: {} };
  const add = (into: Record<string, number>, key: string, n: number) => {
    into[key] = (into[key] ?? 0) + n;
  };
  for (const s of parseExposition(text)) {
    if (s.name === 'hotline_calls_ended_total' && DROP_CAUSES.has(s.labels.cause ?? ''))
      add(figures.dropped, s.labels.cause as string, s.value);
    else if (s.name === 'hotline_session_crashes_total') figures.crashes += s.value;
    else if (s.name === 'hotline_session_errors_total') figures.errors += s.value;
    else if (s.name === 'hotline_session_processing_seconds_bucket')
      add(figures.processing, s.labels.le as string, s.value);
    else if (s.name === 'hotline_call_setup_seconds_bucket')
      add(figures.setup, s.labels.le as string, s.value);
  }
  return figures;
}

/** A node's figures now, from its public surface. */
export async function readFigures(httpUrl: string, timeoutMs = 10_000): Promise<NodeFigures> {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${httpUrl}/metrics answered ${res.status}`);
  return figuresFrom(await res.text());
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** p99 in ms of what a histogram counted between two reads: the bound of the bucket it falls in. */
export function p99Between(before: Buckets, after: Buckets): number | null {
  const bounds = Object.keys(after)
    .map((le) => ({ le, bound: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le) }))
    .sort((a, b) => a.bound - b.bound);
  const delta = (le: string) => (after[le] ?? 0) - (before[le] ?? 0);
  const count = delta('+Inf');
  if (count <= 0) return null;
  const target = Math.ceil(count * 0.99);
  for (const { le, bound } of bounds) if (delta(le) >= target) return bound * 1000;
  return Number.POSITIVE_INFINITY;
}

export function judge(before: NodeFigures, after: NodeFigures, t: GateThresholds): GateVerdict {
  const dropped = sum(after.dropped) - sum(before.dropped);
  const crashes = after.crashes - before.crashes;
  // A mark recorded before the gate read errors (a rollout resumed across an upgrade of the CLI) has none.
  const errors = after.errors - (before.errors ?? 0);
  const p99Ms = p99Between(before.processing, after.processing);
  const setupP99Ms = p99Between(before.setup, after.setup);
  const failures: string[] = [];
  if (dropped > t.maxDropped) {
    const causes = Object.keys(after.dropped)
      .map((c) => [c, (after.dropped[c] ?? 0) - (before.dropped[c] ?? 0)] as const)
      .filter(([, n]) => n > 0)
      .map(([c, n]) => `${c} ${n}`);
    failures.push(`${dropped} call(s) dropped (${causes.join(', ')}), at most ${t.maxDropped}`);
  }
  if (crashes > t.maxCrashes) failures.push(`${crashes} session crash(es), at most ${t.maxCrashes}`);
  if (errors > t.maxErrors) failures.push(`${errors} session error(s), at most ${t.maxErrors}`);
  if (p99Ms !== null && p99Ms > t.maxP99Ms)
    failures.push(`session processing p99 ${p99Ms} ms, at most ${t.maxP99Ms} ms`);
  if (t.maxSetupP99Ms !== undefined && setupP99Ms !== null && setupP99Ms > t.maxSetupP99Ms)
    failures.push(`call setup p99 ${setupP99Ms} ms, at most ${t.maxSetupP99Ms} ms`);
  return {
    ok: failures.length === 0,
    dropped,
    crashes,
    errors,
    p99Ms,
    setupP99Ms,
    windowMs: after.at - before.at,
    failures,
  };
}
