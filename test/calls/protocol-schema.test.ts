/**
 * The committed protocol.schema.json is what protocolJsonSchema() produces now: a change to
 * messages.ts without `npm run protocol:schema` fails here. The document itself is checked
 * with ajv (as a client in another language would use it), against an example of every
 * message and a few that must be refused.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { Compile } from 'typebox/compile';
import { afterEach, describe, expect, it } from 'vitest';
import { protocolJsonSchema } from '../../server/calls/protocol/json-schema.ts';
import {
  type ClientMessage,
  type ClientMessageType,
  clientMessages,
  type ServerMessage,
  type ServerMessageType,
  serverMessages,
} from '../../server/calls/protocol/shipped.ts';
import { shippedAdditions } from '../../server/calls/releases/index.ts';
import { protocolSchemaPath, renderProtocolSchema } from '../../server/calls/releases/write-schema.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

const committedText = readFileSync(protocolSchemaPath, 'utf8');
const committed = JSON.parse(committedText) as {
  $id: string;
  definitions: Record<string, { oneOf?: { $ref: string }[] }>;
};

/** One valid example of every message; the types make a new message without an example a compile error. */
const clientExamples: { [K in ClientMessageType]: Extract<ClientMessage, { type: K }> } = {
  register: { type: 'register', user: 'alice.smith-2_b' },
  invite: { type: 'invite', callId: 'c1', to: 'echo' },
  ringing: { type: 'ringing', callId: 'c1' },
  answer: { type: 'answer', callId: 'c1' },
  busy: { type: 'busy', callId: 'c1' },
  reject: { type: 'reject', callId: 'c1' },
  cancel: { type: 'cancel', callId: 'c1' },
  bye: { type: 'bye', callId: 'c1' },
  hold: { type: 'hold', callId: 'c1' },
  resume: { type: 'resume', callId: 'c1' },
  dtmf: { type: 'dtmf', callId: 'c1', digit: '#' },
  media: { type: 'media', callId: 'c1', seq: 0, sentAt: 1712345678901.25, payload: 'AAEC' },
  call_info: { type: 'call_info', callId: 'c1' },
};

const serverExamples: { [K in ServerMessageType]: Extract<ServerMessage, { type: K }> } = {
  registered: { type: 'registered', user: 'alice', node: 'hotline', release: '1.0.0' },
  trying: { type: 'trying', callId: 'c1' },
  incoming: { type: 'incoming', callId: 'c1', from: 'alice' },
  ringing: { type: 'ringing', callId: 'c1' },
  answered: { type: 'answered', callId: 'c1' },
  media: { type: 'media', callId: 'c1', seq: 7, sentAt: 12.5 },
  media_ack: { type: 'media_ack', callId: 'c1', seq: 7, sentAt: 12.5 },
  held: { type: 'held', callId: 'c1' },
  resumed: { type: 'resumed', callId: 'c1' },
  dtmf: { type: 'dtmf', callId: 'c1', digit: 'D' },
  prompt: { type: 'prompt', callId: 'c1', text: 'Press 1 for sales' },
  ended: { type: 'ended', callId: 'c1', cause: 'peer_gone', durationMs: 0 },
  call_info: {
    type: 'call_info',
    callId: 'c1',
    state: 'held',
    durationMs: 1520.5,
    mediaOut: 12,
    mediaIn: 0,
    release: '1.1.0',
  },
  error: {
    type: 'error',
    code: 'HOT_ERR_UNKNOWN_CALL',
    message: 'no call c9 on this session',
    ref: 'bye',
    callId: 'c9',
  },
};

/** Messages both validators must refuse, as the phone and node would send them by mistake. */
const badClient: unknown[] = [
  { type: 'register', user: 'alice smith' },
  { type: 'register', user: 'x'.repeat(65) },
  { type: 'register', user: 'alice', extra: 1 },
  { type: 'invite', callId: '', to: 'bob' },
  { type: 'invite', callId: 'c'.repeat(65), to: 'bob' },
  { type: 'dtmf', callId: 'c1', digit: '12' },
  { type: 'dtmf', callId: 'c1', digit: 'E' },
  { type: 'media', callId: 'c1', seq: -1, sentAt: 0 },
  { type: 'media', callId: 'c1', seq: 1.5, sentAt: 0 },
  { type: 'media', callId: 'c1', seq: 1, sentAt: 0, payload: 'x'.repeat(2049) },
  { type: 'media', callId: 'c1', seq: 1 },
  { type: 'ended', callId: 'c1', cause: 'normal', durationMs: 0 },
  { type: 'hangup', callId: 'c1' },
  { type: 'call_info' },
  { type: 'call_info', callId: 'c1', state: 'up' },
];
const badServer: unknown[] = [
  { type: 'ended', callId: 'c1', cause: 'hung_up', durationMs: 0 },
  { type: 'ended', callId: 'c1', cause: 'normal', durationMs: -1 },
  { type: 'error', code: 'E_SOMETHING', message: 'x' },
  { type: 'media_ack', callId: 'c1', seq: 1, sentAt: 0, payload: 'x' },
  { type: 'register', user: 'alice' },
  {
    type: 'call_info',
    callId: 'c1',
    state: 'ended',
    durationMs: 0,
    mediaOut: 0,
    mediaIn: 0,
    release: '1.1.0',
  },
  {
    type: 'call_info',
    callId: 'c1',
    state: 'up',
    durationMs: 0,
    mediaOut: 1.5,
    mediaIn: 0,
    release: '1.1.0',
  },
  { type: 'call_info', callId: 'c1', state: 'up', durationMs: 0, mediaOut: 0, mediaIn: 0 },
];

let compiled: ReturnType<typeof compileDocument> | undefined;
/** ajv over the committed document, compiled once. */
const documentValidators = () => {
  compiled ??= compileDocument();
  return compiled;
};

function compileDocument() {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addSchema(committed);
  const get = (ref: string) => {
    const validate = ajv.getSchema(`${committed.$id}#/definitions/${ref}`);
    if (validate === undefined) throw new Error(`no definition ${ref}`);
    return validate;
  };
  return { get, client: get('ClientMessage'), server: get('ServerMessage') };
}

describe('protocol.schema.json', () => {
  it('is what protocolJsonSchema() produces now (run `npm run protocol:schema` after changing the protocol)', () => {
    expect(committed).toEqual(protocolJsonSchema(shippedAdditions));
    expect(committedText).toBe(renderProtocolSchema());
    expect(committedText.endsWith('}\n')).toBe(true);
  });

  it('names every message type, each under ClientMessage or ServerMessage', () => {
    const types = { client: Object.keys(clientExamples), server: Object.keys(serverExamples) };
    expect(types.client.sort()).toEqual(Object.keys(clientMessages).sort());
    expect(types.server.sort()).toEqual(Object.keys(serverMessages).sort());
    for (const [side, union] of [
      ['client', 'ClientMessage'],
      ['server', 'ServerMessage'],
    ] as const) {
      const refs = (committed.definitions[union]?.oneOf ?? []).map((r) => r.$ref);
      expect(refs.sort()).toEqual(types[side].map((t) => `#/definitions/${side}.${t}`).sort());
      for (const t of types[side]) expect(committed.definitions[`${side}.${t}`]).toBeDefined();
    }
  });

  it('accepts an example of every message, by the union and by its own definition', () => {
    const v = documentValidators();
    for (const [type, example] of Object.entries(clientExamples)) {
      expect(v.client(example), `client ${type}: ${JSON.stringify(v.client.errors)}`).toBe(true);
      expect(v.get(`client.${type}`)(example)).toBe(true);
    }
    for (const [type, example] of Object.entries(serverExamples)) {
      expect(v.server(example), `server ${type}: ${JSON.stringify(v.server.errors)}`).toBe(true);
      expect(v.get(`server.${type}`)(example)).toBe(true);
    }
    // Optional fields may be left out.
    expect(v.client({ type: 'media', callId: 'c1', seq: 1, sentAt: 0 })).toBe(true);
    expect(
      v.server({ type: 'error', code: 'HOT_ERR_INVALID_JSON', message: 'the frame is not valid JSON' }),
    ).toBe(true);
  });

  it('refuses what the protocol does not allow', () => {
    const v = documentValidators();
    for (const bad of badClient) expect(v.client(bad), JSON.stringify(bad)).toBe(false);
    for (const bad of badServer) expect(v.server(bad), JSON.stringify(bad)).toBe(false);
  });

  it('agrees with the TypeBox validators the node decodes with', () => {
    const v = documentValidators();
    const all = [
      ...Object.values(clientExamples).map((m) => ['client', m] as const),
      ...Object.values(serverExamples).map((m) => ['server', m] as const),
      ...badClient.map((m) => ['client', m] as const),
      ...badServer.map((m) => ['server', m] as const),
    ];
    for (const [side, message] of all) {
      const type = (message as { type: string }).type;
      const schema =
        side === 'client'
          ? clientMessages[type as ClientMessageType]
          : serverMessages[type as ServerMessageType];
      const byTypeBox = schema !== undefined && Compile(schema).Check(message);
      const byDocument = (side === 'client' ? v.client : v.server)(message);
      expect(byDocument, `${side} ${JSON.stringify(message)}`).toBe(byTypeBox);
    }
  });

  it('is described in server/calls/README.md: every message type and end cause', () => {
    const readme = readFileSync(new URL('../../server/calls/README.md', import.meta.url), 'utf8');
    const causes = (serverMessages.ended.properties.cause.anyOf as { const: string }[]).map((c) => c.const);
    for (const name of [...Object.keys(clientMessages), ...Object.keys(serverMessages), ...causes]) {
      expect(readme, name).toContain(`\`${name}\``);
    }
  });
});

describe('names the schema allows', () => {
  let node: TestNode | undefined;
  afterEach(async () => {
    await node?.shutdown();
    node = undefined;
  });

  it('any valid user name is an ordinary callee, Object.prototype keys included', async () => {
    node = await startTestNode();
    const a = await node.phone('alice');
    // Once a crash: `to` looked up as a service number found Object.prototype members.
    for (const to of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(documentValidators().client({ type: 'invite', callId: 'p1', to })).toBe(true);
      a.send({ type: 'invite', callId: 'p1', to });
      expect(await a.next('error')).toMatchObject({
        code: 'HOT_ERR_UNKNOWN_CALLEE',
        ref: 'invite',
        callId: 'p1',
      });
    }
    const b = await node.phone('constructor');
    a.send({ type: 'invite', callId: 'p2', to: 'constructor' });
    expect(await b.next('incoming')).toMatchObject({ callId: 'p2', from: 'alice' });
    expect(a.isOpen).toBe(true);
  });
});
