/**
 * `hotline cluster upgrade <version>` and `hotline cluster status`: the rolling upgrade of
 * server/ops/rollout.ts, with a progress line per node and phase (or JSON lines).
 * Exit codes: 0 upgraded, 1 rolled back or failed, 2 bad usage (including a state file
 * that records another unfinished rollout).
 */
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { HotlineError } from '../errors/catalogue.ts';
import { AdminClient } from '../ops/admin-client.ts';
import { defaultThresholds, type GateVerdict } from '../ops/health-gate.ts';
import { discover, type RolloutEvent, rollOut } from '../ops/rollout.ts';
import { readState } from '../ops/rollout-state.ts';
import type { ReleaseList } from '../release/handler.ts';
import { wholeNumber as count, duration } from './arguments.ts';

export interface AdminAccess {
  adminUrl: string;
  token: string;
  dataDir: string;
}

const stateOption = () =>
  new Option('--state <file>', 'the recorded progress (default: <data-dir>/rollout.json)');

const verdictText = (v: GateVerdict): string =>
  `${v.dropped} dropped, ${v.crashes} crashed, ${v.errors} errors, p99 ${v.p99Ms ?? '-'} ms over ${(v.windowMs / 1000).toFixed(1)} s`;

/** One progress line per event: node first, so a node's steps read down a column. */
export function progressLine(e: RolloutEvent): string {
  const at = (node: string) => node.padEnd(12);
  switch (e.type) {
    case 'discovered':
      return `rollout ${e.id}: ${e.version} on ${e.nodes.map((n) => `${n.node} (${n.release})`).join(', ')}`;
    case 'resumed':
      return `resuming ${e.id} (${e.version}): ${e.nodes.map((n) => `${n.node} ${n.status}`).join(', ')}`;
    case 'unpacked':
      return `${at(e.node)} unpacked${e.uploaded ? ' (uploaded)' : ''}`;
    case 'preflighted':
      return `${at(e.node)} preflight ok (${e.total} processes)`;
    case 'preflight_failed':
      return `${at(e.node)} PREFLIGHT FAILED: ${e.error}${e.failures.map((f) => `\n${at('')}   ${f.pid} ${f.module}: ${f.error}`).join('')}`;
    case 'installing':
      return `${at(e.node)} installing ${e.from} → ${e.to}`;
    case 'install_phase':
      return `${at(e.node)}   ${e.phase.padEnd(12)} ${e.moved}/${e.total} moved`;
    case 'gate_passed':
      return `${at(e.node)} gate ok: ${verdictText(e.verdict)}`;
    case 'gate_failed':
      return `${at(e.node)} GATE FAILED: ${e.reason}`;
    case 'rolling_back':
      return `${at(e.node)} rolling back to ${e.to}`;
    case 'rolled_back':
      return `${at(e.node)} back on ${e.release}`;
    case 'rollback_failed':
      return `${at(e.node)} ROLLBACK FAILED: ${e.error}`;
    case 'permanent':
      return `${at(e.node)} ${e.release} permanent`;
    case 'done':
      return `${e.outcome}${e.reason === null ? '' : `: ${e.reason}`}`;
  }
}

export function addClusterCommands(program: Command, access: () => AdminAccess): void {
  const cluster = program.command('cluster').description('every node of the cluster at once');
  cluster
    .command('upgrade <version>')
    .description(
      'rolling upgrade: unpack and preflight on every node, then install node by node behind a health gate; roll back on failure',
    )
    .addOption(
      new Option('--watch <duration>', 'watch window per node').default(10_000, '10s').argParser(duration),
    )
    .option('--artifact <file>', 'signed artifact uploaded to nodes that lack the release')
    .addOption(stateOption())
    .option('--rollback', 'roll back the unfinished rollout recorded in the state file')
    .addOption(
      new Option('--max-dropped <n>', 'calls dropped per node window')
        .default(defaultThresholds.maxDropped)
        .argParser(count),
    )
    .addOption(
      new Option('--max-crashes <n>', 'session crashes per node window')
        .default(defaultThresholds.maxCrashes)
        .argParser(count),
    )
    .addOption(
      new Option('--max-errors <n>', 'errors sessions report (requests the node failed) per node window')
        .default(defaultThresholds.maxErrors)
        .argParser(count),
    )
    .addOption(
      new Option('--max-p99-ms <n>', 'session processing p99 per node window')
        .default(defaultThresholds.maxP99Ms)
        .argParser(count),
    )
    .addOption(
      new Option('--max-setup-p99-ms <n>', 'call setup p99 per node window (not gated by default)').argParser(
        count,
      ),
    )
    .option('--json', 'JSON lines: one per event, then the report')
    .action(
      async (
        version: string,
        o: {
          watch: number;
          artifact?: string;
          state?: string;
          rollback?: boolean;
          maxDropped: number;
          maxCrashes: number;
          maxErrors: number;
          maxP99Ms: number;
          maxSetupP99Ms?: number;
          json?: boolean;
        },
      ) => {
        const { adminUrl, token, dataDir } = access();
        const out = (text: string) => process.stdout.write(`${text}\n`);
        const report = await rollOut({
          version,
          adminUrl,
          token,
          watchMs: o.watch,
          gate: {
            maxDropped: o.maxDropped,
            maxCrashes: o.maxCrashes,
            maxErrors: o.maxErrors,
            maxP99Ms: o.maxP99Ms,
            ...(o.maxSetupP99Ms === undefined ? {} : { maxSetupP99Ms: o.maxSetupP99Ms }),
          },
          ...(o.artifact === undefined ? {} : { artifactPath: o.artifact }),
          stateFile: o.state ?? join(dataDir, 'rollout.json'),
          rollback: o.rollback === true,
          onEvent: (e) => out(o.json === true ? JSON.stringify(e) : progressLine(e)),
        });
        if (o.json === true) out(JSON.stringify({ type: 'report', report }));
        if (report.outcome !== 'upgraded') process.exitCode = 1;
      },
    );
  cluster
    .command('status')
    .description('each node: its release, the permanent one, any install; and the recorded rollout')
    .addOption(stateOption())
    .action(async (o: { state?: string }) => {
      const { adminUrl, token, dataDir } = access();
      const nodes = await Promise.all(
        (await discover(adminUrl, token)).map(async (n) => {
          const list = await new AdminClient(n.adminUrl, token).get<ReleaseList>('/admin/releases');
          const install =
            list.install === null ? null : `${list.install.to} ${list.install.outcome ?? list.install.phase}`;
          return {
            node: n.node,
            current: list.current,
            permanent: list.permanent,
            install,
            adminUrl: n.adminUrl,
          };
        }),
      );
      const stateFile = o.state ?? join(dataDir, 'rollout.json');
      const state = readState(stateFile);
      const rollout =
        state === null
          ? null
          : {
              id: state.id,
              version: state.version,
              phase: state.phase,
              outcome: state.outcome,
              reason: state.reason,
              nodes: Object.fromEntries(state.nodes.map((n) => [n.node, `${n.status} (from ${n.from})`])),
            };
      process.stdout.write(`${JSON.stringify({ nodes, rollout, stateFile }, null, 2)}\n`);
    });
}

/** Usage errors exit 2; so does a state file that does not allow the command. */
export function isUsageError(err: unknown): boolean {
  return HotlineError.is(err, 'HOT_ERR_ROLLOUT_STATE') || HotlineError.is(err, 'HOT_ERR_BAD_VERSION');
}
