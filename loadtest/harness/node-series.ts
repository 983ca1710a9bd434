/**
 * The per-node side of a run over several nodes: each node's second (sessions, drops, lost
 * media, round trip, releases, install phase) kept as series aligned with the run's
 * timeline, and each node's figures at the end.
 */
import { latencyMs, newHistogram } from '../client/histogram.ts';
import { type Bucket, pct } from './bucket.ts';
import { addCounts, emptyCounts } from './messages.ts';
import type { NodeReport } from './report-model.ts';

/** Which figures a second counts towards (run.ts decides from the ramp and the rollout window). */
export interface SecondRole {
  drain: boolean;
  steady: boolean;
  during: boolean;
}

class NodeTrack {
  readonly totals = emptyCounts();
  readonly rtt = { all: newHistogram(), steady: newHistogram(), during: newHistogram() };
  peak = 0;
  install: NodeReport['install'] = null;
  readonly timeline: NodeReport['timeline'] = {
    connected: [],
    dropped: [],
    lostMedia: [],
    rttP99: [],
    releases: [],
    phase: [],
  };

  constructor(
    readonly node: string,
    readonly url: string,
  ) {}
}

const p99 = (h: ReturnType<typeof newHistogram>) => (h.totalCount === 0 ? null : latencyMs(h).p99);

export class NodeSeries {
  readonly #tracks: NodeTrack[];

  constructor(nodes: { name: string; url: string }[]) {
    this.#tracks = nodes.map((n) => new NodeTrack(n.name, n.url));
  }

  /** Node i's second. */
  add(
    i: number,
    s: { bucket: Bucket; connected: number; releases: Record<string, number>; phase: string | null },
    role: SecondRole,
  ): void {
    const track = this.#tracks[i] as NodeTrack;
    const b = s.bucket;
    addCounts(track.totals, b.counts);
    if (!role.drain) track.rtt.all.add(b.rtt);
    if (role.steady) track.rtt.steady.add(b.rtt);
    if (role.during) track.rtt.during.add(b.rtt);
    track.peak = Math.max(track.peak, s.connected);
    const tl = track.timeline;
    tl.connected.push(s.connected);
    tl.dropped.push(b.counts.droppedSessions + b.counts.droppedCalls);
    tl.lostMedia.push(b.counts.lost);
    tl.rttP99.push(pct(b.rtt, 99));
    tl.releases.push(s.releases);
    tl.phase.push(s.phase);
  }

  setInstall(i: number, install: NonNullable<NodeReport['install']>): void {
    (this.#tracks[i] as NodeTrack).install = install;
  }

  report(): NodeReport[] {
    return this.#tracks.map((t) => ({
      node: t.node,
      url: t.url,
      sessionsPeak: t.peak,
      droppedSessions: t.totals.droppedSessions,
      droppedCalls: t.totals.droppedCalls,
      lostMedia: t.totals.lost,
      rttP99Ms: p99(t.rtt.all),
      rttP99SteadyMs: p99(t.rtt.steady),
      rttP99DuringInstallMs: p99(t.rtt.during),
      install: t.install,
      timeline: t.timeline,
    }));
  }
}
