/**
 * The service legs: the other end of calls to built-in numbers, so that one client alone can
 * load a node. Each is a process per call, started by the caller's session, monitoring it,
 * and ending with the call. Their code has not changed since release 1.0.0, so every release
 * runs them as version 1.0.0 and an install leaves them alone.
 */
import {
  type Behaviour,
  type CastResult,
  noreply,
  type Pid,
  type ProcessContext,
  type SystemInfo,
  stop,
} from '../../../runtime/index.ts';
import type { PeerMessage } from '../../contract.ts';

/** The legs' module version: one code for every release that runs them. */
export const LEGS_VERSION = '1.0.0';

/** Built-in numbers and the leg module that answers each. */
export const SERVICES: Record<string, string> = {
  echo: 'echo_leg',
  ivr: 'ivr_leg',
  noanswer: 'noanswer_leg',
};

export interface LegArgs {
  caller: Pid;
  callId: string;
  /** The calling session's release, which the leg answers as (for the CDR); absent from older sessions. */
  release?: string;
}

export interface LegState {
  caller: Pid;
  callId: string;
  held: boolean;
}

type LegInfo = PeerMessage | SystemInfo;

const normal = { type: 'normal' } as const;

function startLeg(args: LegArgs, ctx: ProcessContext, answers: boolean): LegState {
  ctx.monitor(args.caller);
  const tell = (m: PeerMessage) => ctx.send(args.caller, m);
  tell({ type: 'peer_ringing', callId: args.callId });
  // The release that answers, for the call's CDR: the caller's, whose node runs this leg.
  if (answers) tell({ type: 'peer_answer', callId: args.callId, release: args.release ?? LEGS_VERSION });
  return { caller: args.caller, callId: args.callId, held: false };
}

/** What every leg does with the end of its call; undefined for messages left to the leg. */
function common(m: LegInfo, s: LegState): CastResult<LegState> | undefined {
  switch (m.type) {
    case 'DOWN':
    case 'peer_bye':
    case 'peer_cancel':
      return stop(normal, s);
    case 'peer_hold':
    case 'peer_resume':
      s.held = m.type === 'peer_hold';
      return noreply(s);
    default:
      return undefined;
  }
}

type LegMessages = { call: never; reply: never; cast: never; info: PeerMessage };

const echoLeg: Behaviour<LegState, LegArgs, LegMessages> = {
  name: 'echo_leg',
  version: LEGS_VERSION,
  init: (args, ctx) => startLeg(args, ctx, true),
  handleInfo(m: LegInfo, s, ctx) {
    const done = common(m, s);
    if (done) return done;
    if (m.type === 'peer_media' && !s.held) ctx.send(s.caller, m);
    return noreply(s);
  },
};

export const IVR_MENU =
  'Welcome to Hotline. Press 1 for sales, 2 for support, 9 to hear this again, # to hang up.';
const IVR_ANSWERS: Record<string, string> = {
  '1': 'Sales: every agent is on another call. Your call matters to us.',
  '2': 'Support: have you tried turning it off and on again?',
  '9': IVR_MENU,
};

const ivrLeg: Behaviour<LegState, LegArgs, LegMessages> = {
  name: 'ivr_leg',
  version: LEGS_VERSION,
  init(args, ctx) {
    const s = startLeg(args, ctx, true);
    ctx.send(s.caller, { type: 'peer_prompt', callId: s.callId, text: IVR_MENU } satisfies PeerMessage);
    return s;
  },
  handleInfo(m: LegInfo, s, ctx) {
    const done = common(m, s);
    if (done) return done;
    if (m.type !== 'peer_dtmf') return noreply(s);
    if (m.digit === '#') {
      ctx.send(s.caller, { type: 'peer_bye', callId: s.callId, cause: 'normal' } satisfies PeerMessage);
      return stop(normal, s);
    }
    const text = IVR_ANSWERS[m.digit] ?? `${m.digit} is not on the menu. ${IVR_MENU}`;
    ctx.send(s.caller, { type: 'peer_prompt', callId: s.callId, text } satisfies PeerMessage);
    return noreply(s);
  },
};

/** Rings and never answers: the caller's ring timeout ends the call. */
const noanswerLeg: Behaviour<LegState, LegArgs, LegMessages> = {
  name: 'noanswer_leg',
  version: LEGS_VERSION,
  init: (args, ctx) => startLeg(args, ctx, false),
  handleInfo: (m: LegInfo, s) => common(m, s) ?? noreply(s),
};

/** The service legs every release runs. */
export const serviceLegs: Behaviour<LegState, LegArgs, LegMessages>[] = [echoLeg, ivrLeg, noanswerLeg];
