/**
 * A NATS server with JetStream on loopback, for development clusters and tests: Debian's
 * `nats-server` binary, a free port, its store in a temporary directory removed at stop.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hotlineError } from '../errors/catalogue.ts';

export interface NatsServer {
  /** nats://127.0.0.1:<port> */
  url: string;
  port: number;
  proc: ChildProcess;
  /** Stop it (SIGTERM, then SIGKILL after 2 s) and remove its store. */
  stop(): Promise<void>;
}

/** A port free on loopback now (the kernel picks it; a race with another process is possible but rare). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startNatsServer(
  options: { command?: string; timeoutMs?: number } = {},
): Promise<NatsServer> {
  const command = options.command ?? 'nats-server';
  const port = await freePort();
  const store = mkdtempSync(join(tmpdir(), 'hotline-nats-'));
  const proc = spawn(command, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(store, { recursive: true, force: true });
  };
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => fail(`exited (${code}) before it was ready\n${log}`);
    const fail = (why: string) => {
      clearTimeout(timer);
      void stop().then(() => reject(hotlineError('HOT_ERR_NATS_UNAVAILABLE', `${command}: ${why}`)));
    };
    const timer = setTimeout(
      () => fail(`not ready within ${options.timeoutMs ?? 10_000} ms\n${log}`),
      options.timeoutMs ?? 10_000,
    );
    proc.once('error', (err) => fail(err.message));
    proc.once('exit', onExit);
    // It logs to stderr; this line comes once the client port is open.
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        proc.off('exit', onExit);
        proc.stderr?.removeAllListeners('data').resume();
        resolve();
      }
    });
  });
  return { url: `nats://127.0.0.1:${port}`, port, proc, stop };
}
