/**
 * The front door's protocol: the base messages, what releases add (checked before a node
 * takes a release), and a type two releases declare differently.
 */
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { additionsProblem, ClientProtocol } from '../../server/calls/protocol/codec.ts';
import { strict } from '../../server/calls/protocol/messages.ts';
import { protocol as v110 } from '../../server/calls/releases/1.1.0/protocol.ts';

const note = Type.Object({ type: Type.Literal('note'), text: Type.String({ maxLength: 4 }) }, strict);
const noteV2 = Type.Object({ type: Type.Literal('note'), text: Type.String(), lang: Type.String() }, strict);

const decoded = (p: ClientProtocol, m: object) => {
  const d = p.decode(JSON.stringify(m));
  return d.ok ? 'ok' : d.error.code;
};

describe('additionsProblem', () => {
  it('takes the shipped additions and messages of a new type', () => {
    expect(additionsProblem(undefined)).toBeUndefined();
    expect(additionsProblem(v110)).toBeUndefined();
    expect(additionsProblem({ client: { note: note } })).toBeUndefined();
  });

  it('refuses a base message redefined, a schema whose "type" is not its name, and a broken schema', () => {
    const register = Type.Object({ type: Type.Literal('register') });
    expect(additionsProblem({ client: { register } })).toBe('it redefines the base client message register');
    expect(additionsProblem({ server: { error: register } })).toBe(
      'it redefines the base server message error',
    );
    expect(additionsProblem({ client: { memo: note } })).toBe(
      'its client message memo does not fix "type" to "memo"',
    );
    expect(additionsProblem({ client: { memo: Type.Object({ type: Type.String() }) } })).toMatch(
      /does not fix/,
    );
    const broken = { type: 'object', properties: { type: { const: 'odd' } }, patternProperties: { '(': {} } };
    expect(additionsProblem({ client: { odd: broken as never } })).toMatch(
      /^its client message odd is not a valid schema: .*regular expression/,
    );
    expect(additionsProblem({ client: { odd: null as never } })).toBe(
      'its client message odd is not a schema',
    );
    expect(additionsProblem({ client: 'odd' as never })).toBe('its client messages are not an object');
  });
});

describe('ClientProtocol', () => {
  it('knows the base alone until it learns a release; learning twice changes nothing', () => {
    const p = new ClientProtocol();
    expect(decoded(p, { type: 'call_info', callId: 'c' })).toBe('HOT_ERR_UNKNOWN_TYPE');
    expect(decoded(p, { type: 'bye', callId: 'c' })).toBe('ok');
    p.learn('1.1.0', v110);
    p.learn('1.1.0', v110);
    expect(decoded(p, { type: 'call_info', callId: 'c' })).toBe('ok');
    expect(decoded(p, { type: 'call_info', callId: 'c', extra: 1 })).toBe('HOT_ERR_SCHEMA');
    const schema = p.jsonSchema() as { definitions: Record<string, unknown> };
    expect(schema.definitions['client.call_info']).toEqual(v110.client.call_info);
  });

  it('accepts a type two releases declare differently by either schema, and neither is refused typed', () => {
    const p = new ClientProtocol();
    p.learn('3.0.0', { client: { note: note } });
    p.learn('3.1.0', { client: { note: noteV2 } });
    expect(decoded(p, { type: 'note', text: 'hi' })).toBe('ok');
    expect(decoded(p, { type: 'note', text: 'a long one', lang: 'en' })).toBe('ok');
    const bad = p.decode(JSON.stringify({ type: 'note', text: 'a long one' }));
    expect(bad).toMatchObject({ ok: false, ref: 'note', error: { code: 'HOT_ERR_SCHEMA' } });
    const schema = p.jsonSchema() as { definitions: Record<string, { anyOf?: unknown[] }> };
    expect(schema.definitions['client.note']?.anyOf).toHaveLength(2);
  });
});
