/**
 * Phones' sockets given to the successor (B) when it is spawned, as extra stdio descriptors:
 * every one at once, with no IPC round trip (Node's IPC carries one handle per round trip,
 * about a millisecond each under load). The spawner is whoever holds copies: the old node
 * (A) spawning B itself, or the keeper, which holds a copy of every phone's socket
 * (server/node/keeper.ts). The i-th socket named in `inherit` is B's descriptor
 * INHERITED_FD + i; B holds them unread until their batches commit, like those sent ahead.
 */
import net from 'node:net';
import type { WebSocket } from 'ws';
import { holdSocket, socketOf } from '../http/ws-handoff.ts';

/** 0–2 are stdio, 3 is the IPC channel. */
export const INHERITED_FD = 4;

/**
 * Node's stream handle under a socket (tcp_wrap). The keeper holds these: sent over IPC bare
 * (Node's `net.Native`), a handle is not tied to its server's connection count, as a
 * net.Socket would be, and nothing starts reading it on arrival.
 */
export interface RawHandle {
  readonly fd: number;
  close(): void;
}

export const isRawHandle = (value: unknown): value is RawHandle =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { fd?: unknown }).fd === 'number' &&
  typeof (value as { close?: unknown }).close === 'function';

export function rawHandleOf(socket: net.Socket): RawHandle | undefined {
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  return isRawHandle(handle) && handle.fd >= 0 ? handle : undefined;
}

/** The sockets of these WebSockets that can move (not TLS, not closing), by socket id. */
export function* movableSockets(
  phones: ReadonlyMap<number, WebSocket>,
): Generator<readonly [id: number, socket: net.Socket]> {
  for (const [id, ws] of phones) {
    const socket = socketOf(ws);
    if (socket !== undefined) yield [id, socket];
  }
}

/** What a spawn passes: the stdio entries after the IPC channel, and the socket ids they carry, in order. */
export interface Inheritance {
  readonly stdio: number[];
  readonly sockets: number[];
}

export function inheritance(
  handles: Iterable<readonly [id: number, handle: RawHandle | undefined]>,
): Inheritance {
  const given: [fd: number, id: number][] = [];
  for (const [id, handle] of handles) if (handle !== undefined && handle.fd >= 0) given.push([handle.fd, id]);
  // In the order of their descriptors: each is then at or above the slot it goes to, and the
  // child moves it there directly (libuv first copies one that is below its slot elsewhere,
  // which takes a descriptor more in a process that may be near its limit).
  given.sort((a, b) => a[0] - b[0]);
  return { stdio: given.map(([fd]) => fd), sockets: given.map(([, id]) => id) };
}

/**
 * In B: the inherited sockets, by socket id, each held unread (synchronously: Node starts
 * reading a socket it is built on). A descriptor that is not a socket is left out: A then
 * sends that socket over IPC.
 */
export function openInherited(ids: readonly number[]): Map<number, net.Socket> {
  const sockets = new Map<number, net.Socket>();
  ids.forEach((id, i) => {
    try {
      const socket = new net.Socket({ fd: INHERITED_FD + i, readable: true, writable: true });
      holdSocket(socket);
      sockets.set(id, socket);
    } catch {
      // Not a stream descriptor (ERR_INVALID_FD_TYPE): it goes over IPC instead.
    }
  });
  return sockets;
}
