/**
 * `npm run bench -- runtime`: the process runtime alone, no sockets.
 * - heap per idle process: heap after GC with N processes holding a small state, over N;
 * - spawn time; cast throughput (1,000 processes, 2,000,000 casts); call round trip;
 * - event-loop stall with N processes all receiving messages: a token ring where every
 *   process forwards what it receives, so the load comes from inside the runtime, not
 *   from a producer loop that would itself block the event loop.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { type Behaviour, noreply, type Pid, Runtime, reply } from '../../server/runtime/index.ts';
import { type Figure, median } from './report.ts';

interface IdleState {
  user: string;
  calls: number;
  since: number;
}

const idle: Behaviour<IdleState, number, { call: 'get'; reply: number; cast: 'bump'; info: never }> = {
  name: 'bench_idle',
  version: '1.0.0',
  init: (i) => ({ user: `u${i}`, calls: 0, since: 0 }),
  handleCast: (_m, s) => {
    s.calls++;
    return noreply(s);
  },
  handleCall: (_m, _f, s) => reply(s.calls, s),
};

interface RingState {
  next: Pid | null;
  hops: number;
}

let ringRunning = false;

const ring: Behaviour<
  RingState,
  null,
  { call: never; reply: never; cast: { next: Pid } | 'token'; info: never }
> = {
  name: 'bench_ring',
  version: '1.0.0',
  init: () => ({ next: null, hops: 0 }),
  handleCast(message, state, ctx) {
    if (message === 'token') {
      state.hops++;
      if (ringRunning && state.next !== null) ctx.cast(state.next, 'token');
    } else {
      state.next = message.next;
    }
    return noreply(state);
  },
};

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc (npm run bench does)');
  collect();
  collect();
}

async function spawnAndMeasure(n: number): Promise<{ heapPerProcess: number; spawnUs: number }> {
  const rt = new Runtime({ node: 'bench' });
  gc();
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) rt.spawn(idle, i);
  const spawnUs = ((performance.now() - t0) * 1000) / n;
  gc();
  const after = process.memoryUsage().heapUsed;
  if (rt.processCount !== n) throw new Error(`expected ${n} processes, have ${rt.processCount}`);
  return { heapPerProcess: (after - before) / n, spawnUs };
}

async function castThroughput(): Promise<number> {
  const rt = new Runtime({ node: 'bench' });
  const pids = Array.from({ length: 1000 }, (_, i) => rt.spawn(idle, i));
  const total = 2_000_000;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) rt.cast(pids[i % pids.length] as Pid, 'bump');
  await rt.idle();
  const seconds = (performance.now() - t0) / 1000;
  const handled = pids.reduce((sum, pid) => sum + (rt.sys.getState(pid) as IdleState).calls, 0);
  if (handled !== total) throw new Error(`lost casts: ${handled} of ${total}`);
  return total / seconds;
}

async function callRoundTrip(): Promise<number> {
  const rt = new Runtime({ node: 'bench' });
  const pid = rt.spawn(idle, 0);
  const n = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await rt.call(pid, 'get');
  return ((performance.now() - t0) * 1000) / n;
}

async function loopStall(
  n: number,
  seconds: number,
): Promise<{ stallMs: number; warmupStallMs: number; messagesPerS: number; sliceMs: number }> {
  const rt = new Runtime({ node: 'bench' });
  const pids: Pid[] = [];
  for (let i = 0; i < n; i++) pids.push(rt.spawn(ring, null));
  for (let i = 0; i < n; i++) rt.cast(pids[i] as Pid, { next: pids[(i + 1) % n] as Pid });
  await rt.idle();
  ringRunning = true;
  // Warm-up: the first token each process receives allocates its mailbox; that one-off
  // burst of 100,000 allocations is reported apart from the steady busy phase.
  const warmup = monitorEventLoopDelay({ resolution: 1 });
  warmup.enable();
  // Every process gets a token; inject in chunks so the injection is not itself a stall.
  for (let i = 0; i < n; i += 5000) {
    for (let j = i; j < Math.min(n, i + 5000); j++) rt.cast(pids[j] as Pid, 'token');
    await yieldToLoop();
  }
  await new Promise((r) => setTimeout(r, 500));
  warmup.disable();
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  rt.scheduler.maxSliceMs = 0;
  const hopsBefore = countHops(rt, pids);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const hops = countHops(rt, pids) - hopsBefore;
  eld.disable();
  ringRunning = false;
  await rt.idle();
  return {
    stallMs: eld.max / 1e6,
    warmupStallMs: warmup.max / 1e6,
    messagesPerS: hops / elapsed,
    sliceMs: rt.scheduler.maxSliceMs,
  };
}

function countHops(rt: Runtime, pids: Pid[]): number {
  return pids.reduce((sum, pid) => sum + (rt.sys.getState(pid) as RingState).hops, 0);
}

export async function runtimeBench(options: {
  processes: number;
  runs: number;
  seconds: number;
}): Promise<Figure[]> {
  const runs: Record<string, number[]> = {};
  const add = (k: string, v: number) => {
    runs[k] ??= [];
    runs[k].push(v);
  };
  for (let r = 0; r < options.runs; r++) {
    const { heapPerProcess, spawnUs } = await spawnAndMeasure(options.processes);
    add('heap', heapPerProcess);
    add('spawn', spawnUs);
    gc();
    add('casts', await castThroughput());
    add('call', await callRoundTrip());
    gc();
    const stall = await loopStall(options.processes, options.seconds);
    add('stall', stall.stallMs);
    add('warmup', stall.warmupStallMs);
    add('ring', stall.messagesPerS);
    add('slice', stall.sliceMs);
    gc();
  }
  const m = (k: string) => median(runs[k] ?? []);
  return [
    {
      key: 'heap_bytes_per_process',
      value: Math.round(m('heap')),
      target: { max: 1000 },
      label: 'heap per idle process, bytes',
    },
    { key: 'spawn_us', value: m('spawn'), label: 'spawn, µs' },
    {
      key: 'casts_per_s',
      value: Math.round(m('casts')),
      target: { min: 1_000_000 },
      label: 'casts per second',
    },
    { key: 'call_roundtrip_us', value: m('call'), label: 'call round trip, µs' },
    {
      key: 'max_loop_stall_ms',
      value: m('stall'),
      target: { max: 10 },
      label: `event-loop stall, ${options.processes} busy processes, ms`,
    },
    {
      key: 'warmup_loop_stall_ms',
      value: m('warmup'),
      label: 'event-loop stall while the first messages arrive, ms',
    },
    { key: 'busy_messages_per_s', value: Math.round(m('ring')), label: 'messages per second with all busy' },
    { key: 'max_slice_ms', value: m('slice'), label: 'longest scheduler slice, ms' },
  ];
}
