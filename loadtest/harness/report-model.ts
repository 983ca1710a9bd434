/**
 * What a load run writes to report.json, and what report.html draws: the run's settings,
 * a per-second timeline, the installs with their phases, and the summary figures.
 */

import type { Percentiles } from '../client/histogram.ts';

export type { Percentiles };

export type RunMode = 'hot' | 'restart';

export interface RunSettings {
  url: string;
  sessions: number;
  rampSeconds: number;
  durationSeconds: number;
  /** Releases installed mid-traffic, at seconds from the start of the run. */
  upgrades: { atSeconds: number; release: string }[];
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
  /** Round trip p99 from the install's start to its end (or the restart's), ms. */
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
}
