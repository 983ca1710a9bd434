/** The protocol as one JSON Schema document, for generating clients in other languages. */
import { clientMessages, serverMessages } from './messages.ts';

export function protocolJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://hotline.invalid/protocol.schema.json',
    title: 'Hotline phone protocol',
    description:
      'JSON text frames over the /calls WebSocket. ClientMessage: phone to node. ServerMessage: node to phone.',
    definitions: {
      ClientMessage: {
        oneOf: Object.keys(clientMessages).map((k) => ({ $ref: `#/definitions/client.${k}` })),
      },
      ServerMessage: {
        oneOf: Object.keys(serverMessages).map((k) => ({ $ref: `#/definitions/server.${k}` })),
      },
      ...Object.fromEntries(Object.entries(clientMessages).map(([k, s]) => [`client.${k}`, s])),
      ...Object.fromEntries(Object.entries(serverMessages).map(([k, s]) => [`server.${k}`, s])),
    },
  };
}
