/**
 * `npm run bench -- rollout --sessions N`: a rolling upgrade 1.0.0 → 1.1.0 of a three-node
 * cluster (NATS on loopback, each node its own process, trusting a key made for the run)
 * holding N phones in echo calls with media, spread evenly over the nodes, driven by the
 * load fleet. Per run: the media round trip over a steady stretch (one fleet), then the
 * same load again (a second fleet) through the rollout — time per node and in all, each
 * node's commit, sessions dropped, frames lost, and the round trip during the rollout.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { progressLine } from '../../server/cli/cluster-commands.ts';
import { startNatsServer } from '../../server/dev/nats-server.ts';
import { defaultThresholds } from '../../server/ops/health-gate.ts';
import { discover, type RolloutEvent, type RolloutReport, rollOut } from '../../server/ops/rollout.ts';
import { buildRelease } from '../../server/release/build.ts';
import type { InstallProgress } from '../../server/release/installer.ts';
import { devKeyPair, devKeyPaths } from '../../server/release/keys.ts';
import { Fleet, type FleetResult } from '../client/fleet.ts';
import { latencyMs, newHistogram } from '../client/histogram.ts';
import { type NodeProcess, startNodeProcess } from '../client/node-process.ts';
import { type Figure, median } from './report.ts';
import { log, plan } from './sessions.ts';

const TOKEN = 'bench-token';
const NODES = 3;

export interface RolloutBenchOptions {
  sessions: number;
  rate: number;
  runs: number;
  watchMs: number;
  steadySeconds: number;
}

interface Run {
  outcome: RolloutReport['outcome'];
  totalS: number;
  perNodeS: number[];
  commitMs: number[];
  dropped: number;
  lost: number;
  steadyP99: number;
  rolloutP99: number;
  gateDropped: number;
}

/** One fleet per node, its users named apart (the directory is cluster-wide); resolves once all are in calls. */
async function load(
  nodes: NodeProcess[],
  o: RolloutBenchOptions,
  tag: string,
  keyDir: string,
): Promise<Fleet[]> {
  const per = Math.ceil(o.sessions / nodes.length);
  const fleets: Fleet[] = [];
  // One node's ramp at a time, a few handshakes at once: three ramps together on two cores
  // time out WebSocket handshakes (the fleet does not retry them).
  for (const [i, n] of nodes.entries()) {
    const f = new Fleet(
      plan(n.callsUrl, keyDir, per, {
        ratePerPhone: o.rate,
        userPrefix: `${tag}${i}_`,
        connectConcurrency: 16,
      }),
    );
    fleets.push(f);
    f.start();
    await f.waitInCall(per, 300_000);
    log(`  node${i + 1}: ${per} phones in calls`);
  }
  await sleep(2000);
  for (const f of fleets) f.resetLatency();
  return fleets;
}

async function stopAll(fleets: Fleet[]): Promise<{ dropped: number; lost: number; p99: number }> {
  const results: FleetResult[] = await Promise.all(fleets.map((f) => f.stop()));
  const h = newHistogram();
  for (const r of results) h.add(r.histogram);
  return {
    dropped: results.reduce((n, r) => n + r.dropped, 0),
    lost: results.reduce((n, r) => n + r.lost, 0),
    p99: latencyMs(h).p99,
  };
}

async function oneRun(o: RolloutBenchOptions, r: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-bench-rollout-'));
  const keys = generateKeyPairSync('ed25519');
  const pem = join(dir, 'signer.pub.pem');
  writeFileSync(pem, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  // Every node trusts one phone key, made here: the fleets' tokens come from it.
  devKeyPair(dir, 'phone-signing');
  const phoneKey = devKeyPaths(dir, 'phone-signing').publicKey;
  const { path: artifactPath } = await buildRelease({
    entry: fileURLToPath(new URL('../../server/calls/releases/1.1.0/index.ts', import.meta.url)),
    version: '1.1.0',
    name: 'hotline-calls',
    keys,
    outDir: dir,
  });
  const nats = await startNatsServer();
  const nodes: NodeProcess[] = [];
  try {
    for (let i = 1; i <= NODES; i++) {
      const data = join(dir, `node${i}`);
      nodes.push(
        await startNodeProcess(
          [
            '--node',
            `node${i}`,
            '--cluster',
            nats.url,
            '--data-dir',
            data,
            '--trusted-key',
            pem,
            '--phone-keys',
            phoneKey,
          ],
          { HOTLINE_ADMIN_TOKEN: TOKEN, HOTLINE_MEDIA_TIMEOUT_MS: '600000', HOTLINE_MAX_SESSIONS: '19000' },
        ),
      );
    }
    const first = nodes[0] as NodeProcess;
    for (;;) {
      const found = await discover(first.adminUrl, TOKEN).catch(() => []);
      if (found.length === NODES) break;
      await sleep(200);
    }
    log(`run ${r}: steady, ${o.sessions} sessions for ${o.steadySeconds} s`);
    const steadyFleets = await load(nodes, o, `s${r}n`, dir);
    await sleep(o.steadySeconds * 1000);
    const steady = await stopAll(steadyFleets);
    log(`  steady: p99 ${steady.p99} ms, ${steady.dropped} dropped`);

    log(`run ${r}: rollout under ${o.sessions} sessions`);
    const fleets = await load(nodes, o, `r${r}n`, dir);
    const startedAt = new Map<string, number>();
    const perNode: number[] = [];
    const t0 = performance.now();
    const report = await rollOut({
      version: '1.1.0',
      adminUrl: first.adminUrl,
      token: TOKEN,
      watchMs: o.watchMs,
      gate: defaultThresholds,
      artifactPath,
      onEvent: (e: RolloutEvent) => {
        log(`  ${progressLine(e)}`);
        if (e.type === 'installing') startedAt.set(e.node, performance.now());
        if (e.type === 'gate_passed')
          perNode.push((performance.now() - (startedAt.get(e.node) ?? t0)) / 1000);
      },
    });
    const totalS = (performance.now() - t0) / 1000;
    const during = await stopAll(fleets);
    const commitMs = await Promise.all(
      nodes.map(async (n) => {
        const res = await fetch(`${n.adminUrl}/admin/install`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        const { install } = (await res.json()) as { install: InstallProgress };
        return install.phases.find((p) => p.phase === 'commit')?.ms ?? Number.NaN;
      }),
    );
    return {
      outcome: report.outcome,
      totalS,
      perNodeS: perNode,
      commitMs,
      dropped: during.dropped,
      lost: during.lost,
      steadyP99: steady.p99,
      rolloutP99: during.p99,
      gateDropped: report.nodes.reduce((n, x) => n + (x.verdict?.dropped ?? 0), 0),
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function rolloutBench(o: RolloutBenchOptions): Promise<Figure[]> {
  const runs: Run[] = [];
  for (let r = 1; r <= o.runs; r++) runs.push(await oneRun(o, r));
  const m = (f: (x: Run) => number) => median(runs.map(f));
  return [
    {
      key: 'upgraded_runs',
      value: runs.filter((x) => x.outcome === 'upgraded').length,
      target: { min: o.runs },
      label: 'runs that upgraded every node',
    },
    { key: 'rollout_s', value: m((x) => x.totalS), label: 'whole rollout, s (3 nodes)' },
    {
      key: 'per_node_s',
      value: median(runs.flatMap((x) => x.perNodeS)),
      label: 'per node: install to gate passed, s',
    },
    { key: 'commit_ms', value: median(runs.flatMap((x) => x.commitMs)), label: 'per node: commit phase, ms' },
    { key: 'dropped_sessions', value: m((x) => x.dropped), target: { max: 0 }, label: 'sessions dropped' },
    {
      key: 'lost_media',
      value: m((x) => x.lost),
      target: { max: 0 },
      label: 'media frames never acknowledged',
    },
    {
      key: 'gate_dropped_calls',
      value: m((x) => x.gateDropped),
      label: "calls dropped by the nodes' own count",
    },
    { key: 'steady_p99_ms', value: m((x) => x.steadyP99), label: 'media round trip p99, steady, ms' },
    {
      key: 'rollout_p99_ms',
      value: m((x) => x.rolloutP99),
      label: 'media round trip p99, during the rollout, ms',
    },
  ];
}
