/**
 * `npm run bench -- handoff --sessions N`: a node under the keeper (as `npm start` runs it)
 * holding N phones in echo calls at R media frames a second, handed to a successor process
 * through the admin route; then, in the same run, the same traffic through a restart of the
 * node (stop it, start it again on the same data: what any other Node.js deploy does).
 *
 * The node is handed off once with no phones first, so both processes of the measured
 * handoff run from the successor's bundle (server/handoff/successor-build.ts).
 *
 * The phones' waits are their own acks' round trips, from the handoff's start until they
 * stop, 2 s after its end; the loop stalls are each node process's own (loop-probe.mjs,
 * imported into the keeper and every node it runs), over the handoff's span.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { HandoffSummary } from '../../server/handoff/handoff.ts';
import { Fleet } from '../client/fleet.ts';
import { latencyMs } from '../client/histogram.ts';
import type { NodeProcess } from '../client/node-process.ts';
import { BenchNodes } from './bench-nodes.ts';
import { type Figure, median } from './report.ts';
import { log, plan } from './sessions.ts';

const probe = fileURLToPath(new URL('loop-probe.mjs', import.meta.url));

export interface HandoffBenchOptions {
  sessions: number;
  rate: number;
  runs: number;
  /** Write each node process's CPU profile here (`--cpu-prof`). */
  cpuProf?: string;
}

interface Run {
  handoffMs: number;
  wallMs: number;
  maxPauseMs: number;
  batches: number;
  bootMs: number;
  maxPhoneWaitMs: number;
  maxLoopStallOldMs: number;
  maxLoopStallNewMs: number;
  socketsClosed: number;
  framesLost: number;
  processes: number;
  sockets: number;
  rssBefore: number;
  rssPerSessionOld: number;
  rssPerSessionNew: number;
  restartMs: number;
  restartSocketsClosed: number;
  restartFramesLost: number;
}

interface Memory {
  rss: number;
}

function startKept(
  nodes: BenchNodes,
  dir: string,
  loops: string,
  o: HandoffBenchOptions,
): Promise<NodeProcess> {
  return nodes.start(dir, {
    args: ['--max-sessions', String(o.sessions + 100), '--media-timeout-ms', '600000'],
    env: { HOTLINE_BENCH_LOOP_DIR: loops },
    // The keeper runs each node with its own Node flags, and a node its successor: all are probed (and profiled).
    nodeFlags: [
      '--import',
      probe,
      ...(o.cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`]),
    ],
    entry: 'server/keeper.ts',
  });
}

/** N phones in echo calls, settled for 2 s. */
/** `dir`: the node's data directory, whose phone key signs the phones' tokens. */
async function phonesInCalls(
  node: NodeProcess,
  dir: string,
  o: HandoffBenchOptions,
  prefix: string,
): Promise<Fleet> {
  const fleet = new Fleet(plan(node.callsUrl, dir, o.sessions, { ratePerPhone: o.rate, userPrefix: prefix }));
  fleet.start();
  try {
    await fleet.waitInCall(o.sessions, 300_000, (t) =>
      log(`  ramp: ${t.connected} connected, ${t.inCall} in calls, ${t.dropped} dropped`),
    );
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  await sleep(2000);
  return fleet;
}

/** A loop-probe window: its delay is what the loop saw in the PROBE_WINDOW_MS before its stamp. */
const PROBE_WINDOW_MS = 100;

/** The longest loop delay a probed process saw between `from` and `to` (epoch ms). */
function maxStall(loops: string, pid: number, from: number, to: number): number {
  const windows = JSON.parse(readFileSync(join(loops, `${pid}.json`), 'utf8')) as [number, number][];
  return Math.max(0, ...windows.filter(([t]) => t >= from && t <= to + PROBE_WINDOW_MS).map(([, d]) => d));
}

async function oneRun(o: HandoffBenchOptions): Promise<Run> {
  const nodes = new BenchNodes();
  try {
    const dir = nodes.dir('handoff');
    const loops = join(dir, 'loops');
    mkdirSync(loops);
    let node = await startKept(nodes, dir, loops, o);
    // Handed off once with no phones: the handoff measured is then from a process that runs
    // from the bundle (as every node does after its first handoff), and the RSS of both
    // processes is over the same baseline.
    await nodes.admin(node, 300_000).post('/admin/node/handoff', {});
    await sleep(500);
    const before = await nodes.admin(node).get<Memory>('/admin/memory');

    log(`  handoff: ${o.sessions} phones in echo calls at ${o.rate} frame/s`);
    let fleet = await phonesInCalls(node, dir, o, 'h');
    const held = await nodes.admin(node).get<Memory>('/admin/memory');
    fleet.resetLatency();
    const closedBefore = fleet.progress().closed;
    const t0 = Date.now();
    const { handoff: summary } = await nodes
      .admin(node, 300_000)
      .post<{ handoff: HandoffSummary }>('/admin/node/handoff', {})
      .catch(async (err: unknown) => {
        await fleet.stop();
        throw err;
      });
    const t1 = Date.now();
    log(
      `  handed off: pid ${summary.from} -> ${summary.to} in ${summary.ms} ms ${JSON.stringify(summary.phases)}`,
    );
    await sleep(2000);
    const after = await nodes.admin(node).get<Memory>('/admin/memory');
    const closed = fleet.progress().closed - closedBefore;
    const handed = await fleet.stop();
    log(`  frame waits, ms: ${JSON.stringify(latencyMs(handed.histogram))}`);

    log('  restart: the same traffic, the node stopped and started again');
    fleet = await phonesInCalls(node, dir, o, 'r');
    const restartClosedBefore = fleet.progress().closed;
    const r0 = Date.now();
    await node.stop();
    node = await startKept(nodes, dir, loops, o);
    const restartMs = Date.now() - r0;
    await sleep(2000);
    const restartClosed = fleet.progress().closed - restartClosedBefore;
    const restarted = await fleet.stop();

    // The successor serves from the listeners on: before that it boots, and serves nobody.
    const serving = t0 + (summary.phases.listeners ?? 0);
    return {
      handoffMs: summary.ms,
      wallMs: t1 - t0,
      maxPauseMs: summary.maxPauseMs,
      batches: summary.batches,
      bootMs: summary.phases.listeners ?? 0,
      maxPhoneWaitMs: latencyMs(handed.histogram).max,
      maxLoopStallOldMs: maxStall(loops, summary.from, t0, t1),
      maxLoopStallNewMs: maxStall(loops, summary.to, serving + PROBE_WINDOW_MS, t1),
      socketsClosed: closed,
      framesLost: handed.lost,
      processes: summary.processes,
      sockets: summary.sockets,
      rssBefore: before.rss,
      rssPerSessionOld: (held.rss - before.rss) / o.sessions,
      rssPerSessionNew: (after.rss - before.rss) / o.sessions,
      restartMs,
      restartSocketsClosed: restartClosed,
      restartFramesLost: restarted.lost,
    };
  } finally {
    await nodes.close();
  }
}

export async function handoffBench(o: HandoffBenchOptions): Promise<Figure[]> {
  const runs: Run[] = [];
  for (let r = 0; r < o.runs; r++) {
    log(`run ${r + 1}/${o.runs}: ${o.sessions} sessions`);
    runs.push(await oneRun(o));
  }
  const m = (f: (x: Run) => number) => median(runs.map(f));
  const ms = (x: number) => Math.round(x * 10) / 10;
  return [
    {
      key: 'handoff_ms',
      value: m((x) => x.handoffMs),
      target: { max: 5000 },
      label: 'handoff, as the node timed it, ms',
    },
    { key: 'handoff_request_ms', value: m((x) => x.wallMs), label: 'the admin request, start to answer, ms' },
    {
      key: 'successor_boot_ms',
      value: m((x) => x.bootMs),
      label: 'of which the successor starting and booting, until it takes the listeners, ms',
    },
    { key: 'batches', value: m((x) => x.batches), label: 'batches (the last one included)' },
    {
      key: 'max_batch_pause_ms',
      value: m((x) => x.maxPauseMs),
      label: "longest a batch's processes were suspended, as the node timed it, ms",
    },
    {
      key: 'max_phone_wait_ms',
      value: ms(m((x) => x.maxPhoneWaitMs)),
      target: { max: 100 },
      label: 'longest a frame waited for its ack, from the handoff until 2 s after, ms',
    },
    {
      key: 'max_loop_stall_old_ms',
      value: ms(m((x) => x.maxLoopStallOldMs)),
      label: 'longest event-loop stall in the old process during the handoff, ms',
    },
    {
      key: 'max_loop_stall_new_ms',
      value: ms(m((x) => x.maxLoopStallNewMs)),
      label: 'longest event-loop stall in the successor once it took the listeners, ms',
    },
    {
      key: 'sockets_closed',
      value: m((x) => x.socketsClosed),
      target: { max: 0 },
      label: 'phone sockets closed by the handoff',
    },
    {
      key: 'frames_lost',
      value: m((x) => x.framesLost),
      target: { max: 0 },
      label: 'media frames never acknowledged',
    },
    { key: 'processes_moved', value: m((x) => x.processes), label: 'processes moved' },
    { key: 'sockets_moved', value: m((x) => x.sockets), label: 'sockets moved' },
    {
      key: 'rss_bytes_per_session_old',
      value: Math.round(m((x) => x.rssPerSessionOld)),
      label: 'old process RSS per session (over its RSS with no phones), bytes',
    },
    {
      key: 'successor_rss_bytes_per_session',
      value: Math.round(m((x) => x.rssPerSessionNew)),
      label: "successor's RSS per session (over the old one's with no phones), bytes",
    },
    { key: 'restart_ms', value: m((x) => x.restartMs), label: 'restart: stop to up again, ms' },
    {
      key: 'restart_sockets_closed',
      value: m((x) => x.restartSocketsClosed),
      label: 'restart: phone sockets closed',
    },
    {
      key: 'restart_frames_lost',
      value: m((x) => x.restartFramesLost),
      label: 'restart: media frames never acknowledged',
    },
  ];
}
