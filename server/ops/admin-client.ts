/** A node's admin API over fetch (http:// or https://): bearer token, typed errors surfaced with their codes. */
import type { InstallProgress } from '../release/installer.ts';

/** A node's error answer: its HTTP status, its catalogue code, and the whole body (reports ride along). */
export class AdminRequestError extends Error {
  readonly code: string | undefined;

  constructor(
    readonly status: number,
    readonly body: unknown,
    text: string,
  ) {
    const e = body as { code?: string; message?: string } | undefined;
    super(`${status} ${e?.code ?? ''}: ${e?.message ?? text}`);
    this.name = 'AdminRequestError';
    this.code = e?.code;
  }
}

/** What undici's fetch failure carries as its cause's code when the node's certificate is not trusted. */
const UNTRUSTED_CERTIFICATE = /CERT|SELF_SIGNED|VERIFY/;

/**
 * fetch, with an https:// node whose certificate this process does not trust named as such
 * (fetch itself says only "fetch failed"). A client trusts a private CA or a self-signed
 * certificate through NODE_EXTRA_CA_CERTS, read when the process starts.
 */
async function adminFetch(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    if (typeof code === 'string' && UNTRUSTED_CERTIFICATE.test(code))
      throw new Error(
        `${new URL(url).origin}: its TLS certificate is not trusted (${code}); start this with NODE_EXTRA_CA_CERTS=<the node's certificate or its CA, PEM>`,
        { cause: err },
      );
    throw err;
  }
}

export class AdminClient {
  constructor(
    readonly url: string,
    readonly token: string,
    /** Give up on a request after this long (a node that is stopping may never answer). */
    readonly timeoutMs = 30_000,
  ) {}

  async #request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await adminFetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    const value = text === '' ? undefined : (JSON.parse(text) as unknown);
    if (!res.ok) throw new AdminRequestError(res.status, value, text);
    return value as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.#request<T>('GET', path);
  }

  post<T = unknown>(path: string, body: unknown = {}): Promise<T> {
    return this.#request<T>('POST', path, body);
  }

  delete<T = unknown>(path: string): Promise<T> {
    return this.#request<T>('DELETE', path);
  }

  /** The install's progress as the node pushes it (server-sent events), until it ends. */
  async *installEvents(): AsyncGenerator<InstallProgress> {
    const res = await adminFetch(`${this.url}/admin/install/events`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    if (!res.ok || res.body === null) throw new Error(`${res.status}: cannot follow the install`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.startsWith('data: ')
          ? (JSON.parse(event.slice(6)) as { install: InstallProgress | null })
          : null;
        if (data?.install) yield data.install;
        end = buffer.indexOf('\n\n');
      }
    }
  }
}
