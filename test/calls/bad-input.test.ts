/**
 * Bad input from phones: every kind gets a typed error frame with a stable code (or the
 * documented close), never crashes anything, and never disturbs another session. Each test
 * keeps a bystander phone in an echo call with media flowing, and checks it at the end
 * along with a fresh phone and call on the same node. Messages a session refuses for its
 * state (wrong state, unknown call) are release code: the conformance suite checks them
 * on every release.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import { userName } from '../../server/calls/contract.ts';
import type { ServerMessage } from '../../server/calls/protocol/shipped.ts';
import { useGuardedNode } from '../support/call-flows.ts';
import { answeredCall } from '../support/calls.ts';
import { cdrOf } from '../support/cdrs.ts';
import { refusedUpgrade } from '../support/refused-upgrade.ts';
import { sleep, waitFor } from '../support/wait.ts';

const start = useGuardedNode();

const nextError = (p: Phone) => p.next('error') as Promise<Extract<ServerMessage, { type: 'error' }>>;

/** Send a raw frame and return the error frame it earned. */
async function errorFor(p: Phone, frame: string | Buffer, binary = false) {
  p.sendRaw(frame, binary);
  return nextError(p);
}

describe('malformed frames', () => {
  it('invalid JSON gets HOT_ERR_INVALID_JSON and the session carries on', async () => {
    const n = await start();
    const p = await n.phone();
    for (const frame of [
      '{',
      'not json',
      '{"type":"register","user":"x"',
      '',
      '{"type":"register"}}',
      'undefined',
    ]) {
      const e = await errorFor(p, frame);
      expect(e, frame).toMatchObject({ type: 'error', code: 'HOT_ERR_INVALID_JSON' });
      expect(e.ref).toBeUndefined();
    }
    // None of it reached the session: it registers as if nothing happened.
    await p.register('json-survivor');
    expect(p.isOpen).toBe(true);
    await n.unharmed();
  });

  it('binary frames get HOT_ERR_BINARY_FRAME, even when they hold valid JSON', async () => {
    const n = await start();
    const p = await n.phone();
    const valid = Buffer.from(JSON.stringify({ type: 'register', user: 'bin' }));
    expect(await errorFor(p, valid, true)).toMatchObject({ code: 'HOT_ERR_BINARY_FRAME' });
    expect(await errorFor(p, Buffer.from([0, 1, 2, 255, 254]), true)).toMatchObject({
      code: 'HOT_ERR_BINARY_FRAME',
    });
    expect(await errorFor(p, Buffer.alloc(0), true)).toMatchObject({ code: 'HOT_ERR_BINARY_FRAME' });
    // The binary register was not acted on: the same register as text succeeds.
    expect(n.rt.whereis(userName('bin'))).toBeUndefined();
    await p.register('bin');
    await n.unharmed();
  });

  it('unknown message types get HOT_ERR_UNKNOWN_TYPE with the type as ref', async () => {
    const n = await start();
    const p = await n.phone('typo');
    for (const type of [
      'hello',
      'REGISTER',
      'registered',
      'media_ack',
      'ended',
      '__proto__',
      'constructor',
      'toString',
      '',
    ]) {
      const e = await errorFor(p, JSON.stringify({ type, callId: 'x' }));
      expect(e, type).toMatchObject({ code: 'HOT_ERR_UNKNOWN_TYPE', ref: type });
    }
    // A huge type is cut down in the ref, not echoed back whole.
    const long = 'z'.repeat(5000);
    const e = await errorFor(p, JSON.stringify({ type: long }));
    expect(e.code).toBe('HOT_ERR_UNKNOWN_TYPE');
    expect(e.ref).toBe(long.slice(0, 64));
    // Still registered as typo, still able to call.
    p.send({ type: 'invite', callId: 'typo-1', to: 'echo' });
    await p.next('answered');
    p.send({ type: 'bye', callId: 'typo-1' });
    expect(await p.next('ended')).toMatchObject({ cause: 'normal' });
    await n.unharmed();
  });

  it('schema violations get HOT_ERR_SCHEMA (with the type as ref when there is one) and are not acted on', async () => {
    const n = await start();
    const p = await n.phone();
    const withRef: [string, Record<string, unknown>][] = [
      ['missing field', { type: 'invite', to: 'steady' }],
      ['missing user', { type: 'register' }],
      ['extra field', { type: 'register', user: 'schema', admin: true }],
      ['wrong type (user)', { type: 'register', user: 42 }],
      ['wrong type (seq)', { type: 'media', callId: 'c', seq: '1', sentAt: 0 }],
      ['wrong type (sentAt)', { type: 'media', callId: 'c', seq: 1, sentAt: 'now' }],
      ['bad DTMF digit', { type: 'dtmf', callId: 'c', digit: 'E' }],
      ['two DTMF digits', { type: 'dtmf', callId: 'c', digit: '12' }],
      ['empty DTMF digit', { type: 'dtmf', callId: 'c', digit: '' }],
      ['negative seq', { type: 'media', callId: 'c', seq: -1, sentAt: 0 }],
      ['fractional seq', { type: 'media', callId: 'c', seq: 1.5, sentAt: 0 }],
      ['bad user name', { type: 'register', user: 'a b' }],
      ['empty callId', { type: 'bye', callId: '' }],
      ['callId too long', { type: 'bye', callId: 'c'.repeat(65) }],
      ['payload too long', { type: 'media', callId: 'c', seq: 1, sentAt: 0, payload: 'p'.repeat(2049) }],
    ];
    for (const [why, frame] of withRef) {
      const e = await errorFor(p, JSON.stringify(frame));
      expect(e, why).toMatchObject({ code: 'HOT_ERR_SCHEMA', ref: frame.type });
    }
    for (const frame of [
      '[]',
      '[{"type":"register","user":"x"}]',
      '42',
      '"x"',
      'null',
      'true',
      '{}',
      '{"type":5}',
      '{"type":null}',
    ]) {
      const e = await errorFor(p, frame);
      expect(e, frame).toMatchObject({ code: 'HOT_ERR_SCHEMA' });
      expect(e.ref).toBeUndefined();
    }
    // Frames JSON.parse accepts but objects built from them could misread.
    for (const [frame, ref] of [
      ['{"type":"register","user":"schema","__proto__":{"admin":true}}', 'register'],
      ['{"type":"register","user":"schema","type":"invite"}', 'invite'],
      ['{"type":"media","callId":"c","seq":1,"sentAt":1e400}', 'media'],
      ['{"type":"media","callId":"c","seq":9007199254740993,"sentAt":0}', 'media'],
      ['{"type":"dtmf","callId":"c","digit":"1\\n"}', 'dtmf'],
      [`{"type":"register","user":"schema","e":${'['.repeat(4000)}${']'.repeat(4000)}}`, 'register'],
    ] as const) {
      const e = await errorFor(p, frame);
      expect(e, frame.slice(0, 80)).toMatchObject({ code: 'HOT_ERR_SCHEMA', ref });
    }
    // The register with an extra field did not register anyone; a clean one works.
    expect(n.rt.whereis(userName('schema'))).toBeUndefined();
    await p.register('schema');
    await n.unharmed();
  });
});

describe('limits', () => {
  it('a frame over maxPayloadBytes closes that socket with 1009', async () => {
    const n = await start({ maxPayloadBytes: 1024 });
    const p = await n.phone('big');
    const before = n.gateway.connections;
    // Just under the limit is an ordinary frame.
    const under = JSON.stringify({ type: 'u'.repeat(990) });
    expect(Buffer.byteLength(under)).toBeLessThanOrEqual(1024);
    expect(await errorFor(p, under)).toMatchObject({ code: 'HOT_ERR_UNKNOWN_TYPE' });
    p.sendRaw(JSON.stringify({ type: 'media', callId: 'x', seq: 0, sentAt: 0, payload: 'p'.repeat(2000) }));
    expect((await p.closed).code).toBe(1009);
    await waitFor('the big session gone', () => n.rt.whereis(userName('big')) === undefined);
    await waitFor('its socket released', () => n.gateway.connections === before - 1);
    await n.unharmed();
  });

  it('a message flood gets HOT_ERR_RATE_LIMITED, then close 1008; other phones are not limited', async () => {
    // The bystander sends 10 frames a second, under the limit of 20.
    const n = await start({ messagesPerSecond: 20, burst: 20 }, 100);
    const p = await n.phone('flood');
    for (let i = 0; i < 200; i++) p.sendRaw(JSON.stringify({ type: 'spam', seq: i }));
    const closed = await p.closed;
    expect(closed.code).toBe(1008);
    const errors = p.log.filter((m) => m.type === 'error');
    const limited = errors.filter((m) => m.code === 'HOT_ERR_RATE_LIMITED');
    expect(limited).toHaveLength(1);
    expect(p.log.at(-1)).toEqual(limited[0]);
    // Frames within the burst were handled; the rest were dropped, not queued.
    const handled = errors.filter((m) => m.code === 'HOT_ERR_UNKNOWN_TYPE').length;
    expect(handled).toBeGreaterThanOrEqual(10);
    expect(handled).toBeLessThan(200);
    await waitFor('the flood session gone', () => n.rt.whereis(userName('flood')) === undefined);
    await n.unharmed();
  });

  it('a phone that stops reading is ended (socket terminated, buffer bounded); its peer hears peer_gone', async () => {
    const maxBufferedBytes = 64 * 1024;
    const n = await start({ maxBufferedBytes, messagesPerSecond: 1_000_000, burst: 1_000_000 });
    // The node's side of every new connection, to watch what it buffers for the slow phone.
    const serverSockets: Socket[] = [];
    n.publicApp.server.on('connection', (s: Socket) => serverSockets.push(s));
    const talker = await n.phone('talker');
    const sleeper = await n.phone('sleeper');
    const sleeperSocket = (sleeper.ws as unknown as { _socket: Socket })._socket;
    const nodeSide = serverSockets.find((s) => s.remotePort === sleeperSocket.localPort);
    expect(nodeSide).toBeDefined();
    await answeredCall(talker, sleeper, 'slow', 'sleeper');

    sleeperSocket.pause();
    let maxBuffered = 0;
    const sampler = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, nodeSide?.writableLength ?? 0);
    }, 1);
    const payload = 'm'.repeat(2000);
    let sent = 0;
    let ended: ServerMessage | null = null;
    talker.onMessage((m) => {
      if (m.type === 'ended') ended = m;
    });
    try {
      // Keep sending until the node gives up on the sleeper (bounded: 60 MB at most).
      while (ended === null && sent < 30_000) {
        if (talker.ws.bufferedAmount > 1024 * 1024) {
          await sleep(5);
          continue;
        }
        for (let i = 0; i < 100; i++)
          talker.send({ type: 'media', callId: 'slow', seq: sent++, sentAt: Date.now(), payload });
        await new Promise((r) => setImmediate(r));
      }
      await waitFor('the talker told the call ended', () => ended !== null, 10_000);
    } finally {
      clearInterval(sampler);
    }
    expect(ended).toMatchObject({ type: 'ended', callId: 'slow', cause: 'peer_gone' });
    // What the node held for the sleeper stayed near the limit: one frame over it at most.
    expect(maxBuffered).toBeLessThanOrEqual(maxBufferedBytes + 16 * 1024);
    expect(nodeSide?.destroyed).toBe(true);
    await waitFor('the sleeper session gone', () => n.rt.whereis(userName('sleeper')) === undefined);

    const cdr = await cdrOf(n, 'slow');
    expect(cdr).toMatchObject({
      caller: 'talker',
      callee: 'sleeper',
      cause: 'slow_reader',
      endedBy: 'callee',
    });
    expect(cdr.mediaAtoB).toBeGreaterThan(0);

    // The sleeper wakes up to a connection that was cut, not closed.
    sleeperSocket.resume();
    expect((await sleeper.closed).code).toBe(1006);
    // The talker's session is fine: it calls again.
    talker.send({ type: 'invite', callId: 'after-slow', to: 'echo' });
    await talker.next((m) => m.type === 'answered' && m.callId === 'after-slow');
    talker.send({ type: 'bye', callId: 'after-slow' });
    await talker.next((m) => m.type === 'ended' && m.callId === 'after-slow');
    await n.unharmed();
  });

  it('an upgrade at maxSessions gets HTTP 503 HOT_ERR_NODE_FULL; a freed slot is usable again', async () => {
    // The bystander holds one of the three.
    const n = await start({ maxSessions: 3 });
    const p1 = await n.phone('full-1');
    await n.phone('full-2');
    expect(n.gateway.connections).toBe(3);
    const refused = await refusedUpgrade(n.callsUrl);
    expect(refused).toMatchObject({ status: 503, body: { code: 'HOT_ERR_NODE_FULL' } });
    await expect(Phone.connect(n.callsUrl)).rejects.toThrow(/503/);
    // The refused upgrades started nothing.
    expect(n.gateway.connections).toBe(3);
    expect([...n.rt.processes()].filter((p) => p.behaviour.name === 'session')).toHaveLength(3);
    await p1.close();
    await waitFor('a slot freed', () => n.gateway.connections === 2);
    await n.unharmed();
  });
});
