/**
 * `npm run cluster -- --nodes 3`: a local cluster for development (local-cluster.ts), node i
 * on ports base+2i (phones) and base+2i+1 (admin). Prints where everything listens; Ctrl-C
 * or SIGTERM stops the nodes gracefully (then NATS) and removes the directories.
 */
import { join } from 'node:path';
import Table from 'cli-table3';
import { Command, InvalidArgumentError, Option } from 'commander';
import { type LocalCluster, startLocalCluster } from './local-cluster.ts';

const int = (max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new InvalidArgumentError(`expected 0 to ${max}`);
  return n;
};

const o = new Command('cluster')
  .description('Start a NATS server and N Hotline nodes on loopback; Ctrl-C stops them all')
  .addOption(new Option('--nodes <n>', 'how many nodes').default(3).argParser(int(16)))
  .addOption(
    new Option('--base-port <port>', 'node i listens on base+2i and base+2i+1 (0: any free ports)')
      .default(8080)
      .argParser(int(65_000)),
  )
  .parse()
  .opts<{ nodes: number; basePort: number }>();

let cluster: LocalCluster;
try {
  cluster = await startLocalCluster({ nodes: o.nodes, basePort: o.basePort });
} catch (err) {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
}
// Ctrl-C reaches this process twice (from the terminal and forwarded by npm): a second
// signal must not kill it halfway through the stop, leaving NATS or a node behind.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void cluster.stop().then(() => process.exit(0));
  });

process.stdout.write(`NATS      ${cluster.nats.url}\nadmin token (every node): ${cluster.token}\n`);
const table = new Table({
  head: ['node', 'phones', 'http', 'admin', 'log'],
  style: { head: [], border: [], compact: true },
});
for (const n of cluster.nodes) table.push([n.name, n.calls, n.http, n.admin, join(n.dir, 'node.log')]);
process.stdout.write(`${table.toString()}\n`);
process.stdout.write('Ctrl-C stops everything.\n');
