/**
 * `npm run demo`: the whole claim in one command. It starts a node on the embedded
 * defaults, drives a few thousand phones in real calls, and deploys twice mid-traffic in
 * three ways over the same traffic: session code hot-installed (1.1.0, then 2.0.0), the
 * node's own process handed to a successor (node code), and the usual way (stop the node,
 * start it on the new release). It prints the three side by side, with what each row
 * measures and where the reports are. Every process it starts is stopped before it exits.
 * With --nodes N, a rolling upgrade over a local cluster instead (rolling.ts).
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { count, type LoadtestOptions, loadtest } from '../harness/loadtest.ts';
import { compareTable } from '../harness/summary-table.ts';
import { rollingDemo } from './rolling.ts';

const program = new Command('demo')
  .description(
    'hot install vs handoff vs restart, same traffic, side by side; with --nodes N, a rolling upgrade under load',
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
  // A handoff replaces the node's code; the sessions keep their release.
  release: mode === 'handoff' ? [] : ['1.1.0', '2.0.0'],
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

async function hotHandoffRestart(): Promise<void> {
  say(
    `Hotline demo: ${o.sessions} phones in calls, media at 1 frame/s, two deploys mid-traffic, three ways.`,
  );
  say('\n1/3  hot install (session code): 1.1.0 then 2.0.0; every session migrates in place');
  const hot = await loadtest(base('hot'));
  say("\n2/3  handoff (node code): twice, the node's process hands its phones and processes to a successor");
  const handoff = await loadtest(base('handoff'));
  say('\n3/3  restart: the same traffic; the node is stopped and started on each release');
  const restart = await loadtest(base('restart'));
  say(
    `\n${compareTable([
      ['hot install', hot],
      ['handoff', handoff],
      ['restart', restart],
    ])}`,
  );
  say(`\nreports: ${resolve(o.out, 'hot', 'report.html')}`);
  say(`         ${resolve(o.out, 'handoff', 'report.html')}`);
  say(`         ${resolve(o.out, 'restart', 'report.html')}`);
}

if (o.nodes !== undefined && o.nodes > 1) {
  // 1,500 phones unless told: three nodes and the phones share two cores on a laptop.
  const sessions = program.getOptionValueSource('sessions') === 'default' ? 1500 : o.sessions;
  await rollingDemo({ nodes: o.nodes, sessions, out: resolve(o.out, 'rolling') });
} else await hotHandoffRestart();
