/**
 * The phones' sockets sent to the successor ahead of their batches (socket-stream.ts), over a
 * channel that records what it is given, on real WebSockets: nothing before B runs, in order,
 * at most a window of them that B has not held, a batch's own first; quiet drains before a
 * batch is paused; a closed phone or a broken channel is never waited for.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { SuccessorChannel } from '../../server/handoff/channel.ts';
import { Inbox } from '../../server/handoff/inbox.ts';
import type { HandoffMessage } from '../../server/handoff/protocol.ts';
import { SocketStream } from '../../server/handoff/socket-stream.ts';

const WINDOW = 128;
const PHONES = WINDOW + 20;

let server: WebSocketServer;
/** Server-side WebSockets, by the stream's socket number (their index). */
let phones: WebSocket[] = [];
const clients: WebSocket[] = [];

beforeAll(async () => {
  server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  for (let i = 0; i < PHONES; i++) {
    const accepted = once(server, 'connection');
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    clients.push(client);
    const [ws] = (await accepted) as [WebSocket];
    phones.push(ws);
  }
});

afterAll(async () => {
  for (const c of clients) c.terminate();
  server.close();
  phones = [];
});

function successor(fail?: Error, inherited: number[] = []) {
  const listeners: ((m: HandoffMessage, handle: undefined) => void)[] = [];
  const sent: { socket: number; handle: unknown }[] = [];
  const named: number[][] = [];
  const channel: SuccessorChannel = {
    pid: 1,
    inherited,
    send: (m, handle) => {
      if (fail !== undefined) return Promise.reject(fail);
      if (m.type === 'socket') sent.push({ socket: m.socket, handle });
      if (m.type === 'inherit') named.push([...m.sockets]);
      return Promise.resolve();
    },
    onMessage: (listener) => listeners.push(listener),
    onGone: () => {},
    kill: () => {},
  };
  const stream = new SocketStream(channel, new Inbox(channel));
  const say = (m: HandoffMessage) => {
    for (const l of listeners) l(m, undefined);
  };
  return {
    stream,
    sent: () => sent.map((s) => s.socket),
    handles: sent,
    receiving: () => say({ type: 'receiving' }),
    held: (...sockets: number[]) => say({ type: 'held', sockets }),
    heldInherited: (sockets: number[], notHeld: number[]) => say({ type: 'held', sockets, notHeld }),
    named,
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const entries = (sockets: number[]) => sockets.map((s) => [s, phones[s] as WebSocket] as const);
const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: unknown })._socket;

describe('sockets sent ahead', () => {
  it('go once B runs, in order with their own socket, at most a window that B has not held, each once', async () => {
    const b = successor();
    b.stream.push(entries(range(0, PHONES)));
    await turn();
    expect(b.sent()).toEqual([]);
    b.receiving();
    await turn();
    expect(b.sent()).toEqual(range(0, WINDOW));
    expect(b.handles[3]?.handle).toBe(socketOf(phones[3] as WebSocket));
    b.held(0, 1, 2);
    await turn();
    expect(b.sent()).toEqual(range(0, WINDOW + 3));
    b.stream.push(entries(range(0, 5))); // held already: not sent twice
    // B answers what it got, as it gets it.
    while (b.sent().some((s) => !b.stream.holds(s))) {
      b.held(...b.sent().filter((s) => !b.stream.holds(s)));
      await turn();
    }
    expect(b.sent()).toEqual(range(0, PHONES));
    expect(b.stream.holds(PHONES - 1)).toBe(true);
    expect(b.stream.needs(range(0, PHONES))).toBe(false);
  });

  it('a batch waits until B holds its sockets, its own first; quiet sends nothing more and waits for those on their way', async () => {
    const b = successor();
    b.stream.push(entries(range(0, PHONES)));
    b.receiving();
    await turn();
    const batch = [PHONES - 1, 5];
    expect(b.stream.needs(batch)).toBe(true);
    let ready = false;
    const waiting = b.stream.ahead(batch).then(() => {
      ready = true;
    });
    b.held(0);
    await turn();
    // PHONES - 1 was queued behind the rest: it goes next.
    expect(b.sent().at(-1)).toBe(PHONES - 1);
    b.held(PHONES - 1);
    await turn();
    expect(ready).toBe(false); // 5 is on its way, not held
    b.held(5);
    await waiting;

    let quiet = false;
    const quieting = b.stream.quiet().then(() => {
      quiet = true;
    });
    const sentBefore = b.sent().length;
    b.held(1, 2);
    await turn();
    expect(b.sent().length).toBe(sentBefore);
    expect(quiet).toBe(false);
    const onTheirWay = b.sent().filter((s) => !b.stream.holds(s));
    b.held(...onTheirWay);
    await quieting;
    b.stream.resume();
    await turn();
    expect(b.sent().length).toBeGreaterThan(sentBefore);
  });

  it('sockets B got when it was spawned are named once, in order, and never sent; one B could not open is sent first', async () => {
    const b = successor(undefined, [9, 2, 7, 4]);
    b.stream.push(entries(range(0, 10)));
    b.receiving();
    await turn();
    expect(b.named).toEqual([[9, 2, 7, 4]]);
    expect(b.sent()).toEqual([0, 1, 3, 5, 6, 8]);
    // Named, not held yet: a batch still waits for them.
    expect(b.stream.needs([2])).toBe(true);
    b.held(0, 1, 3, 5, 6, 8);
    b.heldInherited([9, 2, 4], [7]);
    await turn();
    expect(b.stream.needs([9, 2, 4])).toBe(false);
    expect(b.stream.holds(9)).toBe(true);
    expect(b.stream.holds(7)).toBe(false);
    expect(b.sent()).toEqual([0, 1, 3, 5, 6, 8, 7]);
    b.held(7);
    await turn();
    expect(b.stream.needs(range(0, 10))).toBe(false);
  });

  it('a phone that closed is not sent nor waited for', async () => {
    const b = successor();
    const closing = phones[PHONES - 2] as WebSocket;
    closing.close();
    b.stream.push(entries([PHONES - 2]));
    b.receiving();
    await b.stream.ahead([PHONES - 2]);
    expect(b.sent()).toEqual([]);
  });

  it('a broken channel stops the stream: nobody waits for it, the batches send their own sockets', async () => {
    const b = successor(new Error('channel closed'));
    b.stream.push(entries(range(0, 4)));
    b.receiving();
    await turn();
    expect(b.stream.needs([0])).toBe(false);
    await b.stream.ahead([0, 1]);
    expect(b.stream.holds(0)).toBe(false);
  });
});
