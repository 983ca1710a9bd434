/**
 * Moving an established WebSocket to another process (the node handoff): the old process
 * detaches it at a frame boundary with its outgoing bytes flushed and hands the raw socket and
 * the bytes read but not yet parsed to the new process, which adopts them with no handshake.
 * ws calls this unsupported (websockets/ws#823), so this is the ONE module that touches ws
 * internals (ws 8.x); `wsInternalsProblem()` checks every one of them and names what changed.
 *
 * The old `ws` object after `detachWebSocket` resolves is inert, never closed: readyState
 * CLOSING, so send/ping/pong write nothing (their callbacks get an error); close() and
 * terminate() do nothing to the connection; it emits no event, 'close' included, so the
 * application's session does not end. `isDetached(ws)` tells. It comes back to life only
 * through `reattachWebSocket` (the successor failed). If the connection ends or errors before
 * the detach resolves, the detach rejects and ws closes as usual: there is nothing to move.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

/** What travels to the new process: the socket (sent with `{ keepOpen: true }`) and its unparsed bytes. */
export interface DetachedWebSocket {
  socket: Socket;
  head: Buffer;
}

/** The per-connection options of a WebSocketServer (ws's defaults apply) and the negotiated subprotocol. */
export type AdoptOptions = Pick<
  NonNullable<ConstructorParameters<typeof WebSocketServer>[0]>,
  | 'maxPayload'
  | 'skipUTF8Validation'
  | 'allowSynchronousEvents'
  | 'autoPong'
  | 'maxBufferedChunks'
  | 'maxFragments'
> & { protocol?: string };

// Receiver states (ws/lib/receiver.js): a frame's header is consumed in steps before its data.
const GET_INFO = 0;
const GET_PAYLOAD_LENGTH_16 = 1;
const GET_PAYLOAD_LENGTH_64 = 2;
const GET_MASK = 3;
const GET_DATA = 4;
// Sender state (ws/lib/sender.js) when it is neither deflating nor reading a Blob.
const SENDER_DEFAULT = 0;

interface ReceiverInternals {
  _state: number;
  _buffers: Buffer[];
  _bufferedBytes: number;
  _payloadLength: number;
  _fragmented: number;
  _writableState: { length: number; errorEmitted: boolean };
  write(chunk: Buffer): boolean;
  removeAllListeners(): void;
}
interface SenderInternals {
  _bufferedBytes: number;
  _queue: unknown[];
  _state: number;
}
interface WebSocketInternals {
  _socket: Duplex;
  _receiver: ReceiverInternals;
  _sender: SenderInternals;
  _readyState: number;
  _paused: boolean;
  _closeFrameReceived: boolean;
  _extensions: Record<string, unknown>;
  _protocol: string;
  setSocket(socket: Duplex, head: Buffer, options: object): void;
}
/** libuv's stream handle under a net.Socket (Node's tcp_wrap). */
interface HandleInternals {
  reading: boolean;
  readStart(): number;
  readStop(): number;
}
type Listener = (...args: unknown[]) => void;
/** ws's listeners on its socket, set by setSocket, by their function names. */
const socketListenerNames = {
  close: 'socketOnClose',
  data: 'socketOnData',
  end: 'socketOnEnd',
  error: 'socketOnError',
} as const;
type SocketEvent = keyof typeof socketListenerNames;
type SocketListeners = Record<SocketEvent, Listener>;

interface Detached {
  socket: Socket;
  listeners: SocketListeners;
}

const detached = new WeakMap<WebSocket, Detached>();
const detaching = new WeakSet<WebSocket>();
const held = new WeakSet<Socket>();
const ignoreError = (): void => {};
const DEFAULT_TIMEOUT_MS = 5000;

const internals = (ws: WebSocket): WebSocketInternals => ws as unknown as WebSocketInternals;
const handleOf = (socket: Socket): HandleInternals =>
  (socket as unknown as { _handle: HandleInternals | null })._handle as HandleInternals;

/** True once `detachWebSocket` resolved for `ws` and until it is reattached. */
export function isDetached(ws: WebSocket): boolean {
  return detached.has(ws);
}

/**
 * Detach `ws` from its socket in the sending process. Resolves once reading is stopped at the
 * handle at a frame boundary (no frame or fragmented message half-read), every outgoing byte is
 * in the kernel, and ws no longer listens to the socket; `head` holds the bytes read but not
 * parsed, in order. Stop sending first (a suspended port does): sends made while it waits are
 * flushed too, and one that never stops sending times the detach out. Rejects (ws carrying on
 * as before) after `timeoutMs`, or if the connection closes meanwhile.
 */
export async function detachWebSocket(
  ws: WebSocket,
  options: { timeoutMs?: number } = {},
): Promise<DetachedWebSocket> {
  const w = internals(ws);
  const why = cannotDetach(ws);
  if (why !== undefined) throw new Error(`cannot detach the WebSocket: ${why}`);
  const socket = w._socket as Socket;
  const listeners = wsSocketListeners(socket) as SocketListeners;
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  detaching.add(ws);
  // Reading is stopped; if the application resumes ws meanwhile, buffered bytes go back: they are `head`.
  const holdBack = (chunk: Buffer): void => {
    socket.pause();
    socket.unshift(chunk);
  };
  try {
    await reachFrameBoundary(w, socket, listeners.data, deadline);
    socket.on('data', holdBack);
    let restore = true;
    try {
      while (!flushed(w, socket)) {
        if (w._readyState !== WebSocket.OPEN || socket.destroyed)
          throw new Error('the connection closed while its outgoing bytes were flushed');
        if (Date.now() > deadline) throw new Error('its outgoing bytes were not flushed in time');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      // From here on synchronous: nothing can be sent or read before ws lets go.
      socket.removeListener('data', holdBack);
      const head = takeUnparsed(w._receiver, socket);
      for (const event of ['close', 'end', 'error'] as const) socket.removeListener(event, listeners[event]);
      socket.on('error', ignoreError);
      w._socket = inertSocket();
      w._readyState = WebSocket.CLOSING;
      restore = false;
      detached.set(ws, { socket, listeners });
      return { socket, head };
    } finally {
      if (restore) {
        socket.removeListener('data', holdBack);
        resumeReading(w, socket, listeners.data, Buffer.alloc(0), true);
      }
    }
  } finally {
    detaching.delete(ws);
  }
}

/**
 * Undo `detachWebSocket` in the sending process (the successor refused or died): ws takes the
 * socket back, parses `head` before anything read later, and carries on. Only while this
 * process's copy of the socket is open and no other process has read from it.
 */
export function reattachWebSocket(ws: WebSocket, detachedWs: DetachedWebSocket): void {
  const state = detached.get(ws);
  if (state === undefined || state.socket !== detachedWs.socket)
    throw new Error('cannot reattach: this WebSocket was not detached from that socket');
  if (state.socket.destroyed) throw new Error('cannot reattach: its socket was destroyed');
  detached.delete(ws);
  const w = internals(ws);
  const { socket, listeners } = state;
  socket.removeListener('error', ignoreError);
  for (const event of ['close', 'end', 'error'] as const) socket.on(event, listeners[event]);
  w._socket = socket;
  w._readyState = WebSocket.OPEN;
  // What was sent while detached was refused through its callbacks, never written.
  w._sender._bufferedBytes = 0;
  resumeReading(w, socket, listeners.data, detachedWs.head, true);
}

/**
 * Close this process's copy of a detached socket once the other process holds it: `destroy()`
 * closes only this descriptor; `end()` would send a FIN and end the connection for both.
 */
export function releaseDetachedSocket(detachedWs: DetachedWebSocket): void {
  detachedWs.socket.destroy();
}

/**
 * In the receiving process, stop a socket that just arrived over IPC from reading, before it
 * reads anything: Node starts reading a received socket on the next turn of the event loop,
 * and bytes read here are gone for the sending process if it has to take the socket back.
 * Call it synchronously in the 'message' handler; `adoptWebSocket` starts reading again.
 */
export function holdSocket(socket: Socket): void {
  const handle = handleOf(socket);
  handle.readStop();
  // As in a detach: the stream thinks the handle reads, so it does not start it again.
  handle.reading = true;
  held.add(socket);
}

/**
 * A server-side WebSocket on an already upgraded socket in the receiving process, with no
 * handshake (what WebSocketServer does after an upgrade), that parses `head` first.
 */
export function adoptWebSocket(socket: Socket, head: Uint8Array, options: AdoptOptions = {}): WebSocket {
  const { protocol, ...perConnection } = options;
  // A server that never listens gives ws's own defaults for whatever `options` leaves out.
  const o = new WebSocketServer({ noServer: true, clientTracking: false, ...perConnection }).options;
  const ServerSide = WebSocket as unknown as new (
    address: null,
    protocols: undefined,
    o: object,
  ) => WebSocket;
  const ws = new ServerSide(null, undefined, o);
  const w = internals(ws);
  if (protocol !== undefined) w._protocol = protocol;
  w.setSocket(
    socket,
    Buffer.isBuffer(head) ? head : Buffer.from(head.buffer, head.byteOffset, head.byteLength),
    {
      allowSynchronousEvents: o.allowSynchronousEvents,
      maxBufferedChunks: o.maxBufferedChunks,
      maxFragments: o.maxFragments,
      maxPayload: o.maxPayload,
      skipUTF8Validation: o.skipUTF8Validation,
    },
  );
  if (held.delete(socket)) handleOf(socket).readStart();
  return ws;
}

/**
 * The socket under an open `ws` that could be detached, to send ahead to the other process
 * (`{ keepOpen: true }`) while ws still reads from it here; undefined when it cannot move.
 */
export function socketOf(ws: WebSocket): Socket | undefined {
  return cannotDetach(ws) === undefined ? (internals(ws)._socket as Socket) : undefined;
}

/** A TLS connection cannot move: its session keys live in this process's OpenSSL. */
export function runsOverTls(ws: WebSocket): boolean {
  return (internals(ws)._socket as { encrypted?: boolean }).encrypted === true;
}

function cannotDetach(ws: WebSocket): string | undefined {
  const w = internals(ws);
  if (detached.has(ws) || detaching.has(ws)) return 'it is detached or being detached already';
  if (w._readyState !== WebSocket.OPEN) return `it is not open (readyState ${w._readyState})`;
  if (Object.keys(w._extensions).length > 0)
    return `it negotiated ${Object.keys(w._extensions).join()}, whose compression state cannot move`;
  if (runsOverTls(ws)) return 'it runs over TLS';
  const handle = (w._socket as unknown as { _handle?: Partial<HandleInternals> | null })._handle;
  if (typeof handle?.readStop !== 'function' || typeof handle.readStart !== 'function')
    return 'its socket has no stream handle to stop reading';
  if (wsSocketListeners(w._socket) === undefined) return "ws's listeners are not on its socket";
  return undefined;
}

function wsSocketListeners(socket: Duplex): SocketListeners | undefined {
  const found: Partial<SocketListeners> = {};
  for (const [event, name] of Object.entries(socketListenerNames) as [SocketEvent, string][]) {
    const listener = socket.listeners(event).find((l) => l.name === name);
    if (listener === undefined) return undefined;
    found[event] = listener as Listener;
  }
  return found as SocketListeners;
}

/** Every outgoing byte is in the kernel: none in ws's sender nor in the socket's write queue. */
function flushed(w: WebSocketInternals, socket: Socket): boolean {
  const s = w._sender;
  return (
    s._bufferedBytes === 0 &&
    s._queue.length === 0 &&
    s._state === SENDER_DEFAULT &&
    socket.writableLength === 0
  );
}

/** No frame begun and no fragmented message in progress: the next byte starts a new frame. */
const atFrameBoundary = (r: ReceiverInternals): boolean => r._state === GET_INFO && r._fragmented === 0;
/** Not waiting to emit an event or to inflate: its state says where in a frame it is. */
const receiverIdle = (r: ReceiverInternals): boolean => r._writableState.length === 0 && r._state <= GET_DATA;

/** How many more bytes take the receiver to its next state (at most to the frame's end). */
function bytesToNextStep(r: ReceiverInternals): number {
  const want =
    r._state === GET_DATA
      ? r._payloadLength
      : r._state === GET_PAYLOAD_LENGTH_64
        ? 8
        : r._state === GET_MASK
          ? 4
          : r._state === GET_PAYLOAD_LENGTH_16 || r._state === GET_INFO
            ? 2
            : 1;
  return Math.max(1, want - r._bufferedBytes);
}

/**
 * Stop reading at the handle once the receiver is at a frame boundary. Mid-frame it has
 * consumed the frame's header, so reading goes on until that frame (or fragmented message)
 * ends: each chunk is fed no further than the receiver's next state, so it never starts the
 * frame after; the rest of the chunk goes back to the socket's buffer.
 */
function reachFrameBoundary(
  w: WebSocketInternals,
  socket: Socket,
  wsOnData: Listener,
  deadline: number,
): Promise<void> {
  const r = w._receiver;
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(
      () => fail(new Error('no frame boundary in time')),
      Math.max(0, deadline - Date.now()),
    );
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onGone);
      socket.removeListener('end', onGone);
    };
    const fail = (err: Error): void => {
      if (done) return;
      finish();
      // ws stops listening for data itself after a close frame or a protocol error.
      if (!socket.destroyed && !w._closeFrameReceived && !r._writableState.errorEmitted) {
        socket.on('data', wsOnData);
        if (!w._paused) socket.resume();
      }
      reject(err);
    };
    function onGone(): void {
      fail(new Error('the connection ended while waiting for a frame boundary'));
    }
    function settle(): void {
      if (done) return;
      if (w._readyState !== WebSocket.OPEN) return fail(new Error('the WebSocket closed during the detach'));
      if (!receiverIdle(r)) {
        setImmediate(settle);
        return;
      }
      if (atFrameBoundary(r)) {
        const handle = handleOf(socket);
        handle.readStop();
        // The stream thinks the handle still reads, so it never calls readStart itself.
        handle.reading = true;
        socket.pause();
        finish();
        resolve();
        return;
      }
      socket.resume();
    }
    function onData(chunk: Buffer): void {
      let offset = 0;
      while (
        offset < chunk.length &&
        receiverIdle(r) &&
        !atFrameBoundary(r) &&
        w._readyState === WebSocket.OPEN
      ) {
        const n = Math.min(bytesToNextStep(r), chunk.length - offset);
        r.write(chunk.subarray(offset, offset + n));
        offset += n;
      }
      if (offset === chunk.length && receiverIdle(r) && !atFrameBoundary(r)) return;
      socket.pause();
      if (offset < chunk.length) socket.unshift(chunk.subarray(offset));
      settle();
    }
    socket.removeListener('data', wsOnData);
    socket.on('data', onData);
    socket.once('close', onGone);
    socket.once('end', onGone);
    settle();
  });
}

/** The bytes the receiver holds (the start of the next frame) and then the socket's buffer. */
function takeUnparsed(r: ReceiverInternals, socket: Socket): Buffer {
  const parts = r._buffers;
  r._buffers = [];
  r._bufferedBytes = 0;
  // read() returns the whole buffer when paused; _read() finds the handle "reading" and does nothing.
  const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  if (buffered !== null) parts.push(buffered);
  return Buffer.concat(parts);
}

/** Reading resumes: `head` first, then whatever the handle reads. */
function resumeReading(
  w: WebSocketInternals,
  socket: Socket,
  wsOnData: Listener,
  head: Buffer,
  handleStopped: boolean,
): void {
  if (head.length > 0) socket.unshift(head);
  socket.on('data', wsOnData);
  if (handleStopped && !socket.destroyed) handleOf(socket).readStart();
  if (!w._paused) socket.resume();
}

/** Stands in for the socket under a detached ws: whatever ws does to it reaches no connection. */
function inertSocket(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/**
 * Undefined when the installed ws has every internal this module relies on, with the shape and
 * behaviour it expects; otherwise which one changed. Drives a server-side WebSocket on a stand-in
 * socket through a frame's header steps and a fragmented message.
 */
export function wsInternalsProblem(): string | undefined {
  try {
    return probeInternals();
  } catch (err) {
    return `probing ws internals threw: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function probeInternals(): string | undefined {
  const proto = WebSocket.prototype as unknown as Partial<WebSocketInternals>;
  if (typeof proto.setSocket !== 'function') return 'WebSocket.prototype.setSocket is not a function';
  const stub = inertSocket();
  const ws = adoptWebSocket(stub as unknown as Socket, Buffer.alloc(0), { autoPong: false });
  const w = internals(ws);
  const messages: number[] = [];
  ws.on('message', (data: Buffer) => messages.push(data.length));
  const problems: string[] = [];
  const expect = (ok: boolean, internal: string): void => {
    if (!ok) problems.push(internal);
  };
  expect(w._socket === stub, 'WebSocket#_socket (the socket setSocket was given)');
  expect(w._readyState === WebSocket.OPEN, 'WebSocket#_readyState (OPEN after setSocket)');
  expect(typeof w._paused === 'boolean', 'WebSocket#_paused');
  expect(typeof w._closeFrameReceived === 'boolean', 'WebSocket#_closeFrameReceived');
  expect(typeof w._extensions === 'object' && w._extensions !== null, 'WebSocket#_extensions');
  for (const [event, name] of Object.entries(socketListenerNames))
    expect(
      stub.listeners(event).some((l) => l.name === name),
      `setSocket's '${event}' listener on the socket named ${name}`,
    );
  const s = w._sender;
  expect(typeof s?._bufferedBytes === 'number', 'Sender#_bufferedBytes');
  expect(Array.isArray(s?._queue), 'Sender#_queue');
  expect(s?._state === SENDER_DEFAULT, 'Sender#_state (DEFAULT = 0)');
  if (typeof s?._bufferedBytes === 'number') {
    s._bufferedBytes = 7;
    expect(ws.bufferedAmount === 7, 'WebSocket#bufferedAmount (socket write queue + Sender#_bufferedBytes)');
    s._bufferedBytes = 0;
  }
  const r = w._receiver;
  expect(
    Array.isArray(r?._buffers) && r._bufferedBytes === 0 && r._state === GET_INFO && r._fragmented === 0,
    'Receiver#_buffers/_bufferedBytes/_state/_fragmented (empty at GET_INFO = 0)',
  );
  if (problems.length > 0) return `ws internals changed: ${problems.join('; ')}`;
  const feed = (bytes: number[] | Buffer): void => {
    r.write(Buffer.from(bytes));
  };
  const step = (bytes: number[] | Buffer, state: number, what: string, more: () => boolean = () => true) => {
    feed(bytes);
    expect(r._state === state && r._writableState.length === 0 && more(), `Receiver#_state ${what}`);
  };
  const mask = [1, 2, 3, 4];
  step([0x82], GET_INFO, 'GET_INFO = 0 holding a partial header', () => r._bufferedBytes === 1);
  step([0x80 | 126], GET_PAYLOAD_LENGTH_16, 'GET_PAYLOAD_LENGTH_16 = 1 after a 126 length');
  step([0, 128], GET_MASK, 'GET_MASK = 3 with Receiver#_payloadLength', () => r._payloadLength === 128);
  step(mask, GET_DATA, 'GET_DATA = 4 after the mask');
  step(Buffer.alloc(127), GET_DATA, 'GET_DATA with Receiver#_bufferedBytes', () => r._bufferedBytes === 127);
  step([0], GET_INFO, 'GET_INFO after a whole frame, the message emitted', () => messages[0] === 128);
  step([0x01, 0x80, ...mask], GET_INFO, 'GET_INFO in a fragmented message', () => r._fragmented === 1);
  step([0x80, 0x80 | 127], GET_PAYLOAD_LENGTH_64, 'GET_PAYLOAD_LENGTH_64 = 2 after a 127 length');
  step([0, 0, 0, 0, 0, 0, 0, 0, ...mask], GET_INFO, 'GET_INFO at the end of the message', () => {
    return r._fragmented === 0 && messages.length === 2;
  });
  r.removeAllListeners();
  stub.removeAllListeners();
  return problems.length > 0 ? `ws internals changed: ${problems.join('; ')}` : undefined;
}
