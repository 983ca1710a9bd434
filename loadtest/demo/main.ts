/**
 * `npm run demo`: the whole claim in one command. It starts a node on the embedded
 * defaults, drives a few thousand phones in real calls, hot-installs 1.1.0 and then 2.0.0
 * mid-traffic; then runs the same traffic again, deploying the same releases the usual way
 * (stop the node, start it on the new release), and prints both side by side with where
 * the reports are. Every process it starts is stopped before it exits. With --nodes N, a
 * rolling upgrade over a local cluster instead (rolling.ts).
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { count, type LoadtestOptions, loadtest } from '../harness/loadtest.ts';
import { compareTable } from '../harness/summary-table.ts';
import { rollingDemo } from './rolling.ts';

const program = new Command('demo')
  .description(
    'hot upgrade vs restart, same traffic, side by side; with --nodes N, a rolling upgrade under load',
  )
  .option('--sessions <n>', 'phones held at once', count, 2000)
  .option('--out <dir>', 'where the reports go', 'loadtest-report/demo')
  .option(
    '--nodes <n>',
    'a rolling upgrade over a local cluster of this many nodes instead (1,500 phones)',
    count,
  )
  .parse();
const o = program.opts<{ sessions: number; out: string; nodes?: number }>();

const base = (mode: LoadtestOptions['mode']): LoadtestOptions => ({
  sessions: o.sessions,
  ramp: 8,
  duration: 37,
  upgradeAt: ['15s', '30s'],
  release: ['1.1.0', '2.0.0'],
  mode,
  out: resolve(o.out, mode),
  rate: 1,
  meanCall: 15,
  watch: 3,
  phonesPerWorker: 5000,
  sourceAddresses: 2,
  maxDropped: 0,
});

const say = (text: string) => process.stdout.write(`${text}\n`);

async function hotVsRestart(): Promise<void> {
  say(
    `Hotline demo: ${o.sessions} phones in calls, media at 1 frame/s, releases 1.1.0 then 2.0.0 mid-traffic.`,
  );
  say('\n1/2  hot upgrade: the node keeps running; every session migrates in place');
  const hot = await loadtest(base('hot'));
  say('\n2/2  restart deploy: the same traffic; the node is stopped and started on each release');
  const restart = await loadtest(base('restart'));
  say(`\n${compareTable(hot, restart)}`);
  say(`\nreports: ${resolve(o.out, 'hot', 'report.html')}`);
  say(`         ${resolve(o.out, 'restart', 'report.html')}`);
}

if (o.nodes !== undefined && o.nodes > 1) {
  // 1,500 phones unless told: three nodes and the phones share two cores on a laptop.
  const sessions = program.getOptionValueSource('sessions') === 'default' ? 1500 : o.sessions;
  await rollingDemo({ nodes: o.nodes, sessions, out: resolve(o.out, 'rolling') });
} else await hotVsRestart();
