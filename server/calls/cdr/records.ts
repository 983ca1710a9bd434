/** Call detail records and the lines of the journal log they live in. */
import type { Party } from '../contract.ts';
import type { EndCause } from '../protocol/messages.ts';

export interface Cdr {
  id: string;
  callId: string;
  caller: string;
  callee: string;
  node: string;
  setupAt: number;
  answeredAt: number | null;
  endedAt: number;
  durationMs: number;
  cause: EndCause;
  endedBy: Party;
  /** Media frames from the caller's phone, and frames delivered to it. */
  mediaAtoB: number;
  mediaBtoA: number;
  /** Releases of the session code that handled the call, either leg. */
  versions: string[];
}

/** A call that is up (or being set up) as far as the log knows. */
export interface OpenCall {
  id: string;
  callId: string;
  caller: string;
  callee: string;
  leg: string;
  /** The other leg (absent in logs written before it was recorded). */
  peer?: string;
  setupAt: number;
  answeredAt: number | null;
  phase: 'setup' | 'ringing' | 'up' | 'held';
  versions: string[];
}

/** One line of the append-only log (JSON Lines). */
export type LogLine =
  | ({ t: 'open' } & Omit<OpenCall, 'phase' | 'answeredAt'>)
  | { t: 'answered'; id: string; at: number }
  | ({ t: 'cdr' } & Cdr)
  /** A CDR that another node may write too: written as a `cdr` line if this node wins the cluster's claim on it. */
  | ({ t: 'claiming'; token: string } & Cdr)
  | { t: 'alive'; at: number }
  /** The first line of each segment after the first: its sequence number and when it was opened. */
  | { t: 'segment'; seq: number; at: number }
  /** A call this log opened whose CDR another node wrote (it won the cluster's claim). */
  | { t: 'elsewhere'; id: string };
