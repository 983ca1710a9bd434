/**
 * The front door's protocol: the base messages, what releases add (checked before a node
 * takes a release), and one schema per type for good.
 */
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import type { Release } from '../../server/calls/contract.ts';
import { callInfoMessages as v110 } from '../../server/calls/kit/v1/call-info.ts';
import { ClientProtocol } from '../../server/calls/protocol/codec.ts';
import { strict } from '../../server/calls/protocol/messages.ts';
import { additionsOf } from '../../server/calls/releases/index.ts';

const note = Type.Object({ type: Type.Literal('note'), text: Type.String({ maxLength: 4 }) }, strict);
const noteV2 = Type.Object({ type: Type.Literal('note'), text: Type.String(), lang: Type.String() }, strict);

const decoded = (p: ClientProtocol, m: object) => {
  const d = p.decode(JSON.stringify(m));
  return d.ok ? 'ok' : d.error.code;
};

describe('what a release may add', () => {
  it('the shipped additions and messages of a new type', () => {
    const p = new ClientProtocol();
    expect(p.problem(undefined)).toBeUndefined();
    expect(p.problem(v110)).toBeUndefined();
    expect(p.problem({ client: { note } })).toBeUndefined();
  });

  it('never a base message redefined, a schema whose "type" is not its name, or a broken schema', () => {
    const p = new ClientProtocol();
    const register = Type.Object({ type: Type.Literal('register') });
    expect(p.problem({ client: { register } })).toBe('it redefines the base client message register');
    expect(p.problem({ server: { error: register } })).toBe('it redefines the base server message error');
    expect(p.problem({ client: { memo: note } })).toBe(
      'its client message memo does not fix "type" to "memo"',
    );
    expect(p.problem({ client: { memo: Type.Object({ type: Type.String() }) } })).toMatch(/does not fix/);
    const broken = { type: 'object', properties: { type: { const: 'odd' } }, patternProperties: { '(': {} } };
    expect(p.problem({ client: { odd: broken as never } })).toMatch(
      /^its client message odd is not a valid schema: .*regular expression/,
    );
    expect(p.problem({ client: { odd: null as never } })).toBe('its client message odd is not a schema');
    expect(p.problem({ client: 'odd' as never })).toBe('its client messages are not an object');
    expect(() => p.learn({ client: { register } })).toThrow(/redefines the base client message register/);
  });

  it('never another schema for a type a loaded release declared: a session only gets frames its release accepts', () => {
    const p = new ClientProtocol();
    p.learn({ client: { note } });
    expect(p.problem({ client: { note: noteV2 } })).toBe(
      'its client message note differs from the one a release loaded here declared (add a new type instead)',
    );
    expect(() => p.learn({ client: { note: noteV2 } })).toThrow(/differs/);
    // The same schema again (another release speaking it too) is fine.
    expect(p.problem({ client: { note: JSON.parse(JSON.stringify(note)) } })).toBeUndefined();
    expect(decoded(p, { type: 'note', text: 'a long one', lang: 'en' })).toBe('HOT_ERR_SCHEMA');
  });
});

describe('ClientProtocol', () => {
  it('knows the base alone until it learns a release; learning again changes nothing', () => {
    const p = new ClientProtocol();
    expect(decoded(p, { type: 'call_info', callId: 'c' })).toBe('HOT_ERR_UNKNOWN_TYPE');
    expect(decoded(p, { type: 'bye', callId: 'c' })).toBe('ok');
    p.learn(v110);
    p.learn(v110);
    expect(decoded(p, { type: 'call_info', callId: 'c' })).toBe('ok');
    expect(decoded(p, { type: 'call_info', callId: 'c', extra: 1 })).toBe('HOT_ERR_SCHEMA');
    const schema = p.jsonSchema() as { definitions: Record<string, unknown> };
    expect(schema.definitions['client.call_info']).toEqual(v110.client.call_info);
    expect(schema.definitions['server.call_info']).toEqual(v110.server.call_info);
  });

  it('a release built for runtime API 1 (before releases declared messages) speaks call_info as the node then did', () => {
    const of = (apiVersion: number, protocol?: Release['protocol']) =>
      additionsOf({ apiVersion, ...(protocol ? { protocol } : {}) } as Release);
    expect(of(1)).toBe(v110);
    expect(of(2)).toBeUndefined();
    const own = { client: { note } };
    expect(of(1, own)).toBe(own);
  });
});
