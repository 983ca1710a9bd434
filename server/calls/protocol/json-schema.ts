/**
 * The protocol as one JSON Schema document, for generating clients in other languages: the
 * base protocol plus the messages releases add (a type has one schema: see codec.ts).
 */
import type { TSchema } from 'typebox';
import { baseClientMessages, baseServerMessages, type ProtocolAdditions } from './messages.ts';

export function protocolJsonSchema(additions: ProtocolAdditions[]): Record<string, unknown> {
  const client: Record<string, TSchema> = Object.assign(
    {},
    baseClientMessages,
    ...additions.map((a) => a.client),
  );
  const server: Record<string, TSchema> = Object.assign(
    {},
    baseServerMessages,
    ...additions.map((a) => a.server),
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
