/**
 * Call shapes through a handoff to a successor, with real phones over real sockets, on a node
 * that runs two releases at once: a canary of 2.0.0 waits for its promote (old sessions on
 * 1.0.0, new ones on 2.0.0) or its watch window runs. Through the handoff: a two-party call
 * with media, an IVR call, a held call, a call ringing with its ring timer running, and
 * phones that connect and register while it runs. No socket closes, no frame is lost,
 * duplicated or reordered, the ring timer fires once (in the successor, when it was due),
 * CDRs are exact, every process keeps its pid, name, parent and release; the install goes on
 * in the successor and is promoted or rolled back there as if nothing had happened.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Phone, type PhoneTokenSource } from '../../loadtest/client/phone.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import type { InstallProgress } from '../../server/release/installer.ts';
import {
  adminPost,
  buildArtifact,
  newSigner,
  type Signer,
  sessionsByRelease,
  settled,
  upload,
} from '../support/call-releases.ts';
import { answeredCall, MediaFlow, serviceCall } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { type NodeProcess, spawnNodeProcess } from '../support/node-process.ts';
import { tokensFor } from '../support/phone-tokens.ts';
import { sleep, waitFor } from '../support/wait.ts';
import {
  admin,
  arrivingPhones,
  handoff,
  hangUpExact,
  processes,
  reapAfterEach,
  tempDir,
} from './node-handoff.ts';

reapAfterEach();

/** Longer than a handoff takes on a busy machine: the ring timer must fire in the successor. */
const RING_TIMEOUT_MS = 90_000;

async function startNode(
  signer: Signer,
): Promise<{ node: NodeProcess; token: PhoneTokenSource; connect(user: string): Promise<Phone> }> {
  const dataDir = tempDir();
  const node = await spawnNodeProcess(
    dataDir,
    // The IVR call carries no media: no media timeout may end it while the handoff runs.
    [
      '--ring-timeout-ms',
      String(RING_TIMEOUT_MS),
      '--media-timeout-ms',
      '600000',
      '--trusted-key',
      signer.publicKeyPath,
    ],
    90_000,
  );
  await upload(node, await buildArtifact(signer, '2.0.0'));
  const token = tokensFor(dataDir);
  return {
    node,
    token,
    async connect(user) {
      const phone = await Phone.connect(node.callsUrl, { token });
      await phone.register(user);
      return phone;
    },
  };
}

const installOf = async (node: NodeProcess) =>
  (await admin(node).get<{ install: InstallProgress }>('/admin/install')).install;

/** Every socket's close, by user: none may close. */
function watchCloses(phones: Record<string, Phone>): string[] {
  const closed: string[] = [];
  for (const [user, p] of Object.entries(phones))
    void p.closed.then((c) => closed.push(`${user}: ${c.code}`));
  return closed;
}

describe('call shapes and a waiting canary through a handoff', { timeout: 400_000 }, () => {
  let signer: Signer;
  beforeAll(() => {
    signer = newSigner();
  });

  it('moves a two-party call, an IVR call, a held call and a ringing call with a canary of 2.0.0 waiting; phones arriving meanwhile are served; promote then finishes the install in the successor', async () => {
    const { node, token, connect } = await startNode(signer);
    // On 1.0.0: alice talks to bob, carol is in the IVR, gina rings hank.
    const [alice, bob, carol, gina, hank] = await Promise.all(
      ['alice', 'bob', 'carol', 'gina', 'hank'].map(connect),
    );
    const p = { alice, bob, carol, gina, hank } as Record<string, Phone>;
    await answeredCall(p.alice as Phone, p.bob as Phone, 'talk', 'bob');
    await serviceCall(p.carol as Phone, 'menu', 'ivr');
    await (p.carol as Phone).next((m) => m.type === 'prompt' && m.callId === 'menu');

    // A canary that moves no old session: every session started from now on runs 2.0.0.
    const started = await adminPost(node, '/admin/releases/2.0.0/install', {
      mode: 'canary',
      canaryFraction: 0,
      watchMs: 1000,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const canary = await settled(node);
    expect(canary).toMatchObject({ step: 'await_promote', outcome: null });
    // On 2.0.0: dave calls erin and holds (hold is new in 2.0.0).
    p.dave = await connect('dave');
    p.erin = await connect('erin');
    await answeredCall(p.dave, p.erin, 'held', 'erin');
    p.dave.send({ type: 'hold', callId: 'held' });
    expect(await p.erin.next('held')).toStrictEqual({ type: 'held', callId: 'held' });
    expect(await sessionsByRelease(node)).toEqual({ '1.0.0': 5, '2.0.0': 2 });

    const talkA = new MediaFlow(p.alice as Phone, 'talk', 10);
    const talkB = new MediaFlow(p.bob as Phone, 'talk', 10);
    await talkA.more(5);
    await talkB.more(5);
    const ringAt = Date.now();
    (p.gina as Phone).send({ type: 'invite', callId: 'ring', to: 'hank' });
    await (p.hank as Phone).next((m) => m.type === 'incoming' && m.callId === 'ring');
    (p.hank as Phone).send({ type: 'ringing', callId: 'ring' });
    await (p.gina as Phone).next((m) => m.type === 'ringing' && m.callId === 'ring');
    const endings: (ServerMessage & { at: number })[] = [];
    (p.gina as Phone).onMessage((m) => {
      if (m.type === 'ended') endings.push({ ...m, at: Date.now() });
    });
    const closed = watchCloses(p);
    const before = await processes(node);
    const arriving = arrivingPhones(node.callsUrl, token, 'late');

    const summary = await handoff(node);
    const endedBeforeHandoff = endings.length;
    expect((await node.exited).code).toBe(0);
    await arriving.stop();
    // Phones that came before the listeners moved moved with the rest; later ones went to the successor.
    expect(summary.from).toBe(node.proc.pid);
    expect(summary.sockets).toBeGreaterThanOrEqual(7);
    expect(endedBeforeHandoff).toBe(0);
    expect(arriving.failures).toEqual([]);
    expect(arriving.phones.length).toBeGreaterThan(0);

    // The successor: the same processes under the same pids, each on the release it ran.
    // Link counts left out: the supervisors link the phones that arrived meanwhile too.
    const unlinked = (lines: string[]) => lines.map((line) => line.replace(/ \d+$/, ''));
    const after = unlinked(await processes(node));
    expect(after.filter((line) => unlinked(before).includes(line))).toEqual(unlinked(before));
    expect(await sessionsByRelease(node)).toEqual({ '1.0.0': 5, '2.0.0': 2 + arriving.phones.length });
    expect(await installOf(node)).toMatchObject({
      id: canary.id,
      from: '1.0.0',
      to: '2.0.0',
      step: 'await_promote',
      outcome: null,
    });

    await talkA.more(5);
    await talkB.more(5);
    // The IVR is where it was: it answers the next digit, and hangs up on #.
    (p.carol as Phone).send({ type: 'dtmf', callId: 'menu', digit: '1' });
    expect((await (p.carol as Phone).next('prompt')).text).toMatch(/^Sales/);
    (p.carol as Phone).send({ type: 'dtmf', callId: 'menu', digit: '#' });
    expect(await (p.carol as Phone).next('ended')).toMatchObject({ callId: 'menu', cause: 'normal' });
    // The held call is still held: a second hold is refused; a resume brings the media back.
    p.dave.send({ type: 'hold', callId: 'held' });
    expect(await p.dave.next('error')).toMatchObject({ code: 'HOT_ERR_WRONG_STATE', callId: 'held' });
    p.dave.send({ type: 'resume', callId: 'held' });
    expect(await p.erin.next('resumed')).toStrictEqual({ type: 'resumed', callId: 'held' });
    const heldA = new MediaFlow(p.dave, 'held', 10);
    const heldB = new MediaFlow(p.erin, 'held', 10);
    await heldA.more(5);
    await heldB.more(5);
    // A phone that arrived during the handoff calls the echo service on 2.0.0.
    const newcomer = arriving.phones[0] as Phone;
    await serviceCall(newcomer, 'late-echo', 'echo');
    const echo = new MediaFlow(newcomer, 'late-echo', 10);
    await echo.more(5);

    // The canary goes on here: promote moves the old sessions, the watch window ends, installed.
    expect((await adminPost(node, '/admin/install/promote')).status).toBe(200);
    const installed = await waitFor('the install to end', async () => {
      const i = await installOf(node);
      return i.outcome === null ? undefined : i;
    });
    expect(installed).toMatchObject({ id: canary.id, outcome: 'installed' });
    expect(await sessionsByRelease(node)).toEqual({ '2.0.0': 7 + arriving.phones.length });

    for (const flow of [talkA, talkB, heldA, heldB, echo]) await flow.drain();
    await hangUpExact(node, talkA, talkB, p.bob);
    await hangUpExact(node, heldA, heldB, p.erin);
    await hangUpExact(node, echo, echo);
    expect(await cdrOf(node, 'menu')).toMatchObject({ cause: 'normal', endedBy: 'callee' });

    // The ring timer fired once, in the successor, when it was due.
    await waitFor('the ring timeout', () => endings.length > 0, RING_TIMEOUT_MS + 20_000);
    await sleep(500);
    expect(endings).toEqual([expect.objectContaining({ callId: 'ring', cause: 'ring_timeout' })]);
    const firedAfter = (endings[0] as { at: number }).at - ringAt;
    expect(firedAfter).toBeGreaterThanOrEqual(RING_TIMEOUT_MS - 1000);
    expect(firedAfter).toBeLessThan(RING_TIMEOUT_MS + 10_000);
    expect(await cdrOf(node, 'ring')).toMatchObject({ cause: 'ring_timeout' });
    expect(closed).toEqual([]);
    expect(arriving.closed).toEqual([]);
  });

  it('an install in its watch window goes on in the successor and is rolled back there', async () => {
    const { node, connect } = await startNode(signer);
    const [alice, bob] = await Promise.all(['alice', 'bob'].map(connect));
    const p = { alice, bob } as Record<string, Phone>;
    const closed = watchCloses(p);
    await answeredCall(p.alice as Phone, p.bob as Phone, 'talk', 'bob');
    const talkA = new MediaFlow(p.alice as Phone, 'talk', 10);
    const talkB = new MediaFlow(p.bob as Phone, 'talk', 10);
    const started = await adminPost(node, '/admin/releases/2.0.0/install', { watchMs: 600_000 });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const watching = await waitFor('the watch window', async () => {
      const i = await installOf(node);
      return i.step === 'watch' ? i : undefined;
    });
    expect(await sessionsByRelease(node)).toEqual({ '2.0.0': 2 });
    const before = await processes(node);

    await handoff(node);
    expect((await node.exited).code).toBe(0);
    expect(await processes(node)).toEqual(before);
    expect(await installOf(node)).toMatchObject({ id: watching.id, step: 'watch', outcome: null });
    await talkA.more(5);
    await talkB.more(5);

    expect((await adminPost(node, '/admin/install/rollback')).status).toBe(200);
    expect(await installOf(node)).toMatchObject({ id: watching.id, outcome: 'rolled_back' });
    expect(await sessionsByRelease(node)).toEqual({ '1.0.0': 2 });
    await talkA.more(5);
    await talkB.more(5);
    await talkA.drain();
    await talkB.drain();
    await hangUpExact(node, talkA, talkB, p.bob);
    expect(closed).toEqual([]);
  });
});
