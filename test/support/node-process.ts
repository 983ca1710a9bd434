/** A node as a child process (`npm start`'s entry point), killed after each test if it is still running. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PhoneTokenSource } from '../../loadtest/client/phone.ts';
import type { AdminTarget } from './cdrs.ts';
import { tokensFor } from './phone-tokens.ts';

export interface NodeProcess extends AdminTarget {
  proc: ChildProcess;
  callsUrl: string;
  httpUrl: string;
  /** Phone tokens signed with the node's phone key (in its data directory). */
  tokens: PhoneTokenSource;
  /** recoveredCdrs from the node's "up" log line. */
  recovered: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it wrote, for failure messages. */
  output(): string;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const nodeProcesses = new Set<NodeProcess>();

/**
 * `node --import tsx server/main.ts` on ephemeral ports, as `npm start` runs it; `args` adds
 * flags. `ownGroup`: in a process group of its own, as a supervisor starts a service.
 * `entry`: `server/keeper.ts` runs the node under the keeper, as `npm start` does (`proc` is the keeper).
 */
export function spawnNodeProcess(
  dataDir: string,
  args: string[] = [],
  timeoutMs = 20_000,
  { ownGroup = false, entry = 'server/main.ts' }: { ownGroup?: boolean; entry?: string } = {},
): Promise<NodeProcess> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', entry, '--port', '0', '--admin-port', '0', '--data-dir', dataDir, ...args],
    {
      cwd: repoRoot,
      env: { ...process.env, HOTLINE_ADMIN_TOKEN: 'test-token', HOTLINE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: ownGroup,
    },
  );
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`node process did not come up within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    let pendingText = '';
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      pendingText += chunk;
      const lines = pendingText.split('\n');
      pendingText = lines.pop() ?? '';
      for (const text of lines) {
        let l: { calls?: string; http?: string; admin?: string; recoveredCdrs?: number };
        try {
          l = JSON.parse(text) as typeof l;
        } catch {
          continue;
        }
        if (l.calls === undefined || l.admin === undefined || l.http === undefined) continue;
        clearTimeout(timer);
        const node: NodeProcess = {
          proc,
          callsUrl: l.calls,
          httpUrl: l.http,
          tokens: tokensFor(dataDir),
          adminUrl: l.admin,
          adminToken: 'test-token',
          recovered: l.recoveredCdrs ?? 0,
          exited,
          output: () => out,
        };
        nodeProcesses.add(node);
        void exited.then(() => nodeProcesses.delete(node));
        resolve(node);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`node process exited (${code ?? signal}) before it was up:\n${out}`));
    });
  });
}

/** SIGKILL every node process still running (afterEach). */
export async function reapNodeProcesses(): Promise<void> {
  const running = [...nodeProcesses];
  for (const n of running) n.proc.kill('SIGKILL');
  for (const pid of successors) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  successors.clear();
  await Promise.all(running.map((n) => n.exited));
}

const successors = new Set<number>();

/** A successor a node process handed itself to (its OS pid): `reapNodeProcesses` kills it too. */
export function reapSuccessorLater(pid: number): void {
  successors.add(pid);
}
