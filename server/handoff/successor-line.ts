/**
 * The successor's (B's) line to its old node (A), opened first thing when the successor
 * process starts, before the rest of its code loads (`server/main.ts`): that load takes
 * seconds from sources, and A streams the phones' sockets meanwhile (socket-stream.ts), the
 * slow part of a handoff, for those B did not get as descriptors when it was spawned
 * (inherit.ts). B holds each socket unread (A may still take it back until it
 * commits the socket's batch) and answers `held`; `takeOver` adopts them later.
 */
import net from 'node:net';
import { holdSocket } from '../http/ws-handoff.ts';
import { type Parent, parentChannel } from './channel.ts';
import { Inbox } from './inbox.ts';
import { openInherited } from './inherit.ts';

export interface SuccessorLine {
  readonly parent: Parent;
  readonly inbox: Inbox;
  /** The sockets A sent, by A's socket number, held unread until a commit adopts them. */
  readonly sockets: Map<number, net.Socket>;
}

let line: SuccessorLine | undefined;

/** The line, opened on the first call: the same one every time after. */
export function successorLine(): SuccessorLine {
  if (line !== undefined) return line;
  const parent = parentChannel();
  const inbox = new Inbox(parent);
  const sockets = new Map<number, net.Socket>();
  inbox.handlers.socket = (m, handle) => {
    if (!(handle instanceof net.Socket)) return;
    // Synchronously, in the handler: Node starts reading a received socket on the next turn.
    holdSocket(handle);
    sockets.set(m.socket, handle);
    // At once: Node's IPC brings one socket per round trip, so there is never a turn's worth to gather.
    void parent.send({ type: 'held', sockets: [m.socket] }).catch(() => {});
  };
  inbox.handlers.inherit = (m) => {
    const opened = openInherited(m.sockets);
    for (const [id, socket] of opened) sockets.set(id, socket);
    const notHeld = m.sockets.filter((id) => !opened.has(id));
    void parent.send({ type: 'held', sockets: [...opened.keys()], notHeld }).catch(() => {});
  };
  line = { parent, inbox, sockets };
  void parent.send({ type: 'receiving' }).catch(() => {});
  return line;
}
