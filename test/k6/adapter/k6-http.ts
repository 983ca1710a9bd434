/**
 * `k6/http`, synchronous as in k6: each request is a fetch in a helper thread while this VU's
 * thread waits on an Atomics cell, then reads the answer off a MessagePort synchronously. Only
 * this VU blocks; the node under test runs in another thread. Records http_reqs,
 * http_req_duration and http_req_failed (status 0 or ≥ 400, k6's default expected statuses).
 */
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { vu } from './vu-context.ts';

interface Wire {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
  timeoutMs: number;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  error: string;
}

// Plain CommonJS, evaluated: the helper needs no TypeScript loader.
const HELPER = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', async ({ req, cell, port }) => {
  let answer;
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body === null ? undefined : req.body,
      signal: AbortSignal.timeout(req.timeoutMs),
    });
    answer = { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text(), error: '' };
  } catch (err) {
    answer = { status: 0, headers: {}, body: '', error: String(err && err.cause ? err.cause : err) };
  }
  port.postMessage(answer);
  port.close();
  Atomics.store(cell, 0, 1);
  Atomics.notify(cell, 0);
});
`;

let helper: Worker | null = null;

function fetchSync(req: Wire): Answer {
  if (helper === null) {
    helper = new Worker(HELPER, { eval: true });
    helper.unref();
  }
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  helper.postMessage({ req, cell, port: port2 }, [port2]);
  Atomics.wait(cell, 0, 0, req.timeoutMs + 5000);
  const got = receiveMessageOnPort(port1);
  port1.close();
  if (got === undefined) return { status: 0, headers: {}, body: '', error: 'request timed out' };
  return got.message as Answer;
}

export interface Params {
  headers?: Record<string, string>;
  tags?: Record<string, string>;
  /** k6 takes ms as a number or a duration string; only ms and s strings here. */
  timeout?: number | string;
}

export interface Response {
  status: number;
  body: string | null;
  headers: Record<string, string>;
  url: string;
  error: string;
  error_code: number;
  timings: { duration: number };
  request: { method: string; url: string; body: string | null; headers: Record<string, string> };
  json(selector?: string): unknown;
}

function timeoutMs(t: Params['timeout']): number {
  if (t === undefined) return 60_000;
  if (typeof t === 'number') return t;
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(t);
  if (m === null) throw new Error(`k6/http adapter: unsupported timeout '${t}'`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function encodeBody(body: unknown): string | null {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return body;
  // k6 form-encodes an object body.
  return new URLSearchParams(
    Object.entries(body as Record<string, unknown>).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
}

export function request(method: string, url: string, body?: unknown, params: Params | null = null): Response {
  if (vu.phase === 'init') throw new Error('k6/http: requests cannot be made in the init context');
  const wire: Wire = {
    method: method.toUpperCase(),
    url,
    headers: { 'user-agent': 'k6-adapter', ...(params?.headers ?? {}) },
    body: encodeBody(body),
    timeoutMs: timeoutMs(params?.timeout),
  };
  if (wire.body !== null && typeof body === 'object' && !('content-type' in lower(wire.headers)))
    wire.headers['content-type'] = 'application/x-www-form-urlencoded';
  const startedAt = performance.now();
  const a = fetchSync(wire);
  const duration = performance.now() - startedAt;
  const tags = {
    method: wire.method,
    url,
    name: url,
    status: String(a.status),
    expected_response: String(a.status > 0 && a.status < 400),
    ...(params?.tags ?? {}),
  };
  vu.emit('http_reqs', 1, tags);
  vu.emit('http_req_duration', duration, tags);
  vu.emit('http_req_failed', a.status === 0 || a.status >= 400, tags);
  return {
    status: a.status,
    body: a.status === 0 ? null : a.body,
    headers: a.headers,
    url,
    error: a.error,
    error_code: a.status === 0 ? 1000 : a.status >= 400 ? 1000 + a.status : 0,
    timings: { duration },
    request: { method: wire.method, url, body: wire.body, headers: wire.headers },
    json(selector?: string) {
      if (selector !== undefined) throw new Error('k6/http adapter: json(selector) is not supported');
      return JSON.parse(a.body) as unknown;
    },
  };
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

export const get = (url: string, params?: Params | null) => request('GET', url, null, params);
export const head = (url: string, params?: Params | null) => request('HEAD', url, null, params);
export const post = (url: string, body?: unknown, params?: Params | null) =>
  request('POST', url, body, params);
export const put = (url: string, body?: unknown, params?: Params | null) => request('PUT', url, body, params);
export const patch = (url: string, body?: unknown, params?: Params | null) =>
  request('PATCH', url, body, params);
export const del = (url: string, body?: unknown, params?: Params | null) =>
  request('DELETE', url, body, params);

export default { request, get, head, post, put, patch, del };
