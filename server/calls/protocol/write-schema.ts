/**
 * `npm run protocol:schema`: write the protocol's JSON Schema to protocol.schema.json next to
 * this file. The file is committed; a test fails when it is out of date with messages.ts.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { protocolJsonSchema } from './json-schema.ts';

/** The committed file's exact text: pretty-printed, with a trailing newline. */
export const renderProtocolSchema = (): string => `${JSON.stringify(protocolJsonSchema(), null, 2)}\n`;

export const protocolSchemaPath = fileURLToPath(new URL('./protocol.schema.json', import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(protocolSchemaPath, renderProtocolSchema());
  console.log(`wrote ${protocolSchemaPath}`);
}
