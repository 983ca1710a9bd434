/**
 * Kit v1: what every call session does, whatever way its release keeps the call: the
 * phone's registration, dialling (a user or a built-in number), media relay, CDR reporting,
 * timers, and the session's life around its call (its port, exits, the other leg going
 * away). Releases build their session from these; see README.md for why the kit is
 * versioned.
 */
import { type HotlineError, hotlineError } from '../../../errors/catalogue.ts';
import {
  type CastResult,
  type ExitReason,
  noreply,
  type Pid,
  type ProcessContext,
  type SystemInfo,
  stop,
  type TimerRef,
} from '../../../runtime/index.ts';
import {
  JOURNAL,
  type JournalMessage,
  type Party,
  type PeerMessage,
  type SessionArgs,
  type SessionConfig,
  userName,
} from '../../contract.ts';
import type { EndCause } from '../../protocol/messages.ts';
import type { ClientMessage, ClientMessageOf, ServerMessage } from '../../protocol/shipped.ts';
import { type LegArgs, SERVICES } from './services.ts';

/** The phone's side of a session, kept the same way by every release. */
export interface Registration {
  port: Pid;
  user: string | null;
}

/** Timer messages. Every release keeps these shapes, so a timer set by one fires into another. */
export type TimerMessage = { type: 'ring_timeout'; callId: string } | { type: 'media_check'; callId: string };
export type SessionInfo = PeerMessage | TimerMessage | SystemInfo;
export type Ctx = ProcessContext;

export interface SessionMessages {
  call: never;
  reply: never;
  cast: ClientMessage;
  info: PeerMessage | TimerMessage;
}

export const toPhone = (ctx: Ctx, s: Registration, message: ServerMessage): void => ctx.send(s.port, message);

/**
 * Answer a phone's message with a typed error frame; the session carries on. An error that is
 * the node's fault (status 500 and up, e.g. HOT_ERR_INTERNAL) is also reported to the runtime:
 * after an install the watch counts it against the new release. A phone's mistakes never are.
 */
export function refuse<S extends Registration>(
  ctx: Ctx,
  s: S,
  error: HotlineError,
  ref: string,
  callId?: string,
): CastResult<S> {
  if (error.statusCode >= 500) ctx.reportError(error);
  toPhone(ctx, s, {
    type: 'error',
    code: error.code,
    message: error.message,
    ref,
    ...(callId === undefined ? {} : { callId }),
  });
  return noreply(s);
}

export const journal = (ctx: Ctx, message: JournalMessage): void => {
  try {
    ctx.cast(JOURNAL, message);
  } catch {
    // No journal (it is restarting): the open call is recovered from its log at worst.
  }
};

/** Causes a leg ends a call with on the system's behalf (its timers, the node stopping), not its phone's. */
const SYSTEM_CAUSES: ReadonlySet<EndCause> = new Set<EndCause>([
  'ring_timeout',
  'media_timeout',
  'node_shutdown',
]);

/** How a cause reads from the other leg's side. */
function causeForPeer(cause: EndCause): EndCause {
  return cause === 'client_gone' || cause === 'error' || cause === 'slow_reader' ? 'peer_gone' : cause;
}

/** What the end of a call is told from, however a release keeps its call. */
export interface CallRecord {
  /** CDR id: unique, unlike the caller-chosen callId. The caller's leg made it; '' if unknown. */
  id: string;
  callId: string;
  role: 'caller' | 'callee';
  peerUser: string;
  setupAt: number;
  answeredAt: number | null;
  /** Frames this leg's phone sent, and frames delivered to it. */
  mediaOut: number;
  mediaIn: number;
  /** Releases that handled the call, for its CDR. */
  versions: string[];
}

/**
 * The end of a call as the phone hears it, and as the caller's leg writes it to the journal.
 * The callee's leg writes nothing, unless the caller's node was lost: then its journal
 * records the call (if no other node has), so the CDR outlives a node that never returns.
 */
export function reportEnd(
  ctx: Ctx,
  s: Registration,
  call: CallRecord,
  cause: EndCause,
  endedBy: Party,
): void {
  const now = ctx.now();
  const durationMs = call.answeredAt === null ? 0 : now - call.answeredAt;
  // The phone hears the other side's failures as the peer being gone; the CDR keeps the real cause.
  const heard = endedBy === theirSide(call) ? causeForPeer(cause) : cause;
  toPhone(ctx, s, { type: 'ended', callId: call.callId, cause: heard, durationMs });
  const end = {
    cause,
    endedBy,
    endedAt: now,
    answeredAt: call.answeredAt,
    versions: call.versions,
  };
  if (call.role === 'caller') {
    journal(ctx, { type: 'end', id: call.id, ...end, mediaAtoB: call.mediaOut, mediaBtoA: call.mediaIn });
  } else if (cause === 'node_lost' && call.id !== '' && s.user !== null) {
    journal(ctx, {
      type: 'lost',
      id: call.id,
      callId: call.callId,
      caller: call.peerUser,
      callee: s.user,
      setupAt: call.setupAt,
      ...end,
      mediaAtoB: call.mediaIn,
      mediaBtoA: call.mediaOut,
    });
  }
}

export const endNotice = (notify: 'bye' | 'cancel', callId: string, cause: EndCause): PeerMessage => ({
  type: notify === 'bye' ? 'peer_bye' : 'peer_cancel',
  callId,
  cause,
});

export const mySide = (call: { role: 'caller' | 'callee' }): Party => call.role;
export const theirSide = (call: { role: 'caller' | 'callee' }): Party =>
  call.role === 'caller' ? 'callee' : 'caller';

export const isError = (v: unknown): v is HotlineError => v instanceof Error;

export const ringTimer = (ctx: Ctx, config: SessionConfig, callId: string): TimerRef =>
  ctx.sendAfter(config.ringTimeoutMs, { type: 'ring_timeout', callId } satisfies TimerMessage);

export const mediaCheck = (ctx: Ctx, config: SessionConfig, callId: string): TimerRef =>
  ctx.sendAfter(Math.max(1, config.mediaTimeoutMs / 4), {
    type: 'media_check',
    callId,
  } satisfies TimerMessage);

/** A media check ends a call that is not held and saw no media either way for the timeout. */
export const mediaTimedOut = (ctx: Ctx, config: SessionConfig, lastMediaAt: number, held: boolean): boolean =>
  !held && ctx.now() - lastMediaAt >= config.mediaTimeoutMs;

/** The wrong-state refusal, naming the state as the README shows it (`on hold`, `setup`, `up`). */
export const wrongState = (type: string, phase: string, held: boolean): HotlineError =>
  hotlineError('HOT_ERR_WRONG_STATE', type, held ? 'on hold' : phase);

// ---- messages from the phone ----

/** `register`, the same in every release. */
export function register<S extends Registration>(
  m: ClientMessageOf<'register'>,
  s: S,
  ctx: Ctx,
  version: string,
): CastResult<S> {
  if (s.user !== null)
    return refuse(ctx, s, hotlineError('HOT_ERR_WRONG_STATE', 'register', `registered as ${s.user}`), m.type);
  // Service numbers are taken: a user by that name could never be called.
  if (Object.hasOwn(SERVICES, m.user))
    return refuse(ctx, s, hotlineError('HOT_ERR_USER_TAKEN', m.user), m.type);
  try {
    ctx.register(userName(m.user));
  } catch {
    return refuse(ctx, s, hotlineError('HOT_ERR_USER_TAKEN', m.user), m.type);
  }
  s.user = m.user;
  toPhone(ctx, s, { type: 'registered', user: m.user, node: ctx.node, release: version });
  return noreply(s);
}

/**
 * An invite's checks and its first message to the other leg, the same in every release: the
 * other leg and the calling user, or the error to refuse the invite with.
 */
export function dial(
  m: ClientMessageOf<'invite'>,
  s: Registration,
  ctx: Ctx,
  version: string,
  inCall: boolean,
  cdr: { id: string; setupAt: number },
): { peer: Pid; caller: string } | HotlineError {
  if (s.user === null) return hotlineError('HOT_ERR_NOT_REGISTERED', m.type);
  if (inCall) return hotlineError('HOT_ERR_WRONG_STATE', m.type, 'in a call');
  // Own keys only: `to` may be any user name, `constructor` and `__proto__` included.
  const service = Object.hasOwn(SERVICES, m.to) ? SERVICES[m.to] : undefined;
  if (service !== undefined)
    return {
      peer: ctx.spawn(service, { caller: ctx.self, callId: m.callId, release: version } satisfies LegArgs),
      caller: s.user,
    };
  if (m.to === s.user) return hotlineError('HOT_ERR_WRONG_STATE', m.type, 'calling yourself');
  const peer = ctx.whereis(userName(m.to));
  if (peer === undefined) return hotlineError('HOT_ERR_UNKNOWN_CALLEE', m.to);
  ctx.send(peer, {
    type: 'peer_invite',
    callId: m.callId,
    from: ctx.self,
    fromUser: s.user,
    release: version,
    cdrId: cdr.id,
    setupAt: cdr.setupAt,
  } satisfies PeerMessage);
  return { peer, caller: s.user };
}

/** The caller's leg has opened a call: the journal's open record, and `trying` to the phone. */
export function opened(
  ctx: Ctx,
  s: Registration,
  call: { id: string; callId: string; caller: string; callee: string; peer: Pid; setupAt: number },
  version: string,
): void {
  journal(ctx, { type: 'open', ...call, leg: ctx.self, versions: [version] });
  toPhone(ctx, s, { type: 'trying', callId: call.callId });
}

/** A media frame from the phone: acknowledged, and relayed to the other leg unless the call is held. */
export function takeMedia(
  ctx: Ctx,
  s: Registration,
  peer: Pid,
  m: ClientMessageOf<'media'>,
  held: boolean,
): void {
  toPhone(ctx, s, { type: 'media_ack', callId: m.callId, seq: m.seq, sentAt: m.sentAt });
  if (held) return;
  const relay: PeerMessage = { type: 'peer_media', callId: m.callId, seq: m.seq, sentAt: m.sentAt };
  if (m.payload !== undefined) relay.payload = m.payload;
  ctx.send(peer, relay);
}

/** How a peer message that ends the call ends it on this leg: cause and who; undefined for the rest. */
export function peerEnding(m: PeerMessage, theirs: Party): { cause: EndCause; by: Party } | undefined {
  switch (m.type) {
    case 'peer_busy':
      return { cause: 'busy', by: 'callee' };
    case 'peer_reject':
      return { cause: 'rejected', by: 'callee' };
    case 'peer_cancel':
    case 'peer_bye':
      // A timeout fired on the other leg first: the system ended the call, not the other party.
      return { cause: m.cause, by: SYSTEM_CAUSES.has(m.cause) ? 'system' : theirs };
    default:
      return undefined;
  }
}

/** Peer messages the phone gets as they are, under its own names. */
export function forPhone(
  m: Extract<PeerMessage, { type: 'peer_media' | 'peer_dtmf' | 'peer_prompt' }>,
): ServerMessage {
  switch (m.type) {
    case 'peer_media': {
      // Built field by field, not spread: every echoed frame comes through here.
      const media: ServerMessage = { type: 'media', callId: m.callId, seq: m.seq, sentAt: m.sentAt };
      if (m.payload !== undefined) media.payload = m.payload;
      return media;
    }
    case 'peer_dtmf':
      return { type: 'dtmf', callId: m.callId, digit: m.digit };
    case 'peer_prompt':
      return { type: 'prompt', callId: m.callId, text: m.text };
  }
}

export function causeOfExit(reason: ExitReason): EndCause {
  if (reason.type === 'shutdown')
    return reason.detail === 'slow_reader'
      ? 'slow_reader'
      : reason.detail === 'client_gone'
        ? 'client_gone'
        : 'node_shutdown';
  return reason.type === 'normal' ? 'client_gone' : 'error';
}

/** The other leg ended without a word: it crashed, its node went away, or it is just gone. */
function causeOfDown(reason: ExitReason): EndCause {
  if (reason.type === 'error') return 'error';
  return reason.type === 'noconnection' ? 'node_lost' : 'peer_gone';
}

/** How a release keeps its call, as far as the session's life around the call needs to know. */
export interface CallKeeping<S> {
  /** The call in progress, if any: this leg's role and the monitor on the other leg. */
  inCall(s: S): { role: 'caller' | 'callee'; monitor: number } | null;
  end(ctx: Ctx, s: S, cause: EndCause, endedBy: Party, notify: 'bye' | 'cancel' | null): void;
  onTimer(m: TimerMessage, s: S, ctx: Ctx): void;
  fromPeer(m: PeerMessage, s: S, ctx: Ctx): void;
}

/**
 * Info messages, the same for every release: an EXIT from the port (the phone went away) or
 * from the supervisor (shutdown) ends the call and the session; a DOWN of the other leg ends
 * the call; timers and peer messages go to the release.
 */
export function sessionInfo<S extends Registration>(
  keeping: CallKeeping<S>,
  m: SessionInfo,
  s: S,
  ctx: Ctx,
): CastResult<S> {
  switch (m.type) {
    case 'EXIT': {
      if (m.from !== s.port && m.from !== ctx.parent) break;
      const byPhone = m.from === s.port;
      const slow = m.reason.type === 'shutdown' && m.reason.detail === 'slow_reader';
      const cause = byPhone ? (slow ? 'slow_reader' : 'client_gone') : causeOfExit(m.reason);
      const call = keeping.inCall(s);
      if (call !== null) keeping.end(ctx, s, cause, byPhone ? mySide(call) : 'system', 'bye');
      return stop(byPhone ? { type: 'normal' } : m.reason, s);
    }
    case 'DOWN': {
      const call = keeping.inCall(s);
      if (call === null || call.monitor !== m.ref) break;
      const cause = causeOfDown(m.reason);
      // A lost node ended nobody's leg on purpose: the system ends the call, as recovery records it.
      keeping.end(ctx, s, cause, cause === 'node_lost' ? 'system' : theirSide(call), null);
      break;
    }
    case 'ring_timeout':
    case 'media_check':
      keeping.onTimer(m, s, ctx);
      break;
    default:
      keeping.fromPeer(m, s, ctx);
  }
  return noreply(s);
}

/** A session ending with a call still up (a crash, a stop): the call gets its CDR, the peer is told. */
export function endOnTerminate<S>(keeping: CallKeeping<S>, reason: ExitReason, s: S, ctx: Ctx): void {
  if (keeping.inCall(s) !== null) keeping.end(ctx, s, causeOfExit(reason), 'system', 'bye');
}

/** Every session starts the same way: linked to its port, trapping exits, nobody registered yet. */
export function startSession(args: SessionArgs, ctx: Ctx): Registration & { config: SessionConfig } {
  ctx.trapExit(true);
  ctx.link(args.port);
  return { port: args.port, user: null, config: args.config };
}
