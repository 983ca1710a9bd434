/**
 * `k6/websockets` on the `ws` package: the browser-style WebSocket k6 gives scripts (on*
 * handler properties and addEventListener, numeric readyState, text frames as strings), plus
 * the ws_* metrics k6 records. An open socket holds the VU's iteration open, as in k6.
 */
import WS from 'ws';
import { callback, vu } from './vu-context.ts';

type EventName = 'open' | 'close' | 'error' | 'message' | 'ping' | 'pong';
type Listener = (event: Record<string, unknown>) => void;

export interface Params {
  headers?: Record<string, string>;
  tags?: Record<string, string>;
}

/**
 * What k6 does and this keeps: no CONNECTING/OPEN/… constants on the class or the socket (a
 * script comparing readyState with WebSocket.OPEN breaks here as in k6); send() throws unless
 * open; frames arriving after the script called close() are not delivered; a close frame with
 * a code other than 1000 or 1001 is an error event before the close event.
 */
export class WebSocket {
  readonly url: string;
  binaryType: 'blob' | 'arraybuffer' = 'blob';
  onopen: Listener | null = null;
  onmessage: Listener | null = null;
  onclose: Listener | null = null;
  onerror: Listener | null = null;
  onping: Listener | null = null;
  onpong: Listener | null = null;

  readonly #ws: WS;
  readonly #listeners = new Map<EventName, Listener[]>();
  readonly #tags: Record<string, string>;

  constructor(url: string, _protocols?: null, params: Params | null = null) {
    if (vu.phase === 'init')
      throw new Error('k6/websockets: a WebSocket cannot be opened in the init context');
    this.url = url;
    this.#tags = { url, ...(params?.tags ?? {}) };
    const release = vu.hold(`websocket ${url}`);
    const startedAt = Date.now();
    let openedAt: number | null = null;
    // k6 offers no compression unless asked, and neither does this.
    this.#ws = new WS(url, { perMessageDeflate: false, headers: params?.headers ?? {} });
    this.#ws.on('open', () => {
      openedAt = Date.now();
      vu.emit('ws_connecting', openedAt - startedAt, this.#tags);
      vu.emit('ws_sessions', 1, this.#tags);
      this.#dispatch('open', {});
    });
    this.#ws.on('message', (data: WS.RawData, isBinary: boolean) => {
      if (this.#ws.readyState !== WS.OPEN) return;
      vu.emit('ws_msgs_received', 1, this.#tags);
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const payload = isBinary
        ? buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
        : buf.toString('utf8');
      this.#dispatch('message', { data: payload });
    });
    this.#ws.on('error', (err: Error) => this.#dispatch('error', { error: err.message }));
    this.#ws.on('ping', () => this.#dispatch('ping', {}));
    this.#ws.on('pong', () => this.#dispatch('pong', {}));
    this.#ws.on('close', (code: number, reason: Buffer) => {
      if (openedAt !== null) vu.emit('ws_session_duration', Date.now() - openedAt, this.#tags);
      if (openedAt !== null && code !== 1000 && code !== 1001 && code !== 1006)
        this.#dispatch('error', { error: `websocket: close ${code} ${reason.toString('utf8')}` });
      // k6's close event carries no code; these extras only help a failing test say why.
      this.#dispatch('close', { code, reason: reason.toString('utf8') });
      release();
    });
  }

  get readyState(): 0 | 1 | 2 | 3 {
    return this.#ws.readyState;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.#ws.readyState !== WS.OPEN) throw new Error('InvalidStateError');
    vu.emit('ws_msgs_sent', 1, this.#tags);
    this.#ws.send(data);
  }

  close(code = 1000, reason?: string): void {
    this.#ws.close(code, reason);
  }

  ping(): void {
    if (this.#ws.readyState !== WS.OPEN) throw new Error('InvalidStateError');
    this.#ws.ping();
  }

  addEventListener(event: EventName, listener: Listener): void {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener);
    this.#listeners.set(event, list);
  }

  #dispatch(type: EventName, fields: Record<string, unknown>): void {
    const event = { type, timestamp: Date.now(), ...fields };
    const handler = this[`on${type}`];
    if (handler !== null) callback(`on${type}`, handler, event);
    for (const l of this.#listeners.get(type) ?? []) callback(`${type} listener`, l, event);
  }
}

export default { WebSocket };
