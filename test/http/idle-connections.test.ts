/**
 * Connections that do nothing are closed, on both surfaces: TCP connections that never
 * send a request, a WebSocket handshake or request headers left half-sent, phones that stop
 * answering pings (their calls end); and connections that are not phones yet are capped,
 * in total and per source address.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { answeredCall } from '../support/calls.ts';
import { metric, sample } from '../support/metrics.ts';
import { type TestNode, useTestNode } from '../support/test-node.ts';
import { sleep, TIMER_SLACK_MS, waitFor } from '../support/wait.ts';

const start = useTestNode();

/** Slack for a close after its deadline: the servers share two noisy cores with the tests. */
const LATE_MS = 1500;

interface RawConnection {
  socket: Socket;
  /** Everything the node sent. */
  received(): string;
  /** Resolves with the time from connect to close, in ms. */
  closed: Promise<number>;
  isOpen(): boolean;
}

/** A TCP connection to `url`'s host and port that sends only what the test writes. */
async function rawConnection(url: string, localAddress = '127.0.0.1'): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const opened = Date.now();
  let text = '';
  let open = true;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  socket.on('error', () => {
    // A reset is a close too; `closed` reports it.
  });
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      open = false;
      resolve(Date.now() - opened);
    }),
  );
  return { socket, received: () => text, closed, isOpen: () => open };
}

async function idleConnections(url: string, count: number): Promise<RawConnection[]> {
  return Promise.all(Array.from({ length: count }, () => rawConnection(url)));
}

describe('connections that do nothing', () => {
  it('idle TCP connections on both surfaces are closed once the handshake timeout has passed', async () => {
    const handshakeTimeoutMs = 400;
    const n = await start({ handshakeTimeoutMs });
    const idle = [...(await idleConnections(n.httpUrl, 10)), ...(await idleConnections(n.adminUrl, 10))];
    const lifetimes = await Promise.all(
      idle.map((c) => Promise.race([c.closed, sleep(handshakeTimeoutMs + LATE_MS).then(() => Infinity)])),
    );
    for (const ms of lifetimes) {
      expect(ms).toBeGreaterThanOrEqual(handshakeTimeoutMs - TIMER_SLACK_MS);
      expect(ms).toBeLessThanOrEqual(handshakeTimeoutMs + LATE_MS);
    }
    for (const c of idle) expect(c.received()).toBe('');
    expect(await metric(n, 'hotline_connections_timed_out_total', { reason: 'handshake' })).toBe(20);
    // A connection that sends its request in time is served.
    expect((await fetch(`${n.httpUrl}/healthz`)).status).toBe(200);
  });

  it('a half-sent WebSocket handshake is closed once the handshake timeout has passed', async () => {
    const handshakeTimeoutMs = 400;
    const n = await start({ handshakeTimeoutMs });
    const c = await rawConnection(n.httpUrl);
    // The upgrade request without the blank line that ends its headers.
    c.socket.write(
      'GET /calls HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Version: 13\r\n',
    );
    const ms = await Promise.race([c.closed, sleep(handshakeTimeoutMs + LATE_MS).then(() => Infinity)]);
    expect(ms).toBeGreaterThanOrEqual(handshakeTimeoutMs - TIMER_SLACK_MS);
    expect(ms).toBeLessThanOrEqual(handshakeTimeoutMs + LATE_MS);
    expect(n.gateway.connections).toBe(0);
  });

  it('headers of a later request on a keep-alive connection must arrive within the headers timeout', async () => {
    const headersTimeoutMs = 400;
    const n = await start({ headersTimeoutMs, requestTimeoutMs: 1000, keepAliveTimeoutMs: 10_000 });
    const c = await rawConnection(n.httpUrl);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor('the first answer', () => c.received().startsWith('HTTP/1.1 200'));
    const sentAt = Date.now();
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await Promise.race([c.closed, sleep(headersTimeoutMs + LATE_MS)]);
    expect(c.isOpen()).toBe(false);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(headersTimeoutMs - TIMER_SLACK_MS);
  });

  it('a phone that stops answering pings is closed within interval + timeout, and its call ends', async () => {
    const pingIntervalMs = 300;
    const pongTimeoutMs = 300;
    // Node's request timeouts shorter than the test, to show they leave phones alone.
    const n = await start({ pingIntervalMs, pongTimeoutMs, headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const bob = await n.phone('bob');
    const silent = await mutePhone(n);
    silent.ws.send(JSON.stringify({ type: 'register', user: 'alice', token: await n.tokens('alice') }));
    await silent.next('registered');
    silent.ws.send(JSON.stringify({ type: 'invite', callId: 'c1', to: 'bob' }));
    await bob.next((m) => m.type === 'incoming' && m.callId === 'c1');
    bob.send({ type: 'answer', callId: 'c1' });
    await bob.next((m) => m.type === 'answered' && m.callId === 'c1');
    // The network under alice vanishes: no more pongs, no FIN.
    silent.answering = false;
    const mutedAt = Date.now();
    const ended = await bob.next((m) => m.type === 'ended' && m.callId === 'c1', 5000);
    expect(ended).toMatchObject({ type: 'ended', callId: 'c1' });
    await silent.closed;
    expect(Date.now() - mutedAt).toBeLessThanOrEqual(pingIntervalMs + pongTimeoutMs + LATE_MS);
    expect(await metric(n, 'hotline_connections_timed_out_total', { reason: 'pong' })).toBe(1);
    // Bob answers his pings (ws does by default) and stays, past several rounds.
    await sleep(3 * (pingIntervalMs + pongTimeoutMs));
    expect(bob.isOpen).toBe(true);
    await answeredCall(await n.phone('carol'), bob, 'c2', 'bob');
  });
});

describe('connections that are not phones yet', () => {
  it('are capped per source address; phones do not count, other addresses are not affected', async () => {
    const n = await start({ maxPendingPerAddress: 3 });
    const pending = await idleConnections(n.httpUrl, 2);
    // A phone was pending while it connected, and is not any more.
    await n.phone('dora');
    pending.push(await rawConnection(n.httpUrl));
    const refused = await rawConnection(n.httpUrl);
    expect(await Promise.race([refused.closed, sleep(LATE_MS).then(() => Infinity)])).toBeLessThan(LATE_MS);
    expect(refused.received()).toBe('');
    // Read in the process: a scrape from this address would be refused too.
    expect(
      sample(await n.metrics.registry.metrics(), 'hotline_connections_refused_total', {
        reason: 'address_limit',
      }),
    ).toBe(1);
    for (const c of pending) expect(c.isOpen()).toBe(true);
    // Another address still gets in, up to its own limit.
    const other = await rawConnection(n.httpUrl, '127.0.0.2');
    other.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor('an answer from the other address', () => other.received().startsWith('HTTP/1.1 200'));
    // A closed pending connection frees its place.
    (pending[0] as RawConnection).socket.destroy();
    await waitFor('a freed place', () =>
      fetch(`${n.httpUrl}/healthz`).then(
        (res) => res.status === 200,
        () => false,
      ),
    );
  });

  it('are capped in total, on the admin surface too', async () => {
    const n = await start({ maxPendingConnections: 2 });
    const pending = [
      await rawConnection(n.adminUrl, '127.0.0.2'),
      await rawConnection(n.adminUrl, '127.0.0.3'),
    ];
    const refused = await rawConnection(n.adminUrl, '127.0.0.4');
    expect(await Promise.race([refused.closed, sleep(LATE_MS).then(() => Infinity)])).toBeLessThan(LATE_MS);
    expect(await metric(n, 'hotline_connections_refused_total', { reason: 'pending_limit' })).toBe(1);
    for (const c of pending) expect(c.isOpen()).toBe(true);
  });
});

describe('small fixes', () => {
  it('takes the bearer scheme in any case (RFC 7235)', async () => {
    const n = await start();
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const res = await fetch(`${n.adminUrl}/admin/modules`, {
        headers: { authorization: `${scheme} ${n.adminToken}` },
      });
      expect(res.status, scheme).toBe(200);
    }
    const wrong = await fetch(`${n.adminUrl}/admin/modules`, { headers: { authorization: 'bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('an upload over the body limit sent with Expect: 100-continue gets 413, not 100 Continue', async () => {
    const n = await start();
    const post = (length: number) =>
      `POST /admin/releases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${n.adminToken}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;
    const big = await rawConnection(n.adminUrl);
    big.socket.write(post(100 * 1024 * 1024));
    await waitFor('an answer', () => big.received().includes('\r\n\r\n'));
    expect(big.received()).toMatch(/^HTTP\/1\.1 413 /);
    await Promise.race([big.closed, sleep(LATE_MS)]);
    expect(big.isOpen()).toBe(false);
    // A body within the limit is still asked for, and read.
    const small = await rawConnection(n.adminUrl);
    small.socket.write(post(2));
    await waitFor('100 Continue', () => small.received().startsWith('HTTP/1.1 100 Continue\r\n\r\n'));
    small.socket.write('{}');
    await waitFor('the answer', () => /HTTP\/1\.1 4\d\d /.test(small.received().slice(25)));
    small.socket.destroy();
  });
});

/** A phone that answers pings only while `answering`; ws answers them itself unless told not to. */
async function mutePhone(n: TestNode) {
  const ws = new WebSocket(n.callsUrl, { perMessageDeflate: false, autoPong: false });
  const state = { ws, answering: true, closed: new Promise((resolve) => ws.once('close', resolve)) };
  ws.on('ping', (data) => {
    if (state.answering) ws.pong(data);
  });
  ws.on('error', () => {
    // A terminated socket errors; `closed` reports it.
  });
  const queue: { type: string }[] = [];
  ws.on('message', (data) => queue.push(JSON.parse(data.toString()) as { type: string }));
  await new Promise((resolve) => ws.once('open', resolve));
  return Object.assign(state, {
    next: (type: string) => waitFor(`a ${type} frame`, () => queue.find((m) => m.type === type)),
  });
}
