/**
 * `npm run protocol:schema`: write the JSON Schema of the protocol the shipped releases speak
 * to protocol/protocol.schema.json. The file is committed; a test fails when it is
 * out of date with protocol/messages.ts or what a shipped release adds.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { protocolJsonSchema } from '../protocol/json-schema.ts';
import { shippedAdditions } from './index.ts';

/** The committed file's exact text: pretty-printed, with a trailing newline. */
export const renderProtocolSchema = (): string =>
  `${JSON.stringify(protocolJsonSchema(shippedAdditions), null, 2)}\n`;

export const protocolSchemaPath = fileURLToPath(new URL('../protocol/protocol.schema.json', import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(protocolSchemaPath, renderProtocolSchema());
  console.log(`wrote ${protocolSchemaPath}`);
}
