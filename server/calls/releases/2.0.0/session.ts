/**
 * Release 2.0.0 of the call session. The phone protocol is 1.1.0's (call_info included) and
 * the peer messages are the contract's, unchanged, so a 2.0.0 leg and a 1.x leg call each
 * other in one node. What changes is how a session keeps its call: one phase, a
 * discriminated union, instead of `call: Call | null` whose fields each mean something in
 * some phases only.
 *
 *   idle ─invite / peer_invite→ setup ─ringing→ ringing ─answer→ up (held or not) ─end→ idle
 *
 * A call's leg (which call, whose, with whom: fixed for its life) is one record, `Leg`; the
 * ring timer exists only before the answer; the answer time, hold, media counters and the
 * media timer only once the call is up. Media reaching a leg before its answer is dropped
 * (1.x counted it; no leg sends any then).
 *
 * codeChange: up from 1.1.0 and from 1.0.0 directly, and back down to either (so an install
 * straight from 1.0.0 can be rolled back), as its release.json declares. Timer ids and the timer messages' shapes are
 * kept, so a ring timeout or media check set on either side of a migration fires into the
 * other.
 */
import { randomUUID } from 'node:crypto';
import { hotlineError } from '../../../errors/catalogue.ts';
import {
  type Behaviour,
  type CodeChangeFrom,
  type MonitorRef,
  noreply,
  type Pid,
  type TimerRef,
} from '../../../runtime/index.ts';
import type { Party, PeerMessage, SessionArgs, SessionConfig } from '../../contract.ts';
import { type CallV11, callInfo, type StateV11 } from '../../kit/v1/call-info.ts';
import type { SessionState } from '../../kit/v1/call-model.ts';
import { V100, withInfoCounter, withoutInfoCounter, withVersion } from '../../kit/v1/migrate.ts';
import {
  type CallKeeping,
  type CallRecord,
  type Ctx,
  dial,
  endNotice,
  endOnTerminate,
  forPhone,
  isError,
  journal,
  mediaCheck,
  mediaTimedOut,
  mySide,
  opened,
  peerEnding,
  type Registration,
  refuse,
  register,
  reportEnd,
  ringTimer,
  type SessionInfo,
  type SessionMessages,
  sessionInfo,
  startSession,
  type TimerMessage,
  takeMedia,
  theirSide,
  toPhone,
  wrongState,
} from '../../kit/v1/session.ts';
import type { EndCause } from '../../protocol/messages.ts';
import type { ClientMessage, ClientMessageOf } from '../../protocol/shipped.ts';

export const VERSION = '2.0.0';

export interface Peer {
  pid: Pid;
  user: string;
  monitor: MonitorRef;
}

/** One leg of a call: what stays the same from the invite to the end. */
export interface Leg {
  callId: string;
  /**
   * The CDR's id: the caller's leg owns the record; the callee's knows it (null from a sender
   * older than that) to record the call if the caller's node is lost.
   */
  cdrId: string | null;
  role: 'caller' | 'callee';
  peer: Peer;
  setupAt: number;
  /** Releases that handled the call, for its CDR. */
  versions: string[];
  infoRequests: number;
}

export interface Media {
  /** Frames this leg's phone sent, frames delivered to it, and when media last passed either way. */
  sent: number;
  received: number;
  lastAt: number;
}

export interface Idle {
  kind: 'idle';
}

/** Not answered yet: `setup` until the callee's phone rings, then `ringing`. */
export interface Pending {
  kind: 'setup' | 'ringing';
  leg: Leg;
  /** The caller's leg times the ringing; the callee's has no timer. */
  ringTimer: TimerRef | null;
}

export interface Up {
  kind: 'up';
  leg: Leg;
  answeredAt: number;
  held: boolean;
  media: Media;
  mediaTimer: TimerRef | null;
}

export type InCall = Pending | Up;
export type Phase = Idle | InCall;

export interface StateV2 extends Registration {
  config: SessionConfig;
  phase: Phase;
}

const idle = (): Idle => ({ kind: 'idle' });

const tellPeer = (ctx: Ctx, leg: Leg, m: PeerMessage): void => ctx.send(leg.peer.pid, m);

/** The caller's leg keeps the journal's view of the call's phase current. */
function journalPhase(ctx: Ctx, leg: Leg, phase: 'ringing' | 'up' | 'held'): void {
  if (leg.role === 'caller' && leg.cdrId !== null)
    journal(ctx, { type: 'phase', id: leg.cdrId, phase, at: ctx.now() });
}

function newLeg(ctx: Ctx, l: Omit<Leg, 'peer' | 'infoRequests'>, pid: Pid, user: string): Leg {
  return { ...l, peer: { pid, user, monitor: ctx.monitor(pid) }, infoRequests: 0 };
}

/** What the end of a call reports, in 1.x's terms. */
const recordOf = (p: InCall): CallRecord => ({
  id: p.leg.cdrId ?? '',
  callId: p.leg.callId,
  role: p.leg.role,
  peerUser: p.leg.peer.user,
  setupAt: p.leg.setupAt,
  answeredAt: p.kind === 'up' ? p.answeredAt : null,
  mediaOut: p.kind === 'up' ? p.media.sent : 0,
  mediaIn: p.kind === 'up' ? p.media.received : 0,
  versions: p.leg.versions,
});

/** End the call in progress: its timer, monitor, the other leg, the phone, the CDR. */
function end(ctx: Ctx, s: StateV2, cause: EndCause, endedBy: Party, notify: 'bye' | 'cancel' | null): void {
  const p = s.phase;
  if (p.kind === 'idle') return;
  s.phase = idle();
  const timer = p.kind === 'up' ? p.mediaTimer : p.ringTimer;
  if (timer !== null) ctx.cancelTimer(timer);
  ctx.demonitor(p.leg.peer.monitor);
  if (notify !== null) tellPeer(ctx, p.leg, endNotice(notify, p.leg.callId, cause));
  reportEnd(ctx, s, recordOf(p), cause, endedBy);
}

function answer(ctx: Ctx, s: StateV2, p: Pending): void {
  if (p.ringTimer !== null) ctx.cancelTimer(p.ringTimer);
  const now = ctx.now();
  s.phase = {
    kind: 'up',
    leg: p.leg,
    answeredAt: now,
    held: false,
    media: { sent: 0, received: 0, lastAt: now },
    mediaTimer: mediaCheck(ctx, s.config, p.leg.callId),
  };
  toPhone(ctx, s, { type: 'answered', callId: p.leg.callId });
  journalPhase(ctx, p.leg, 'up');
}

/** Hold or resume, from either side: hold suspends the media timeout, and both restart it. */
function setHeld(ctx: Ctx, p: Up, held: boolean): void {
  p.held = held;
  p.media.lastAt = ctx.now();
  journalPhase(ctx, p.leg, held ? 'held' : 'up');
}

const stateOf = (p: InCall) => (p.kind === 'up' && p.held ? 'held' : p.kind);

// ---- messages from the phone ----

type CallMessage = Exclude<ClientMessage, { type: 'register' | 'invite' }>;

function invite(m: ClientMessageOf<'invite'>, s: StateV2, ctx: Ctx) {
  const cdr = { id: randomUUID(), setupAt: ctx.now() };
  const dialled = dial(m, s, ctx, VERSION, s.phase.kind !== 'idle', cdr);
  if (isError(dialled)) return refuse(ctx, s, dialled, m.type, m.callId);
  const leg = newLeg(
    ctx,
    { callId: m.callId, cdrId: cdr.id, role: 'caller', setupAt: cdr.setupAt, versions: [VERSION] },
    dialled.peer,
    m.to,
  );
  s.phase = { kind: 'setup', leg, ringTimer: ringTimer(ctx, s.config, m.callId) };
  opened(
    ctx,
    s,
    { ...cdr, callId: m.callId, caller: dialled.caller, callee: m.to, peer: dialled.peer },
    VERSION,
  );
  return noreply(s);
}

/**
 * Do what an in-call message asks if the call's phase allows it. False, with nothing done,
 * when the phase does not: the caller refuses it as a wrong state.
 */
function act(m: CallMessage, p: InCall, s: StateV2, ctx: Ctx): boolean {
  const { leg } = p;
  const unanswered = p.kind !== 'up';
  switch (m.type) {
    case 'call_info':
      leg.infoRequests++;
      toPhone(ctx, s, callInfo(ctx, { ...recordOf(p), state: stateOf(p) }, VERSION));
      return true;
    case 'ringing':
      if (leg.role !== 'callee' || p.kind !== 'setup') return false;
      p.kind = 'ringing';
      tellPeer(ctx, leg, { type: 'peer_ringing', callId: leg.callId });
      return true;
    case 'answer':
      if (leg.role !== 'callee' || p.kind === 'up') return false;
      tellPeer(ctx, leg, { type: 'peer_answer', callId: leg.callId, release: VERSION });
      answer(ctx, s, p);
      return true;
    case 'busy':
    case 'reject':
      if (leg.role !== 'callee' || !unanswered) return false;
      tellPeer(ctx, leg, { type: m.type === 'busy' ? 'peer_busy' : 'peer_reject', callId: leg.callId });
      end(ctx, s, m.type === 'busy' ? 'busy' : 'rejected', 'callee', null);
      return true;
    case 'cancel':
      if (leg.role !== 'caller' || !unanswered) return false;
      end(ctx, s, 'cancelled', 'caller', 'cancel');
      return true;
  }
  // The rest need the call up.
  if (p.kind !== 'up') return false;
  switch (m.type) {
    case 'bye':
      end(ctx, s, 'normal', mySide(leg), 'bye');
      return true;
    case 'hold':
    case 'resume':
      if (p.held === (m.type === 'hold')) return false;
      setHeld(ctx, p, m.type === 'hold');
      tellPeer(ctx, leg, { type: p.held ? 'peer_hold' : 'peer_resume', callId: leg.callId });
      return true;
    case 'dtmf':
      tellPeer(ctx, leg, { type: 'peer_dtmf', callId: leg.callId, digit: m.digit });
      return true;
    case 'media':
      p.media.sent++;
      p.media.lastAt = ctx.now();
      takeMedia(ctx, s, leg.peer.pid, m, p.held);
      return true;
  }
}

// ---- messages from the other leg (1.x or 2.0.0), timers ----

function fromPeer(m: PeerMessage, s: StateV2, ctx: Ctx): void {
  if (m.type === 'peer_invite') {
    if (s.phase.kind !== 'idle') {
      ctx.send(m.from, { type: 'peer_busy', callId: m.callId } satisfies PeerMessage);
      return;
    }
    const versions = [m.release, VERSION];
    const leg = newLeg(
      ctx,
      { callId: m.callId, cdrId: m.cdrId ?? null, role: 'callee', setupAt: m.setupAt ?? ctx.now(), versions },
      m.from,
      m.fromUser,
    );
    s.phase = { kind: 'setup', leg, ringTimer: null };
    toPhone(ctx, s, { type: 'incoming', callId: m.callId, from: m.fromUser });
    return;
  }
  const p = s.phase;
  // For a call that has ended already (it crossed with our end): nothing to do.
  if (p.kind === 'idle' || p.leg.callId !== m.callId) return;
  const ending = peerEnding(m, theirSide(p.leg));
  if (ending !== undefined) return end(ctx, s, ending.cause, ending.by, null);
  switch (m.type) {
    case 'peer_ringing':
      if (p.kind !== 'setup') return;
      p.kind = 'ringing';
      toPhone(ctx, s, { type: 'ringing', callId: p.leg.callId });
      return journalPhase(ctx, p.leg, 'ringing');
    case 'peer_answer':
      p.leg.versions = withVersion(p.leg.versions, m.release);
      if (p.kind !== 'up') answer(ctx, s, p);
      return;
    case 'peer_media':
      if (p.kind !== 'up') return;
      p.media.received++;
      // Media reaching this leg keeps the call alive here too (one-way media is still media).
      p.media.lastAt = ctx.now();
      return toPhone(ctx, s, forPhone(m));
    case 'peer_hold':
    case 'peer_resume':
      if (p.kind !== 'up') return;
      setHeld(ctx, p, m.type === 'peer_hold');
      return toPhone(ctx, s, { type: p.held ? 'held' : 'resumed', callId: p.leg.callId });
    case 'peer_dtmf':
    case 'peer_prompt':
      return toPhone(ctx, s, forPhone(m));
  }
}

function onTimer(m: TimerMessage, s: StateV2, ctx: Ctx): void {
  const p = s.phase;
  if (p.kind === 'idle' || p.leg.callId !== m.callId) return;
  if (m.type === 'ring_timeout') {
    if (p.kind === 'up') return;
    p.ringTimer = null;
    return end(ctx, s, 'ring_timeout', 'system', 'cancel');
  }
  if (p.kind !== 'up') return;
  p.mediaTimer = null;
  if (mediaTimedOut(ctx, s.config, p.media.lastAt, p.held))
    return end(ctx, s, 'media_timeout', 'system', 'bye');
  p.mediaTimer = mediaCheck(ctx, s.config, p.leg.callId);
}

// ---- code change ----

/** A 1.1.0 call as a 2.0.0 phase; the versions get 2.0.0. */
function phaseOf(c: CallV11): InCall {
  const leg: Leg = {
    callId: c.callId,
    cdrId: c.id === '' ? null : c.id,
    role: c.role,
    peer: { pid: c.peer, user: c.peerUser, monitor: c.monitor },
    setupAt: c.setupAt,
    versions: withVersion(c.versions, VERSION),
    infoRequests: c.infoRequests,
  };
  if (c.phase !== 'up') return { kind: c.phase, leg, ringTimer: c.ringTimer };
  return {
    kind: 'up',
    leg,
    answeredAt: c.answeredAt ?? c.setupAt,
    held: c.held,
    media: { sent: c.mediaOut, received: c.mediaIn, lastAt: c.lastMediaAt },
    mediaTimer: c.mediaTimer,
  };
}

/** A 2.0.0 phase as a 1.1.0 call, with the fields 1.x keeps in every phase; the versions get `target`. */
function callOf(p: InCall, target: string): CallV11 {
  const { leg } = p;
  const common = {
    id: leg.cdrId ?? '',
    callId: leg.callId,
    role: leg.role,
    peer: leg.peer.pid,
    peerUser: leg.peer.user,
    monitor: leg.peer.monitor,
    setupAt: leg.setupAt,
    versions: withVersion(leg.versions, target),
    infoRequests: leg.infoRequests,
  };
  if (p.kind !== 'up')
    return {
      ...common,
      phase: p.kind,
      held: false,
      answeredAt: null,
      mediaOut: 0,
      mediaIn: 0,
      lastMediaAt: leg.setupAt,
      ringTimer: p.ringTimer,
      mediaTimer: null,
    };
  return {
    ...common,
    phase: 'up',
    held: p.held,
    answeredAt: p.answeredAt,
    mediaOut: p.media.sent,
    mediaIn: p.media.received,
    lastMediaAt: p.media.lastAt,
    ringTimer: null,
    mediaTimer: p.mediaTimer,
  };
}

/**
 * Up from a 1.x state, down to one (release.json says from and to which versions); only
 * 1.0.0's lacks the call_info counter. Pure: builds the new state, leaves the old one as it was.
 */
export function codeChange(from: CodeChangeFrom, state: unknown): StateV2 | StateV11 | SessionState {
  const other = typeof from === 'string' ? from : from.down;
  if (typeof from !== 'string') {
    const { phase, ...rest } = state as StateV2;
    const v11: StateV11 = { ...rest, call: phase.kind === 'idle' ? null : callOf(phase, other) };
    return other === V100 ? withoutInfoCounter(v11) : v11;
  }
  const { call, ...rest } = other === V100 ? withInfoCounter(state as SessionState) : (state as StateV11);
  return { ...rest, phase: call === null ? idle() : phaseOf(call) };
}

const keeping: CallKeeping<StateV2> = {
  inCall: (s) =>
    s.phase.kind === 'idle' ? null : { role: s.phase.leg.role, monitor: s.phase.leg.peer.monitor },
  end,
  onTimer,
  fromPeer,
};

export const session: Behaviour<StateV2, SessionArgs, SessionMessages> = {
  name: 'session',
  version: VERSION,

  init: (args, ctx) => ({ ...startSession(args, ctx), phase: idle() }),

  handleCast(m, s, ctx) {
    if (m.type === 'register') return register(m, s, ctx, VERSION);
    if (m.type === 'invite') return invite(m, s, ctx);
    const p = s.phase;
    if (p.kind === 'idle' || p.leg.callId !== m.callId)
      return refuse(ctx, s, hotlineError('HOT_ERR_UNKNOWN_CALL', m.callId), m.type, m.callId);
    if (!act(m, p, s, ctx))
      return refuse(ctx, s, wrongState(m.type, p.kind, p.kind === 'up' && p.held), m.type, m.callId);
    return noreply(s);
  },

  handleInfo: (m: SessionInfo, s, ctx) => sessionInfo(keeping, m, s, ctx),
  terminate: (reason, s, ctx) => endOnTerminate(keeping, reason, s, ctx),

  // Behaviour types codeChange's result as this release's state; a downgrade returns 1.1.0's.
  codeChange: codeChange as (from: CodeChangeFrom, state: unknown) => StateV2,
};
