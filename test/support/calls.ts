/** Calls placed by test phones: answered calls, service calls, steady media, and a node still serving them. */
import { expect } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import { userName } from '../../server/calls/contract.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import type { Pid, Runtime } from '../../server/runtime/index.ts';
import { cdrOf } from './cdrs.ts';
import type { PhoneTarget } from './phone-tokens.ts';
import type { TestNode } from './test-node.ts';
import { waitFor } from './wait.ts';

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
export async function assertServes(node: PhoneTarget): Promise<void> {
  const user = `serves-${++serveCheck}`;
  const callId = `${user}-call`;
  const phone = await Phone.connect(node.callsUrl, { token: node.tokens });
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
