/**
 * What the tests of a node handed to a successor share: the handoff through the admin API
 * (successors killed after each test), the node's processes as comparable lines, HTTP
 * connections in a tight loop, and phones that connect and register while a handoff runs.
 */
import { mkdtempSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { Phone, type PhoneTokenSource } from '../../loadtest/client/phone.ts';
import type { HandoffSummary } from '../../server/handoff/handoff.ts';
import { AdminClient, AdminRequestError } from '../../server/ops/admin-client.ts';
import type { MediaFlow } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { type NodeProcess, reapNodeProcesses, reapSuccessorLater } from '../support/node-process.ts';
import { sleep } from '../support/wait.ts';

/** Kill the successors the test's handoffs started, and the node processes, after each test. */
export function reapAfterEach(): void {
  afterEach(reapNodeProcesses);
}

export const tempDir = () => mkdtempSync(join(tmpdir(), 'hotline-handoff-'));
export const admin = (node: NodeProcess) => new AdminClient(node.adminUrl, node.adminToken, 120_000);

export async function handoff(node: NodeProcess, body: { entry?: string } = {}): Promise<HandoffSummary> {
  const { handoff } = await admin(node).post<{ handoff: HandoffSummary }>('/admin/node/handoff', body);
  reapSuccessorLater(handoff.to);
  return handoff;
}

/** The handoff's error code, for a handoff that must fail. */
export const refusal = (node: NodeProcess, body: { entry?: string } = {}) =>
  handoff(node, body).then(
    () => 'handed off',
    (err: unknown) =>
      err instanceof AdminRequestError ? `${err.status} ${err.code}: ${err.message}` : String(err),
  );

/** Every process as `pid module@version name parent links`, sorted. */
export async function processes(node: NodeProcess): Promise<string[]> {
  const { processes } = await admin(node).get<{
    processes: {
      pid: string;
      name?: string;
      module: string;
      version: string;
      parent?: string;
      links: number;
    }[];
  }>('/admin/processes?limit=100000');
  return processes
    .map((p) => `${p.pid} ${p.module}@${p.version} ${p.name ?? '-'} ${p.parent ?? '-'} ${p.links}`)
    .sort();
}

/** GET /healthz on a new connection each time, as fast as answers come, until stopped. */
export function connectionLoop(url: string) {
  const failures: string[] = [];
  const builds = new Set<string>();
  let served = 0;
  let running = true;
  const once = () =>
    new Promise<void>((resolve) => {
      const req = get(`${url}/healthz`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => {
          served++;
          builds.add(String((JSON.parse(body) as { build?: string }).build ?? 'original'));
          resolve();
        });
        res.on('error', (err) => {
          failures.push(err.message);
          resolve();
        });
      });
      req.on('error', (err) => {
        failures.push(err.message);
        resolve();
      });
    });
  const done = (async () => {
    while (running) await once();
  })();
  return {
    failures,
    builds,
    get served() {
      return served;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * New phones, one every `everyMs` or so, each connecting and registering as `<prefix>-<n>`, until
 * stopped: what a phone that arrives in the middle of a handoff sees.
 */
export function arrivingPhones(callsUrl: string, token: PhoneTokenSource, prefix: string, everyMs = 25) {
  const phones: Phone[] = [];
  const failures: string[] = [];
  const closed: string[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const user = `${prefix}-${phones.length + failures.length}`;
      try {
        const phone = await Phone.connect(callsUrl, { token });
        void phone.closed.then((c) => closed.push(`${user}: ${c.code}`));
        // One that reaches the successor waits for its session until the last batch: as long as the handoff takes.
        await phone.sendRegister(user);
        const m = await phone.next((x) => x.type === 'registered' || x.type === 'error', 30_000);
        if (m.type === 'error') throw new Error(`${m.code}: ${m.message}`);
        phones.push(phone);
      } catch (err) {
        failures.push(`${user}: ${(err as Error).message}`);
      }
      await sleep(everyMs);
    }
  })();
  return {
    phones,
    failures,
    closed,
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * `from`'s phone hangs up its call, `other` (the callee, or the caller itself on a service
 * call) hears it end, and the call's one CDR counts every frame each way (`back`: the flow
 * the other way, or `from` itself for an echo).
 */
export async function hangUpExact(
  node: NodeProcess,
  from: MediaFlow,
  back: MediaFlow,
  other: Phone = from.phone,
): Promise<void> {
  from.phone.send({ type: 'bye', callId: from.callId });
  await other.next((m) => m.type === 'ended' && m.callId === from.callId);
  expect(await cdrOf(node, from.callId)).toMatchObject({
    cause: 'normal',
    mediaAtoB: from.sent,
    mediaBtoA: back.sent,
  });
}
