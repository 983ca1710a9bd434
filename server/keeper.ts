/**
 * `npm start`: the keeper (server/node/keeper.ts) holding the place of one node, which it
 * runs as `server/main.ts` with the same flags. Its pid stays while the node is handed off
 * to a successor; it exits with the serving node's exit code.
 */
import { fileURLToPath } from 'node:url';
import { keepEntry } from './node/keeper.ts';

await keepEntry(fileURLToPath(new URL('main.ts', import.meta.url)));
