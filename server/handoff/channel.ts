/**
 * The old node's line to its successor. Two implementations: `directSuccessor` here (the
 * node spawns its successor itself) and `keeperSuccessor` (keeper-channel.ts: under the
 * keeper, which spawns it and relays both ways). In the successor, the channel is always
 * `process`: `parentChannel`.
 */
import { spawn } from 'node:child_process';
import type net from 'node:net';
import { inheritance, rawHandleOf } from './inherit.ts';
import { fromWire, type HandoffMessage, toWire } from './protocol.ts';

export type Handle = net.Socket | net.Server;

export interface SuccessorChannel {
  /** B's OS pid. */
  readonly pid: number;
  /** The phones' sockets B got as descriptors when it was spawned, in order from INHERITED_FD (inherit.ts). */
  readonly inherited: readonly number[];
  /** Sockets are sent with keepOpen: A keeps its copy until B acks the batch. */
  send(message: HandoffMessage, handle?: Handle): Promise<void>;
  onMessage(listener: (message: HandoffMessage, handle: Handle | undefined) => void): void;
  /** B exited or the channel broke. */
  onGone(listener: (why: string) => void): void;
  kill(): void;
}

export interface SuccessorSpec {
  nodeBinary: string;
  /** Node's own flags, before the entry (`--import tsx` when A runs from sources). */
  execArgv: string[];
  entry: string;
  /** The node's flags, after the entry; `--successor` last. */
  args: string[];
}

/** `phones`: the phones' sockets by socket id, for a spawner that gives them to B (inherit.ts). */
export type StartSuccessor = (
  spec: SuccessorSpec,
  phones: Iterable<readonly [id: number, socket: net.Socket]>,
) => Promise<SuccessorChannel>;

/** What a process with an IPC channel offers (a ChildProcess, or `process` in the child). */
interface IpcEnd {
  send?(
    message: unknown,
    handle?: Handle,
    options?: { keepOpen?: boolean },
    cb?: (err: Error | null) => void,
  ): boolean;
  on(event: 'message', listener: (message: unknown, handle: Handle | undefined) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
}

/** Sends over an IPC end; resolves once the message (and its handle) left. */
export function ipcSend(end: IpcEnd, message: HandoffMessage, handle?: Handle): Promise<void> {
  return new Promise((resolve, reject) => {
    if (end.send === undefined) return reject(new Error('no IPC channel'));
    // keepOpen matters for sockets only: without it Node closes A's copy once it is sent.
    end.send(toWire(message), handle, { keepOpen: true }, (err) => (err ? reject(err) : resolve()));
  });
}

export function onIpcMessage(
  end: IpcEnd,
  listener: (message: HandoffMessage, handle: Handle | undefined) => void,
): void {
  end.on('message', (raw, handle) => {
    const message = fromWire(raw);
    if (message !== undefined) listener(message, handle);
  });
}

/**
 * A spawns B itself: B's stdio is A's, the channel is Node's IPC (JSON: see protocol.ts), and
 * B gets every phone's socket as a descriptor.
 */
export const directSuccessor: StartSuccessor = async (spec, phones) => {
  const given = inheritance(Array.from(phones, ([id, socket]) => [id, rawHandleOf(socket)] as const));
  const child = spawn(spec.nodeBinary, [...spec.execArgv, spec.entry, ...spec.args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...given.stdio],
    serialization: 'json',
  });
  const gone: ((why: string) => void)[] = [];
  let goneWhy: string | undefined;
  /** Sends not yet done: a message with a handle waits for B's acknowledgement, which never comes once B is gone. */
  const sending = new Set<(why: string) => void>();
  const markGone = (why: string) => {
    if (goneWhy !== undefined) return;
    goneWhy = why;
    for (const fail of sending) fail(why);
    for (const listener of gone) listener(why);
  };
  child.on('exit', (code, signal) => markGone(`successor exited (${signal ?? `code ${code}`})`));
  child.on('error', (err) => markGone(`successor could not run: ${err.message}`));
  // A successor that exits closes its channel first: wait a moment to say how it exited.
  child.on('disconnect', () => setTimeout(() => markGone('successor closed its channel'), 1000).unref());
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return {
    pid: child.pid as number,
    inherited: given.sockets,
    send: (message, handle) =>
      new Promise<void>((resolve, reject) => {
        if (goneWhy !== undefined) return reject(new Error(goneWhy));
        const fail = (why: string) => reject(new Error(why));
        sending.add(fail);
        ipcSend(child, message, handle)
          .then(resolve, reject)
          .finally(() => sending.delete(fail));
      }),
    onMessage: (listener) => onIpcMessage(child, listener),
    onGone(listener) {
      if (goneWhy !== undefined) listener(goneWhy);
      else gone.push(listener);
    },
    kill: () => {
      child.kill('SIGKILL');
    },
  };
};

/** B's side of the channel: B neither kills nor names its parent. */
export type Parent = Omit<SuccessorChannel, 'kill' | 'pid' | 'inherited'>;

/** In B: the channel to whoever spawned it (A, or the keeper relaying for A). */
export function parentChannel(): Parent {
  return {
    send: (message, handle) => ipcSend(process, message, handle),
    onMessage: (listener) => onIpcMessage(process, listener),
    onGone: (listener) => {
      process.on('disconnect', () => listener('the old node closed its channel'));
    },
  };
}
