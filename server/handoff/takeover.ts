/**
 * The successor's side of a handoff (B). It says hello and waits to be welcomed (or refused)
 * before it boots; then it listens on the handles A sends, restores each batch it gets (held,
 * not running) and acks it, and once A has committed a batch, adopts its phones' sockets and
 * starts its processes. The last batch makes it the node. If A goes away before that, B has
 * nothing of its own and exits.
 */
import type net from 'node:net';
import type { Gateway } from '../http/gateway.ts';
import { type AdoptOptions, adoptWebSocket } from '../http/ws-handoff.ts';
import type { CodeFinder, MoveRoute, Pid, Runtime } from '../runtime/index.ts';
import type { Parent } from './channel.ts';
import type { Inbox } from './inbox.ts';
import { type Listeners, listenOn } from './listeners.ts';
import { HANDOFF_PROTOCOL_VERSION, type LastBatch, type MessageOfType, type Versions } from './protocol.ts';

/** How long A may take to answer hello. */
const WELCOME_TIMEOUT_MS = 30_000;

/** Say hello; resolves with A's welcome, or rejects with why A refused (or went away). */
export async function greet(
  parent: Parent,
  inbox: Inbox,
  me: { node: string; runtimeApi: number } & Partial<Versions>,
): Promise<MessageOfType<'welcome'>> {
  await parent.send({
    type: 'hello',
    node: me.node,
    pid: process.pid,
    runtimeApi: me.runtimeApi,
    protocol: me.protocol ?? HANDOFF_PROTOCOL_VERSION,
  });
  const { message } = await inbox.take(
    ['welcome', 'refused'],
    WELCOME_TIMEOUT_MS,
    'the old node answers hello',
  );
  if (message.type === 'refused') throw new Error(`the old node refused this successor: ${message.why}`);
  return message;
}

export interface NewNode {
  readonly rt: Runtime;
  readonly gateway: Gateway;
  readonly listeners: Listeners;
  /** How the gateway's WebSocketServer makes sockets, for the adopted ones. */
  readonly adoptOptions: AdoptOptions;
  /** The code a process arrives on, in every release the old node runs. */
  readonly findCode: CodeFinder;
  /**
   * The last batch started: the node is this process's from now on. `moved` is that batch's
   * share (A's counters came before it).
   */
  tookOver(last: LastBatch, moved: { processes: number; sockets: number }): void;
  /**
   * In a cluster: take the node's seat over from A (seat.ts); resolves once B holds it.
   * `isNode`: the last batch runs here (A gone after that, B takes the seat alone).
   */
  seat?(parent: Parent, inbox: Inbox, isNode: () => boolean): Promise<void>;
}

/**
 * Receive everything; resolves once the last batch runs here. `sockets`: those A sent, held
 * unread by the successor's line (successor-line.ts), some of them ahead of their batches.
 */
export function takeOver(
  node: NewNode,
  parent: Parent,
  inbox: Inbox,
  sockets: Map<number, net.Socket>,
): Promise<void> {
  const { rt } = node;
  const route: MoveRoute = { send: (m) => void parent.send({ type: 'dist', message: m }).catch(() => {}) };
  rt.move.peer(route);
  let isNode = false;
  const seated = node.seat?.(parent, inbox, () => isNode);
  const restored = new Map<number, MessageOfType<'batch'>>();
  return new Promise<void>((resolve, reject) => {
    // Once the last batch runs here, this process is the node: A going away no longer fails it.
    const fail = (why: string) => {
      if (!isNode) reject(new Error(why));
    };
    parent.onGone(fail);
    const send = (m: Parameters<Parent['send']>[0]) =>
      parent.send(m).catch((err: Error) => fail(err.message));
    /** A's names, kept up to date by each batch. */
    const peerNames = new Map<string, Pid>();
    Object.assign(inbox.handlers, {
      dist: (m: MessageOfType<'dist'>) => rt.move.receive(m.message),
      listener: (m: MessageOfType<'listener'>, handle: net.Server | net.Socket | undefined) =>
        listenOn(
          node.listeners[m.surface],
          handle,
          () => void send({ type: 'listening', surface: m.surface }),
        ),
      batch: (m: MessageOfType<'batch'>) => {
        // What runs here by now (earlier batches) reaches by name what is still in A.
        if (m.names !== undefined) {
          for (const [name, pid] of m.names.set) peerNames.set(name, pid);
          for (const name of m.names.unset) peerNames.delete(name);
          rt.move.peerNames(peerNames);
        }
        try {
          rt.move.restore(m.images, node.findCode);
        } catch (err) {
          // Nothing restored: A takes the batch back, and these copies close with no FIN (A holds its own).
          for (const phone of m.phones) sockets.get(phone.socket)?.destroy();
          return void send({ type: 'nack', batch: m.batch, why: (err as Error).message });
        }
        restored.set(m.batch, m);
        void send({ type: 'ack', batch: m.batch });
      },
      commit: (m: MessageOfType<'commit'>) => {
        const batch = restored.get(m.batch);
        if (batch === undefined) return fail(`A committed batch ${m.batch}, which is not here`);
        restored.delete(m.batch);
        // Sockets first: a port that starts sends to its socket at once.
        for (const phone of batch.phones) {
          const socket = sockets.get(phone.socket) as net.Socket;
          sockets.delete(phone.socket);
          node.gateway.adopt(adoptWebSocket(socket, phone.head, node.adoptOptions), phone);
        }
        rt.move.start(batch.images.map((i) => i.pid as Pid));
        if (batch.last === undefined) return;
        // Sent ahead for phones that hung up in A before their batch: closing this copy sends nothing.
        for (const socket of sockets.values()) socket.destroy();
        sockets.clear();
        rt.move.peer(undefined);
        node.tookOver(batch.last, { processes: batch.images.length, sockets: batch.phones.length });
        isNode = true;
        // In a cluster, A hands its seat over first: until B says done, A (and a keeper) relay both ways.
        void Promise.resolve(seated)
          .then(() => send({ type: 'done' }))
          .then(resolve);
      },
      abort: (m: MessageOfType<'abort'>) => fail(`the old node gave up: ${m.why}`),
    });
  });
}
