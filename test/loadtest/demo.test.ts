/**
 * `npm run demo -- --nodes 3` as a user runs it (fewer phones): a local cluster starts, 1.1.0
 * is rolled out node by node under load, and it prints the summary, a row per node and where
 * the report is; the report says every node upgraded with nothing dropped, and the demo
 * exits on its own, leaving no node behind.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { RunReport } from '../../loadtest/harness/report-model.ts';
import { tempDataDir } from '../support/test-node.ts';

const root = new URL('../..', import.meta.url);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('npm run demo -- --nodes 3: a rolling upgrade under load, nothing dropped, every node on 1.1.0', async () => {
  const out = tempDataDir();
  dirs.push(out);
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'loadtest/demo/main.ts', '--nodes', '3', '--sessions', '150', '--out', out],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let text = '';
  proc.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  expect(code, text).toBe(0);
  expect(text).toContain('release 1.1.0 rolled out node by node');
  for (const node of ['node1', 'node2', 'node3']) expect(text).toMatch(new RegExp(`│ ${node} `));
  expect(text).toContain(`report: ${join(out, 'rolling', 'report.html')}`);

  const report = JSON.parse(readFileSync(join(out, 'rolling', 'report.json'), 'utf8')) as RunReport;
  expect(report.summary).toMatchObject({ droppedSessions: 0, droppedCalls: 0, lostMedia: 0 });
  expect(report.summary.cdr.matched).toBe(report.summary.cdr.checked);
  expect(report.cluster?.rollout).toMatchObject({ release: '1.1.0', outcome: 'upgraded' });
  expect(report.cluster?.nodes.map((n) => n.install?.outcome)).toEqual(['upgraded', 'upgraded', 'upgraded']);
  expect(report.cluster?.crossNodeCalls.completed).toBeGreaterThan(0);
}, 240_000);
