/**
 * The messages release 1.1.0 adds to the base protocol: `call_info`, asked by a phone and
 * answered by its session. They reach a node with the release: the node checks frames
 * against them once it has loaded 1.1.0, and sessions still on 1.0.0 answer them with
 * HOT_ERR_UNSUPPORTED_TYPE. 2.0.0 speaks them too.
 */
import Type, { type Static } from 'typebox';
import { Count, call, type ProtocolAdditions, strict } from '../../protocol/messages.ts';

export const CallState = Type.Union(
  [Type.Literal('setup'), Type.Literal('ringing'), Type.Literal('up'), Type.Literal('held')],
  { description: 'where a call is, as call_info reports it' },
);
export type CallState = Static<typeof CallState>;

export const protocol = {
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
