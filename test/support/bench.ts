/**
 * `npm run bench -- <args>` as a user runs it (`node --expose-gc --import tsx
 * loadtest/bench/main.ts`), in a process group of its own: whatever the bench started goes
 * with it, ended as a group when the test ends, passed or failed or timed out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface BenchExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function endGroup(proc: ChildProcess): void {
  try {
    process.kill(-(proc.pid as number), 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

/** Its exit code and output, once it has ended. Call it inside a test. */
export function runBench(...args: string[]): Promise<BenchExit> {
  const proc = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', 'loadtest/bench/main.ts', ...args],
    {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  onTestFinished(() => endGroup(proc));
  let stdout = '';
  let stderr = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The figures a bench run prints with `--json` (its last line); a run that fails fails the test with its stderr. */
export async function benchFigures(...args: string[]): Promise<Record<string, unknown>> {
  const run = await runBench(...args, '--json');
  if (run.code !== 0)
    throw new Error(`npm run bench -- ${args.join(' ')} exited ${run.code}:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}
