/**
 * A Hotline node (or any server that prints its URL) as a child process: what benchmarks
 * and the harness measure, apart from the load client, and what `--mode restart` restarts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface NodeProcess {
  child: ChildProcess;
  callsUrl: string;
  httpUrl: string;
  adminUrl: string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Start `server/main.ts` with these flags; resolves once it logs that it is up. With
 * `server/keeper.ts` as the entry, the node runs under the keeper as `npm start` runs it:
 * `child` is the keeper, whose pid and stop outlive a handoff of the node.
 */
export function startNodeProcess(
  args: string[],
  env: Record<string, string> = {},
  nodeFlags: string[] = [],
  entry: 'server/main.ts' | 'server/keeper.ts' = 'server/main.ts',
): Promise<NodeProcess> {
  return startProcess(
    [entry, '--port', '0', '--admin-port', '0', '--log-level', 'info', ...args],
    env,
    nodeFlags,
  );
}

export function startProcess(
  args: string[],
  env: Record<string, string>,
  nodeFlags: string[],
): Promise<NodeProcess> {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (text) => {
      let entry: { calls?: string; http?: string; admin?: string };
      try {
        entry = JSON.parse(text);
      } catch {
        return;
      }
      if (entry.calls && entry.http) {
        resolve({
          child,
          callsUrl: entry.calls,
          httpUrl: entry.http,
          adminUrl: entry.admin ?? entry.http,
          exited,
          stop(signal = 'SIGTERM') {
            if (child.exitCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => reject(new Error(`${args[0]} exited (${code}) before it was up`)));
  });
}
