/**
 * Moving an established WebSocket between two processes (server/http/ws-handoff.ts): this
 * process runs the ws server and the client over loopback, a forked peer process adopts the
 * connection. Every frame must arrive once and in order, and the socket must never close.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  adoptWebSocket,
  detachWebSocket,
  isDetached,
  reattachWebSocket,
  releaseDetachedSocket,
  wsInternalsProblem,
} from '../../server/http/ws-handoff.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { type Numbered, recordNumbered, sendNumbered } from './fixtures/numbered.ts';
import type { PeerReply, PeerRequest } from './fixtures/ws-peer.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const peerScript = fileURLToPath(new URL('./fixtures/ws-peer.ts', import.meta.url));
const MAX_PAYLOAD = 1 << 20;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Peer {
  request(request: PeerRequest, socket?: Socket): Promise<{ reply: PeerReply; socket: Socket | undefined }>;
}

/** The other process, in its own process group (killed as a group after the test). */
async function startPeer(): Promise<Peer> {
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', peerScript], {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    detached: true,
  });
  const exited = once(proc, 'exit');
  cleanups.push(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    process.kill(-(proc.pid as number), 'SIGKILL');
    await exited;
  });
  const waiting: ((reply: PeerReply, socket: Socket | undefined) => void)[] = [];
  proc.on('message', (reply: PeerReply, socket: Socket | undefined) => waiting.shift()?.(reply, socket));
  const next = () =>
    new Promise<{ reply: PeerReply; socket: Socket | undefined }>((resolve, reject) => {
      waiting.push((reply, socket) =>
        reply.type === 'failed' ? reject(new Error(`peer: ${reply.why}`)) : resolve({ reply, socket }),
      );
    });
  const ready = await next();
  expect(ready.reply.type).toBe('ready');
  return {
    request(request, socket) {
      const answer = next();
      if (socket === undefined) proc.send(request);
      else proc.send(request, socket, { keepOpen: true });
      return answer;
    },
  };
}

/** A ws server in this process; `connection()` is the next connection's server end. */
async function startServer(): Promise<{ url: string; connection: Promise<WebSocket> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: MAX_PAYLOAD });
  await once(wss, 'listening');
  cleanups.push(() => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  });
  const connection = once(wss, 'connection').then(([ws]) => ws as WebSocket);
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, connection };
}

interface ServerFrame {
  n: number;
  who: string;
}

/** The phone: counts what it sends (`c<n>`), keeps what it gets, notes a close. */
async function connectClient(url: string) {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  let timer: NodeJS.Timeout | undefined;
  const client = {
    ws,
    got: [] as ServerFrame[],
    binary: [] as Buffer[],
    sent: 0,
    closed: false,
    startSending(everyMs: number) {
      timer = setInterval(() => ws.send(`c${client.sent++}`), everyMs);
    },
    stopSending() {
      clearInterval(timer);
    },
    from: (who: string) => client.got.filter((f) => f.who === who).length,
    /** The raw socket, for frames written byte by byte. */
    raw: (ws as unknown as { _socket: Socket })._socket,
  };
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) return client.binary.push(data);
    const [n, who] = String(data).slice(1).split('@');
    client.got.push({ n: Number(n), who: who as string });
  });
  ws.on('close', () => {
    client.closed = true;
  });
  cleanups.push(() => {
    clearInterval(timer);
    ws.terminate();
  });
  return client;
}

/** A server, a client connected to it, and the connection's server end `a`. */
async function connected() {
  const server = await startServer();
  const client = await connectClient(server.url);
  return { client, a: await server.connection };
}

/** Numbered frames flowing both ways between the client and `a`, and a peer process started. */
async function flowing() {
  const { client, a } = await connected();
  let closed = false;
  a.on('close', () => {
    closed = true;
  });
  const stateA: Numbered = { nextOut: 0, received: [] };
  recordNumbered(a, stateA);
  const sendingA = sendNumbered(a, 'A', stateA, 1);
  client.startSending(1);
  const peer = await startPeer();
  await waitFor('frames from A', () => client.from('A') >= 50);
  return { client, a, stateA, sendingA, peer, aClosed: () => closed };
}

/** The client begins a fragmented message; resolves once `a` has parsed its first fragment. */
async function fragmentBegun(
  client: Awaited<ReturnType<typeof connectClient>>,
  a: WebSocket,
): Promise<string[]> {
  const messages: string[] = [];
  a.on('message', (data) => messages.push(String(data)));
  client.raw.write(maskedFrame('c0:first-', { fin: false }));
  await waitFor('the first fragment at A', () => receiverOf(a)._fragmented !== 0);
  return messages;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Who sent the server frames, each run of the same sender once. */
const runs = (frames: ServerFrame[]): string[] =>
  frames.map((f) => f.who).filter((who, i, all) => i === 0 || all[i - 1] !== who);

/** A client frame as a browser writes it: masked. */
function maskedFrame(text: string, { fin = true, opcode = 1 } = {}): Buffer {
  const payload = Buffer.from(text);
  const mask = [0x12, 0x34, 0x56, 0x78];
  const length =
    payload.length < 126 ? [0x80 | payload.length] : [0x80 | 126, payload.length >> 8, payload.length & 0xff];
  const masked = payload.map((byte, i) => byte ^ (mask[i % 4] as number));
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, ...length, ...mask]), masked]);
}

/** Where the server end's frame parser is (the test looks inside ws to time its writes). */
const receiverOf = (ws: WebSocket) =>
  (ws as unknown as { _receiver: { _state: number; _bufferedBytes: number; _fragmented: number } })._receiver;
const GET_DATA = 4;

/** Move the server end `a` to `peer`, which serves on from `nextOut`. */
async function moveTo(peer: Peer, a: WebSocket, nextOut: number): Promise<Buffer> {
  const detached = await detachWebSocket(a);
  expect(isDetached(a)).toBe(true);
  await peer.request({ type: 'adopt', head: detached.head, nextOut, everyMs: 1 }, detached.socket);
  // The peer has its copy: this process closes its own, with no FIN.
  releaseDetachedSocket(detached);
  return detached.head;
}

async function peerReport(peer: Peer) {
  const { reply } = await peer.request({ type: 'report' });
  if (reply.type !== 'report') throw new Error(`expected a report, got ${reply.type}`);
  return reply;
}

describe('moving a ws connection to another process', () => {
  it('moves it there and back while frames flow both ways: each once, in order, never closed', async () => {
    const { client, a, stateA, sendingA, peer, aClosed } = await flowing();

    sendingA.stop();
    await moveTo(peer, a, stateA.nextOut);
    await waitFor('frames from B', () => client.from('B') >= 50);

    const { reply: back, socket } = await peer.request({ type: 'give-back' });
    if (back.type !== 'back' || socket === undefined)
      throw new Error(`expected the socket back, got ${back.type}`);
    const a2 = adoptWebSocket(socket, back.head, { maxPayload: MAX_PAYLOAD });
    const stateA2: Numbered = { nextOut: back.nextOut, received: [] };
    recordNumbered(a2, stateA2);
    const sendingA2 = sendNumbered(a2, 'A2', stateA2, 1);
    await peer.request({ type: 'release' });
    await waitFor('frames from A again', () => client.from('A2') >= 50);

    client.stopSending();
    const b = await peerReport(peer);
    await waitFor(
      'every client frame at the server',
      () => stateA.received.length + b.received.length + stateA2.received.length === client.sent,
    );
    sendingA2.stop();
    await sleep(20);

    expect(b.received.length).toBeGreaterThan(0);
    expect([...stateA.received, ...b.received, ...stateA2.received]).toEqual(range(client.sent));
    expect(client.got.map((f) => f.n)).toEqual(range(client.got.length));
    expect(runs(client.got)).toEqual(['A', 'B', 'A2']);
    expect(client.closed).toBe(false);
    expect(b.closed).toBe(false);
    // The detached object never told the application its connection closed.
    expect(aClosed()).toBe(false);
  });

  it('sends every frame queued before the detach before any frame of the new process', async () => {
    const { client, a } = await connected();
    const peer = await startPeer();
    const burst = 40;
    for (let i = 0; i < burst; i++) {
      const frame = Buffer.alloc(256 * 1024, i);
      frame.writeUInt32BE(i, 0);
      a.send(frame);
    }
    expect(a.bufferedAmount).toBeGreaterThan(0);
    await moveTo(peer, a, 0);
    await waitFor(
      'the burst and frames from B',
      () => client.binary.length === burst && client.from('B') >= 20,
    );

    expect(client.binary.map((frame) => frame.readUInt32BE(0))).toEqual(range(burst));
    for (const [i, frame] of client.binary.entries()) {
      expect(frame.length).toBe(256 * 1024);
      expect(frame.subarray(4).every((byte) => byte === i)).toBe(true);
    }
    expect(client.got.map((f) => f.n)).toEqual(range(client.got.length));
    expect(runs(client.got)).toEqual(['B']);
    expect(client.closed).toBe(false);
  });

  it('hands over the first byte of a frame read before the detach: the frame arrives whole in the new process', async () => {
    const { client, a } = await connected();
    const stateA: Numbered = { nextOut: 0, received: [] };
    recordNumbered(a, stateA);
    client.raw.write(Buffer.concat([maskedFrame('c0'), maskedFrame('c1')]));
    await waitFor('c0 and c1 at A', () => stateA.received.length === 2);
    const split = maskedFrame(`c2:${'x'.repeat(200)}`);
    client.raw.write(split.subarray(0, 1));
    await waitFor('the first byte at A', () => receiverOf(a)._bufferedBytes === 1);

    const peer = await startPeer();
    const head = await moveTo(peer, a, 0);
    expect(head).toEqual(split.subarray(0, 1));
    client.raw.write(split.subarray(1));
    client.raw.write(maskedFrame('c3'));
    const b = await waitFor('c2 and c3 at B', async () => {
      const report = await peerReport(peer);
      return report.received.length === 2 && report;
    });

    expect(stateA.received).toEqual([0, 1]);
    expect(b.received).toEqual([2, 3]);
    expect(client.closed).toBe(false);
  });

  it('waits for the end of a frame begun before the detach, then hands over the next one unparsed', async () => {
    const { client, a } = await connected();
    const stateA: Numbered = { nextOut: 0, received: [] };
    recordNumbered(a, stateA);
    const split = maskedFrame(`c0:${'x'.repeat(300)}`);
    client.raw.write(split.subarray(0, 50));
    await waitFor('the frame begun at A', () => receiverOf(a)._state === GET_DATA);

    let detachedYet = false;
    const detaching = detachWebSocket(a).finally(() => {
      detachedYet = true;
    });
    await sleep(100);
    expect(detachedYet).toBe(false);
    // The rest of the frame and the whole next one in a single write.
    client.raw.write(Buffer.concat([split.subarray(50), maskedFrame('c1')]));
    const detached = await detaching;
    expect(stateA.received).toEqual([0]);

    const peer = await startPeer();
    await peer.request({ type: 'adopt', head: detached.head, nextOut: 0, everyMs: 1000 }, detached.socket);
    releaseDetachedSocket(detached);
    client.raw.write(maskedFrame('c2'));
    const b = await waitFor('c1 and c2 at B', async () => {
      const report = await peerReport(peer);
      return report.received.length === 2 && report;
    });
    expect(b.received).toEqual([1, 2]);
    expect(client.closed).toBe(false);
  });

  it('waits for the end of a fragmented message begun before the detach', async () => {
    const { client, a } = await connected();
    const messages = await fragmentBegun(client, a);

    let detachedYet = false;
    const detaching = detachWebSocket(a).finally(() => {
      detachedYet = true;
    });
    await sleep(100);
    expect(detachedYet).toBe(false);
    client.raw.write(maskedFrame('last', { opcode: 0 }));
    await detaching;
    expect(messages).toEqual(['c0:first-last']);
  });

  it('gives a detached connection back when the other process refuses it: nothing lost or repeated', async () => {
    const flow = await flowing();
    const { client, a, stateA, peer } = flow;
    let sendingA = flow.sendingA;
    // Paused, the server end leaves the client's frames in the socket's buffer: they are in `head`.
    a.pause();
    await sleep(50);

    sendingA.stop();
    const detached = await detachWebSocket(a);
    expect(detached.head.length).toBeGreaterThan(0);
    // Nothing is written while detached: a send is refused through its callback.
    const refused = new Promise((resolve) => a.send('lost', resolve));
    expect(await refused).toBeInstanceOf(Error);
    const { reply } = await peer.request({ type: 'refuse', afterMs: 200 }, detached.socket);
    expect(reply.type).toBe('refused');

    reattachWebSocket(a, detached);
    expect(isDetached(a)).toBe(false);
    a.resume();
    sendingA = sendNumbered(a, 'A', stateA, 1);
    const before = client.from('A');
    await waitFor('frames from A after the refusal', () => client.from('A') >= before + 30);
    client.stopSending();
    await waitFor('every client frame at A', () => stateA.received.length === client.sent);
    sendingA.stop();

    expect(stateA.received).toEqual(range(client.sent));
    expect(client.got.map((f) => f.n)).toEqual(range(client.got.length));
    expect(runs(client.got)).toEqual(['A']);
    expect(client.closed).toBe(false);
    expect(flow.aClosed()).toBe(false);
  });

  it('refuses to detach a closed connection, and carries on when no frame boundary comes in time', async () => {
    const { client, a } = await connected();
    const messages = await fragmentBegun(client, a);

    await expect(detachWebSocket(a, { timeoutMs: 100 })).rejects.toThrow(/frame boundary/);
    expect(isDetached(a)).toBe(false);
    client.raw.write(maskedFrame('last', { opcode: 0 }));
    client.raw.write(maskedFrame('c1'));
    await waitFor('both messages at A', () => messages.length === 2);
    expect(messages).toEqual(['c0:first-last', 'c1']);

    client.ws.close();
    await once(a, 'close');
    await expect(detachWebSocket(a)).rejects.toThrow(/not open/);
  });
});

describe('the ws internals the handoff relies on', () => {
  it('are all there in the installed ws', () => {
    expect(wsInternalsProblem()).toBeUndefined();
  });

  it('are named when one changes', () => {
    const proto = WebSocket.prototype as unknown as { setSocket: (...args: unknown[]) => void };
    const original = Object.getOwnPropertyDescriptor(proto, 'setSocket') as PropertyDescriptor;
    const setSocket = proto.setSocket;
    try {
      proto.setSocket = function (this: { _sender: { _queue?: unknown } }, ...args: unknown[]) {
        setSocket.apply(this, args);
        delete this._sender._queue;
      };
      expect(wsInternalsProblem()).toMatch(/Sender#_queue/);
      Reflect.deleteProperty(proto, 'setSocket');
      expect(wsInternalsProblem()).toMatch(/setSocket/);
    } finally {
      Object.defineProperty(proto, 'setSocket', original);
    }
    expect(wsInternalsProblem()).toBeUndefined();
  });
});
