/**
 * Kit v1's call model, the 1.x state: `call: Call | null`, and the session behaviour built
 * on it from a release's version, the fields it adds to a call and its phone handlers.
 * Releases 1.0.0 and 1.1.0 (and the faulty 1.2.0 variants) are sessions made here.
 */
import { randomUUID } from 'node:crypto';
import { type HotlineError, hotlineError } from '../../../errors/catalogue.ts';
import {
  type Behaviour,
  type CastResult,
  type CodeChangeFrom,
  noreply,
  type Pid,
} from '../../../runtime/index.ts';
import type { CallPhase, Party, PeerMessage, SessionArgs, SessionConfig } from '../../contract.ts';
import type { EndCause } from '../../protocol/messages.ts';
import type { ClientMessageOf, ClientMessageType } from '../../protocol/shipped.ts';
import {
  type CallKeeping,
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
} from './session.ts';

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

export interface SessionState extends Registration {
  config: SessionConfig;
  call: Call | null;
}

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

const toPeer = (ctx: Ctx, call: Call, message: PeerMessage): void => ctx.send(call.peer, message);

function setPhase(ctx: Ctx, call: Call, phase: CallPhase): void {
  if (call.role === 'caller') journal(ctx, { type: 'phase', id: call.id, phase, at: ctx.now() });
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

/** The call a message names, or the typed error to send instead. */
function current<S extends SessionState>(s: S, callId: string): CallOf<S> | HotlineError {
  const call = s.call as CallOf<S> | null;
  return call !== null && call.callId === callId ? call : hotlineError('HOT_ERR_UNKNOWN_CALL', callId);
}

function addVersion(call: Call, version: string): void {
  if (!call.versions.includes(version)) call.versions.push(version);
}

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
