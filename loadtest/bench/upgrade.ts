/**
 * `npm run bench -- upgrade`: a hot upgrade of N live sessions under traffic, in one process.
 *
 * The release (loadtest/bench/upgrade-release/<version>) goes the real way: bundled with
 * esbuild, signed, written, read back, verified, evaluated with `vm.compileFunction`. N
 * sessions run 1.0.0; a driver casts to every session once, then to random sessions, every
 * millisecond (the measurements start once every session has had a message), each message
 * carrying a per-session sequence number and its send time; each session acks to a collector
 * process, which checks every sequence for loss, duplication and reordering. Then a full
 * install moves every session to 2.0.0 (state reshaped by codeChange) while traffic flows.
 *
 * - max_session_wait_ms: the longest any message handled between the install's start and the
 *   end of its commit waited in a session's mailbox (handled-at minus sent-at). That is what
 *   a caller of a session feels; it includes any time the session was suspended, and time in
 *   the run queue. The same figure for the second before the install is printed as a baseline.
 * - max_loop_stall_ms: monitorEventLoopDelay (1 ms resolution) over the same stretch.
 * - max_gc_pause_ms / max_commit_gc_pause_ms: the longest V8 pause then, to tell the
 *   collector's share of a stall from the installer's own (longest_slice_ms).
 * - heap_growth_pct: install up, downgrade back, --cycles times, each cycle evaluating 2.0.0
 *   afresh so that every copy of its code becomes garbage; heap after GC before against after.
 *   The cycles run on their own runtime of --cycle-sessions sessions (the N-session runtime
 *   is gone by then): a small base heap makes any leak per cycle stand out, and 2,000
 *   installs of 100,000 sessions would take the better part of an hour.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { verifyArtifact } from '../../server/release/artifact.ts';
import { buildRelease } from '../../server/release/build.ts';
import { Install, type InstallProgress } from '../../server/release/installer.ts';
import { evaluateRelease } from '../../server/release/loader.ts';
import type { ReleaseModule } from '../../server/release/module.ts';
import {
  type AnyBehaviour,
  type Behaviour,
  type Clock,
  kill,
  noreply,
  type Pid,
  Runtime,
  systemClock,
} from '../../server/runtime/index.ts';
import { type Figure, median } from './report.ts';
import type { Ack, SessionArgs, Traffic } from './upgrade-release/1.0.0/index.ts';

export interface UpgradeOptions {
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

/** The runtime clock, with sub-millisecond resolution: waits of a few ms are what we measure. */
const clock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: systemClock.setTimeout,
  clearTimeout: systemClock.clearTimeout,
};

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc (npm run bench does)');
  collect();
  collect();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Build, sign, write, read back and verify both versions, once: the code a node would load. */
async function buildCodes(): Promise<Map<string, string>> {
  const keys = generateKeyPairSync('ed25519');
  const outDir = mkdtempSync(join(tmpdir(), 'hotline-bench-upgrade-'));
  const codes = new Map<string, string>();
  try {
    for (const version of ['1.0.0', '2.0.0']) {
      const entry = fileURLToPath(new URL(`./upgrade-release/${version}/index.ts`, import.meta.url));
      const { path } = await buildRelease({ entry, version, name: 'bench-upgrade', keys, outDir });
      codes.set(version, verifyArtifact(readFileSync(path), [keys.publicKey]).code);
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  return codes;
}

/** Checks every ack: per session, sequence numbers must arrive exactly once and in order. */
class Tracker {
  readonly sent: Uint32Array;
  readonly last: Uint32Array;
  sentTotal = 0;
  received = 0;
  duplicated = 0;
  reordered = 0;
  /** Sequence numbers skipped over, by session: reordered if they come later, lost if not. */
  readonly gaps = new Map<number, Set<number>>();
  /** Longest wait among messages handled within [from, to] (runtime clock). */
  from = Number.POSITIVE_INFINITY;
  to = Number.POSITIVE_INFINITY;
  maxWait = 0;
  inWindow = 0;

  constructor(n: number) {
    this.sent = new Uint32Array(n);
    this.last = new Uint32Array(n);
  }

  window(from: number, to = Number.POSITIVE_INFINITY): void {
    this.from = from;
    this.to = to;
    this.maxWait = 0;
    this.inWindow = 0;
  }

  ack([i, seq, waited, at]: Ack): void {
    this.received++;
    if (at >= this.from && at <= this.to) {
      this.inWindow++;
      if (waited > this.maxWait) this.maxWait = waited;
    }
    const last = this.last[i] as number;
    if (seq === last + 1) this.last[i] = seq;
    else if (seq > last + 1) {
      const gap = this.gaps.get(i) ?? new Set<number>();
      this.gaps.set(i, gap);
      for (let s = last + 1; s < seq; s++) gap.add(s);
      this.last[i] = seq;
    } else if (this.gaps.get(i)?.delete(seq)) this.reordered++;
    else this.duplicated++;
  }

  get inFlight(): number {
    return this.sentTotal - this.received;
  }

  lost(): number {
    let lost = 0;
    for (let i = 0; i < this.sent.length; i++) lost += (this.sent[i] as number) - (this.last[i] as number);
    for (const gap of this.gaps.values()) lost += gap.size;
    return lost;
  }
}

function collectorFor(
  tracker: Tracker,
): Behaviour<null, null, { call: never; reply: never; cast: Ack; info: never }> {
  const result = noreply(null);
  return {
    name: 'bench_collector',
    version: '1.0.0',
    init: () => null,
    handleCast(ack) {
      tracker.ack(ack);
      return result;
    },
  };
}

/**
 * Casts to random sessions at `rate` messages per second: on a 1 ms timer (as traffic arrives
 * from sockets, letting the loop idle in between) it sends what the time since its last turn
 * is owed, as long as fewer than WINDOW are unacked.
 */
class Driver {
  #running = false;
  #seed = 0x9e3779b9;
  #last = 0;
  #owed = 0;
  #primed = 0;

  /** Every session has had a message. */
  get primed(): boolean {
    return this.#primed === this.pids.length;
  }

  constructor(
    private readonly rt: Runtime,
    private readonly pids: Pid[],
    private readonly tracker: Tracker,
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
    const t = this.tracker;
    const now = performance.now();
    this.#owed += ((now - this.#last) * this.rate) / 1000;
    this.#last = now;
    const n = Math.max(0, Math.min(Math.floor(this.#owed), WINDOW - t.inFlight));
    this.#owed = Math.min(this.#owed - n, WINDOW);
    const sentAt = clock.now();
    for (let k = 0; k < n; k++) {
      // The first pass reaches every session once, so the warmup ends with every session's
      // mailbox allocated, as in a node whose sessions are all in calls.
      const i = this.#primed < this.pids.length ? this.#primed++ : this.#random() % this.pids.length;
      const seq = (t.sent[i] as number) + 1;
      t.sent[i] = seq;
      t.sentTotal++;
      const message: Traffic = { seq, sentAt };
      this.rt.cast(this.pids[i] as Pid, message);
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

async function drained(tracker: Tracker, rt: Runtime): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (tracker.inFlight > 0 && performance.now() < deadline) {
    await rt.idle();
    await sleep(5);
  }
}

function stopAll(rt: Runtime): void {
  // Cancels the sessions' timers too, so nothing keeps this runtime alive after the run.
  const pids = [...rt.processes()].map((p) => p.self);
  for (const pid of pids) rt.exit(pid, kill);
}

interface LiveRun {
  installMs: number;
  preflightMs: number;
  commitMs: number;
  waitMs: number;
  baselineWaitMs: number;
  baselineCpu: number;
  stallMs: number;
  sliceMs: number;
  gcPauseMs: number;
  commitGcPauseMs: number;
  /** With --trace: the main thread's wait for a CPU during the install, and the longest stall less it. */
  cpuWaitMs: number;
  ownStallMs: number;
  cleanStallMs: number;
  lost: number;
  duplicated: number;
  reordered: number;
  messages: number;
  inWindow: number;
  msgsPerS: number;
}

async function liveUpgrade(codes: Map<string, string>, o: UpgradeOptions): Promise<LiveRun> {
  const v1 = evaluateRelease(codes.get('1.0.0') as string, '1.0.0');
  const v2 = evaluateRelease(codes.get('2.0.0') as string, '2.0.0');
  const rt = new Runtime({ node: 'bench', clock });
  rt.modules.load(v1.behaviours[0] as AnyBehaviour);
  const tracker = new Tracker(o.sessions);
  const collector = rt.spawn(collectorFor(tracker), null);
  const pids: Pid[] = [];
  for (let index = 0; index < o.sessions; index++) {
    const args: SessionArgs = { index, collector };
    pids.push(rt.spawn('bench_session', args));
    if (index % 10_000 === 9_999) await new Promise((r) => setImmediate(r));
  }
  const driver = new Driver(rt, pids, tracker, o.rate);
  driver.start();
  await sleep(WARMUP_MS);
  while (!driver.primed) await sleep(100);

  tracker.window(clock.now());
  const received0 = tracker.received;
  const cpu0 = process.cpuUsage();
  await sleep(BASELINE_MS);
  const cpu = process.cpuUsage(cpu0);
  const baselineCpu = ((cpu.user + cpu.system) / 1000 / BASELINE_MS) * 100;
  const baselineWaitMs = tracker.maxWait;
  const msgsPerS = ((tracker.received - received0) * 1000) / BASELINE_MS;

  const eld = monitorEventLoopDelay({ resolution: 1 });
  const probe = o.trace === true ? new StallProbe() : undefined;
  let preflightAt = 0;
  let preflightMs = 0;
  const install = new Install(
    rt,
    'bench',
    v1,
    v2,
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
      ? { from: v1, to: v2 }
      : {
          from: evaluateRelease(codes.get('1.0.0') as string, '1.0.0'),
          to: evaluateRelease(codes.get('2.0.0') as string, '2.0.0'),
        },
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
  tracker.window(clock.now());
  eld.enable();
  probe?.start();
  const t0 = performance.now();
  await install.start();
  const t1 = performance.now();
  probe?.stop();
  eld.disable();
  tracker.to = clock.now();
  await new Promise((r) => setImmediate(r)); // gc entries arrive a turn late
  gcs.disconnect();
  const inInstall = pauses.filter((g) => g.at >= t0 && g.at <= t1);
  if (probe !== undefined) printTimeline(probe, inInstall, t0, preflightAt, t1);
  const done: InstallProgress = await install.done;
  if (done.outcome !== 'installed' || done.moved !== o.sessions)
    throw new Error(`install ended ${done.outcome} (${done.reason}), ${done.moved}/${o.sessions} moved`);

  driver.stop();
  await drained(tracker, rt);
  for (const pid of pids)
    if (rt.lookup(pid)?.behaviour !== v2.behaviours[0]) throw new Error(`${pid} is not on 2.0.0`);
  const run: LiveRun = {
    installMs: t1 - t0,
    preflightMs,
    commitMs: t1 - preflightAt,
    waitMs: tracker.maxWait,
    baselineWaitMs,
    baselineCpu,
    stallMs: eld.max / 1e6,
    sliceMs: done.longestSliceMs,
    gcPauseMs: Math.max(0, ...inInstall.map((g) => g.ms)),
    commitGcPauseMs: Math.max(0, ...inInstall.filter((g) => g.at >= preflightAt).map((g) => g.ms)),
    cpuWaitMs: probe?.cpuWaitMs ?? Number.NaN,
    ownStallMs: probe?.ownStallMs ?? Number.NaN,
    cleanStallMs: probe?.cleanStallMs ?? Number.NaN,
    lost: tracker.lost(),
    duplicated: tracker.duplicated,
    reordered: tracker.reordered,
    messages: tracker.sentTotal,
    inWindow: tracker.inWindow,
    msgsPerS,
  };
  stopAll(rt);
  return run;
}

/** Heap after GC before and after `cycles` install-up, downgrade-back cycles. */
async function heapCycles(
  codes: Map<string, string>,
  o: UpgradeOptions,
): Promise<{ before: number; after: number; cycleMs: number }> {
  const code2 = codes.get('2.0.0') as string;
  const v1 = evaluateRelease(codes.get('1.0.0') as string, '1.0.0');
  const rt = new Runtime({ node: 'cycles', clock });
  rt.modules.load(v1.behaviours[0] as AnyBehaviour);
  const tracker = new Tracker(o.cycleSessions);
  const collector = rt.spawn(collectorFor(tracker), null);
  for (let index = 0; index < o.cycleSessions; index++) rt.spawn('bench_session', { index, collector });

  const cycle = async (c: number) => {
    // Fresh code each time: this copy is garbage once the downgrade is done.
    const v2: ReleaseModule = evaluateRelease(code2, '2.0.0');
    for (const [id, from, to] of [
      [`up-${c}`, v1, v2],
      [`down-${c}`, v2, v1],
    ] as const) {
      const install = new Install(rt, id, from, to, { watchMs: 0 });
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
  stopAll(rt);
  return { before, after, cycleMs };
}

export async function upgradeBench(o: UpgradeOptions): Promise<Figure[]> {
  const codes = await buildCodes();
  // Runtime timers are unref'd (they must not keep a node up): an install waiting out its
  // watch window with nothing else pending would let the process exit under us.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    return await measure(codes, o);
  } finally {
    clearInterval(keepAlive);
  }
}

async function measure(codes: Map<string, string>, o: UpgradeOptions): Promise<Figure[]> {
  const runs: Record<string, number[]> = {};
  const add = (k: string, v: number) => {
    runs[k] ??= [];
    runs[k].push(v);
  };
  for (let r = 0; r < o.runs; r++) {
    gc();
    const live = await liveUpgrade(codes, o);
    for (const [k, v] of Object.entries(live)) add(k, v);
    gc();
    const heap = await heapCycles(codes, o);
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
