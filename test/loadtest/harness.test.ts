/**
 * The load harness against live nodes it starts itself: a hot upgrade drops nothing and
 * every CDR reconciles; a restart deploy drops what it really drops; a faulty release is
 * rolled back by the node's watch with nothing dropped; thresholds set the exit code.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ManagedNode } from '../../loadtest/harness/managed-node.ts';
import type { RunReport } from '../../loadtest/harness/report-model.ts';
import { type RunOptions, runLoad } from '../../loadtest/harness/run.ts';
import { expectNothingLost, smallRun } from './small-run.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
const nodes: ManagedNode[] = [];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-harness-'));
  dirs.push(dir);
  return dir;
}

async function run(
  releases: string[],
  options: Partial<RunOptions> & Pick<RunOptions, 'upgrades' | 'mode'>,
): Promise<RunReport> {
  const node = await ManagedNode.start(tempDir(), [], options.mode === 'handoff');
  nodes.push(node);
  for (const r of releases) await node.upload(r);
  return runLoad(smallRun(node, node.dataDir, options));
}

describe('load harness', () => {
  it('a hot upgrade mid-traffic: no drop, no loss, every completed call has its exact CDR', async () => {
    const r = await run(['1.1.0'], { mode: 'hot', upgrades: [{ atSeconds: 4, release: '1.1.0' }] });
    const s = r.summary;
    expect(s.installOutcome).toBe('installed');
    expectNothingLost(s);
    expect(s.callsCompleted).toBeGreaterThan(10);
    expect(s.rttMs.count).toBeGreaterThan(100);
    // The timeline shows the sessions moving from one release to the other (on a loaded
    // machine the ramp may still be going when the install starts: not all 60 before it).
    expect(r.timeline.some((p) => (p.releases['1.0.0'] ?? 0) > 0 && p.releases['1.1.0'] === undefined)).toBe(
      true,
    );
    expect(r.timeline.some((p) => p.releases['1.1.0'] === 60)).toBe(true);
    expect(r.marks.map((m) => m.label)).toEqual(
      expect.arrayContaining(['install 1.1.0', 'commit', 'installed']),
    );
    expect(r.thresholds).toEqual([{ name: 'max-dropped', limit: 0, value: 0, passed: true }]);
  }, 60_000);

  it('a restart deploy: the drops it really causes, and the time to recover', async () => {
    // Long enough after the restart for the node to boot and the phones to come back.
    const r = await run(['1.1.0'], {
      mode: 'restart',
      upgrades: [{ atSeconds: 4, release: '1.1.0' }],
      durationSeconds: 12,
    });
    const s = r.summary;
    expect(s.installOutcome).toBe('restarted');
    // Every phone connected when the node went down lost its socket; the calls up were cut.
    const restartAt = r.marks.find((m) => m.label.startsWith('restart'))?.t ?? 0;
    const before = r.timeline.filter((p) => p.t <= restartAt).at(-1);
    expect(before?.connected, JSON.stringify(r.timeline)).toBeGreaterThan(50);
    expect(s.droppedSessions).toBe(before?.connected);
    expect(s.droppedCalls, JSON.stringify(s)).toBeGreaterThan(0);
    expect(s.recoverMs, JSON.stringify(s)).toBeGreaterThan(0);
    expect(r.thresholds[0]?.passed, JSON.stringify(r.thresholds)).toBe(false);
    // After the restart the phones are back, on the new release, and calls reconcile.
    expect(r.timeline.some((p) => p.releases['1.1.0'] === 60)).toBe(true);
    expect(s.cdr.matched).toBe(s.cdr.checked);
  }, 60_000);

  it("two handoffs of the node's process mid-traffic: no drop, no media lost, every completed call has its exact CDR", async () => {
    const r = await run([], {
      mode: 'handoff',
      upgrades: [
        { atSeconds: 3, release: '' },
        { atSeconds: 6, release: '' },
      ],
      durationSeconds: 10,
    });
    const s = r.summary;
    expect(s.installOutcome).toBe('handed_off');
    // Calls that end while their caller's session has moved and the CDR journal has not yet
    // (it moves with the last batch) reach it by name all the same: each CDR once, exact.
    expectNothingLost(s);
    expect(s.callsCompleted).toBeGreaterThan(10);
    // Each handoff moved the phones connected then to a new process; the second started from the first's successor.
    expect(r.handoffs?.length).toBe(2);
    const [first, second] = r.handoffs ?? [];
    expect(second?.from).toBe(first?.to);
    // Both moved the phones connected then, with their sockets.
    for (const h of r.handoffs ?? []) expect(h.sockets, JSON.stringify(r.handoffs)).toBeGreaterThan(0);
    expect(r.marks.map((m) => m.label)).toEqual(
      expect.arrayContaining(['handoff', `handed off: pid ${first?.from} → ${first?.to}`]),
    );
    expect(s.rttP99DuringInstallMs).not.toBeNull();
    expect(r.timeline.at(-2)?.releases).toEqual({ '1.0.0': 60 });
  }, 120_000);

  it('a release whose handlers crash: rolled back by the watch, nothing dropped', async () => {
    const r = await run(['1.2.0-faulty-crash'], {
      mode: 'hot',
      upgrades: [{ atSeconds: 3, release: '1.2.0-faulty-crash' }],
      watchMs: 5000,
      durationSeconds: 8,
    });
    const s = r.summary;
    expect(s.installOutcome).toBe('rolled_back');
    expect(r.marks.map((m) => m.label)).toEqual(expect.arrayContaining(['rolling_back', 'rolled_back']));
    expect(s).toMatchObject({ droppedSessions: 0, droppedCalls: 0, lostMedia: 0 });
    expect(s.cdr.matched).toBe(s.cdr.checked);
    expect(r.timeline.at(-2)?.releases).toEqual({ '1.0.0': 60 });
  }, 60_000);

  it('--rollback-at rolls a hot install back while it is watched, nothing dropped', async () => {
    const r = await run(['1.1.0'], {
      mode: 'hot',
      upgrades: [{ atSeconds: 3, release: '1.1.0' }],
      rollbackAtSeconds: 5,
      watchMs: 30_000,
    });
    const s = r.summary;
    expect(s.installOutcome).toBe('rolled_back');
    expect(r.marks.map((m) => m.label)).toEqual(
      expect.arrayContaining(['install 1.1.0', 'rollback', 'rolled_back']),
    );
    expect(r.timeline.some((p) => p.releases['1.1.0'] === 60)).toBe(true);
    expect(r.timeline.at(-2)?.releases).toEqual({ '1.0.0': 60 });
    expect(s).toMatchObject({ droppedSessions: 0, droppedCalls: 0, lostMedia: 0 });
    expect(s.cdr.matched).toBe(s.cdr.checked);
  }, 60_000);

  it('the command line writes the reports and exits 1 when a threshold is breached', async () => {
    const out = tempDir();
    const args = ['--sessions', '20', '--ramp', '1s', '--duration', '3s', '--rate', '5', '--mean-call', '1s'];
    const result = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'loadtest/harness/main.ts',
        ...args,
        '--quiet',
        '--max-p99-ms',
        '0.001',
        '--out',
        out,
      ],
      { cwd: root },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/threshold max-p99-ms breached/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as RunReport;
    expect(report.thresholds).toEqual([expect.objectContaining({ name: 'max-p99-ms', passed: false })]);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 60_000);
});
