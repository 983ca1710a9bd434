/**
 * The watchdog on its own, in a child process (it ends the process it watches): it fires on
 * an event loop stuck in a callback, writes down what ran, and ends the process with its
 * signal; it does not fire on a loop that is busy but turns.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readWatchdogLog, WATCHDOG_SIGNAL, watchdogLogPath } from '../../server/node/watchdog-log.ts';
import { tempDataDir } from '../support/test-node.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const WATCHDOG_MS = 1000;

interface Run {
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number };
  lines: Record<string, unknown>[];
  stderr: string;
}

/** `pauseMs`: stop the whole process (SIGSTOP) that long once it is ready, then let it go on. */
function runTarget(mode: 'block' | 'busy', dataDir: string, pauseMs = 0): Promise<Run> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/node/watchdog-target.ts', String(WATCHDOG_MS), mode, dataDir],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    if (pauseMs > 0 && !out.includes('ready') && c.includes('ready')) {
      child.kill('SIGSTOP');
      setTimeout(() => child.kill('SIGCONT'), pauseMs);
    }
    out += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const lines = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ exit: { code, signal, at: Date.now() }, lines, stderr });
    });
  });
}

describe('watchdog', () => {
  it('fires on a callback that never returns: writes down what ran, then ends the process', async () => {
    const dir = tempDataDir();
    const run = await runTarget('block', dir);
    expect(run.exit.signal, run.stderr).toBe(WATCHDOG_SIGNAL);
    const ready = run.lines.find((l) => 'ready' in l)?.ready;
    const spinning = run.lines.find((l) => 'spinning' in l)?.spinning as number;
    expect(ready).toMatch(/^<\d+@wd>$/);
    const records = readWatchdogLog(watchdogLogPath(dir));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      type: 'fired',
      node: 'wd',
      inCallback: true,
      pid: ready,
      behaviour: 'spinner',
      version: '9.9.9',
      kind: 'cast',
      message: 'spin',
      probation: '7.7.7',
      watchdogMs: WATCHDOG_MS,
    });
    const fired = records[0] as { stalledMs: number; at: string };
    // It waited the whole time, and did not wait for ever (the bound leaves room for a busy machine).
    expect(fired.stalledMs).toBeGreaterThanOrEqual(WATCHDOG_MS);
    expect(Date.parse(fired.at) - spinning).toBeGreaterThanOrEqual(WATCHDOG_MS);
    expect(run.exit.at - spinning).toBeLessThan(WATCHDOG_MS + 10_000);
    expect(run.stderr).toContain('hotline watchdog: the event loop has not turned');
  });

  it('does not fire on a loop that is busy but turns', async () => {
    const dir = tempDataDir();
    const run = await runTarget('busy', dir);
    expect(run.exit, run.stderr).toMatchObject({ code: 0, signal: null });
    expect(run.lines.some((l) => l.done === true)).toBe(true);
    expect(existsSync(watchdogLogPath(dir))).toBe(false);
  });

  it('does not fire when the whole process was paused (its own thread did not run either)', async () => {
    const dir = tempDataDir();
    const run = await runTarget('busy', dir, 3 * WATCHDOG_MS);
    expect(run.exit, run.stderr).toMatchObject({ code: 0, signal: null });
    expect(existsSync(watchdogLogPath(dir))).toBe(false);
  });
});
