/**
 * A node killed with kill -9 mid-traffic (a child process): every call with a leg on it
 * ends on the surviving node with cause node_lost within the bound — the membership's
 * detection bound (1.75 s) plus a margin for two busy cores, 3 s in all — each with its CDR
 * on the survivor, whichever side owned it: a call the dead node owned is recorded by its
 * surviving leg (the cluster's claim on the CDR), so it has its record even if that node
 * never returns, and its recovery at restart does not write it again. Calls that did not
 * touch it carry on. Restarted, it boots, rejoins, and its users are reachable again.
 */
import { afterEach, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import type { NodeProcess, TestNode } from '../calls/helpers.ts';
import {
  answeredCall,
  cdrOf,
  fetchCdrs,
  MediaFlow,
  reapNodeProcesses,
  spawnNodeProcess,
  startTestNode,
  steadyEchoCall,
  tempDataDir,
  waitFor,
} from '../calls/helpers.ts';
import { useNatsServer } from './nats.ts';

const NODE_LOSS_BOUND_MS = 3000;
const nats = useNatsServer();
let survivor: TestNode | undefined;
afterEach(async () => {
  await reapNodeProcesses();
  await survivor?.shutdown();
});

const victimNode = (dataDir: string): Promise<NodeProcess> =>
  spawnNodeProcess(dataDir, ['--node', 'victim', '--cluster', nats().url]);

it('kill -9 of a node: its calls end on the survivor with node_lost in time, the rest carry on; it rejoins', async () => {
  const n1 = await startTestNode({ node: 'survivor', cluster: nats().url });
  survivor = n1;
  const dataDir = tempDataDir();
  const victim = await victimNode(dataDir);
  await waitFor('the survivor sees the victim', () => n1.cluster?.membership.isUp('victim'), 10_000);
  const steady = await steadyEchoCall(n1);

  // Phones of the victim's users connect to the victim itself.
  const onVictim = async (user: string) => {
    const p = await Phone.connect(victim.callsUrl);
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
  expect(lost.versions).toEqual(['1.0.0']);
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
  await waitFor('the survivor sees the victim again', () => n1.cluster?.membership.isUp('victim'), 10_000);
  const erin = await Phone.connect(again.callsUrl);
  await erin.register('erin');
  await waitFor('erin in the directory', () => n1.rt.whereis('user:erin'));
  await answeredCall(alice, erin, 'c-again', 'erin');
  alice.send({ type: 'bye', callId: 'c-again' });
  expect(await erin.next('ended')).toMatchObject({ callId: 'c-again', cause: 'normal' });
  await steady.finish();
  erin.ws.terminate();
  for (const p of [bob, dave]) p.ws.terminate();
});
