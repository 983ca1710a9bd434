/**
 * `npm run bench -- sessions --sessions N --rate R`: a node in its own process holding N
 * phones, each in an echo call sending R media frames a second, driven by the load fleet
 * (several processes, several source addresses). Reports what the node costs per session
 * and the media round trip; then drives the node and a bare `ws` echo server the same way
 * at saturation and reports the throughput ratio, run after run, side by side; and the rate
 * of registrations with phone tokens and without (registrations.ts), and the steady-state
 * CPU time a media frame costs a node with tokens and one without (frame-cost.ts). The
 * phones of the other phases register with tokens, as against any node with authentication on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet, type FleetPlan } from '../client/fleet.ts';
import { latencyMs } from '../client/histogram.ts';
import { type NodeProcess, startNodeProcess, startProcess } from '../client/node-process.ts';
import { type FramePair, frameFigures, framePair, PHONES, WINDOW } from './frame-cost.ts';
import { registrationsPerSecond } from './registrations.ts';
import { type Figure, median } from './report.ts';

const TOKEN = 'bench-token';

interface Memory {
  rss: number;
  heapUsed: number;
  cpu: { user: number; system: number };
}

async function memory(node: NodeProcess): Promise<Memory> {
  const res = await fetch(`${node.adminUrl}/admin/memory`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await res.json()) as Memory;
}

function startHotline(dir: string, maxSessions: number): Promise<NodeProcess> {
  return startNodeProcess(
    ['--data-dir', dir, '--max-sessions', String(maxSessions), '--media-timeout-ms', '600000'],
    { HOTLINE_ADMIN_TOKEN: TOKEN, HOTLINE_LOG_LEVEL: 'info' },
    ['--expose-gc'],
  );
}

export const log = (text: string) => process.stderr.write(`${text}\n`);

export function plan(url: string, keyDir: string, phones: number, extra: Partial<FleetPlan>): FleetPlan {
  return {
    url,
    keyDir,
    phones,
    phonesPerWorker: 5000,
    sourceAddresses: 4,
    userPrefix: 'b',
    callTo: 'echo',
    ratePerPhone: 1,
    window: 0,
    connectConcurrency: 64,
    ...extra,
  };
}

export interface SessionsOptions {
  sessions: number;
  rate: number;
  seconds: number;
  runs: number;
  saturatePhones: number;
  saturateSeconds: number;
  /** Phones registering at once in the registration phase (with and without tokens). */
  registrations: number;
  /** Media frames measured on each node of the frame-cost pair (tokens, open). */
  frames: number;
}

interface Hold {
  sessions: number;
  p50: number;
  p99: number;
  dropped: number;
  lost: number;
  rampSeconds: number;
}

/**
 * Hold `o.sessions` phones at `o.rate` frames a second on `url` for `o.seconds`, and measure
 * the round trip. `measure` runs once every call is up (first) and at the end (second).
 */
async function hold<T>(url: string, keyDir: string, o: SessionsOptions, measure?: () => Promise<T>) {
  const fleet = new Fleet(plan(url, keyDir, o.sessions, { ratePerPhone: o.rate }));
  fleet.start();
  const t0 = Date.now();
  try {
    await fleet.waitInCall(o.sessions, 180_000, (t) =>
      log(`  ramp: ${t.connected} connected, ${t.inCall} in calls, ${t.dropped} dropped`),
    );
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  const rampSeconds = (Date.now() - t0) / 1000;
  await sleep(2000);
  fleet.resetLatency();
  const first = await measure?.();
  await sleep(o.seconds * 1000);
  const last = await measure?.();
  const held = fleet.progress().inCall;
  const result = await fleet.stop();
  const lat = latencyMs(result.histogram);
  const figures: Hold = {
    sessions: Math.min(held, result.inCall + result.dropped),
    p50: lat.p50,
    p99: lat.p99,
    dropped: result.dropped,
    lost: result.lost,
    rampSeconds,
  };
  return { figures, first, last };
}

async function steady(o: SessionsOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-bench-'));
  const node = await startHotline(dir, o.sessions + 100);
  try {
    await sleep(500);
    const before = await memory(node);
    const { figures, first, last } = await hold(node.callsUrl, dir, o, () => memory(node));
    const held = first as Memory;
    const after = last as Memory;
    const cpuUs = after.cpu.user + after.cpu.system - (held.cpu.user + held.cpu.system);
    return {
      ...figures,
      rssPerSession: (held.rss - before.rss) / o.sessions,
      heapPerSession: (held.heapUsed - before.heapUsed) / o.sessions,
      cpuPerSession: cpuUs / o.seconds / o.sessions,
    };
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same steady traffic against a bare `ws` echo server: the round trip this stack allows. */
async function steadyBare(o: SessionsOptions): Promise<Hold> {
  const bare = await startProcess(['loadtest/bench/bare-echo.ts'], {}, []);
  // The phones sign their tokens as against a node, so both sides of the comparison pay for it.
  const dir = mkdtempSync(join(tmpdir(), 'hotline-bench-'));
  try {
    return (await hold(bare.callsUrl, dir, o)).figures;
  } finally {
    await bare.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function saturate(url: string, keyDir: string, o: SessionsOptions): Promise<number> {
  const fleet = new Fleet(
    plan(url, keyDir, o.saturatePhones, { window: 8, phonesPerWorker: Math.ceil(o.saturatePhones / 2) }),
  );
  fleet.start();
  await fleet.waitInCall(o.saturatePhones, 60_000);
  await sleep(1000);
  const a = fleet.progress().acked;
  const t0 = Date.now();
  await sleep(o.saturateSeconds * 1000);
  const acked = fleet.progress().acked - a;
  const seconds = (Date.now() - t0) / 1000;
  await fleet.stop();
  return acked / seconds;
}

async function ratioRun(o: SessionsOptions): Promise<{ hotline: number; bare: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-bench-'));
  const node = await startHotline(dir, o.saturatePhones + 100);
  let hotline: number;
  try {
    hotline = await saturate(node.callsUrl, dir, o);
  } finally {
    await node.stop();
  }
  const bareServer = await startProcess(['loadtest/bench/bare-echo.ts'], {}, []);
  try {
    return { hotline, bare: await saturate(bareServer.callsUrl, dir, o) };
  } finally {
    await bareServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function sessionsBench(o: SessionsOptions): Promise<Figure[]> {
  const runs: Awaited<ReturnType<typeof steady>>[] = [];
  const bares: Hold[] = [];
  const ratios: { hotline: number; bare: number }[] = [];
  const registrations: { tokens: number; open: number }[] = [];
  const framePairs: FramePair[] = [];
  for (let r = 0; r < o.runs; r++) {
    log(`run ${r + 1}/${o.runs}: ${o.sessions} sessions at ${o.rate} frame/s`);
    runs.push(await steady(o));
    log(`run ${r + 1}/${o.runs}: the same ${o.sessions} sessions on a bare ws echo server`);
    bares.push(await steadyBare(o));
    log(
      `run ${r + 1}/${o.runs}: saturation, hotline then bare ws (${o.saturatePhones} phones, 8 frames in flight each)`,
    );
    ratios.push(await ratioRun(o));
    log(`run ${r + 1}/${o.runs}: ${o.registrations} registrations at once, with phone tokens, then open`);
    registrations.push({
      tokens: await registrationsPerSecond(o.registrations, true),
      open: await registrationsPerSecond(o.registrations, false),
    });
    log(
      `run ${r + 1}/${o.runs}: ${o.frames} media frames on a node with phone tokens and one with open registration (${PHONES} phones, ${WINDOW} frames in flight each)`,
    );
    framePairs.push(await framePair(o.frames, r));
  }
  const perSecond = (k: 'tokens' | 'open') => Math.round(median(registrations.map((x) => x[k])));
  const m = (f: (x: (typeof runs)[number]) => number) => median(runs.map(f));
  const ratio = median(ratios.map((x) => x.hotline / x.bare));
  return [
    {
      key: 'sessions',
      value: m((x) => x.sessions),
      target: { min: o.sessions },
      label: 'sessions held at once',
    },
    {
      key: 'rss_bytes_per_session',
      value: Math.round(m((x) => x.rssPerSession)),
      target: { max: 15_000 },
      label: 'server RSS per session, bytes',
    },
    {
      key: 'heap_bytes_per_session',
      value: Math.round(m((x) => x.heapPerSession)),
      label: 'server heap per session, bytes',
    },
    {
      key: 'cpu_us_per_session_per_s',
      value: m((x) => x.cpuPerSession),
      label: 'server CPU per session, µs per second',
    },
    { key: 'p50_ms', value: m((x) => x.p50), label: 'media round trip p50, ms' },
    { key: 'p99_ms', value: m((x) => x.p99), target: { max: 50 }, label: 'media round trip p99, ms' },
    {
      key: 'bare_ws_p50_ms',
      value: median(bares.map((x) => x.p50)),
      label: 'same traffic on bare ws echo: round trip p50, ms',
    },
    {
      key: 'bare_ws_p99_ms',
      value: median(bares.map((x) => x.p99)),
      label: 'same traffic on bare ws echo: round trip p99, ms',
    },
    { key: 'dropped_sessions', value: m((x) => x.dropped), target: { max: 0 }, label: 'dropped sessions' },
    {
      key: 'lost_media',
      value: m((x) => x.lost),
      target: { max: 0 },
      label: 'media frames never acknowledged',
    },
    { key: 'ramp_s', value: m((x) => x.rampSeconds), label: 'time to connect and set up all calls, s' },
    {
      key: 'hotline_acks_per_s',
      value: Math.round(median(ratios.map((x) => x.hotline))),
      label: 'saturation: node, acks per second',
    },
    {
      key: 'bare_ws_acks_per_s',
      value: Math.round(median(ratios.map((x) => x.bare))),
      label: 'saturation: bare ws echo, acks per second',
    },
    {
      key: 'ratio_vs_bare_ws',
      value: Math.round(ratio * 1000) / 1000,
      target: { min: 0.7 },
      label: 'throughput ratio node / bare ws',
    },
    {
      key: 'registrations_per_s_token',
      value: perSecond('tokens'),
      label: 'registrations per second, with phone tokens (the default)',
    },
    {
      key: 'registrations_per_s_open',
      value: perSecond('open'),
      label: 'registrations per second, --open-registration (no token)',
    },
    {
      key: 'registration_ratio_token_vs_open',
      value: Math.round(median(registrations.map((x) => x.tokens / x.open)) * 1000) / 1000,
      label: 'registration rate with tokens / without',
    },
    ...frameFigures(framePairs),
  ];
}
