/**
 * `npm start` runs this under the keeper (server/keeper.ts): one node, its command line in
 * server/node/start.ts. A successor (`--successor`, started by a node handing itself off)
 * first opens its line to the old node, then loads the rest (from a bundle of the sources:
 * server/handoff/successor-build.ts), while the old node streams the phones' sockets to it.
 */
if (process.argv.includes('--successor')) (await import('./handoff/successor-line.ts')).successorLine();
await import('./node/start.ts');
