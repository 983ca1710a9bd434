/**
 * Release 1.0.0 of the call session: one process per phone. It registers the phone's user,
 * places and takes one call at a time, relays media to the other leg and acknowledges it,
 * and owns the call's CDR when it is the caller's leg. It knows nothing of sockets: it
 * talks to its phone by sending frames to its port process.
 *
 * Later releases reuse this code rather than copy it: the 1.x releases keep its call model
 * and build their session with `sessionBehaviour` (their version, the fields they add to a
 * call, their handler table), and 2.0.0 shares the helpers that do not depend on how a call
 * is kept (registration, dialling, ending, relaying, exits). esbuild bundles what each uses.
 */
import { randomUUID } from 'node:crypto';
import { type HotlineError, hotlineError } from '../../../errors/catalogue.ts';
import {
  type Behaviour,
  type CastResult,
  type CodeChangeFrom,
  type ExitReason,
  noreply,
  type Pid,
  type ProcessContext,
  type SystemInfo,
  stop,
  type TimerRef,
} from '../../../runtime/index.ts';
import {
  type CallPhase,
  JOURNAL,
  type JournalMessage,
  type Party,
  type PeerMessage,
  type SessionArgs,
  type SessionConfig,
  userName,
} from '../../contract.ts';
import type { EndCause } from '../../protocol/messages.ts';
import type {
  ClientMessage,
  ClientMessageOf,
  ClientMessageType,
  ServerMessage,
} from '../../protocol/shipped.ts';

export const VERSION = '1.0.0';

export interface Call {
  /** CDR id: unique, unlike the caller-chosen callId. The caller's leg made it; '' if unknown. */
  id: string;
  callId: string;
  role: 'caller' | 'callee';
  peer: Pid;
  peerUser: string;
  monitor: number;
  phase: 'setup' | 'ringing' | 'up';
  held: boolean;
  setupAt: number;
  answeredAt: number | null;
  /** Frames this leg's phone sent, and frames delivered to it. */
  mediaOut: number;
  mediaIn: number;
  lastMediaAt: number;
  ringTimer: number | null;
  mediaTimer: number | null;
  versions: string[];
}

/** The phone's side of a session, kept the same way by every release. */
export interface Registration {
  port: Pid;
  user: string | null;
}

export interface SessionState extends Registration {
  config: SessionConfig;
  call: Call | null;
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

/** Built-in numbers answered by service legs of this release. */
export const SERVICES: Record<string, string> = {
  echo: 'echo_leg',
  ivr: 'ivr_leg',
  noanswer: 'noanswer_leg',
};

/** What the handlers need to know of the release running them. */
export interface SessionRelease {
  version: string;
  /** Fields the release adds to every new call, on top of 1.0.0's. */
  callFields(): object;
}

export type PhoneHandler<K extends ClientMessageType, S> = (
  m: ClientMessageOf<K>,
  s: S,
  ctx: Ctx,
  r: SessionRelease,
) => CastResult<S>;
/** A release's phone messages; a type without a handler is refused with HOT_ERR_UNSUPPORTED_TYPE. */
export type PhoneHandlers<S> = { [K in ClientMessageType]?: PhoneHandler<K, S> };

/**
 * A codeChange. On a downgrade it returns the older release's state, which Behaviour's
 * signature (the behaviour's own state type) cannot say.
 */
export type Migration = (from: CodeChangeFrom, state: unknown, extra: unknown) => unknown;

/** A 1.x release built on this code: 1.0.0 itself, 1.1.0 and the faulty 1.2.0 variants. */
export interface SessionSpec<S extends SessionState> extends SessionRelease {
  fromPhone: PhoneHandlers<S>;
  codeChange?: Migration;
}

type CallOf<S extends SessionState> = NonNullable<S['call']>;

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

const toPeer = (ctx: Ctx, call: Call, message: PeerMessage): void => ctx.send(call.peer, message);

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

function setPhase(ctx: Ctx, call: Call, phase: CallPhase): void {
  if (call.role === 'caller') journal(ctx, { type: 'phase', id: call.id, phase, at: ctx.now() });
}

/** What the end of a call is told from: the fields of a 1.x Call that 2.0.0 keeps elsewhere. */
export type CallRecord = Pick<
  Call,
  'id' | 'callId' | 'role' | 'peerUser' | 'setupAt' | 'answeredAt' | 'mediaOut' | 'mediaIn' | 'versions'
>;

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

/** End the current call: timers, monitor, peer, phone, CDR. */
function endCall(
  ctx: Ctx,
  s: SessionState,
  cause: EndCause,
  endedBy: Party,
  notify: 'bye' | 'cancel' | null,
): void {
  const call = s.call;
  if (call === null) return;
  s.call = null;
  if (call.ringTimer !== null) ctx.cancelTimer(call.ringTimer);
  if (call.mediaTimer !== null) ctx.cancelTimer(call.mediaTimer);
  ctx.demonitor(call.monitor);
  if (notify !== null) toPeer(ctx, call, endNotice(notify, call.callId, cause));
  reportEnd(ctx, s, call, cause, endedBy);
}

export const endNotice = (notify: 'bye' | 'cancel', callId: string, cause: EndCause): PeerMessage => ({
  type: notify === 'bye' ? 'peer_bye' : 'peer_cancel',
  callId,
  cause,
});

export const mySide = (call: { role: 'caller' | 'callee' }): Party => call.role;
export const theirSide = (call: { role: 'caller' | 'callee' }): Party =>
  call.role === 'caller' ? 'callee' : 'caller';

/** The call a message names, or the typed error to send instead. */
function current<S extends SessionState>(s: S, callId: string): CallOf<S> | HotlineError {
  const call = s.call as CallOf<S> | null;
  return call !== null && call.callId === callId ? call : hotlineError('HOT_ERR_UNKNOWN_CALL', callId);
}

export const isError = (v: unknown): v is HotlineError => v instanceof Error;

function addVersion(call: Call, version: string): void {
  if (!call.versions.includes(version)) call.versions.push(version);
}

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

function answered(ctx: Ctx, s: SessionState, call: Call): void {
  call.phase = 'up';
  call.answeredAt = ctx.now();
  call.lastMediaAt = call.answeredAt;
  if (call.ringTimer !== null) ctx.cancelTimer(call.ringTimer);
  call.ringTimer = null;
  call.mediaTimer = mediaCheck(ctx, s.config, call.callId);
  toPhone(ctx, s, { type: 'answered', callId: call.callId });
  setPhase(ctx, call, 'up');
}

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
    return { peer: ctx.spawn(service, { caller: ctx.self, callId: m.callId }), caller: s.user };
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

const phoneHandlers: PhoneHandlers<SessionState> = {
  register: (m, s, ctx, r) => register(m, s, ctx, r.version),

  invite(m, s, ctx, r) {
    const cdr = { id: randomUUID(), setupAt: ctx.now() };
    const dialled = dial(m, s, ctx, r.version, s.call !== null, cdr);
    if (isError(dialled)) return refuse(ctx, s, dialled, m.type, m.callId);
    const call = newCall(ctx, r, {
      ...cdr,
      callId: m.callId,
      role: 'caller',
      peer: dialled.peer,
      peerUser: m.to,
      ringTimer: ringTimer(ctx, s.config, m.callId),
      versions: [r.version],
    });
    s.call = call;
    opened(
      ctx,
      s,
      { ...cdr, callId: m.callId, caller: dialled.caller, callee: m.to, peer: dialled.peer },
      r.version,
    );
    return noreply(s);
  },

  ringing: (m, s, ctx) =>
    onCall(
      m,
      s,
      ctx,
      (c) => c.role === 'callee' && c.phase === 'setup',
      (call) => {
        call.phase = 'ringing';
        toPeer(ctx, call, { type: 'peer_ringing', callId: call.callId });
      },
    ),

  answer: (m, s, ctx, r) =>
    onCall(
      m,
      s,
      ctx,
      (c) => c.role === 'callee' && c.phase !== 'up',
      (call) => {
        toPeer(ctx, call, { type: 'peer_answer', callId: call.callId, release: r.version });
        answered(ctx, s, call);
      },
    ),

  busy: (m, s, ctx) => decline(m, s, ctx, 'busy'),
  reject: (m, s, ctx) => decline(m, s, ctx, 'rejected'),

  cancel: (m, s, ctx) =>
    onCall(
      m,
      s,
      ctx,
      (c) => c.role === 'caller' && c.phase !== 'up',
      () => endCall(ctx, s, 'cancelled', 'caller', 'cancel'),
    ),

  bye: (m, s, ctx) => onCall(m, s, ctx, isUp, (call) => endCall(ctx, s, 'normal', mySide(call), 'bye')),

  hold: (m, s, ctx) => setHold(m, s, ctx, true),
  resume: (m, s, ctx) => setHold(m, s, ctx, false),

  dtmf: (m, s, ctx) =>
    onCall(m, s, ctx, isUp, (call) =>
      toPeer(ctx, call, { type: 'peer_dtmf', callId: call.callId, digit: m.digit }),
    ),

  media: (m, s, ctx) =>
    onCall(m, s, ctx, isUp, (call) => {
      call.mediaOut++;
      call.lastMediaAt = ctx.now();
      takeMedia(ctx, s, call.peer, m, call.held);
    }),
};

/**
 * 1.0.0's phone handlers, for a 1.x release whose state S only adds fields to calls: they
 * change only the state they are given, and the calls they create get the release's
 * `callFields`, so S keeps its shape.
 */
export const handlersFor = <S extends SessionState>(): PhoneHandlers<S> =>
  phoneHandlers as unknown as PhoneHandlers<S>;

/** A call being set up, watching its other leg. */
function newCall(
  ctx: Ctx,
  r: SessionRelease,
  c: Pick<Call, 'id' | 'callId' | 'role' | 'peer' | 'peerUser' | 'setupAt' | 'ringTimer' | 'versions'>,
): Call {
  const now = ctx.now();
  return {
    ...r.callFields(),
    ...c,
    monitor: ctx.monitor(c.peer),
    phase: 'setup',
    held: false,
    answeredAt: null,
    mediaOut: 0,
    mediaIn: 0,
    lastMediaAt: now,
    mediaTimer: null,
  };
}

const isUp = (call: Call): boolean => call.phase === 'up';

/**
 * What every in-call message goes through: it must name the current call, in a state that
 * allows it (else a typed error to the phone, and nothing changes); then `act` runs.
 */
export function onCall<S extends SessionState>(
  m: { type: string; callId: string },
  s: S,
  ctx: Ctx,
  allowed: (call: CallOf<S>) => boolean,
  act: (call: CallOf<S>) => void,
): CastResult<S> {
  const call = current(s, m.callId);
  if (isError(call)) return refuse(ctx, s, call, m.type, m.callId);
  if (!allowed(call)) return refuse(ctx, s, wrongState(m.type, call.phase, call.held), m.type, m.callId);
  act(call);
  return noreply(s);
}

function decline(
  m: ClientMessageOf<'busy' | 'reject'>,
  s: SessionState,
  ctx: Ctx,
  cause: 'busy' | 'rejected',
) {
  return onCall(
    m,
    s,
    ctx,
    (c) => c.role === 'callee' && c.phase !== 'up',
    (call) => {
      toPeer(ctx, call, { type: cause === 'busy' ? 'peer_busy' : 'peer_reject', callId: call.callId });
      endCall(ctx, s, cause, 'callee', null);
    },
  );
}

function setHold(m: ClientMessageOf<'hold' | 'resume'>, s: SessionState, ctx: Ctx, held: boolean) {
  return onCall(
    m,
    s,
    ctx,
    (c) => c.phase === 'up' && c.held !== held,
    (call) => {
      call.held = held;
      call.lastMediaAt = ctx.now();
      toPeer(ctx, call, { type: held ? 'peer_hold' : 'peer_resume', callId: call.callId });
      setPhase(ctx, call, held ? 'held' : 'up');
    },
  );
}

// ---- messages from the other leg, timers, exits ----

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

function fromPeer(m: PeerMessage, s: SessionState, ctx: Ctx, r: SessionRelease): void {
  if (m.type === 'peer_invite') {
    if (s.call !== null) {
      ctx.send(m.from, { type: 'peer_busy', callId: m.callId } satisfies PeerMessage);
      return;
    }
    s.call = newCall(ctx, r, {
      // The caller's record, should its node be lost (a sender older than the field: none).
      id: m.cdrId ?? '',
      setupAt: m.setupAt ?? ctx.now(),
      callId: m.callId,
      role: 'callee',
      peer: m.from,
      peerUser: m.fromUser,
      ringTimer: null,
      versions: [m.release, r.version],
    });
    toPhone(ctx, s, { type: 'incoming', callId: m.callId, from: m.fromUser });
    return;
  }
  const call = s.call;
  // A message for a call that has ended already (it crossed with our bye): nothing to do.
  if (call === null || call.callId !== m.callId) return;
  const ending = peerEnding(m, theirSide(call));
  if (ending !== undefined) {
    endCall(ctx, s, ending.cause, ending.by, null);
    return;
  }
  switch (m.type) {
    case 'peer_ringing':
      if (call.phase === 'setup') {
        call.phase = 'ringing';
        toPhone(ctx, s, { type: 'ringing', callId: call.callId });
        setPhase(ctx, call, 'ringing');
      }
      break;
    case 'peer_answer':
      addVersion(call, m.release);
      if (call.phase !== 'up') answered(ctx, s, call);
      break;
    case 'peer_media':
      call.mediaIn++;
      // Media reaching this leg keeps the call alive here too (one-way media is still media).
      call.lastMediaAt = ctx.now();
      toPhone(ctx, s, forPhone(m));
      break;
    case 'peer_hold':
    case 'peer_resume':
      call.held = m.type === 'peer_hold';
      call.lastMediaAt = ctx.now();
      toPhone(ctx, s, { type: call.held ? 'held' : 'resumed', callId: call.callId });
      setPhase(ctx, call, call.held ? 'held' : 'up');
      break;
    case 'peer_dtmf':
    case 'peer_prompt':
      toPhone(ctx, s, forPhone(m));
      break;
  }
}

function onTimer(m: TimerMessage, s: SessionState, ctx: Ctx): void {
  const call = s.call;
  if (call === null || call.callId !== m.callId) return;
  if (m.type === 'ring_timeout') {
    call.ringTimer = null;
    if (call.phase !== 'up') endCall(ctx, s, 'ring_timeout', 'system', 'cancel');
    return;
  }
  call.mediaTimer = null;
  if (call.phase !== 'up') return;
  if (mediaTimedOut(ctx, s.config, call.lastMediaAt, call.held)) {
    endCall(ctx, s, 'media_timeout', 'system', 'bye');
  } else {
    call.mediaTimer = mediaCheck(ctx, s.config, call.callId);
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

/** The session behaviour of a 1.x release. */
export function sessionBehaviour<S extends SessionState>(
  spec: SessionSpec<S>,
): Behaviour<S, SessionArgs, SessionMessages> {
  const keeping: CallKeeping<S> = {
    inCall: (s) => s.call,
    end: endCall,
    onTimer,
    fromPeer: (m, s, ctx) => fromPeer(m, s, ctx, spec),
  };
  return {
    name: 'session',
    version: spec.version,

    // S adds fields to calls only, and there is no call yet.
    init: (args, ctx) => ({ ...startSession(args, ctx), call: null }) as S,

    handleCast(message, s, ctx) {
      const handler = spec.fromPhone[message.type] as PhoneHandler<typeof message.type, S> | undefined;
      if (handler === undefined) {
        return refuse(
          ctx,
          s,
          hotlineError('HOT_ERR_UNSUPPORTED_TYPE', String(message.type), spec.version),
          String(message.type),
        );
      }
      return handler(message, s, ctx, spec);
    },

    handleInfo: (message: SessionInfo, s, ctx) => sessionInfo(keeping, message, s, ctx),
    terminate: (reason, s, ctx) => endOnTerminate(keeping, reason, s, ctx),

    ...(spec.codeChange === undefined
      ? {}
      : { codeChange: spec.codeChange as (from: CodeChangeFrom, state: unknown, extra: unknown) => S }),
  };
}

export const session = sessionBehaviour<SessionState>({
  version: VERSION,
  callFields: () => ({}),
  fromPhone: phoneHandlers,
});
