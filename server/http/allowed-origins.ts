/**
 * Which web pages may open phone connections. A browser sends the page's origin with every
 * WebSocket upgrade and, unlike fetch, lets any site open one to any host (cross-site WebSocket
 * hijacking); the node checks it. An empty list allows every origin: a node with no browser
 * phones needs nothing here. Programs other than browsers send no Origin header, and are allowed.
 */
import { type HotlineError, hotlineError } from '../errors/catalogue.ts';

/** `https://Example.com:443` and `https://example.com` are one origin: compare them normalized. */
function normalized(origin: string): string | null {
  try {
    return new URL(origin).origin;
  } catch {
    return null;
  }
}

/** Why an upgrade from `origin` is refused, or null when it may go on. */
export function originRefusal(allowed: readonly string[], origin: string | undefined): HotlineError | null {
  if (allowed.length === 0 || origin === undefined) return null;
  const seen = normalized(origin);
  if (seen !== null && seen !== 'null' && allowed.some((a) => normalized(a) === seen)) return null;
  return hotlineError('HOT_ERR_ORIGIN_NOT_ALLOWED', origin.slice(0, 200));
}
