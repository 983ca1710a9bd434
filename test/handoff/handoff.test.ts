/**
 * A node handed to a successor process with real phones on it. The successor runs from
 * another checkout whose /healthz says so, which proves new node code took over: a two-party
 * call with media and a ringing call move with no socket closed, every frame once and in
 * order, the same pids and names, the ring timer firing once, exact CDRs; HTTP clients
 * connecting in a tight loop all the while see no connection refused or reset.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { HANDOFF_PROTOCOL_VERSION } from '../../server/handoff/protocol.ts';
import { answeredCall, MediaFlow } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { sample } from '../support/metrics.ts';
import { spawnNodeProcess } from '../support/node-process.ts';
import { tokensFor } from '../support/phone-tokens.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { type Checkout, patchedCheckout } from './checkout.ts';
import { connectionLoop, handoff, processes, reapAfterEach, refusal, tempDir } from './node-handoff.ts';

reapAfterEach();

describe('node handoff to a successor from another checkout', { timeout: 180_000 }, () => {
  let checkout: Checkout;
  beforeAll(() => {
    checkout = patchedCheckout({
      'server/http/app.ts': ["status: 'ok',", "status: 'ok', build: 'successor-checkout',"],
    });
  });
  afterAll(() => checkout.remove());

  it('moves calls, timers and listeners: nothing closed, lost, duplicated, reordered or refused; same pids; exact CDRs', async () => {
    const dataDir = tempDir();
    const node = await spawnNodeProcess(dataDir, ['--ring-timeout-ms', '30000'], 90_000);
    const token = tokensFor(dataDir);
    const [alice, bob, carol, dave] = await Promise.all(
      [1, 2, 3, 4].map(() => Phone.connect(node.callsUrl, { token })),
    );
    const phones = [alice, bob, carol, dave] as Phone[];
    const closed: string[] = [];
    for (const [i, p] of phones.entries()) void p.closed.then((c) => closed.push(`phone ${i}: ${c.code}`));
    await Promise.all(['alice', 'bob', 'carol', 'dave'].map((u, i) => (phones[i] as Phone).register(u)));
    await answeredCall(alice as Phone, bob as Phone, 'talk', 'bob');
    const a = new MediaFlow(alice as Phone, 'talk', 10);
    const b = new MediaFlow(bob as Phone, 'talk', 10);
    await a.more(5);
    await b.more(5);
    // carol calls dave, who lets it ring: its ring timer runs through the handoff.
    (carol as Phone).send({ type: 'invite', callId: 'ring', to: 'dave' });
    await (dave as Phone).next((m) => m.type === 'incoming' && m.callId === 'ring');
    (dave as Phone).send({ type: 'ringing', callId: 'ring' });
    await (carol as Phone).next((m) => m.type === 'ringing' && m.callId === 'ring');
    const endings: ServerMessage[] = [];
    (carol as Phone).onMessage((m) => {
      if (m.type === 'ended') endings.push(m);
    });
    const before = await processes(node);
    expect(before.length).toBeGreaterThan(8);
    const scrape = async () => (await fetch(`${node.httpUrl}/metrics`)).text();
    const mediaBefore = sample(await scrape(), 'hotline_frames_received_total', { type: 'media' }) as number;
    expect(mediaBefore).toBeGreaterThan(0);
    const loop = connectionLoop(node.httpUrl);

    const summary = await handoff(node, { entry: checkout.entry });
    expect(summary).toMatchObject({ from: node.proc.pid, sockets: 4, processes: before.length });
    expect((await node.exited).code).toBe(0);
    await waitFor('the successor serving /healthz', () => loop.builds.has('successor-checkout'));
    await loop.stop();
    expect(loop.failures).toEqual([]);
    expect(loop.served).toBeGreaterThan(0);

    await a.more(5);
    await b.more(5);
    expect(await processes(node)).toEqual(before);
    // Counters go on from the old process's values; the successor counts the handoff.
    const after = await scrape();
    expect(sample(after, 'hotline_frames_received_total', { type: 'media' })).toBeGreaterThan(mediaBefore);
    expect(sample(after, 'hotline_handoffs_total', { outcome: 'done' })).toBe(1);
    expect(sample(after, 'hotline_handoff_sockets_moved_total')).toBe(4);
    expect(sample(after, 'hotline_handoff_processes_moved_total')).toBe(before.length);
    await a.drain();
    await b.drain();
    (alice as Phone).send({ type: 'bye', callId: 'talk' });
    await (bob as Phone).next((m) => m.type === 'ended' && m.callId === 'talk');
    expect(await cdrOf(node, 'talk')).toMatchObject({
      mediaAtoB: a.sent,
      mediaBtoA: b.sent,
      cause: 'normal',
    });

    await waitFor('the ring timeout', () => endings.length > 0, 40_000);
    await sleep(500);
    expect(endings).toEqual([expect.objectContaining({ callId: 'ring', cause: 'ring_timeout' })]);
    expect(await cdrOf(node, 'ring')).toMatchObject({ cause: 'ring_timeout' });
    expect(closed).toEqual([]);
  });
});

describe('a handoff that cannot happen leaves the node as it was', { timeout: 180_000 }, () => {
  let incompatible: Checkout;
  let crashing: Checkout;
  beforeAll(() => {
    incompatible = patchedCheckout({
      'server/handoff/protocol.ts': [
        `HANDOFF_PROTOCOL_VERSION = ${HANDOFF_PROTOCOL_VERSION};`,
        'HANDOFF_PROTOCOL_VERSION = 99;',
      ],
    });
    // Dies once the first batch's sockets and images have arrived, before it acks.
    crashing = patchedCheckout({
      'server/handoff/takeover.ts': [
        '        try {\n          rt.move.restore',
        '        process.exit(9);\n        try {\n          rt.move.restore',
      ],
    });
  });
  afterAll(() => {
    incompatible.remove();
    crashing.remove();
  });

  it('refuses an incompatible successor before anything moves, a second handoff while one runs, and carries on when the successor cannot boot or dies mid-batch', async () => {
    const dataDir = tempDir();
    const node = await spawnNodeProcess(dataDir, [], 90_000);
    const token = tokensFor(dataDir);
    const alice = await Phone.connect(node.callsUrl, { token });
    const bob = await Phone.connect(node.callsUrl, { token });
    let closed = false;
    for (const p of [alice, bob])
      void p.closed.then(() => {
        closed = true;
      });
    await alice.register('alice');
    await bob.register('bob');
    await answeredCall(alice, bob, 'c1', 'bob');
    const a = new MediaFlow(alice, 'c1', 10);
    const b = new MediaFlow(bob, 'c1', 10);
    const before = await processes(node);

    const first = refusal(node, { entry: incompatible.entry });
    await sleep(200);
    expect(await refusal(node)).toMatch(/^409 HOT_ERR_HANDOFF_RUNNING/);
    expect(await first).toMatch(/^409 HOT_ERR_HANDOFF_INCOMPATIBLE.*protocol 99/);
    await a.more(3);

    const exits = join(dataDir, 'exits.mjs');
    writeFileSync(exits, 'process.exit(3);\n');
    expect(await refusal(node, { entry: exits })).toMatch(/^502 HOT_ERR_HANDOFF_FAILED.*code 3/);
    await a.more(3);

    expect(await refusal(node, { entry: crashing.entry })).toMatch(/^502 HOT_ERR_HANDOFF_FAILED.*code 9/);
    await a.more(5);
    await b.more(5);
    expect(await processes(node)).toEqual(before);
    await a.drain();
    await b.drain();
    expect(closed).toBe(false);
    expect(node.proc.exitCode).toBe(null);
    // The node still takes new phones on its listeners.
    const carol = await Phone.connect(node.callsUrl, { token });
    await carol.register('carol');
  });
});
