/**
 * `npm run loadtest -- …`: hold N phones against a node (one it starts, or --url) or a
 * cluster (--nodes N it starts, --url per node, or --cluster), install releases mid-traffic
 * (hot, by restart, or rolled out node by node) or hand the node's process to a successor, print a summary and write report.json and
 * report.html. Thresholds make the exit code non-zero, for CI pipelines.
 *
 *   npm run loadtest -- --sessions 2000 --ramp 10s --duration 60s --upgrade-at 20s --release 1.1.0
 *   npm run loadtest -- --sessions 2000 --duration 60s --upgrade-at 20s --release 1.1.0 --mode restart
 *   npm run loadtest -- --nodes 3 --sessions 3000 --duration 60s --upgrade-at 20s --release 1.1.0
 *   npm run loadtest -- --sessions 2000 --duration 60s --upgrade-at 20s --mode handoff
 */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { clusterSummary } from './cluster-summary.ts';
import { count, type LoadtestOptions, list, loadtest, positive, seconds, share } from './loadtest.ts';
import { summaryTable } from './summary-table.ts';

const program = new Command('loadtest')
  .description('hold N phones against a node, hot-install (or restart into) a release mid-traffic, report')
  .option(
    '--url <ws-url>',
    "the node's phone endpoint; repeat for each node of a cluster (default: start a node on a temporary data directory)",
    list,
  )
  .option(
    '--admin-url <url>',
    "the node's admin surface (with --url: one per --url, in the same order)",
    list,
  )
  .option('--cluster', "find every node of the cluster from --admin-url's GET /admin/cluster")
  .option(
    '--nodes <n>',
    'start a local cluster of this many nodes (NATS on loopback) instead of one node',
    count,
  )
  .option(
    '--cross-node <share>',
    'over several nodes: share of two-party calls to a callee on another node',
    share,
    0.5,
  )
  .addOption(
    new Option('--token <token>', 'admin bearer token (with --url, --cluster)').env('HOTLINE_ADMIN_TOKEN'),
  )
  .option(
    '--phone-key-dir <dir>',
    "with --url or --cluster: the data directory whose phone key signs the phones' tokens (default: data/, npm start's)",
  )
  .option('--sessions <n>', 'phones held at once', count, 1000)
  .option('--ramp <duration>', 'connect the phones over this long', seconds, 10)
  .option('--duration <duration>', 'traffic after the ramp', seconds, 60)
  .option('--upgrade-at <durations>', 'when to install each --release (comma-separated)', list, [])
  .option('--release <versions>', 'releases to install, in order (comma-separated)', list, [])
  .option('--rollback-at <duration>', 'roll back to the starting release at this time', seconds)
  .addOption(
    new Option(
      '--mode <mode>',
      "hot install, stop and restart the node, or hand the node's process to a successor at each --upgrade-at",
    )
      .choices(['hot', 'restart', 'handoff'])
      .default('hot'),
  )
  .option('--entry <path>', "--mode handoff: the successor's entry point (default: the node's own)")
  .option('--out <dir>', 'where report.json and report.html go', 'loadtest-report')
  .option('--rate <n>', 'media frames per second per phone in a call', positive, 1)
  .option('--mean-call <duration>', 'mean call length (exponential)', seconds, 15)
  .option('--watch <duration>', 'watch window of each hot install', seconds, 5)
  .option(
    '--phones-per-worker <n>',
    'at most this many phones per load worker (open-file limit); at least one worker per core',
    count,
    5000,
  )
  .option('--source-addresses <n>', 'loopback source addresses 127.0.0.2…', count, 4)
  .option('--max-dropped <n>', 'fail (exit 1) above this many dropped sessions and calls', count)
  .option('--max-lost-media <n>', 'fail above this many lost media frames', count)
  .option('--max-p99-ms <ms>', 'fail above this media round trip p99', positive)
  .option('--quiet', 'no live status line');

program.parse();
const o = program.opts<LoadtestOptions>();
loadtest(o).then(
  (report) => {
    process.stdout.write(
      `${[summaryTable(report), clusterSummary(report)].filter(Boolean).join('\n')}\n` +
        `reports: ${resolve(o.out, 'report.json')}, ${resolve(o.out, 'report.html')}\n`,
    );
    const failed = report.thresholds.filter((t) => !t.passed);
    for (const t of failed) process.stderr.write(`threshold ${t.name} breached: ${t.value} > ${t.limit}\n`);
    process.exitCode = failed.length > 0 ? 1 : 0;
  },
  (err: unknown) => {
    process.stderr.write(`loadtest: ${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
