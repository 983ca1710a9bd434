/**
 * `npm run bench -- upgrade`: a hot upgrade of N live sessions under traffic, in one process.
 *
 * Two workloads (`--workload`), measured by the same code (this file):
 *
 * - `calls` (the default): the node's own call sessions on release 1.0.0, in answered calls
 *   with media flowing, each with a sink process as its port (no sockets), moved to the
 *   shipped 2.0.0 (or `--to 1.1.0`) built, signed, verified and evaluated as a node loads it.
 *   This is what the targets are about: upgrade-calls.ts says how it is set up.
 * - `synthetic`: the bench's own tiny release (upgrade-release/), a flat state regrouped,
 *   acked to one collector (upgrade-synthetic.ts). It isolates the installer's own cost, and
 *   is the baseline the calls figures can be read against.
 *
 * A driver sends to every stream (a session in a call) once, then on at the fleet's pace
 * (each in turn for calls, as phones send media; at random for the synthetic sessions),
 * every millisecond (the measurements start once every stream has had a message), each message
 * carrying a per-stream sequence number and its send time; the workload checks every
 * sequence for loss, duplication and reordering. Then a full install moves every session
 * (and any other process on release code) to the new release while traffic flows.
 *
 * - max_session_wait_ms: the longest any message handled between the install's start and the
 *   end of its commit waited in a session's mailbox (handled-at minus sent-at). That is what
 *   a caller of a session feels; it includes any time the session was suspended, and time in
 *   the run queue. The same figure for the second before the install is printed as a baseline.
 * - max_loop_stall_ms: monitorEventLoopDelay (1 ms resolution) over the same stretch.
 * - max_gc_pause_ms / max_commit_gc_pause_ms: the longest V8 pause then, to tell the
 *   collector's share of a stall from the installer's own (longest_slice_ms).
 * - heap_growth_pct: install up, downgrade back, --cycles times, each cycle evaluating the new
 *   release afresh so that every copy of its code becomes garbage; heap after GC before
 *   against after. The cycles run on their own fleet of --cycle-sessions sessions, with no
 *   traffic (the N-session one is gone by then): a small base heap makes any leak per cycle
 *   stand out, and 2,000 installs of 100,000 sessions would take the better part of an hour.
 */

import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Install, type InstallProgress } from '../../server/release/installer.ts';
import type { ReleaseModule } from '../../server/release/module.ts';
import { kill, type Runtime } from '../../server/runtime/index.ts';
import { type Figure, median } from './report.ts';
import { CALL_TARGETS, callsWorkload, minCallsRate } from './upgrade-calls.ts';
import { clock, type Fleet, type Traffic, type Workload } from './upgrade-fleet.ts';
import { syntheticWorkload } from './upgrade-synthetic.ts';

export const WORKLOADS = ['calls', 'synthetic'] as const;
type WorkloadName = (typeof WORKLOADS)[number];

export { CALL_TARGETS };

export interface UpgradeOptions {
  workload: WorkloadName;
  /** The calls workload's target release. */
  to: string;
  sessions: number;
  runs: number;
  cycles: number;
  cycleSessions: number;
  /** Traffic the driver aims at, messages per second over all sessions. */
  rate: number;
  /** The install's sliceMs (its default when not given). */
  sliceMs?: number;
  /** Probe the loop every ms against the kernel's CPU-wait count; print the install's timeline. */
  trace?: boolean;
}

/** OTP 25 on this machine, 100,000 gen_servers (/work/shared/anchors.md). */
export const OTP_ANCHORS = { otp25_100k_whole_upgrade_ms: 1870, otp25_100k_longest_call_wait_ms: 1040 };

/** Messages in flight at most: the driver waits for acks beyond this, so mailboxes stay short. */
const WINDOW = 4000;
const WARMUP_MS = 2000;
const BASELINE_MS = 1000;
/** Cycles before the heap baseline: first-time compilation and inline caches are not growth. */
const WARMUP_CYCLES = 5;

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc (npm run bench does)');
  collect();
  collect();
}

/**
 * Sends to the fleet's streams (at its pace) at `rate` messages per second: on a 1 ms timer
 * (as traffic arrives from sockets, letting the loop idle in between) it sends what the time
 * since its last turn is owed, as long as fewer than WINDOW are in flight.
 */
class Driver {
  #running = false;
  #seed = 0x9e3779b9;
  #last = 0;
  #owed = 0;
  #primed = 0;
  #next = 0;

  /** Every stream has had a message. */
  get primed(): boolean {
    return this.#primed === this.fleet.streams;
  }

  constructor(
    private readonly fleet: Fleet,
    private readonly rate: number,
  ) {}

  start(): void {
    this.#running = true;
    this.#last = performance.now();
    setTimeout(this.#turn, 1);
  }

  stop(): void {
    this.#running = false;
  }

  #random(): number {
    // xorshift32: cheap and allocation-free.
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x >>> 0;
    return this.#seed;
  }

  #turn = (): void => {
    if (!this.#running) return;
    const { traffic: t, streams } = this.fleet;
    const now = performance.now();
    this.#owed += ((now - this.#last) * this.rate) / 1000;
    this.#last = now;
    const n = Math.max(0, Math.min(Math.floor(this.#owed), WINDOW - t.inFlight));
    this.#owed = Math.min(this.#owed - n, WINDOW);
    const sentAt = clock.now();
    for (let k = 0; k < n; k++) {
      // The first pass reaches every stream once, so the warmup ends with every session's
      // mailbox allocated, as in a node whose sessions are all in calls.
      const i =
        this.#primed < streams
          ? this.#primed++
          : this.fleet.pace === 'steady'
            ? this.#next++ % streams
            : this.#random() % streams;
      const seq = (t.sent[i] as number) + 1;
      t.sent[i] = seq;
      t.sentTotal++;
      this.fleet.send(i, seq, sentAt);
    }
    setTimeout(this.#turn, 1);
  };
}

/**
 * With `--trace`: the event loop probed every millisecond, against the kernel's count of the
 * time the main thread was runnable but waiting for a CPU (/proc/thread-self/schedstat, Linux).
 * On a machine shared with other work a stall is partly the node's own and partly time it was
 * not scheduled at all; this tells the two apart. The probe's own timer and read cost a little.
 */
class StallProbe {
  cpuWaitMs = 0;
  /** Longest gap between probes less the CPU wait within it. */
  ownStallMs = 0;
  /** Longest gap between probes in which the main thread did not wait for a CPU (< 0.5 ms). */
  cleanStallMs = 0;
  readonly stalls: { at: number; ms: number; cpuWaitMs: number }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #last = 0;
  #lastWait = 0;

  static #cpuWait(): number {
    try {
      return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]) / 1e6;
    } catch {
      return 0;
    }
  }

  start(): void {
    this.#last = performance.now();
    this.#lastWait = StallProbe.#cpuWait();
    this.#timer = setInterval(() => this.#tick(), 1);
  }

  stop(): void {
    this.#tick();
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = performance.now();
    const wait = StallProbe.#cpuWait();
    const ms = now - this.#last;
    const cpuWaitMs = wait - this.#lastWait;
    this.cpuWaitMs += cpuWaitMs;
    this.ownStallMs = Math.max(this.ownStallMs, ms - cpuWaitMs);
    if (cpuWaitMs < 0.5) this.cleanStallMs = Math.max(this.cleanStallMs, ms);
    if (ms > 6) this.stalls.push({ at: this.#last, ms, cpuWaitMs });
    this.#last = now;
    this.#lastWait = wait;
  }
}

/** On stderr: the install's stalls over 6 ms and GC pauses over 1 ms, in time order. */
function printTimeline(
  probe: StallProbe,
  pauses: { at: number; ms: number; kind: number }[],
  t0: number,
  commitAt: number,
  t1: number,
): void {
  const kinds: Record<number, string> = {
    1: 'scavenge',
    2: 'mark-compact',
    4: 'incremental',
    8: 'weak callbacks',
  };
  const lines: [number, string][] = [
    [t0, 'install starts'],
    [commitAt, 'commit starts'],
    [t1, 'commit done'],
    ...probe.stalls.map((s): [number, string] => [
      s.at,
      `loop stall ${s.ms.toFixed(1)} ms, ${s.cpuWaitMs.toFixed(1)} of it waiting for a CPU`,
    ]),
    ...pauses
      .filter((g) => g.ms > 1)
      .map((g): [number, string] => [g.at, `GC ${kinds[g.kind] ?? g.kind} ${g.ms.toFixed(1)} ms`]),
  ];
  lines.sort((a, b) => a[0] - b[0]);
  for (const [at, what] of lines) process.stderr.write(`${(at - t0).toFixed(1).padStart(8)} ms  ${what}\n`);
  process.stderr.write(
    `CPU wait during the install ${probe.cpuWaitMs.toFixed(0)} ms; longest stall less its CPU wait ${probe.ownStallMs.toFixed(1)} ms; longest with no CPU wait ${probe.cleanStallMs.toFixed(1)} ms\n`,
  );
}

async function drained(traffic: Traffic, rt: Runtime): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (traffic.inFlight > 0 && performance.now() < deadline) {
    await rt.idle();
    await sleep(5);
  }
}

function stopAll(rt: Runtime): void {
  // Cancels the sessions' timers too, so nothing keeps this runtime alive after the run.
  const pids = [...rt.processes()].map((p) => p.self);
  for (const pid of pids) rt.exit(pid, kill);
}

/** The fleet's sessions that run `to`'s code. */
function sessionsOn(fleet: Fleet, to: ReleaseModule): number {
  const code = new Set(to.behaviours);
  let n = 0;
  for (const pid of fleet.sessions) {
    const b = fleet.rt.lookup(pid)?.behaviour;
    if (b !== undefined && code.has(b)) n++;
  }
  return n;
}

/** Numbers of one live run, keyed as `measure` reads them (a workload's extras too). */
type LiveRun = Record<string, number>;

async function liveUpgrade(workload: Workload, o: UpgradeOptions): Promise<LiveRun> {
  const fleet = await workload.setUp(o.sessions, false);
  const { rt, traffic } = fleet;
  // The setup's garbage collected now, not in the baseline or the install: the sessions of a
  // node that has been up a while are long settled in the heap.
  gc();
  const to = fleet.loadTo();
  const driver = new Driver(fleet, o.rate);
  driver.start();
  await sleep(WARMUP_MS);
  // A node too slow for the traffic would never prime: fail rather than wait for ever.
  const primeBy = performance.now() + 60_000 + (fleet.streams / o.rate) * 2000;
  while (!driver.primed) {
    if (performance.now() > primeBy)
      throw new Error(`the driver reached ${fleet.streams} streams too slowly`);
    await sleep(100);
  }

  traffic.window(clock.now());
  const handled0 = traffic.handled;
  const cpu0 = process.cpuUsage();
  await sleep(BASELINE_MS);
  const cpu = process.cpuUsage(cpu0);
  const baselineCpu = ((cpu.user + cpu.system) / 1000 / BASELINE_MS) * 100;
  const baselineWaitMs = traffic.wait.max;
  const msgsPerS = ((traffic.handled - handled0) * 1000) / BASELINE_MS;

  const eld = monitorEventLoopDelay({ resolution: 1 });
  const probe = o.trace === true ? new StallProbe() : undefined;
  let preflightAt = 0;
  let preflightMs = 0;
  const timers = rt.activeTimers;
  const install = new Install(
    rt,
    'bench',
    fleet.from,
    to,
    { mode: 'full', watchMs: 200, ...(o.sliceMs === undefined ? {} : { sliceMs: o.sliceMs }) },
    {
      phaseDone: (phase, ms) => {
        if (phase !== 'preflight') return;
        preflightMs = ms;
        preflightAt = performance.now();
      },
    },
    // As the release handler does: the dry runs use their own copy of the code.
    process.env.HOTLINE_BENCH_SAME_CODE
      ? { from: fleet.from, to }
      : { from: fleet.dryFrom, to: fleet.loadTo() },
  );
  // GC pauses during the install, to tell the collector's share of any stall from the installer's.
  const pauses: { at: number; ms: number; kind: number }[] = [];
  const gcs = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      pauses.push({
        at: e.startTime,
        ms: e.duration,
        kind: (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0,
      });
  });
  gcs.observe({ entryTypes: ['gc'] });
  traffic.window(clock.now());
  eld.enable();
  probe?.start();
  const t0 = performance.now();
  await install.start();
  const t1 = performance.now();
  probe?.stop();
  eld.disable();
  traffic.closeWindow(clock.now());
  await new Promise((r) => setImmediate(r)); // gc entries arrive a turn late
  gcs.disconnect();
  const inInstall = pauses.filter((g) => g.at >= t0 && g.at <= t1);
  if (probe !== undefined) printTimeline(probe, inInstall, t0, preflightAt, t1);
  const done: InstallProgress = await install.done;
  if (done.outcome !== 'installed' || done.moved !== fleet.moving)
    throw new Error(`install ended ${done.outcome} (${done.reason}), ${done.moved}/${fleet.moving} moved`);

  driver.stop();
  await drained(traffic, rt);
  const tally = fleet.tally();
  const run: LiveRun = {
    installMs: t1 - t0,
    preflightMs,
    commitMs: t1 - preflightAt,
    waitMs: traffic.wait.max,
    baselineWaitMs,
    baselineCpu,
    stallMs: eld.max / 1e6,
    sliceMs: done.longestSliceMs,
    gcPauseMs: Math.max(0, ...inInstall.map((g) => g.ms)),
    commitGcPauseMs: Math.max(0, ...inInstall.filter((g) => g.at >= preflightAt).map((g) => g.ms)),
    cpuWaitMs: probe?.cpuWaitMs ?? Number.NaN,
    ownStallMs: probe?.ownStallMs ?? Number.NaN,
    cleanStallMs: probe?.cleanStallMs ?? Number.NaN,
    lost: tally.lost,
    duplicated: tally.duplicated,
    reordered: tally.reordered,
    failures: tally.failures,
    messages: traffic.sentTotal,
    inWindow: traffic.wait.inWindow,
    msgsPerS,
    moved: done.moved,
    onNew: sessionsOn(fleet, to),
    timers,
    ...tally.extra,
  };
  stopAll(rt);
  return run;
}

/** Heap after GC before and after `cycles` install-up, downgrade-back cycles. */
async function heapCycles(
  workload: Workload,
  o: UpgradeOptions,
): Promise<{ before: number; after: number; cycleMs: number }> {
  const fleet = await workload.setUp(o.cycleSessions, true);
  const { rt, from } = fleet;
  const cycle = async (c: number) => {
    // Fresh code each time: this copy is garbage once the downgrade is done.
    const to = fleet.loadTo();
    for (const [id, a, b] of [
      [`up-${c}`, from, to],
      [`down-${c}`, to, from],
    ] as const) {
      const install = new Install(rt, id, a, b, { watchMs: 0 });
      await install.start();
      const p = await install.done;
      if (p.outcome !== 'installed') throw new Error(`cycle ${c}: ${id} ended ${p.outcome} (${p.reason})`);
    }
  };
  for (let c = 0; c < WARMUP_CYCLES; c++) await cycle(c);
  gc();
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  for (let c = 0; c < o.cycles; c++) await cycle(WARMUP_CYCLES + c);
  const cycleMs = (performance.now() - t0) / o.cycles;
  gc();
  const after = process.memoryUsage().heapUsed;
  const { failures } = fleet.tally();
  if (failures > 0) throw new Error(`${failures} session failure(s) during the cycles`);
  if (sessionsOn(fleet, from) !== o.cycleSessions)
    throw new Error('the cycles left sessions off their release');
  stopAll(rt);
  return { before, after, cycleMs };
}

/** Why these options make no run, or undefined. */
export function upgradeProblem(o: UpgradeOptions): string | undefined {
  if (o.workload === 'synthetic')
    return o.to === '2.0.0' ? undefined : 'the synthetic workload installs its own 2.0.0 (--to is for calls)';
  if (!CALL_TARGETS.includes(o.to)) return `the calls workload installs ${CALL_TARGETS.join(' or ')}`;
  const least = minCallsRate(o.sessions);
  return o.rate >= least
    ? undefined
    : `--rate ${o.rate} leaves phones silent past the media timeout: ${o.sessions} sessions need ${least} or more`;
}

export async function upgradeBench(o: UpgradeOptions): Promise<Figure[]> {
  const workload = o.workload === 'calls' ? await callsWorkload(o.to) : await syntheticWorkload();
  // Runtime timers are unref'd (they must not keep a node up): an install waiting out its
  // watch window with nothing else pending would let the process exit under us.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    return await measure(workload, o);
  } finally {
    clearInterval(keepAlive);
  }
}

async function measure(workload: Workload, o: UpgradeOptions): Promise<Figure[]> {
  const runs: Record<string, number[]> = {};
  const add = (k: string, v: number) => {
    runs[k] ??= [];
    runs[k].push(v);
  };
  for (let r = 0; r < o.runs; r++) {
    gc();
    const live = await liveUpgrade(workload, o);
    for (const [k, v] of Object.entries(live)) add(k, v);
    gc();
    const heap = await heapCycles(workload, o);
    add('heapGrowth', ((heap.after - heap.before) / heap.before) * 100);
    add('heapBefore', heap.before / 2 ** 20);
    add('heapAfter', heap.after / 2 ** 20);
    add('cycleMs', heap.cycleMs);
  }
  const m = (k: string) => median(runs[k] ?? []);
  const n = o.sessions.toLocaleString('en-US');
  return [
    { key: 'install_ms', value: m('installMs'), label: `install of ${n} sessions, start to commit done, ms` },
    { key: 'preflight_ms', value: m('preflightMs'), label: 'preflight (dry-run codeChange on copies), ms' },
    { key: 'commit_ms', value: m('commitMs'), label: 'commit (suspend, migrate, resume each), ms' },
    {
      key: 'max_session_wait_ms',
      value: m('waitMs'),
      target: { max: 10 },
      label: 'longest wait of a message in a session mailbox during the install, ms',
    },
    {
      key: 'baseline_session_wait_ms',
      value: m('baselineWaitMs'),
      label: 'same, in the second before the install, ms',
    },
    {
      key: 'max_loop_stall_ms',
      value: m('stallMs'),
      target: { max: 10 },
      label: 'event-loop stall during the install, ms',
    },
    { key: 'messages_lost', value: m('lost'), target: { max: 0 }, label: 'messages lost' },
    { key: 'messages_duplicated', value: m('duplicated'), target: { max: 0 }, label: 'messages duplicated' },
    { key: 'messages_reordered', value: m('reordered'), target: { max: 0 }, label: 'messages reordered' },
    {
      key: 'session_failures',
      value: m('failures'),
      target: { max: 0 },
      label: 'sessions that went wrong (an error frame, a call ended)',
    },
    {
      key: 'sessions_on_new_release',
      value: m('onNew'),
      target: { min: o.sessions },
      label: `sessions on ${workload.to} after the install`,
    },
    {
      key: 'processes_moved',
      value: m('moved'),
      label:
        'processes the install moved (the modules its appup changes: service legs it leaves unchanged stay put)',
    },
    { key: 'timers_at_install', value: m('timers'), label: 'timers set when the install started' },
    ...workload.figures(m),
    { key: 'messages_total', value: m('messages'), label: 'messages sent in the run' },
    { key: 'messages_during_install', value: m('inWindow'), label: 'messages handled during the install' },
    {
      key: 'traffic_msgs_per_s',
      value: Math.round(m('msgsPerS')),
      label: 'traffic before the install, msgs/s',
    },
    {
      key: 'baseline_cpu_pct',
      value: m('baselineCpu'),
      label: 'CPU of the node with that traffic before the install, % of one core',
    },
    { key: 'longest_slice_ms', value: m('sliceMs'), label: 'longest synchronous slice of install work, ms' },
    { key: 'max_gc_pause_ms', value: m('gcPauseMs'), label: 'longest GC pause during the install, ms' },
    {
      key: 'max_commit_gc_pause_ms',
      value: m('commitGcPauseMs'),
      label: 'longest GC pause during the commit, ms',
    },
    ...(o.trace === true
      ? [
          {
            key: 'cpu_wait_ms',
            value: m('cpuWaitMs'),
            label: 'time the main thread waited for a CPU during the install (other processes), ms',
          },
          {
            key: 'max_own_loop_stall_ms',
            value: m('ownStallMs'),
            label: 'longest event-loop stall less the CPU wait within it, ms',
          },
          {
            key: 'max_clean_loop_stall_ms',
            value: m('cleanStallMs'),
            label: 'longest event-loop stall in which the main thread never waited for a CPU, ms',
          },
        ]
      : []),
    {
      key: 'heap_growth_pct',
      value: m('heapGrowth'),
      target: { max: 5 },
      label: `heap growth after ${o.cycles} upgrade+downgrade cycles (${o.cycleSessions} sessions), %`,
    },
    { key: 'heap_before_mb', value: m('heapBefore'), label: 'heap after GC before the cycles, MiB' },
    { key: 'heap_after_mb', value: m('heapAfter'), label: 'heap after GC after the cycles, MiB' },
    { key: 'cycle_ms', value: m('cycleMs'), label: 'one upgrade+downgrade cycle, ms' },
  ];
}
