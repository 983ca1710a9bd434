/**
 * `hotline cluster upgrade` as an operator runs it, a child process against three nodes
 * (in this process) with calls up: killed with SIGKILL during the second node's watch
 * window and run again with the same state file, it resumes and finishes; with
 * `--rollback` it rolls back what it had upgraded. Bad usage exits 2.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RolloutEvent, RolloutReport } from '../../server/ops/rollout.ts';
import { readState } from '../../server/ops/rollout-state.ts';
import { type TestNode, tempDataDir } from '../support/test-node.ts';
import { releasesOf, startTraffic, type Traffic, useRolloutCluster } from './rollout-helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cluster = useRolloutCluster(['1.1.0']);

type Line = RolloutEvent | { type: 'report'; report: RolloutReport };

/** Run the CLI; `killWhen` sends it SIGKILL at the first event it accepts. */
function hotline(
  args: string[],
  killWhen?: (e: Line) => boolean,
): Promise<{ code: number | null; signal: string | null; lines: Line[]; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/cli/main.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  let pending = '';
  let stdout = '';
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const text of complete) {
      if (!text.startsWith('{"type":')) continue; // not a --json event line (cluster status)
      const e = JSON.parse(text) as Line;
      lines.push(e);
      if (killWhen?.(e) === true) proc.kill('SIGKILL');
    }
  });
  return new Promise((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal, lines, stdout, stderr })),
  );
}

async function killedDuringSecondWatch(prefix: string) {
  const nodes = await cluster.start(prefix);
  const traffic = await startTraffic(nodes, { echoes: 4, cross: 1 });
  const first = nodes[0] as TestNode;
  const state = join(tempDataDir(), 'rollout.json');
  const args = (...more: string[]) => [
    '--admin-url',
    first.adminUrl,
    '--token',
    first.adminToken,
    'cluster',
    'upgrade',
    '1.1.0',
    '--artifact',
    cluster.artifact('1.1.0'),
    '--state',
    state,
    '--watch',
    '2s',
    '--json',
    ...more,
  ];
  const killed = await hotline(
    args(),
    (e) => e.type === 'install_phase' && e.node === `${prefix}2` && e.phase === 'watch',
  );
  expect(killed.signal, killed.stderr).toBe('SIGKILL');
  // Killed with the first node through and the second in its watch: so the file says.
  const recorded = readState(state);
  expect(recorded).toMatchObject({ version: '1.1.0', outcome: null, phase: 'installing' });
  expect(recorded?.nodes.map((n) => n.status)).toEqual(['installed', 'installing', 'preflighted']);
  return { nodes, traffic, state, args };
}

/** The rerun's report and the state file say `outcome`; every node runs and boots `release`; no call dropped. */
async function endedOn(
  run: { lines: Line[]; state: string; nodes: TestNode[]; traffic: Traffic },
  outcome: RolloutReport['outcome'],
  release: string,
): Promise<void> {
  expect(run.lines.at(-1)).toMatchObject({ type: 'report', report: { outcome } });
  expect(readState(run.state)).toMatchObject({ outcome, phase: 'done' });
  const on = { current: release, permanent: release, sessions: [release] };
  expect(await releasesOf(run.nodes)).toEqual([on, on, on]);
  run.traffic.check();
  await run.traffic.drain();
}

describe('hotline cluster upgrade, killed mid-rollout', () => {
  it('run again with the same state file, it resumes and finishes', async () => {
    const { nodes, traffic, state, args } = await killedDuringSecondWatch('res');
    const rerun = await hotline(args());
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.lines[0]).toMatchObject({ type: 'resumed', version: '1.1.0' });
    // The first node is not installed again; the second is gated on its recorded mark.
    const installing = rerun.lines.filter((e) => e.type === 'installing').map((e) => e.node);
    expect(installing).toEqual(['res3']);
    const gated = rerun.lines.filter((e) => e.type === 'gate_passed').map((e) => e.node);
    expect(gated).toEqual(['res2', 'res3']);
    await endedOn({ lines: rerun.lines, state, nodes, traffic }, 'upgraded', '1.1.0');

    // cluster status: every node and the recorded rollout.
    const status = await hotline([...args().slice(0, 4), 'cluster', 'status', '--state', state]);
    expect(status.code, status.stderr).toBe(0);
    const shown = JSON.parse(status.stdout) as {
      nodes: { node: string; current: string }[];
      rollout: unknown;
    };
    expect(shown.nodes.map((n) => [n.node, n.current])).toEqual([
      ['res1', '1.1.0'],
      ['res2', '1.1.0'],
      ['res3', '1.1.0'],
    ]);
    expect(shown.rollout).toMatchObject({ version: '1.1.0', outcome: 'upgraded' });

    // Nothing left to roll back: bad usage.
    const nothing = await hotline(args('--rollback'));
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/HOT_ERR_ROLLOUT_STATE|no unfinished rollout/);
  }, 180_000);

  it('run again with --rollback, it rolls back what it had upgraded', async () => {
    const { nodes, traffic, state, args } = await killedDuringSecondWatch('rb');
    const rerun = await hotline(args('--rollback'));
    expect(rerun.code, rerun.stderr).toBe(1);
    const back = rerun.lines.filter((e) => e.type === 'rolled_back').map((e) => e.node);
    expect(back).toEqual(['rb2', 'rb1']);
    await endedOn({ lines: rerun.lines, state, nodes, traffic }, 'rolled_back', '1.0.0');
  }, 180_000);

  it('bad usage exits 2', async () => {
    const bad = await hotline(['cluster', 'upgrade', '1.1.0', '--watch', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/duration/);
  }, 30_000);
});
