/**
 * What release code and the node agree on: the messages session processes exchange with
 * each other (peer messages), with the CDR journal, and what a release exports. Releases
 * come and go; this contract is what lets 1.0.0 and 2.0.0 processes talk mid-upgrade.
 */
import type { ReleaseCode, ReleaseModule } from '../release/module.ts';
import type { AnyBehaviour, Pid } from '../runtime/index.ts';
import type { EndCause, ProtocolAdditions } from './protocol/messages.ts';

/** Registered name of the CDR journal process. */
export const JOURNAL = 'cdr_journal';
/** Registered name of a user's session: `user:alice`. */
export const userName = (user: string): string => `user:${user}`;

/** Session-to-session (and service leg) messages. Each names the call it belongs to. */
export type PeerMessage =
  | {
      type: 'peer_invite';
      callId: string;
      from: Pid;
      fromUser: string;
      release: string;
      /** The call's CDR id and setup time: the callee's leg writes the CDR if the caller's node is lost. */
      cdrId?: string;
      setupAt?: number;
    }
  | { type: 'peer_ringing'; callId: string }
  | { type: 'peer_answer'; callId: string; release: string }
  | { type: 'peer_busy'; callId: string }
  | { type: 'peer_reject'; callId: string }
  | { type: 'peer_cancel'; callId: string; cause: EndCause }
  | { type: 'peer_bye'; callId: string; cause: EndCause }
  | { type: 'peer_media'; callId: string; seq: number; sentAt: number; payload?: string }
  | { type: 'peer_hold'; callId: string }
  | { type: 'peer_resume'; callId: string }
  | { type: 'peer_dtmf'; callId: string; digit: string }
  | { type: 'peer_prompt'; callId: string; text: string };

export type CallPhase = 'setup' | 'ringing' | 'up' | 'held';
export type Party = 'caller' | 'callee' | 'system';

/** What a CDR says of how a call ended, as a leg tells it. */
export interface CallEnd {
  cause: EndCause;
  endedBy: Party;
  endedAt: number;
  answeredAt: number | null;
  mediaAtoB: number;
  mediaBtoA: number;
  versions: string[];
}

/**
 * Messages to the journal (casts). The caller's leg owns a call's record. The callee's leg
 * tells its own journal of a call that ended with the caller's node lost (`lost`): that
 * journal writes the CDR if it wins the cluster's claim on it, so the record exists even if
 * the caller's node never comes back, and never twice if it does.
 */
export type JournalMessage =
  | {
      type: 'open';
      id: string;
      callId: string;
      caller: string;
      callee: string;
      leg: Pid;
      /** The other leg: on another node, the call's CDR goes through the cluster's claim. */
      peer: Pid;
      setupAt: number;
      versions: string[];
    }
  | { type: 'phase'; id: string; phase: CallPhase; at: number }
  | ({ type: 'end'; id: string } & CallEnd)
  | ({ type: 'lost'; id: string; callId: string; caller: string; callee: string; setupAt: number } & CallEnd);

/** Settings every session gets in its start args. */
export interface SessionConfig {
  ringTimeoutMs: number;
  mediaTimeoutMs: number;
}

export interface SessionArgs {
  port: Pid;
  config: SessionConfig;
}

/**
 * What a call release's code exports as `release` (see call-release.ts): the generic
 * release code (its behaviours include the session and its service legs) plus which
 * behaviour is the session.
 */
export interface ReleaseCodeOfCalls extends ReleaseCode {
  session: AnyBehaviour;
  /** Phone messages this release adds to the base protocol (see protocol/messages.ts). */
  protocol?: ProtocolAdditions;
}

/** A loaded call release: its code with the appup of its manifest. */
export interface Release extends ReleaseModule, ReleaseCodeOfCalls {}
