/**
 * The phone protocol: JSON text frames over one WebSocket per phone (user agent), modelled
 * on SIP call legs. Every message is a TypeBox schema, so one definition gives the static
 * type, the validator and the published JSON Schema.
 */
import Type, { type Static, type TSchema } from 'typebox';

export const strict = { additionalProperties: false } as const;

export const User = Type.String({
  pattern: '^[A-Za-z0-9_.-]{1,64}$',
  description: 'a user name: letters, digits, _ . -',
});
export const CallId = Type.String({
  minLength: 1,
  maxLength: 64,
  description: "the caller's id for the call",
});
export const call = { callId: CallId };

/** Built-in numbers, so one client alone can load a node. */
export const SERVICE_NUMBERS = {
  echo: 'echo',
  ivr: 'ivr',
  noanswer: 'noanswer',
} as const;

export const EndCause = Type.Union(
  [
    Type.Literal('normal'),
    Type.Literal('busy'),
    Type.Literal('rejected'),
    Type.Literal('cancelled'),
    Type.Literal('ring_timeout'),
    Type.Literal('media_timeout'),
    Type.Literal('client_gone'),
    Type.Literal('peer_gone'),
    Type.Literal('slow_reader'),
    Type.Literal('error'),
    Type.Literal('node_shutdown'),
    Type.Literal('node_lost'),
  ],
  { description: 'why a call ended' },
);
export type EndCause = Static<typeof EndCause>;

const Seq = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'media sequence number',
});
const SentAt = Type.Number({ description: "sender's clock when the frame left, in ms; echoed back as is" });
const Payload = Type.Optional(Type.String({ maxLength: 2048, description: 'opaque media payload' }));
const Digit = Type.String({ pattern: '^[0-9*#A-D]$', description: 'one DTMF digit' });
export const Count = (description: string) =>
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });

/** What phones send, in the base protocol that every release speaks. */
export const baseClientMessages = {
  register: Type.Object({ type: Type.Literal('register'), user: User }, strict),
  invite: Type.Object({ type: Type.Literal('invite'), ...call, to: User }, strict),
  ringing: Type.Object({ type: Type.Literal('ringing'), ...call }, strict),
  answer: Type.Object({ type: Type.Literal('answer'), ...call }, strict),
  busy: Type.Object({ type: Type.Literal('busy'), ...call }, strict),
  reject: Type.Object({ type: Type.Literal('reject'), ...call }, strict),
  cancel: Type.Object({ type: Type.Literal('cancel'), ...call }, strict),
  bye: Type.Object({ type: Type.Literal('bye'), ...call }, strict),
  hold: Type.Object({ type: Type.Literal('hold'), ...call }, strict),
  resume: Type.Object({ type: Type.Literal('resume'), ...call }, strict),
  dtmf: Type.Object({ type: Type.Literal('dtmf'), ...call, digit: Digit }, strict),
  media: Type.Object(
    { type: Type.Literal('media'), ...call, seq: Seq, sentAt: SentAt, payload: Payload },
    strict,
  ),
} satisfies Record<string, TSchema>;

/** What the node sends to phones, in the base protocol. */
export const baseServerMessages = {
  registered: Type.Object(
    { type: Type.Literal('registered'), user: User, node: Type.String(), release: Type.String() },
    strict,
  ),
  trying: Type.Object({ type: Type.Literal('trying'), ...call }, strict),
  incoming: Type.Object({ type: Type.Literal('incoming'), ...call, from: User }, strict),
  ringing: Type.Object({ type: Type.Literal('ringing'), ...call }, strict),
  answered: Type.Object({ type: Type.Literal('answered'), ...call }, strict),
  media: Type.Object(
    { type: Type.Literal('media'), ...call, seq: Seq, sentAt: SentAt, payload: Payload },
    strict,
  ),
  media_ack: Type.Object({ type: Type.Literal('media_ack'), ...call, seq: Seq, sentAt: SentAt }, strict),
  held: Type.Object({ type: Type.Literal('held'), ...call }, strict),
  resumed: Type.Object({ type: Type.Literal('resumed'), ...call }, strict),
  dtmf: Type.Object({ type: Type.Literal('dtmf'), ...call, digit: Digit }, strict),
  prompt: Type.Object({ type: Type.Literal('prompt'), ...call, text: Type.String() }, strict),
  ended: Type.Object(
    { type: Type.Literal('ended'), ...call, cause: EndCause, durationMs: Type.Number({ minimum: 0 }) },
    strict,
  ),
  error: Type.Object(
    {
      type: Type.Literal('error'),
      code: Type.String({ pattern: '^HOT_ERR_[A-Z_]+$' }),
      message: Type.String(),
      ref: Type.Optional(Type.String({ description: 'type of the message that caused it' })),
      callId: Type.Optional(CallId),
    },
    strict,
  ),
} satisfies Record<string, TSchema>;

/**
 * Messages a release adds to the base protocol, as schemas: the node learns them when it
 * loads the release, so a new message needs a new release and no new node.
 */
export interface ProtocolAdditions {
  client?: Record<string, TSchema>;
  server?: Record<string, TSchema>;
}
