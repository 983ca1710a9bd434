/**
 * `npm run loadtest -- …`: hold N phones against a node (one it starts, or --url), install
 * releases mid-traffic (hot, or by restart), print a summary and write report.json and
 * report.html. Thresholds make the exit code non-zero, for CI pipelines.
 *
 *   npm run loadtest -- --sessions 2000 --ramp 10s --duration 60s --upgrade-at 20s --release 1.1.0
 *   npm run loadtest -- --sessions 2000 --duration 60s --upgrade-at 20s --release 1.1.0 --mode restart
 */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { count, type LoadtestOptions, list, loadtest, positive, seconds } from './loadtest.ts';
import { summaryTable } from './summary-table.ts';

const program = new Command('loadtest')
  .description('hold N phones against a node, hot-install (or restart into) a release mid-traffic, report')
  .option('--url <ws-url>', "the node's phone endpoint (default: start a node on a temporary data directory)")
  .option('--admin-url <url>', "the node's admin surface (with --url)")
  .addOption(new Option('--token <token>', 'admin bearer token (with --url)').env('HOTLINE_ADMIN_TOKEN'))
  .option('--sessions <n>', 'phones held at once', count, 1000)
  .option('--ramp <duration>', 'connect the phones over this long', seconds, 10)
  .option('--duration <duration>', 'traffic after the ramp', seconds, 60)
  .option('--upgrade-at <durations>', 'when to install each --release (comma-separated)', list, [])
  .option('--release <versions>', 'releases to install, in order (comma-separated)', list, [])
  .option('--rollback-at <duration>', 'roll back to the starting release at this time', seconds)
  .addOption(
    new Option('--mode <mode>', 'hot install, or stop and restart the node')
      .choices(['hot', 'restart'])
      .default('hot'),
  )
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
      `${summaryTable(report)}\nreports: ${resolve(o.out, 'report.json')}, ${resolve(o.out, 'report.html')}\n`,
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
