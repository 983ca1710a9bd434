/**
 * inherit.ts: phones' sockets given to a successor as descriptors when it is spawned. The
 * successor holds each that is a socket and leaves out any other descriptor (A then sends that
 * socket over IPC); a socket it holds is the same connection, which it can write on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { INHERITED_FD, inheritance, rawHandleOf } from '../../server/handoff/inherit.ts';

const fixture = fileURLToPath(new URL('fixtures/inheritor.ts', import.meta.url));
const children: ChildProcess[] = [];
const closers: (() => void)[] = [];

afterEach(() => {
  for (const child of children.splice(0)) {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
  for (const close of closers.splice(0)) close();
});

/** A connected pair on loopback: the server's side (what a node holds) and the client's. */
async function connection(): Promise<{ accepted: net.Socket; client: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const accepted = await new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  server.close();
  closers.push(() => {
    client.destroy();
    accepted.destroy();
  });
  return { accepted, client };
}

const received = (socket: net.Socket): Promise<string> =>
  new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('end', () => resolve(text));
  });

it('a successor holds the sockets it was spawned with, in order, and leaves out what is not a socket', async () => {
  const [a, b] = [await connection(), await connection()];
  const file = openSync(fileURLToPath(import.meta.url), 'r');
  closers.push(() => closeSync(file));
  const given = inheritance([
    [7, rawHandleOf(a.accepted)],
    [9, rawHandleOf(b.accepted)],
  ]);
  expect(given.sockets).toEqual([7, 9]);
  // A descriptor that is no socket where socket 8 should be: the successor must leave it out.
  const ids = [7, 8, 9];
  const stdio = [given.stdio[0] as number, file, given.stdio[1] as number];
  expect(INHERITED_FD).toBe(4);
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(ids)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...stdio],
    detached: true,
  });
  children.push(child);
  const said = new Promise<{ held: number[] }>((resolve) => child.once('message', resolve as never));
  const [fromA, fromB] = [received(a.client), received(b.client)];
  expect((await said).held).toEqual([7, 9]);
  // The same connections, written on by the successor (this process's copies stay silent).
  expect(await fromA).toBe('7\n');
  expect(await fromB).toBe('9\n');
});

it('gives descriptors in their own order, each with its socket id, so none is below the slot it goes to', () => {
  const close = () => {};
  expect(
    inheritance([
      [1, { fd: 90, close }],
      [2, { fd: 12, close }],
      [3, { fd: 40, close }],
    ]),
  ).toEqual({ stdio: [12, 40, 90], sockets: [2, 3, 1] });
});

it('a socket with no descriptor (destroyed) is not given', async () => {
  const { accepted } = await connection();
  accepted.destroy();
  expect(inheritance([[1, rawHandleOf(accepted)]])).toEqual({ stdio: [], sockets: [] });
});
