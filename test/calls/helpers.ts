/** Fixtures for tests against a live node on ephemeral ports. */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import WebSocket from 'ws';
import { Phone } from '../../loadtest/client/phone.ts';
import type { Cdr, LogLine } from '../../server/calls/cdr/records.ts';
import { userName } from '../../server/calls/contract.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { type HotlineNode, type StartOptions, startNode } from '../../server/node/node.ts';
import { defaultSettings, type NodeSettings } from '../../server/node/settings.ts';
import type { Pid, Runtime } from '../../server/runtime/index.ts';

export interface TestNode extends HotlineNode {
  dataDir: string;
  /** Phones opened through `phone()`, closed by `shutdown()`. */
  phone(user?: string): Promise<Phone>;
  /** GET on the admin surface with the token. */
  admin<T = unknown>(path: string, token?: string | null): Promise<{ status: number; body: T }>;
  shutdown(): Promise<void>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'hotline-test-'));
}

export async function startTestNode(
  overrides: Partial<NodeSettings> = {},
  options: StartOptions = {},
): Promise<TestNode> {
  const dataDir = overrides.dataDir ?? tempDataDir();
  const node = await startNode(
    {
      ...defaultSettings,
      port: 0,
      adminPort: 0,
      adminToken: 'test-token',
      dataDir,
      logLevel: 'silent',
      ...overrides,
    },
    { logger: false, ...options },
  );
  const phones: Phone[] = [];
  return Object.assign(node, {
    dataDir,
    async phone(user?: string) {
      const p = await Phone.connect(node.callsUrl);
      phones.push(p);
      if (user !== undefined) await p.register(user);
      return p;
    },
    async admin<T>(path: string, token: string | null = node.adminToken) {
      const res = await fetch(
        `${node.adminUrl}${path}`,
        token === null ? {} : { headers: { authorization: `Bearer ${token}` } },
      );
      return { status: res.status, body: (await res.json()) as T };
    },
    async shutdown() {
      for (const p of phones) p.ws.terminate();
      await node.stop();
      if (overrides.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** Processes of a behaviour module alive on the node (sessions by default), from the admin surface. */
export async function processCount(node: TestNode, module = 'session'): Promise<number> {
  const { status, body } = await node.admin<{ count: number }>(
    `/admin/processes?module=${encodeURIComponent(module)}`,
  );
  if (status !== 200) throw new Error(`/admin/processes answered ${status}`);
  return body.count;
}

// ---- waiting, calls with media, CDRs, refused upgrades, nodes as child processes ----

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How early, by Date.now(), a real timer may seem to fire: Node starts timers from the event
 * loop's cached clock, which lags Date.now() by a few ms on a busy machine (CI saw 299 of 300).
 */
export const TIMER_SLACK_MS = 15;

/** Poll `check` until it returns something other than undefined or false; fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** What the admin helpers need: a TestNode or a node in a child process. */
export interface AdminTarget {
  adminUrl: string;
  adminToken: string;
}

/** CDRs from the admin surface, newest first. */
export async function fetchCdrs(
  node: AdminTarget,
  query: Record<string, string | number> = {},
): Promise<Cdr[]> {
  const qs = new URLSearchParams(
    Object.entries({ limit: 10_000, ...query }).map(([k, v]): [string, string] => [k, String(v)]),
  );
  const res = await fetch(`${node.adminUrl}/cdrs?${qs}`, {
    headers: { authorization: `Bearer ${node.adminToken}` },
  });
  if (res.status !== 200) throw new Error(`GET /cdrs answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { cdrs: Cdr[] }).cdrs;
}

/** Poll /cdrs until `done` holds for them. */
export function waitForCdrs(
  node: AdminTarget,
  done: (cdrs: Cdr[]) => boolean,
  query: Record<string, string | number> = {},
  timeoutMs = 5000,
): Promise<Cdr[]> {
  return waitFor(
    'CDRs',
    async () => {
      const list = await fetchCdrs(node, query);
      return done(list) ? list : undefined;
    },
    timeoutMs,
  );
}

/**
 * The one CDR of a call: waits for it, then checks a little later that no second record
 * for the same call turned up.
 */
export async function cdrOf(node: AdminTarget, callId: string): Promise<Cdr> {
  await waitForCdrs(node, (l) => l.length > 0, { callId });
  await sleep(30);
  const list = await fetchCdrs(node, { callId });
  expect(list, `CDRs of ${callId}`).toHaveLength(1);
  return list[0] as Cdr;
}

/** Every parseable line of a data directory's CDR log (a torn line is skipped). */
export function readCdrLog(dataDir: string): LogLine[] {
  const path = join(dataDir, 'cdr.log');
  if (!existsSync(path)) return [];
  const lines: LogLine[] = [];
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (text === '') continue;
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      // torn
    }
  }
  return lines;
}

/** `a` calls `to` (the user of phone `b`), `b` rings and answers; both see answered. */
export async function answeredCall(a: Phone, b: Phone, callId: string, to: string): Promise<void> {
  a.send({ type: 'invite', callId, to });
  await a.next((m) => m.type === 'trying' && m.callId === callId);
  await b.next((m) => m.type === 'incoming' && m.callId === callId);
  b.send({ type: 'ringing', callId });
  await a.next((m) => m.type === 'ringing' && m.callId === callId);
  b.send({ type: 'answer', callId });
  await a.next((m) => m.type === 'answered' && m.callId === callId);
  await b.next((m) => m.type === 'answered' && m.callId === callId);
}

/** `a` calls a service number (echo by default) and waits until it answers. */
export async function serviceCall(a: Phone, callId: string, to = 'echo'): Promise<void> {
  a.send({ type: 'invite', callId, to });
  await a.next((m) => m.type === 'answered' && m.callId === callId);
}

/** A phone sending media on a call at a steady pace, counting what comes back. */
export class MediaFlow {
  sent = 0;
  acks = 0;
  /** Sequence numbers acknowledged, in arrival order: lost, duplicated or reordered shows here. */
  readonly ackSeqs: number[] = [];
  /** Media frames delivered to this phone on the call (the other leg's, or echoes). */
  received = 0;
  errors: ServerMessage[] = [];
  ended: ServerMessage | null = null;
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly phone: Phone,
    readonly callId: string,
    everyMs = 20,
    payload?: string,
  ) {
    phone.onMessage((m) => {
      if (m.type === 'error') this.errors.push(m);
      if (!('callId' in m) || m.callId !== callId) return;
      if (m.type === 'media_ack') {
        this.acks++;
        this.ackSeqs.push(m.seq);
      } else if (m.type === 'media') this.received++;
      else if (m.type === 'ended') this.ended = m;
    });
    this.#timer = setInterval(() => {
      if (!phone.isOpen || this.ended !== null) return;
      phone.send({
        type: 'media',
        callId,
        seq: this.sent++,
        sentAt: Date.now(),
        ...(payload === undefined ? {} : { payload }),
      });
    }, everyMs);
  }

  /** Wait until `n` more acks than now have arrived. */
  async more(n = 3, timeoutMs = 5000): Promise<void> {
    const target = this.acks + n;
    await waitFor(`${n} more media acks on ${this.callId}`, () => this.acks >= target, timeoutMs, 5);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Stop, wait for every ack, and check each frame was acked once, in order. */
  async drain(): Promise<void> {
    this.stop();
    await waitFor(`every frame acked on ${this.callId}`, () => this.acks >= this.sent);
    expect(this.ackSeqs).toEqual(Array.from({ length: this.sent }, (_, i) => i));
  }
}

/**
 * A bystander: a phone in an echo call with media flowing, which other tests must not disturb.
 * `check()` asserts its acks keep coming and its session is the one it started with.
 */
export interface SteadyCall {
  phone: Phone;
  flow: MediaFlow;
  session: Pid;
  check(): Promise<void>;
  /** Stop the media, hang up, and check the call's CDR counts every frame. */
  finish(): Promise<void>;
}

export async function steadyEchoCall(
  node: TestNode,
  {
    user = 'steady',
    callId = 'steady-call',
    everyMs = 20,
  }: { user?: string; callId?: string; everyMs?: number } = {},
): Promise<SteadyCall> {
  const rt: Runtime = node.rt;
  const phone = await node.phone();
  await phone.register(user);
  await serviceCall(phone, callId, 'echo');
  const session = rt.whereis(userName(user)) as Pid;
  expect(session).toBeDefined();
  const flow = new MediaFlow(phone, callId, everyMs);
  await flow.more(2);
  return {
    phone,
    flow,
    session,
    async check() {
      await flow.more(3);
      expect(flow.errors).toEqual([]);
      expect(flow.ended).toBeNull();
      expect(phone.isOpen).toBe(true);
      expect(rt.whereis(userName(user))).toBe(session);
      expect(rt.isAlive(session)).toBe(true);
    },
    async finish() {
      flow.stop();
      await waitFor(
        'every steady frame acked and echoed',
        () => flow.acks === flow.sent && flow.received === flow.sent,
      );
      phone.send({ type: 'bye', callId });
      expect(await phone.next('ended')).toMatchObject({ callId, cause: 'normal' });
      const cdr = await cdrOf(node, callId);
      expect(cdr).toMatchObject({
        cause: 'normal',
        endedBy: 'caller',
        mediaAtoB: flow.sent,
        mediaBtoA: flow.sent,
      });
      await phone.close();
    },
  };
}

let serveCheck = 0;

/** The node still takes a new phone and carries a call with media on it. */
export async function assertServes(url: string): Promise<void> {
  const user = `serves-${++serveCheck}`;
  const callId = `${user}-call`;
  const phone = await Phone.connect(url);
  try {
    await phone.register(user);
    await serviceCall(phone, callId, 'echo');
    phone.send({ type: 'media', callId, seq: 7, sentAt: 1 });
    expect(await phone.next('media_ack')).toMatchObject({ callId, seq: 7 });
    expect(await phone.next('media')).toMatchObject({ callId, seq: 7 });
    phone.send({ type: 'bye', callId });
    expect(await phone.next('ended')).toMatchObject({ callId, cause: 'normal' });
  } finally {
    phone.ws.terminate();
  }
}

/** An upgrade the node must refuse: its HTTP status and `{ code, message }` body. */
export function refusedUpgrade(
  url: string,
): Promise<{ status: number; body: { code?: string; message?: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('error', () => {
      // reported through the promise
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => {
        try {
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text) as { code?: string; message?: string },
          });
        } catch (err) {
          reject(err);
        }
      });
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('close', () => reject(new Error('closed without an HTTP answer')));
  });
}

export interface NodeProcess extends AdminTarget {
  proc: ChildProcess;
  callsUrl: string;
  httpUrl: string;
  /** recoveredCdrs from the node's "up" log line. */
  recovered: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything it wrote, for failure messages. */
  output(): string;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const nodeProcesses = new Set<NodeProcess>();

/** `node --import tsx server/main.ts` on ephemeral ports, as `npm start` runs it; `args` adds flags. */
export function spawnNodeProcess(
  dataDir: string,
  args: string[] = [],
  timeoutMs = 20_000,
): Promise<NodeProcess> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'server/main.ts', '--port', '0', '--admin-port', '0', '--data-dir', dataDir, ...args],
    {
      cwd: repoRoot,
      env: { ...process.env, HOTLINE_ADMIN_TOKEN: 'test-token', HOTLINE_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
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
  await Promise.all(running.map((n) => n.exited));
}

/** One node per test: `start()` starts it, and it is shut down after the test. */
export function useTestNode(): (...args: Parameters<typeof startTestNode>) => Promise<TestNode> {
  let node: TestNode | undefined;
  afterEach(async () => {
    await node?.shutdown();
    node = undefined;
  });
  return async (overrides = {}, options = {}) => {
    node = await startTestNode(overrides, options);
    return node;
  };
}

/** The value of one series on the node's /metrics (0 when absent). */
export async function metric(
  n: TestNode,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return sample(await (await fetch(`${n.httpUrl}/metrics`)).text(), name, labels) ?? 0;
}

/** The value of the first sample of `name` whose labels include `labels`. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}
