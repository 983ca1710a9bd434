/** `npm run bench -- <name> [options]`: benchmarks, separate from the tests. */
import { Command, InvalidArgumentError } from 'commander';
import { report } from './report.ts';
import { runtimeBench } from './runtime.ts';
import { type SessionsOptions, sessionsBench } from './sessions.ts';
import { OTP_ANCHORS, type UpgradeOptions, upgradeBench } from './upgrade.ts';

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a whole number > 0');
  return n;
};

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
  .action(async (opts: { processes: number; runs: number; seconds: number; json?: boolean }) => {
    const figures = await runtimeBench(opts);
    report(
      'runtime',
      figures,
      { processes: opts.processes, runs: opts.runs, node: process.version },
      opts.json === true,
    );
  });

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
  .option('--json', 'print one JSON object on stdout')
  .action(async (opts: SessionsOptions & { json?: boolean }) => {
    const figures = await sessionsBench(opts);
    report(
      'sessions',
      figures,
      { sessions: opts.sessions, rate: opts.rate, runs: opts.runs, node: process.version },
      opts.json === true,
    );
  });

program
  .command('upgrade')
  .description(
    'a hot upgrade of N live sessions under traffic: session waits, loop stalls, lost messages, heap over cycles',
  )
  .option('--sessions <n>', 'live sessions moved by the install', positiveInt, 100_000)
  .option('--runs <n>', 'runs to take the median of', positiveInt, 3)
  .option('--cycles <n>', 'upgrade+downgrade cycles for the heap figure', positiveInt, 1000)
  .option('--cycle-sessions <n>', 'sessions in the runtime the cycles run on', positiveInt, 1000)
  .option('--rate <n>', 'traffic to the sessions, messages per second', positiveInt, 50_000)
  .option('--slice-ms <n>', "the install's time slice, ms (default: the installer's)", positiveInt)
  .option('--trace', 'probe stalls against the CPU wait, print the install timeline on stderr')
  .option('--json', 'print one JSON object on stdout')
  .action(async (opts: UpgradeOptions & { json?: boolean }) => {
    const figures = await upgradeBench(opts);
    report(
      'upgrade',
      figures,
      {
        sessions: opts.sessions,
        runs: opts.runs,
        cycles: opts.cycles,
        cycle_sessions: opts.cycleSessions,
        rate: opts.rate,
        node: process.version,
        anchors: OTP_ANCHORS,
      },
      opts.json === true,
    );
  });

await program.parseAsync();
