/**
 * A successor that dies during the handoff, at each stage, with real phones in calls: once
 * it listens on the node's sockets and before the first batch reaches it, and once the final
 * batch (supervisors, the application, the CDR journal) has reached it, before it has
 * acked it. (It dying as the first batch arrives is handoff.test.ts's.) Each time the old
 * node takes everything back and carries on: no socket closes, no frame is lost,
 * duplicated or reordered, the ring timer fires once, pids and names are the same, CDRs
 * are exact; and a handoff after both goes through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { answeredCall, MediaFlow, serviceCall } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { spawnNodeProcess } from '../support/node-process.ts';
import { tokensFor } from '../support/phone-tokens.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { type Checkout, patchedCheckout } from './checkout.ts';
import { handoff, hangUpExact, processes, reapAfterEach, refusal, tempDir } from './node-handoff.ts';

reapAfterEach();

const RING_TIMEOUT_MS = 30_000;

describe('a successor that dies during the handoff', { timeout: 300_000 }, () => {
  let beforeFirstBatch: Checkout;
  let atFinalBatch: Checkout;
  beforeAll(() => {
    // Dies once it listens on both surfaces (A has closed its copies), before any batch.
    beforeFirstBatch = patchedCheckout({
      'server/handoff/takeover.ts': [
        "() => void send({ type: 'listening', surface: m.surface }),",
        "() => void send({ type: 'listening', surface: m.surface }).then(() => m.surface === 'admin' && process.exit(7)),",
      ],
    });
    // Dies once the final batch's images have arrived (every phone's batch acked before), before it acks.
    atFinalBatch = patchedCheckout({
      'server/handoff/takeover.ts': [
        "batch: (m: MessageOfType<'batch'>) => {",
        "batch: (m: MessageOfType<'batch'>) => {\n        if (m.last !== undefined) process.exit(8);",
      ],
    });
  });
  afterAll(() => {
    beforeFirstBatch.remove();
    atFinalBatch.remove();
  });

  it('the old node takes everything back each time and carries on; then a handoff goes through', async () => {
    const dataDir = tempDir();
    const node = await spawnNodeProcess(dataDir, ['--ring-timeout-ms', String(RING_TIMEOUT_MS)], 90_000);
    const token = tokensFor(dataDir);
    const connect = async (user: string) => {
      const phone = await Phone.connect(node.callsUrl, { token });
      await phone.register(user);
      return phone;
    };
    const [alice, bob, carol, dave, erin] = await Promise.all(
      ['alice', 'bob', 'carol', 'dave', 'erin'].map(connect),
    );
    const phones = { alice, bob, carol, dave, erin } as Record<string, Phone>;
    const closed: string[] = [];
    for (const [user, p] of Object.entries(phones))
      void p.closed.then((c) => closed.push(`${user}: ${c.code}`));
    await answeredCall(alice as Phone, bob as Phone, 'talk', 'bob');
    const a = new MediaFlow(alice as Phone, 'talk', 10);
    const b = new MediaFlow(bob as Phone, 'talk', 10);
    await serviceCall(carol as Phone, 'echoed', 'echo');
    const echo = new MediaFlow(carol as Phone, 'echoed', 10);
    const ringAt = Date.now();
    (dave as Phone).send({ type: 'invite', callId: 'ring', to: 'erin' });
    await (erin as Phone).next((m) => m.type === 'incoming' && m.callId === 'ring');
    (erin as Phone).send({ type: 'ringing', callId: 'ring' });
    await (dave as Phone).next((m) => m.type === 'ringing' && m.callId === 'ring');
    const endings: (ServerMessage & { at: number })[] = [];
    (dave as Phone).onMessage((m) => {
      if (m.type === 'ended') endings.push({ ...m, at: Date.now() });
    });
    await Promise.all([a.more(5), b.more(5), echo.more(5)]);
    const before = await processes(node);

    expect(await refusal(node, { entry: beforeFirstBatch.entry })).toMatch(
      /^502 HOT_ERR_HANDOFF_FAILED.*code 7/,
    );
    await Promise.all([a.more(5), b.more(5), echo.more(5)]);
    expect(await processes(node)).toEqual(before);

    expect(await refusal(node, { entry: atFinalBatch.entry })).toMatch(/^502 HOT_ERR_HANDOFF_FAILED.*code 8/);
    await Promise.all([a.more(5), b.more(5), echo.more(5)]);
    expect(await processes(node)).toEqual(before);
    expect(node.proc.exitCode).toBe(null);
    // The old node still takes phones on its listeners, and still writes CDRs.
    const frank = await connect('frank');
    await serviceCall(frank, 'after', 'echo');
    frank.send({ type: 'bye', callId: 'after' });
    await frank.next('ended');
    expect(await cdrOf(node, 'after')).toMatchObject({ cause: 'normal' });
    await frank.close();
    await waitFor('frank gone', async () => JSON.stringify(await processes(node)) === JSON.stringify(before));

    // Now a successor that lives: everything moves as it was.
    await handoff(node);
    expect((await node.exited).code).toBe(0);
    await Promise.all([a.more(5), b.more(5), echo.more(5)]);
    const after = await processes(node);
    expect(after.filter((line) => before.includes(line))).toEqual(before);
    for (const flow of [a, b, echo]) await flow.drain();
    expect(echo.received).toBe(echo.sent);
    await hangUpExact(node, a, b, bob);
    await hangUpExact(node, echo, echo);

    await waitFor('the ring timeout', () => endings.length > 0, RING_TIMEOUT_MS + 20_000);
    await sleep(500);
    expect(endings).toEqual([expect.objectContaining({ callId: 'ring', cause: 'ring_timeout' })]);
    expect((endings[0] as { at: number }).at - ringAt).toBeGreaterThanOrEqual(RING_TIMEOUT_MS - 1000);
    expect(await cdrOf(node, 'ring')).toMatchObject({ cause: 'ring_timeout' });
    expect(closed).toEqual([]);
  });
});
