/** What the harness and its worker processes say to each other over IPC. */

import type { Placement } from './placement.ts';

export interface ScriptPlan {
  /** The nodes' phone endpoints; placement.ts says which phone goes where. */
  urls: string[];
  /** The data directory whose phone key signs the phones' tokens (every node trusts it). */
  keyDir: string;
  placement: Placement;
  localAddresses: string[];
  phones: number;
  /** Users are `${userPrefix}${i}`; even phones place calls, odd ones answer them. */
  userPrefix: string;
  /** Spread this worker's connects over this long. */
  rampMs: number;
  mediaRate: number;
  meanCallMs: number;
  /** A call not answered within this long counts as dropped. */
  answerTimeoutMs: number;
  /** Share of calls that go to a service number (echo, ivr) instead of the partner phone. */
  serviceShare: number;
  /** Share of two-party calls that are put on hold for a while. */
  holdShare: number;
}

/** A call the script completed: what its caller's phone counted, for CDR reconciliation. */
export interface CompletedCall {
  callId: string;
  caller: string;
  /** Frames the caller sent, and media frames delivered to the caller. */
  sent: number;
  received: number;
  /** The callee was registered on another node. */
  crossNode: boolean;
}

/** What phones count over a second; summed across workers as they arrive. */
export interface SecondCounts {
  callsStarted: number;
  callsCompleted: number;
  acks: number;
  droppedSessions: number;
  droppedCalls: number;
  lost: number;
  duplicated: number;
  reordered: number;
}

export const emptyCounts = (): SecondCounts => ({
  callsStarted: 0,
  callsCompleted: 0,
  acks: 0,
  droppedSessions: 0,
  droppedCalls: 0,
  lost: 0,
  duplicated: 0,
  reordered: 0,
});

export function addCounts(into: SecondCounts, from: SecondCounts): void {
  for (const k of Object.keys(into) as (keyof SecondCounts)[]) into[k] += from[k];
}

/** One second of one worker: counts since the last second, gauges as of now. */
export interface WorkerSecond extends SecondCounts {
  connected: number;
  inCall: number;
  errors: Record<string, number>;
  /** Encoded HDR histograms (µs) of this second. */
  rtt: string;
  setup: string;
  /** Times from a drop to registered again, ms, that ended this second. */
  recoveries: number[];
}

export type ToScriptWorker = { type: 'start'; plan: ScriptPlan } | { type: 'stop' };

export type FromScriptWorker =
  | { type: 'ready' }
  /** One second per node, in the order of the plan's urls. */
  | { type: 'second'; nodes: WorkerSecond[] }
  | { type: 'done'; calls: CompletedCall[]; connect: string; lost: number };
