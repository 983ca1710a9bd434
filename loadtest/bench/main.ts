/** `npm run bench -- <name> [options]`: benchmarks, separate from the tests. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { type CdrsOptions, cdrsBench } from './cdrs.ts';
import { type HandoffBenchOptions, handoffBench } from './handoff.ts';
import { type NodeLossOptions, nodeLossBench } from './node-loss.ts';
import { type ProbesOptions, probesBench } from './probes.ts';
import { type Figure, report } from './report.ts';
import { type RolloutBenchOptions, rolloutBench } from './rollout.ts';
import { runtimeBench } from './runtime.ts';
import { type SessionsOptions, sessionsBench } from './sessions.ts';
import {
  CALL_TARGETS,
  OTP_ANCHORS,
  type UpgradeOptions,
  upgradeBench,
  upgradeProblem,
  WORKLOADS,
} from './upgrade.ts';

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a whole number > 0');
  return n;
};

/** A command's action: run the bench, then report its figures with what describes the run. */
const runs =
  <O extends { json?: boolean }>(
    title: string,
    bench: (o: O) => Promise<Figure[]>,
    about: (o: O) => Record<string, unknown>,
  ) =>
  async (opts: O): Promise<void> =>
    report(title, await bench(opts), { ...about(opts), node: process.version }, opts.json === true);

const program = new Command('bench').description(
  'Hotline benchmarks: medians over several runs on this machine',
);

program
  .command('runtime')
  .description('process runtime: memory per process, spawn, casts, calls, event-loop stalls')
  .option('--processes <n>', 'processes for the memory and stall figures', positiveInt, 100_000)
  .option('--runs <n>', 'runs to take the median of', positiveInt, 3)
  .option('--seconds <n>', 'length of the busy phase', positiveInt, 3)
  .option('--json', 'print one JSON object on stdout')
  .action(
    runs(
      'runtime',
      (o: { processes: number; runs: number; seconds: number; json?: boolean }) => runtimeBench(o),
      (o) => ({
        processes: o.processes,
        runs: o.runs,
      }),
    ),
  );

program
  .command('sessions')
  .description(
    'a node holding N phones in echo calls: memory and CPU per session, media round trip, ratio to bare ws',
  )
  .option('--sessions <n>', 'phones held at once', positiveInt, 15_000)
  .option('--rate <n>', 'media frames per second per phone', positiveInt, 1)
  .option('--seconds <n>', 'length of the measured phase', positiveInt, 20)
  .option('--runs <n>', 'runs to take the median of', positiveInt, 1)
  .option('--saturate-phones <n>', 'phones in the saturation phase', positiveInt, 200)
  .option('--saturate-seconds <n>', 'length of each saturation phase', positiveInt, 5)
  .option(
    '--registrations <n>',
    'phones registering at once, with phone tokens and without',
    positiveInt,
    2000,
  )
  .option(
    '--frames <n>',
    'media frames measured on a node with phone tokens and on one with open registration, for the steady-state cost per frame',
    positiveInt,
    100_000,
  )
  .option('--json', 'print one JSON object on stdout')
  .action(
    runs(
      'sessions',
      (o: SessionsOptions & { json?: boolean }) => sessionsBench(o),
      (o) => ({
        sessions: o.sessions,
        rate: o.rate,
        runs: o.runs,
        frames: o.frames,
      }),
    ),
  );

program
  .command('upgrade')
  .description(
    'a hot upgrade of N live sessions under traffic: session waits, loop stalls, lost messages, heap over cycles',
  )
  .addOption(
    new Option(
      '--workload <name>',
      "whose sessions: the node's call sessions, or the bench's own tiny release",
    )
      .choices(WORKLOADS)
      .default('calls'),
  )
  .addOption(
    new Option('--to <version>', 'calls workload: the shipped release installed over 1.0.0')
      .choices(CALL_TARGETS)
      .default('2.0.0'),
  )
  .option('--sessions <n>', 'live sessions moved by the install', positiveInt, 100_000)
  .option('--runs <n>', 'runs to take the median of', positiveInt, 3)
  .option('--cycles <n>', 'upgrade+downgrade cycles for the heap figure', positiveInt, 1000)
  .option('--cycle-sessions <n>', 'sessions in the runtime the cycles run on', positiveInt, 1000)
  .option('--rate <n>', 'traffic to the sessions, messages per second', positiveInt, 50_000)
  .option('--slice-ms <n>', "the install's time slice, ms (default: the installer's)", positiveInt)
  .option('--trace', 'probe stalls against the CPU wait, print the install timeline on stderr')
  .option('--json', 'print one JSON object on stdout')
  .hook('preAction', (command) => {
    const problem = upgradeProblem(command.opts<UpgradeOptions>());
    if (problem !== undefined) command.error(`error: ${problem}`);
  })
  .action(
    runs(
      'upgrade',
      (o: UpgradeOptions & { json?: boolean }) => upgradeBench(o),
      (o) => ({
        workload: o.workload,
        release: `1.0.0 -> ${o.to}`,
        sessions: o.sessions,
        runs: o.runs,
        cycles: o.cycles,
        cycle_sessions: o.cycleSessions,
        rate: o.rate,
        anchors: OTP_ANCHORS,
      }),
    ),
  );

program
  .command('rollout')
  .description('a rolling upgrade of a 3-node cluster under N sessions: time per node and in all, drops, p99')
  .option('--sessions <n>', 'sessions over the three nodes', positiveInt, 10_000)
  .option('--rate <n>', 'media frames per second per phone', positiveInt, 1)
  .option('--runs <n>', 'runs to take the median of', positiveInt, 3)
  .option('--watch-ms <n>', 'watch window per node', positiveInt, 5000)
  .option('--steady-seconds <n>', 'length of the steady stretch measured first', positiveInt, 10)
  .option('--json', 'print one JSON object on stdout')
  .action(
    runs(
      'rollout',
      (o: RolloutBenchOptions & { json?: boolean }) => rolloutBench(o),
      (o) => ({
        sessions: o.sessions,
        nodes: 3,
        rate: o.rate,
        runs: o.runs,
        watch_ms: o.watchMs,
      }),
    ),
  );

program
  .command('handoff')
  .description(
    "a node's process handed to a successor under N phones in calls: handoff time, phone waits, loop stalls, sockets closed, frames lost; then a restart on the same traffic",
  )
  .option('--sessions <n>', 'phones in echo calls', positiveInt, 5000)
  .option('--rate <n>', 'media frames per second per phone', positiveInt, 1)
  .option('--runs <n>', 'runs to take the median of', positiveInt, 1)
  .option('--cpu-prof <dir>', "write the keeper's and every node process's CPU profile to this directory")
  .option('--json', 'print one JSON object on stdout')
  .action(
    runs(
      'handoff',
      (o: HandoffBenchOptions & { json?: boolean }) => handoffBench(o),
      (o) => ({ sessions: o.sessions, rate: o.rate, runs: o.runs }),
    ),
  );

program
  .command('node-loss')
  .description(
    'a node of two killed with SIGKILL mid-call: time until the survivor ends its calls, CDRs exactly once',
  )
  .option('--runs <n>', 'runs to take the median of', positiveInt, 5)
  .option('--calls <n>', 'calls each way per run', positiveInt, 20)
  .option('--json', 'print one JSON object on stdout')
  .action(
    runs(
      'node-loss',
      (o: NodeLossOptions & { json?: boolean }) => nodeLossBench(o),
      (o) => ({ runs: o.runs, calls_each_way: o.calls, nodes: 2 }),
    ),
  );

program
  .command('probes')
  .description(
    'abuse probes on a node with its defaults: idle TCP connections, and phones flooding a busy callee with invites',
  )
  .option('--idle <n>', 'idle TCP connections', positiveInt, 2000)
  .option('--addresses <n>', 'loopback source addresses they come from (127.0.1.x)', positiveInt, 40)
  .option('--phones <n>', 'phones inviting the busy callee', positiveInt, 50)
  .option('--seconds <n>', 'length of each flood', positiveInt, 20)
  .option('--json', 'print one JSON object on stdout')
  .action(
    runs(
      'probes',
      (o: ProbesOptions & { json?: boolean }) => probesBench(o),
      (o) => ({ idle: o.idle, addresses: o.addresses, phones: o.phones, seconds: o.seconds }),
    ),
  );

program
  .command('cdrs')
  .description('the CDR store: N records written through the log writer, then indexed queries vs a full scan')
  .option('--records <n>', 'CDRs to write', positiveInt, 10_000_000)
  .option('--runs <n>', 'runs of each query to take the median of', positiveInt, 5)
  .option('--days <n>', 'the records end evenly over this many days up to now', positiveInt, 100)
  .option('--users <n>', 'distinct users', positiveInt, 100_000)
  .option('--segment-mb <n>', 'segment size (segments also roll daily)', positiveInt, 64)
  .option('--dir <dir>', 'write here and keep it (default: a temporary directory, removed)')
  .option('--json', 'print one JSON object on stdout')
  .action(
    runs(
      'cdrs',
      (o: CdrsOptions & { json?: boolean }) => cdrsBench(o),
      (o) => ({ records: o.records, runs: o.runs, days: o.days, users: o.users, segment_mb: o.segmentMb }),
    ),
  );

await program.parseAsync();
