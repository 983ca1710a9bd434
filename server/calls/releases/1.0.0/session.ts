/**
 * Release 1.0.0 of the call session: one process per phone. It registers the phone's user,
 * places and takes one call at a time, relays media to the other leg and acknowledges it,
 * and owns the call's CDR when it is the caller's leg. It knows nothing of sockets: it
 * talks to its phone by sending frames to its port process.
 */
import { randomUUID } from 'node:crypto';
import { type HotlineError, hotlineError } from '../../../errors/catalogue.ts';
import {
  type Behaviour,
  type CastResult,
  type ExitReason,
  noreply,
  type Pid,
  type ProcessContext,
  type SystemInfo,
  stop,
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
import type { ClientMessage, ClientMessageOf, EndCause, ServerMessage } from '../../protocol/messages.ts';

export const VERSION = '1.0.0';

export interface Call {
  /** CDR id: unique, unlike the caller-chosen callId. */
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

export interface SessionState {
  port: Pid;
  user: string | null;
  config: SessionConfig;
  call: Call | null;
}

type TimerMessage = { type: 'ring_timeout'; callId: string } | { type: 'media_check'; callId: string };
type Info = PeerMessage | TimerMessage | SystemInfo;
type Ctx = ProcessContext;

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

const toPhone = (ctx: Ctx, s: SessionState, message: ServerMessage): void => ctx.send(s.port, message);

function refuse(
  ctx: Ctx,
  s: SessionState,
  error: HotlineError,
  ref: string,
  callId?: string,
): CastResult<SessionState> {
  toPhone(ctx, s, {
    type: 'error',
    code: error.code,
    message: error.message,
    ref,
    ...(callId === undefined ? {} : { callId }),
  });
  return noreply(s);
}

const journal = (ctx: Ctx, message: JournalMessage): void => {
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
  if (notify !== null)
    toPeer(ctx, call, { type: notify === 'bye' ? 'peer_bye' : 'peer_cancel', callId: call.callId, cause });
  const now = ctx.now();
  const durationMs = call.answeredAt === null ? 0 : now - call.answeredAt;
  // The phone hears the other side's failures as the peer being gone; the CDR keeps the real cause.
  const heard = endedBy === theirSide(call) ? causeForPeer(cause) : cause;
  toPhone(ctx, s, { type: 'ended', callId: call.callId, cause: heard, durationMs });
  if (call.role === 'caller') {
    journal(ctx, {
      type: 'end',
      id: call.id,
      cause,
      endedBy,
      endedAt: now,
      answeredAt: call.answeredAt,
      mediaAtoB: call.mediaOut,
      mediaBtoA: call.mediaIn,
      versions: call.versions,
    });
  }
}

const mySide = (call: Call): Party => call.role;
const theirSide = (call: Call): Party => (call.role === 'caller' ? 'callee' : 'caller');

/** The call a message names, or the typed error to send instead. */
function current(s: SessionState, callId: string): Call | HotlineError {
  return s.call !== null && s.call.callId === callId ? s.call : hotlineError('HOT_ERR_UNKNOWN_CALL', callId);
}

const isError = (v: unknown): v is HotlineError => v instanceof Error;

function addVersion(call: Call, version: string): void {
  if (!call.versions.includes(version)) call.versions.push(version);
}

function armMediaCheck(ctx: Ctx, s: SessionState, call: Call): void {
  call.mediaTimer = ctx.sendAfter(Math.max(1, s.config.mediaTimeoutMs / 4), {
    type: 'media_check',
    callId: call.callId,
  });
}

function answered(ctx: Ctx, s: SessionState, call: Call): void {
  call.phase = 'up';
  call.answeredAt = ctx.now();
  call.lastMediaAt = call.answeredAt;
  if (call.ringTimer !== null) ctx.cancelTimer(call.ringTimer);
  call.ringTimer = null;
  armMediaCheck(ctx, s, call);
  toPhone(ctx, s, { type: 'answered', callId: call.callId });
  setPhase(ctx, call, 'up');
}

// ---- messages from the phone ----

type Handler<K extends ClientMessage['type']> = (
  m: ClientMessageOf<K>,
  s: SessionState,
  ctx: Ctx,
) => CastResult<SessionState>;

const fromPhone: { [K in ClientMessage['type']]: Handler<K> } = {
  register(m, s, ctx) {
    if (s.user !== null)
      return refuse(
        ctx,
        s,
        hotlineError('HOT_ERR_WRONG_STATE', 'register', `registered as ${s.user}`),
        m.type,
      );
    // Service numbers are taken: a user by that name could never be called.
    if (Object.hasOwn(SERVICES, m.user))
      return refuse(ctx, s, hotlineError('HOT_ERR_USER_TAKEN', m.user), m.type);
    try {
      ctx.register(userName(m.user));
    } catch {
      return refuse(ctx, s, hotlineError('HOT_ERR_USER_TAKEN', m.user), m.type);
    }
    s.user = m.user;
    toPhone(ctx, s, { type: 'registered', user: m.user, node: ctx.node, release: VERSION });
    return noreply(s);
  },

  invite(m, s, ctx) {
    if (s.user === null)
      return refuse(ctx, s, hotlineError('HOT_ERR_NOT_REGISTERED', m.type), m.type, m.callId);
    if (s.call !== null)
      return refuse(ctx, s, hotlineError('HOT_ERR_WRONG_STATE', m.type, 'in a call'), m.type, m.callId);
    // Own keys only: `to` may be any user name, `constructor` and `__proto__` included.
    const service = Object.hasOwn(SERVICES, m.to) ? SERVICES[m.to] : undefined;
    let peer: Pid | undefined;
    if (service !== undefined) {
      peer = ctx.spawn(service, { caller: ctx.self, callId: m.callId });
    } else {
      if (m.to === s.user)
        return refuse(
          ctx,
          s,
          hotlineError('HOT_ERR_WRONG_STATE', m.type, 'calling yourself'),
          m.type,
          m.callId,
        );
      peer = ctx.whereis(userName(m.to));
      if (peer === undefined)
        return refuse(ctx, s, hotlineError('HOT_ERR_UNKNOWN_CALLEE', m.to), m.type, m.callId);
      ctx.send(peer, {
        type: 'peer_invite',
        callId: m.callId,
        from: ctx.self,
        fromUser: s.user,
        release: VERSION,
      } satisfies PeerMessage);
    }
    const call = newCall(ctx, {
      id: randomUUID(),
      callId: m.callId,
      role: 'caller',
      peer,
      peerUser: m.to,
      ringTimer: ctx.sendAfter(s.config.ringTimeoutMs, { type: 'ring_timeout', callId: m.callId }),
      versions: [VERSION],
    });
    const now = call.setupAt;
    s.call = call;
    journal(ctx, {
      type: 'open',
      id: call.id,
      callId: m.callId,
      caller: s.user,
      callee: m.to,
      leg: ctx.self,
      setupAt: now,
      versions: [VERSION],
    });
    toPhone(ctx, s, { type: 'trying', callId: m.callId });
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

  answer: (m, s, ctx) =>
    onCall(
      m,
      s,
      ctx,
      (c) => c.role === 'callee' && c.phase !== 'up',
      (call) => {
        toPeer(ctx, call, { type: 'peer_answer', callId: call.callId, release: VERSION });
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
      toPhone(ctx, s, { type: 'media_ack', callId: call.callId, seq: m.seq, sentAt: m.sentAt });
      if (!call.held) {
        const relay: PeerMessage = { type: 'peer_media', callId: call.callId, seq: m.seq, sentAt: m.sentAt };
        if (m.payload !== undefined) relay.payload = m.payload;
        toPeer(ctx, call, relay);
      }
    }),
};

/** A call being set up, watching its other leg. */
function newCall(
  ctx: Ctx,
  c: Pick<Call, 'id' | 'callId' | 'role' | 'peer' | 'peerUser' | 'ringTimer' | 'versions'>,
): Call {
  const now = ctx.now();
  return {
    ...c,
    monitor: ctx.monitor(c.peer),
    phase: 'setup',
    held: false,
    setupAt: now,
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
function onCall(
  m: { type: string; callId: string },
  s: SessionState,
  ctx: Ctx,
  allowed: (call: Call) => boolean,
  act: (call: Call) => void,
): CastResult<SessionState> {
  const call = current(s, m.callId);
  if (isError(call)) return refuse(ctx, s, call, m.type, m.callId);
  if (!allowed(call)) {
    const state = call.held ? 'on hold' : call.phase;
    return refuse(ctx, s, hotlineError('HOT_ERR_WRONG_STATE', m.type, state), m.type, m.callId);
  }
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

function fromPeer(m: PeerMessage, s: SessionState, ctx: Ctx): CastResult<SessionState> {
  if (m.type === 'peer_invite') {
    if (s.call !== null) {
      ctx.send(m.from, { type: 'peer_busy', callId: m.callId } satisfies PeerMessage);
      return noreply(s);
    }
    s.call = newCall(ctx, {
      id: '',
      callId: m.callId,
      role: 'callee',
      peer: m.from,
      peerUser: m.fromUser,
      ringTimer: null,
      versions: [m.release, VERSION],
    });
    toPhone(ctx, s, { type: 'incoming', callId: m.callId, from: m.fromUser });
    return noreply(s);
  }
  const call = s.call;
  // A message for a call that has ended already (it crossed with our bye): nothing to do.
  if (call === null || call.callId !== m.callId) return noreply(s);
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
    case 'peer_busy':
      endCall(ctx, s, 'busy', 'callee', null);
      break;
    case 'peer_reject':
      endCall(ctx, s, 'rejected', 'callee', null);
      break;
    case 'peer_cancel':
    case 'peer_bye':
      // A timeout fired on the other leg first: the system ended the call, not the other party.
      endCall(ctx, s, m.cause, SYSTEM_CAUSES.has(m.cause) ? 'system' : theirSide(call), null);
      break;
    case 'peer_media':
      call.mediaIn++;
      // Media reaching this leg keeps the call alive here too (one-way media is still media).
      call.lastMediaAt = ctx.now();
      toPhone(ctx, s, {
        type: 'media',
        callId: call.callId,
        seq: m.seq,
        sentAt: m.sentAt,
        ...(m.payload === undefined ? {} : { payload: m.payload }),
      });
      break;
    case 'peer_hold':
    case 'peer_resume':
      call.held = m.type === 'peer_hold';
      call.lastMediaAt = ctx.now();
      toPhone(ctx, s, { type: call.held ? 'held' : 'resumed', callId: call.callId });
      setPhase(ctx, call, call.held ? 'held' : 'up');
      break;
    case 'peer_dtmf':
      toPhone(ctx, s, { type: 'dtmf', callId: call.callId, digit: m.digit });
      break;
    case 'peer_prompt':
      toPhone(ctx, s, { type: 'prompt', callId: call.callId, text: m.text });
      break;
  }
  return noreply(s);
}

function onTimer(m: TimerMessage, s: SessionState, ctx: Ctx): CastResult<SessionState> {
  const call = s.call;
  if (call === null || call.callId !== m.callId) return noreply(s);
  if (m.type === 'ring_timeout') {
    call.ringTimer = null;
    if (call.phase !== 'up') endCall(ctx, s, 'ring_timeout', 'system', 'cancel');
    return noreply(s);
  }
  call.mediaTimer = null;
  if (call.phase !== 'up') return noreply(s);
  if (!call.held && ctx.now() - call.lastMediaAt >= s.config.mediaTimeoutMs) {
    endCall(ctx, s, 'media_timeout', 'system', 'bye');
  } else {
    armMediaCheck(ctx, s, call);
  }
  return noreply(s);
}

function causeOfExit(reason: ExitReason): EndCause {
  if (reason.type === 'shutdown')
    return reason.detail === 'slow_reader'
      ? 'slow_reader'
      : reason.detail === 'client_gone'
        ? 'client_gone'
        : 'node_shutdown';
  return reason.type === 'normal' ? 'client_gone' : 'error';
}

export const session: Behaviour<SessionState, SessionArgs, SessionMessages> = {
  name: 'session',
  version: VERSION,

  init(args, ctx) {
    ctx.trapExit(true);
    ctx.link(args.port);
    return { port: args.port, user: null, config: args.config, call: null };
  },

  handleCast(message, s, ctx) {
    const handler = fromPhone[message.type] as Handler<typeof message.type> | undefined;
    if (handler === undefined) {
      return refuse(
        ctx,
        s,
        hotlineError('HOT_ERR_UNSUPPORTED_TYPE', String(message.type), VERSION),
        String(message.type),
      );
    }
    return handler(message, s, ctx);
  },

  handleInfo(message: Info, s, ctx) {
    switch (message.type) {
      case 'EXIT': {
        // The port ended (the phone went away) or our supervisor is shutting us down.
        if (message.from !== s.port && message.from !== ctx.parent) return noreply(s);
        const cause =
          message.from === s.port
            ? message.reason.type === 'shutdown' && message.reason.detail === 'slow_reader'
              ? 'slow_reader'
              : 'client_gone'
            : causeOfExit(message.reason);
        if (s.call !== null)
          endCall(ctx, s, cause, message.from === s.port ? mySide(s.call) : 'system', 'bye');
        return stop(message.from === s.port ? { type: 'normal' } : message.reason, s);
      }
      case 'DOWN': {
        if (s.call !== null && s.call.monitor === message.ref) {
          endCall(ctx, s, message.reason.type === 'error' ? 'error' : 'peer_gone', theirSide(s.call), null);
        }
        return noreply(s);
      }
      case 'ring_timeout':
      case 'media_check':
        return onTimer(message, s, ctx);
      default:
        return fromPeer(message, s, ctx);
    }
  },

  terminate(reason, s, ctx) {
    // A crash (or a stop with a call up): the call still gets its CDR, the peer is told.
    if (s.call !== null) endCall(ctx, s, causeOfExit(reason), 'system', 'bye');
  },
};
