/** A node in this test process on ephemeral ports, its phones and admin surface, shut down after each test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { Phone, type PhoneTokenSource } from '../../loadtest/client/phone.ts';
import { type HotlineNode, type StartOptions, startNode } from '../../server/node/node.ts';
import { defaultSettings, type NodeSettings } from '../../server/node/settings.ts';
import { tokensFor } from './phone-tokens.ts';

export interface TestNode extends HotlineNode {
  dataDir: string;
  /** Phone tokens signed with this node's phone key. */
  tokens: PhoneTokenSource;
  /** Phones opened through `phone()` (with `tokens`), closed by `shutdown()`. */
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
      // A node in the test process must not end it: the watchdog is tested in child processes.
      watchdogMs: 0,
      ...overrides,
    },
    { logger: false, ...options },
  );
  const phones: Phone[] = [];
  const tokens = tokensFor(dataDir);
  return Object.assign(node, {
    dataDir,
    tokens,
    async phone(user?: string) {
      const p = await Phone.connect(node.callsUrl, { token: tokens });
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
