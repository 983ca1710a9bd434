/**
 * `keeperSuccessor`: how a node that runs under the keeper (env HOTLINE_KEEPER=1) starts its
 * successor. It asks the keeper over its own IPC channel; the keeper spawns the successor as
 * its child and relays the handoff's messages and handles both ways, so the successor
 * outlives this node and stays under the place the keeper holds.
 */
import net from 'node:net';
import type { Handle, StartSuccessor, SuccessorChannel } from './channel.ts';
import { type RawHandle, rawHandleOf } from './inherit.ts';
import { type KeeperRequest, parseKeeperNotice } from './keeper-protocol.ts';
import { fromWire, type HandoffMessage, toWire } from './protocol.ts';

/** Whether this process runs under the keeper (the keeper sets it for every node it spawns). */
export const underKeeper = (): boolean => process.env.HOTLINE_KEEPER === '1' && process.send !== undefined;

function toKeeper(request: KeeperRequest, handle?: Handle | RawHandle): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined || !process.connected)
      return reject(new Error('no channel to the keeper'));
    // keepOpen: this node keeps its copy of a socket until the successor acks its batch.
    process.send(request, handle as Handle | undefined, { keepOpen: true }, (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

type Listener = (message: unknown, handle: unknown) => void;

/** What the gateway tells the keeper of its phones' sockets, so the keeper holds a copy of each. */
export interface SocketCopies {
  keep(socket: number, handle: net.Socket): void;
  drop(socket: number): void;
  /** After a failed handoff: the phones this node has; the keeper closes its copies of any other. */
  only(sockets: Iterable<number>): void;
}

/**
 * Under the keeper: each new phone's socket is sent to the keeper once (one IPC round trip,
 * while the phone connects, not while a handoff runs). A copy keeps the connection open until
 * the keeper closes it, so every end of a phone's connection is passed on (`drop`).
 */
export function keeperCopies(): SocketCopies {
  const quietly = (request: KeeperRequest, handle?: RawHandle) =>
    void toKeeper(request, handle).catch(() => {});
  return {
    keep(socket, handle) {
      const raw = rawHandleOf(handle);
      if (raw !== undefined) quietly({ keeper: 'copy', socket }, raw);
    },
    drop: (socket) => quietly({ keeper: 'drop', socket }),
    only: (sockets) => quietly({ keeper: 'copies', sockets: [...sockets] }),
  };
}

/** The keeper gives the successor its own copies of the phones' sockets (`keeperCopies`), not this node's. */
export const keeperSuccessor: StartSuccessor = (spec) =>
  new Promise<SuccessorChannel>((resolve, reject) => {
    const messageListeners: ((message: HandoffMessage, handle: Handle | undefined) => void)[] = [];
    const goneListeners: ((why: string) => void)[] = [];
    // The listeners this node passed, by number: a connection the keeper's transit copy
    // accepted comes back to the one it belongs to.
    const servers = new Map<number, net.Server>();
    let goneWhy: string | undefined;
    let started = false;

    const onMessage: Listener = (raw, handle) => {
      const notice = parseKeeperNotice(raw);
      if (notice === undefined) return;
      switch (notice.keeper) {
        case 'spawned':
          if (started) return;
          started = true;
          resolve(channel(notice.pid, notice.inherited));
          return;
        case 'spawn-failed':
          if (started) return;
          cleanUp();
          reject(new Error(`the keeper could not start the successor: ${notice.why}`));
          return;
        case 'relay': {
          const message = fromWire(notice.message);
          if (message === undefined) return;
          for (const listener of messageListeners) listener(message, asHandle(handle));
          return;
        }
        case 'connection':
          if (handle instanceof net.Socket) servers.get(notice.server)?.emit('connection', handle);
          return;
        case 'successor-gone':
          if (!started) {
            // It could not run at all (the keeper's spawn-failed may follow: nobody listens then).
            cleanUp();
            reject(new Error(`the keeper could not start the successor: ${notice.why}`));
          }
          gone(notice.why);
          return;
      }
    };
    const onDisconnect = () => {
      if (!started) reject(new Error('the channel to the keeper closed'));
      gone('the channel to the keeper closed');
    };
    const cleanUp = () => {
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
    };
    const gone = (why: string) => {
      if (goneWhy !== undefined) return;
      goneWhy = why;
      cleanUp();
      for (const listener of goneListeners) listener(why);
    };

    const channel = (pid: number, inherited: readonly number[]): SuccessorChannel => ({
      pid,
      inherited,
      send(message, handle) {
        if (goneWhy !== undefined) return Promise.reject(new Error(goneWhy));
        if (handle instanceof net.Server) {
          const server = servers.size;
          servers.set(server, handle);
          return toKeeper({ keeper: 'relay', message: toWire(message), server }, handle);
        }
        return toKeeper({ keeper: 'relay', message: toWire(message) }, handle);
      },
      onMessage: (listener) => messageListeners.push(listener),
      onGone(listener) {
        if (goneWhy !== undefined) listener(goneWhy);
        else goneListeners.push(listener);
      },
      kill: () => {
        void toKeeper({ keeper: 'kill-successor' }).catch(() => {});
      },
    });

    process.on('message', onMessage);
    process.on('disconnect', onDisconnect);
    toKeeper({ keeper: 'spawn', spec }).catch((err: Error) => {
      cleanUp();
      reject(err);
    });
  });

const asHandle = (handle: unknown): Handle | undefined =>
  handle instanceof net.Socket || handle instanceof net.Server ? handle : undefined;
