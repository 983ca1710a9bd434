/**
 * Kit v1's `call_info` (since release 1.1.0): a phone asks where its call is, and its
 * session answers with the state, duration, media counts and the release answering. The
 * messages reach a node with a release that adds them (releases/index.ts lists which): the
 * node checks frames against them once it has loaded such a release, and sessions on a
 * release without them answer HOT_ERR_UNSUPPORTED_TYPE. Also here: the 1.x state with the
 * per-call counter of call_info requests (`infoRequests`), and the handlers of a release
 * with that state.
 */
import Type, { type Static } from 'typebox';
import { Count, call, type ProtocolAdditions, strict } from '../../protocol/messages.ts';
import type { ServerMessage } from '../../protocol/shipped.ts';
import { type Call, handlersFor, onCall, type PhoneHandlers, type SessionState } from './call-model.ts';
import { type Ctx, toPhone } from './session.ts';

export const CallState = Type.Union(
  [Type.Literal('setup'), Type.Literal('ringing'), Type.Literal('up'), Type.Literal('held')],
  { description: 'where a call is, as call_info reports it' },
);
export type CallState = Static<typeof CallState>;

export const callInfoMessages = {
  client: {
    call_info: Type.Object(
      { type: Type.Literal('call_info'), ...call },
      { ...strict, description: 'since release 1.1.0: ask for the state of the current call' },
    ),
  },
  server: {
    call_info: Type.Object(
      {
        type: Type.Literal('call_info'),
        ...call,
        state: CallState,
        durationMs: Type.Number({ minimum: 0, description: "since this leg's answer; 0 before it" }),
        mediaOut: Count('media frames this phone sent in the call'),
        mediaIn: Count('media frames delivered to this phone in the call'),
        release: Type.String({ description: 'the session code release answering' }),
      },
      { ...strict, description: 'since release 1.1.0: the answer to call_info' },
    ),
  },
} satisfies ProtocolAdditions;

export interface CallV11 extends Call {
  /** call_info requests this leg's phone made in the call. */
  infoRequests: number;
}

export interface StateV11 extends SessionState {
  call: CallV11 | null;
}

/** The facts call_info reports, however a release keeps them. */
export interface CallFacts {
  callId: string;
  state: CallState;
  answeredAt: number | null;
  mediaOut: number;
  mediaIn: number;
}

/** call_info's answer, from this leg's side: the duration runs from this leg's answer, as in `ended`. */
export const callInfo = (ctx: Ctx, c: CallFacts, release: string): ServerMessage => ({
  type: 'call_info',
  callId: c.callId,
  state: c.state,
  durationMs: c.answeredAt === null ? 0 : ctx.now() - c.answeredAt,
  mediaOut: c.mediaOut,
  mediaIn: c.mediaIn,
  release,
});

/** What a release with 1.1.0's call model runs: the 1.x handlers, call_info, the counter on new calls. */
export const specV11 = {
  callFields: (): Omit<CallV11, keyof Call> => ({ infoRequests: 0 }),
  fromPhone: {
    ...handlersFor<StateV11>(),
    call_info: (m, s, ctx, r) =>
      // Allowed in every state of the call: it changes nothing but the counter.
      onCall(
        m,
        s,
        ctx,
        () => true,
        (call) => {
          call.infoRequests++;
          toPhone(ctx, s, callInfo(ctx, { ...call, state: call.held ? 'held' : call.phase }, r.version));
        },
      ),
  } satisfies PhoneHandlers<StateV11>,
};
