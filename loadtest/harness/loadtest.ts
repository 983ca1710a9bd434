/**
 * The load harness as a function: start (or reach) a node or a cluster, run the phones,
 * install releases on schedule (rolled out node by node over a cluster), write report.json
 * and report.html. `main.ts` is its command line; the demo and the tests call it directly.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { InvalidArgumentError } from 'commander';
import ms from 'ms';
import { defaultSettings } from '../../server/node/settings.ts';
import { AdminClient } from '../../server/ops/admin-client.ts';
import { discoverCluster, namedNodes } from './discover.ts';
import { type ManagedCluster, startManagedCluster } from './managed-cluster.ts';
import { ManagedNode } from './managed-node.ts';
import { orchestratorRollOut } from './orchestrator.ts';
import { renderReportHtml } from './report-html.ts';
import type { RunMode, RunReport } from './report-model.ts';
import { type ClusterNode, type ClusterRun, type NodeTarget, type RunOptions, runLoad } from './run.ts';

export const seconds = (value: string): number => {
  const v = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : ms(value as ms.StringValue);
  if (typeof v !== 'number' || !(v >= 0))
    throw new InvalidArgumentError('expected a duration like 500ms, 20s or 2m');
  return v / 1000;
};
export const count = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
};
export const positive = (value: string): number => {
  const n = Number(value);
  if (!(n > 0)) throw new InvalidArgumentError('expected a number > 0');
  return n;
};
export const list = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',')];
export const share = (value: string): number => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a share from 0 to 1');
  return n;
};

export interface LoadtestOptions {
  /** One node's phone endpoint, or (with as many adminUrl) one per node of a cluster. */
  url?: string[];
  adminUrl?: string[];
  token?: string;
  /** With --url or --cluster: the data directory whose phone key the nodes trust (default: npm start's). */
  phoneKeyDir?: string;
  /** Find the nodes from adminUrl's GET /admin/cluster. */
  cluster?: boolean;
  /** Start a local cluster of this many nodes (more than 1) instead of one node. */
  nodes?: number;
  /** Share of two-party calls to a callee on another node, over several nodes. */
  crossNode?: number;
  sessions: number;
  ramp: number;
  duration: number;
  upgradeAt: string[];
  release: string[];
  rollbackAt?: number;
  mode: RunMode;
  /** Handoff mode: the successor's entry point (another checkout's server/main.ts). */
  entry?: string;
  out: string;
  rate: number;
  meanCall: number;
  watch: number;
  phonesPerWorker: number;
  sourceAddresses: number;
  maxDropped?: number;
  maxLostMedia?: number;
  maxP99Ms?: number;
  quiet?: boolean;
}

/**
 * When to install what. In handoff mode each --upgrade-at is a handoff of the node's process
 * (the session code stays: no --release), with no rollback.
 */
export function plannedUpgrades(o: LoadtestOptions): { release: string; atSeconds: number }[] {
  if (o.mode === 'handoff') {
    if (o.release.length > 0)
      throw new InvalidArgumentError(
        '--mode handoff replaces the node, not its release: leave out --release',
      );
    if (o.rollbackAt !== undefined) throw new InvalidArgumentError('--mode handoff has no --rollback-at');
    return o.upgradeAt.map((at) => ({ release: '', atSeconds: seconds(at) }));
  }
  if (o.entry !== undefined) throw new InvalidArgumentError('--entry is for --mode handoff');
  if (o.release.length !== o.upgradeAt.length)
    throw new InvalidArgumentError('give one --upgrade-at time for each --release');
  return o.release.map((release, i) => ({ release, atSeconds: seconds(o.upgradeAt[i] as string) }));
}

/** Phones over these nodes; releases rolled out by the orchestrator, through the first node. */
function clusterRun(nodes: ClusterNode[], first: NodeTarget, o: LoadtestOptions): ClusterRun {
  return {
    nodes,
    crossNode: o.crossNode ?? 0.5,
    rollOut: orchestratorRollOut({ adminUrl: first.adminUrl, token: first.token, watchMs: o.watch * 1000 }),
  };
}

/** Run as the options say; returns the report (written to --out). */
export async function loadtest(o: LoadtestOptions): Promise<RunReport> {
  const upgrades = plannedUpgrades(o);
  let managed: ManagedNode | undefined;
  let managedCluster: ManagedCluster | undefined;
  let dataDir: string | undefined;
  let target: NodeTarget;
  let keyDir = o.phoneKeyDir ?? defaultSettings.dataDir;
  let cluster: ClusterRun | undefined;
  const several = (o.nodes ?? 1) > 1 || o.cluster === true || (o.url?.length ?? 0) > 1;
  if (several && o.mode !== 'hot')
    throw new InvalidArgumentError(
      `--mode ${o.mode} is for one node; over several nodes upgrades roll out hot`,
    );
  if (several && o.rollbackAt !== undefined)
    throw new InvalidArgumentError(
      '--rollback-at is for one node; a rollout rolls back by itself on failure',
    );
  if ((o.nodes ?? 1) > 1) {
    managedCluster = await startManagedCluster({
      nodes: o.nodes as number,
      maxSessions: o.sessions + 100,
      releases: o.release,
    });
    target = managedCluster.nodes[0] as NodeTarget;
    keyDir = managedCluster.local.keyDir;
    cluster = clusterRun(managedCluster.nodes, target, o);
  } else if (o.url === undefined && o.cluster !== true) {
    dataDir = mkdtempSync(join(tmpdir(), 'hotline-loadtest-'));
    managed = await ManagedNode.start(
      dataDir,
      ['--max-sessions', String(o.sessions + 100)],
      o.mode === 'handoff',
    );
    for (const release of new Set(o.release)) await managed.upload(release);
    target = managed;
    keyDir = dataDir;
  } else {
    if (o.adminUrl === undefined || o.token === undefined)
      throw new InvalidArgumentError('--url and --cluster need --admin-url and --token');
    if (o.mode === 'restart')
      throw new InvalidArgumentError('--mode restart needs a node the harness starts (leave out --url)');
    if (several) {
      const nodes =
        o.cluster === true
          ? await discoverCluster(o.adminUrl[0] as string, o.token)
          : await namedNodes(o.url ?? [], o.adminUrl, o.token);
      target = nodes[0] as NodeTarget;
      cluster = clusterRun(nodes, target, o);
    } else target = { url: o.url?.[0] as string, adminUrl: o.adminUrl[0] as string, token: o.token };
  }
  const total = o.ramp + o.duration;
  const bar = o.quiet
    ? undefined
    : new SingleBar({
        format:
          ' {bar} {value}/{total}s | {connected} sessions | {cps} calls/s | p99 {p99} ms | {dropped} dropped | {phase}',
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 5000,
      });
  bar?.start(total, 0, { connected: 0, cps: 0, p99: '-', dropped: 0, phase: '' });
  const options: RunOptions = {
    node: target,
    keyDir,
    ...(cluster === undefined ? {} : { cluster }),
    sessions: o.sessions,
    rampSeconds: o.ramp,
    durationSeconds: o.duration,
    upgrades,
    rollbackAtSeconds: o.rollbackAt ?? null,
    mode: o.mode,
    ...(o.entry === undefined ? {} : { handoffEntry: o.entry }),
    mediaRate: o.rate,
    meanCallSeconds: o.meanCall,
    // At least one worker per core: the phones' own CPU must not be one core's worth.
    phonesPerWorker: Math.min(o.phonesPerWorker, Math.ceil(o.sessions / availableParallelism())),
    sourceAddresses: o.sourceAddresses,
    fromRelease: '1.0.0',
    watchMs: o.watch * 1000,
    userPrefix: `lt${Date.now().toString(36)}-`,
    thresholds: {
      ...(o.maxDropped === undefined ? {} : { maxDropped: o.maxDropped }),
      ...(o.maxLostMedia === undefined ? {} : { maxLostMedia: o.maxLostMedia }),
      ...(o.maxP99Ms === undefined ? {} : { maxP99Ms: o.maxP99Ms }),
    },
    onSecond: (p, s) =>
      bar?.update(Math.min(p.t, total), {
        connected: p.connected,
        cps: p.callsStarted,
        p99: p.rttP99 ?? '-',
        dropped: s.dropped,
        phase: p.phase ?? '',
      }),
  };
  try {
    const admin = new AdminClient(target.adminUrl, target.token);
    options.fromRelease = (await admin.get<{ current: string }>('/admin/releases')).current;
    const report = await runLoad(options);
    bar?.stop();
    const out = resolve(o.out);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'report.json'), JSON.stringify(report, null, 2));
    writeFileSync(join(out, 'report.html'), renderReportHtml(report));
    return report;
  } finally {
    bar?.stop();
    await managed?.stop();
    await managedCluster?.local.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  }
}
