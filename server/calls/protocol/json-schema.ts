/**
 * The protocol as one JSON Schema document, for generating clients in other languages: the
 * base protocol plus the messages releases add. A type two releases declare differently is
 * either of their schemas.
 */
import type { TSchema } from 'typebox';
import { baseClientMessages, baseServerMessages, type ProtocolAdditions } from './messages.ts';

function merged(base: Record<string, TSchema>, added: Record<string, TSchema>[]): Record<string, unknown> {
  const variants = new Map<string, TSchema[]>(Object.entries(base).map(([type, s]) => [type, [s]]));
  for (const messages of added)
    for (const [type, schema] of Object.entries(messages)) {
      const known = variants.get(type) ?? [];
      if (!known.some((s) => JSON.stringify(s) === JSON.stringify(schema)))
        variants.set(type, [...known, schema]);
    }
  return Object.fromEntries(
    [...variants].map(([type, [one, ...more]]) => [
      type,
      more.length === 0 ? one : { anyOf: [one, ...more] },
    ]),
  );
}

export function protocolJsonSchema(additions: ProtocolAdditions[]): Record<string, unknown> {
  const client = merged(
    baseClientMessages,
    additions.map((a) => a.client ?? {}),
  );
  const server = merged(
    baseServerMessages,
    additions.map((a) => a.server ?? {}),
  );
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://hotline.invalid/protocol.schema.json',
    title: 'Hotline phone protocol',
    description:
      'JSON text frames over the /calls WebSocket. ClientMessage: phone to node. ServerMessage: node to phone.',
    definitions: {
      ClientMessage: { oneOf: Object.keys(client).map((k) => ({ $ref: `#/definitions/client.${k}` })) },
      ServerMessage: { oneOf: Object.keys(server).map((k) => ({ $ref: `#/definitions/server.${k}` })) },
      ...Object.fromEntries(Object.entries(client).map(([k, s]) => [`client.${k}`, s])),
      ...Object.fromEntries(Object.entries(server).map(([k, s]) => [`server.${k}`, s])),
    },
  };
}
