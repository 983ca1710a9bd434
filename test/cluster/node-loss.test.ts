/**
 * A node killed with kill -9 mid-traffic (a child process): every call with a leg on it
 * ends on the surviving node with cause node_lost within the bound — the membership's
 * detection bound (1.75 s) plus a margin for two busy cores, 3 s in all — each with its CDR
 * on the survivor, whichever side owned it: a call the dead node owned is recorded by its
 * surviving leg (the cluster's claim on the CDR), so it has its record even if that node
 * never returns, and its recovery at restart does not write it again. Calls that did not
 * touch it carry on. It runs 1.1.0, installed and made permanent before the kill, not the
 * baseline it was started on: restarted, it boots 1.1.0, rejoins on it, and its users are
 * reachable again, their sessions on 1.1.0.
 */
import { afterEach, beforeAll, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import type { Artifact } from '../../server/release/artifact.ts';
import {
  adminPost,
  buildArtifact,
  install,
  newSigner,
  runningReleases,
  type Signer,
  upload,
} from '../support/call-releases.ts';
import { answeredCall, MediaFlow, steadyEchoCall } from '../support/calls.ts';
import { cdrOf, fetchCdrs } from '../support/cdrs.ts';
import { useNatsServer } from '../support/nats.ts';
import type { NodeProcess } from '../support/node-process.ts';
import { reapNodeProcesses, spawnNodeProcess } from '../support/node-process.ts';
import type { TestNode } from '../support/test-node.ts';
import { startTestNode, tempDataDir } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

const NODE_LOSS_BOUND_MS = 3000;
const nats = useNatsServer();
let signer: Signer | undefined;
let v110: Artifact | undefined;
beforeAll(async () => {
  signer = newSigner();
  v110 = await buildArtifact(signer, '1.1.0');
}, 60_000);
let survivor: TestNode | undefined;
afterEach(async () => {
  await reapNodeProcesses();
  await survivor?.shutdown();
});

const victimNode = (dataDir: string): Promise<NodeProcess> =>
  spawnNodeProcess(dataDir, [
    '--node',
    'victim',
    '--cluster',
    nats().url,
    '--trusted-key',
    (signer as Signer).publicKeyPath,
  ]);

it('kill -9 of a node: its calls end on the survivor with node_lost in time, the rest carry on; it rejoins', async () => {
  const n1 = await startTestNode({ node: 'survivor', cluster: nats().url });
  survivor = n1;
  const dataDir = tempDataDir();
  const victim = await victimNode(dataDir);
  await waitFor('the survivor sees the victim', () => n1.cluster?.membership.isUp('victim'), 10_000);
  // A release other than the baseline, permanent: what the restarted victim must boot.
  await upload(victim, v110 as Artifact);
  expect(await install(victim, '1.1.0')).toMatchObject({ outcome: 'installed' });
  expect((await adminPost(victim, '/admin/releases/1.1.0/permanent')).status).toBe(200);
  await waitFor(
    'the survivor hears the victim on 1.1.0',
    () => n1.cluster?.membership.member('victim')?.release === '1.1.0',
  );
  const steady = await steadyEchoCall(n1);

  // Phones of the victim's users connect to the victim itself.
  const onVictim = async (user: string) => {
    const p = await Phone.connect(victim.callsUrl, { token: victim.tokens });
    await p.register(user);
    await waitFor(`${user} in the directory`, () => n1.rt.whereis(`user:${user}`));
    return p;
  };
  // alice (survivor) calls bob (victim); dave (victim) calls carol (survivor).
  const alice = await n1.phone('alice');
  const bob = await onVictim('bob');
  await answeredCall(alice, bob, 'c-out', 'bob');
  const carol = await n1.phone('carol');
  const dave = await onVictim('dave');
  await answeredCall(dave, carol, 'c-in', 'carol');
  const flows = [new MediaFlow(alice, 'c-out'), new MediaFlow(carol, 'c-in')];
  await Promise.all(flows.map((f) => f.more(3)));
  const on110 = { current: '1.1.0', permanent: '1.1.0', sessions: ['1.1.0'] };
  expect(await runningReleases(victim)).toEqual(on110);

  const endedAt = (p: Phone, callId: string) =>
    p
      .next((m: ServerMessage) => m.type === 'ended' && m.callId === callId, 10_000)
      .then((m) => ({ m, at: Date.now() }));
  const ends = [endedAt(alice, 'c-out'), endedAt(carol, 'c-in')];
  const killedAt = Date.now();
  victim.proc.kill('SIGKILL');
  const ended = await Promise.all(ends);
  for (const f of flows) f.stop();
  for (const { m, at } of ended) {
    expect(m).toMatchObject({ cause: 'node_lost' });
    expect(at - killedAt, 'node loss noticed within the bound').toBeLessThanOrEqual(NODE_LOSS_BOUND_MS);
  }
  // The survivor owns alice's call: its CDR says the node was lost.
  expect(await cdrOf(n1, 'c-out')).toMatchObject({ cause: 'node_lost', endedBy: 'system', caller: 'alice' });
  // The victim owned dave's call: carol's leg records it, with the media it saw each way.
  const lost = await cdrOf(n1, 'c-in');
  expect(lost).toMatchObject({ cause: 'node_lost', endedBy: 'system', caller: 'dave', callee: 'carol' });
  expect(lost.answeredAt).not.toBeNull();
  expect(lost.mediaBtoA, "carol's frames").toBeGreaterThanOrEqual(3);
  // dave's leg ran the victim's 1.1.0, carol's the survivor's 1.0.0.
  expect(lost.versions).toEqual(['1.1.0', '1.0.0']);
  await steady.check();
  expect(n1.rt.whereis('user:bob')).toBeUndefined();
  expect(n1.cluster?.directory.entries().filter((e) => e.node === 'victim')).toEqual([]);

  // Restarted on its data: the call it owned has its CDR already (claimed by the survivor),
  // so recovery writes none, and a second restart finds nothing left open either.
  let again = await victimNode(dataDir);
  expect(again.recovered).toBe(0);
  expect(await fetchCdrs(again, { callId: 'c-in' })).toEqual([]);
  again.proc.kill('SIGKILL');
  await again.exited;
  again = await victimNode(dataDir);
  expect(again.recovered).toBe(0);
  expect(await fetchCdrs(n1, { callId: 'c-in' })).toHaveLength(1);
  // It booted its permanent 1.1.0, and rejoined on it.
  expect(await runningReleases(again)).toEqual({ ...on110, sessions: [] });
  await waitFor('the survivor sees the victim again', () => n1.cluster?.membership.isUp('victim'), 10_000);
  expect(n1.cluster?.membership.member('victim')).toMatchObject({ release: '1.1.0', alsoRuns: [] });
  const erin = await Phone.connect(again.callsUrl, { token: again.tokens });
  await erin.register('erin');
  await waitFor('erin in the directory', () => n1.rt.whereis('user:erin'));
  expect(await runningReleases(again)).toEqual(on110);
  await answeredCall(alice, erin, 'c-again', 'erin');
  alice.send({ type: 'bye', callId: 'c-again' });
  expect(await erin.next('ended')).toMatchObject({ callId: 'c-again', cause: 'normal' });
  // alice's leg on the survivor's 1.0.0, erin's on the victim's 1.1.0.
  expect(await cdrOf(n1, 'c-again')).toMatchObject({ cause: 'normal', versions: ['1.0.0', '1.1.0'] });
  await steady.finish();
  erin.ws.terminate();
  for (const p of [bob, dave]) p.ws.terminate();
});
