/**
 * Fixtures for the rolling-upgrade tests: a NATS server, three nodes in this process that
 * trust a test signer and join it, the artifacts of the releases under test written to
 * files (what `--artifact` uploads), and calls with media on every node and across nodes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import { buildArtifact, newSigner, runningReleases, type Signer } from '../support/call-releases.ts';
import { answeredCall, MediaFlow, serviceCall } from '../support/calls.ts';
import { useNatsServer } from '../support/nats.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

export interface RolloutCluster {
  nats(): { url: string };
  /** The artifact file of a release built for this file. */
  artifact(version: string): string;
  /** Three nodes `<prefix>1..3` in one cluster, each seeing the others with their URLs. */
  start(prefix: string): Promise<TestNode[]>;
}

export function useRolloutCluster(versions: string[]): RolloutCluster {
  const nats = useNatsServer();
  let signer: Signer | undefined;
  const files = new Map<string, string>();
  const started: TestNode[] = [];
  beforeAll(async () => {
    signer = newSigner();
    for (const v of versions) {
      const path = join(signer.dir, `hotline-${v}.release.json`);
      writeFileSync(path, JSON.stringify(await buildArtifact(signer, v)));
      files.set(v, path);
    }
  }, 60_000);
  afterEach(async () => {
    await Promise.all(started.splice(0).map((n) => n.shutdown()));
  });
  return {
    nats,
    artifact(version) {
      const path = files.get(version);
      if (path === undefined) throw new Error(`no artifact of ${version} built`);
      return path;
    },
    async start(prefix) {
      const nodes: TestNode[] = [];
      for (let i = 1; i <= 3; i++) {
        const n = await startTestNode({
          node: `${prefix}${i}`,
          cluster: nats().url,
          trustedKeys: [(signer as Signer).publicKeyPath],
        });
        started.push(n);
        nodes.push(n);
      }
      // Every node knows the others and where they listen (their first beat may predate it).
      await waitFor(
        'the nodes see each other with their URLs',
        () =>
          nodes.every(
            (n) => n.cluster?.nodes().filter((m) => m.adminUrl !== undefined).length === nodes.length - 1,
          ),
        10_000,
      );
      return nodes;
    },
  };
}

export interface Traffic {
  phones: Phone[];
  flows: MediaFlow[];
  /** No call ended, no error frame, every socket open. */
  check(): void;
  /** Stop the media and check every frame was acked once, in order. */
  drain(): Promise<void>;
}

let trafficNo = 0;

/**
 * On each node, `echoes` phones in echo calls; for each ordered pair of nodes, `cross`
 * calls from a phone on the first to a phone on the second; media on every call.
 */
export async function startTraffic(
  nodes: TestNode[],
  { echoes, cross, everyMs = 200 }: { echoes: number; cross: number; everyMs?: number },
): Promise<Traffic> {
  const tag = `t${++trafficNo}`;
  const phones: Phone[] = [];
  const flows: MediaFlow[] = [];
  await Promise.all(
    nodes.flatMap((n, i) =>
      Array.from({ length: echoes }, async (_, k) => {
        const p = await n.phone(`${tag}-echo-${i}-${k}`);
        phones.push(p);
        await serviceCall(p, `${tag}-e-${i}-${k}`);
        flows.push(new MediaFlow(p, `${tag}-e-${i}-${k}`, everyMs));
      }),
    ),
  );
  const pairs = nodes.flatMap((a, i) => nodes.map((b, j) => ({ a, b, i, j }))).filter((p) => p.i !== p.j);
  await Promise.all(
    pairs.flatMap(({ a, b, i, j }) =>
      Array.from({ length: cross }, async (_, k) => {
        const callee = `${tag}-x-${i}${j}-${k}-b`;
        const caller = await a.phone(`${tag}-x-${i}${j}-${k}-a`);
        const answerer = await b.phone(callee);
        phones.push(caller, answerer);
        await waitFor(`${callee} in the directory of ${a.settings.node}`, () =>
          a.cluster?.directory.whereis(`user:${callee}`),
        );
        const callId = `${tag}-x-${i}${j}-${k}`;
        await answeredCall(caller, answerer, callId, callee);
        flows.push(new MediaFlow(caller, callId, everyMs), new MediaFlow(answerer, callId, everyMs));
      }),
    ),
  );
  await Promise.all(flows.map((f) => f.more(2, 15_000)));
  return {
    phones,
    flows,
    check() {
      for (const f of flows) {
        expect(f.ended, `call ${f.callId}`).toBeNull();
        expect(f.errors, `errors on ${f.callId}`).toEqual([]);
      }
      for (const p of phones) expect(p.isOpen).toBe(true);
    },
    async drain() {
      await Promise.all(flows.map((f) => f.drain()));
    },
  };
}

/** Each node's current and permanent release, and the releases its sessions run. */
export function releasesOf(
  nodes: TestNode[],
): Promise<{ current: string; permanent: string; sessions: string[] }[]> {
  return Promise.all(nodes.map(runningReleases));
}
