/**
 * A real Prometheus (Debian's package) on loopback for one test: a temporary config and
 * storage, scraping the given targets, queried over its HTTP API like Grafana does.
 * A missing binary fails the test with the package to install.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../loadtest/harness/managed-node.ts';
import { waitFor } from '../support/wait.ts';

export const PROMETHEUS = process.env.PROMETHEUS_PATH ?? 'prometheus';

export interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly log: string[],
  ) {}

  static async start(targets: string[], scrapeIntervalSeconds = 1): Promise<PrometheusServer> {
    const dir = mkdtempSync(join(tmpdir(), 'hotline-prometheus-'));
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        `  scrape_interval: ${scrapeIntervalSeconds}s`,
        `  evaluation_interval: ${scrapeIntervalSeconds}s`,
        'scrape_configs:',
        '  - job_name: hotline',
        '    static_configs:',
        `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const child = spawn(
      PROMETHEUS,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const log: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    const failed = new Promise<never>((_, reject) =>
      child.once('error', (err) =>
        reject(
          new Error(
            `${PROMETHEUS} could not start (${err.message}): install Debian's "prometheus" package (apt-get install -y prometheus); npm test does this when run as root`,
          ),
        ),
      ),
    );
    failed.catch(() => undefined); // a late spawn error, after readiness, is not this wait's
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir, log);
    const ready = waitFor(
      'prometheus to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log.join('')}`);
        return (await fetch(`${server.url}/-/ready`).catch(() => undefined))?.ok;
      },
      20_000,
    );
    try {
      await Promise.race([ready, failed]);
    } catch (err) {
      await server.stop(); // nothing left running or on disk when it never came up
      throw err;
    }
    return server;
  }

  async #api<T>(path: string, params: Record<string, string>): Promise<T> {
    const res = await fetch(`${this.url}/api/v1/${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  }

  /** A range query, as a Grafana panel runs it. */
  async queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<Series[]> {
    const data = await this.#api<{ result: Series[] }>('query_range', {
      query: expr,
      start: String(start / 1000),
      end: String(end / 1000),
      step: String(stepSeconds),
    });
    return data.result;
  }

  /** The samples of the series matching `selector` over the `seconds` before `at`, as scraped. */
  async samples(selector: string, seconds: number, at = Date.now()): Promise<Series[]> {
    const data = await this.#api<{ result: Series[] }>('query', {
      query: `${selector}[${seconds}s]`,
      time: String(at / 1000),
    });
    return data.result;
  }

  /** Values of a label on the series matching `match` (Grafana's label_values()). */
  labelValues(label: string, match: string): Promise<string[]> {
    return this.#api<string[]>(`label/${encodeURIComponent(label)}/values`, { 'match[]': match });
  }

  /** Where the scrape of each target stands. */
  async targets(): Promise<{ health: string; lastError: string; scrapeUrl: string }[]> {
    const data = await this.#api<{
      activeTargets: { health: string; lastError: string; scrapeUrl: string }[];
    }>('targets', {});
    return data.activeTargets;
  }

  async stop(): Promise<void> {
    // A binary that never started (ENOENT) has no pid and may never emit 'exit'.
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
