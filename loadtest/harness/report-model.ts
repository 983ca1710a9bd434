/**
 * What a load run writes to report.json, and what report.html draws: the run's settings,
 * a per-second timeline, the installs with their phases, and the summary figures.
 */

import type { HandoffSummary } from '../../server/handoff/handoff.ts';
import type { Percentiles } from '../client/histogram.ts';

export type { Percentiles };

/** Hot install of session code, handoff of the node's process to a successor, or restart. */
export type RunMode = 'hot' | 'restart' | 'handoff';

export interface RunSettings {
  url: string;
  sessions: number;
  rampSeconds: number;
  durationSeconds: number;
  /** Releases installed mid-traffic, at seconds from the start of the run (handoff mode: release ''). */
  upgrades: { atSeconds: number; release: string }[];
  /** Handoff mode: the successor's entry point, when not the node's own. */
  handoffEntry?: string;
  rollbackAtSeconds: number | null;
  mode: RunMode;
  mediaRate: number;
  meanCallSeconds: number;
  workers: number;
}

/** One second of the run, summed over every worker. */
export interface TimelinePoint {
  /** Seconds since the run started. */
  t: number;
  connected: number;
  inCall: number;
  callsStarted: number;
  callsCompleted: number;
  /** Media round trip this second, ms (null when no ack arrived). */
  rttP50: number | null;
  rttP99: number | null;
  rttMax: number | null;
  setupP99: number | null;
  acks: number;
  dropped: number;
  lostMedia: number;
  errors: number;
  /** Install phase at the end of this second, if one runs. */
  phase: string | null;
  /** Session processes by release version, as the node reports them. */
  releases: Record<string, number>;
}

export interface InstallMark {
  /** What happened: an install's phase began, a restart began or ended, a rollback asked. */
  label: string;
  t: number;
}

export interface RunSummary {
  sessionsPeak: number;
  callsCompleted: number;
  /** Sockets closed by anything but the script. */
  droppedSessions: number;
  /** Calls ended by anything but the script, or not answered in time. */
  droppedCalls: number;
  lostMedia: number;
  duplicatedMedia: number;
  reorderedMedia: number;
  errorsByCode: Record<string, number>;
  connectMs: Percentiles;
  setupMs: Percentiles;
  rttMs: Percentiles;
  /** Round trip p99 from the install's start to its end (or the restart's, or the handoff's), ms. */
  rttP99DuringInstallMs: number | null;
  /** From the first drop to every dropped phone registered again, ms (null: nothing dropped). */
  recoverMs: number | null;
  installOutcome: string | null;
  cdr: { checked: number; matched: number; missing: number; duplicated: number; mismatched: number };
}

export interface RunReport {
  settings: RunSettings;
  startedAt: string;
  summary: RunSummary;
  timeline: TimelinePoint[];
  marks: InstallMark[];
  /** Threshold checks: name, limit, value, passed. */
  thresholds: { name: string; limit: number; value: number; passed: boolean }[];
  /** Only in a run over several nodes. */
  cluster?: ClusterSection;
  /** Only in handoff mode: each handoff as the node summed it up. */
  handoffs?: HandoffRecord[];
}

/** One handoff: the old and new pid, what moved, how long it took (the node's own summary). */
export type HandoffRecord = HandoffSummary;

/** A node of a multi-node run: its share of the figures, and its own series. */
export interface NodeReport {
  node: string;
  url: string;
  sessionsPeak: number;
  droppedSessions: number;
  droppedCalls: number;
  lostMedia: number;
  /** Round trip of the phones on this node, ms: whole run, steady state (ramp to rollout), rollout. */
  rttP99Ms: number | null;
  rttP99SteadyMs: number | null;
  rttP99DuringInstallMs: number | null;
  /** Its install in the rollout: seconds since the start of the run, and the outcome. */
  install: { from: number; to: number | null; outcome: string | null } | null;
  /** Per second, aligned with the run's timeline. */
  timeline: {
    connected: number[];
    dropped: number[];
    lostMedia: number[];
    rttP99: (number | null)[];
    releases: Record<string, number>[];
    phase: (string | null)[];
  };
}

/** What a run over several nodes adds to the report. */
export interface ClusterSection {
  /** Share of the two-party calls whose callee is on another node than its caller. */
  crossNodeShare: number;
  crossNodeCalls: { completed: number; matched: number };
  /** Round trip p99 from the end of the ramp to the rollout (or the end), ms. */
  rttP99SteadyMs: number | null;
  /** The whole rollout: seconds since the start of the run, and its outcome. */
  rollout: { release: string; from: number; to: number; outcome: string } | null;
  nodes: NodeReport[];
}
