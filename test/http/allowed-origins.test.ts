/**
 * Browser origins: with --allowed-origins set, a WebSocket upgrade to /calls from a page of
 * another origin is refused with HOT_ERR_ORIGIN_NOT_ALLOWED (403); one from a listed origin, or
 * with no Origin header (not a browser), becomes a phone. With the list empty, any origin may.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { originRefusal } from '../../server/http/allowed-origins.ts';
import { refusedUpgrade } from '../support/refused-upgrade.ts';
import { useTestNode } from '../support/test-node.ts';

function opens(url: string, origin?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once('open', () => {
      ws.close();
      resolve();
    });
    ws.once('error', reject);
  });
}

describe('originRefusal', () => {
  const allowed = ['https://phone.example.com', 'http://localhost:3000'];
  it('allows listed origins however they are spelled, and no Origin at all', () => {
    expect(originRefusal(allowed, 'https://phone.example.com')).toBeNull();
    expect(originRefusal(allowed, 'https://PHONE.example.com:443')).toBeNull();
    expect(originRefusal(allowed, 'http://localhost:3000')).toBeNull();
    expect(originRefusal(allowed, undefined)).toBeNull();
    expect(originRefusal([], 'https://evil.example')).toBeNull();
  });
  it('refuses any other origin, an opaque one and garbage', () => {
    for (const origin of [
      'https://evil.example',
      'http://phone.example.com',
      'http://localhost:3001',
      'null',
      '%%',
    ]) {
      expect(originRefusal(allowed, origin)?.code, origin).toBe('HOT_ERR_ORIGIN_NOT_ALLOWED');
    }
  });
});

describe('a node with allowed origins', () => {
  const start = useTestNode();

  it('refuses an upgrade from another origin with 403, and takes listed and origin-less ones', async () => {
    const node = await start({ allowedOrigins: ['https://phone.example.com'] });
    const refused = await refusedUpgrade(node.callsUrl, { origin: 'https://evil.example' });
    expect(refused).toEqual({
      status: 403,
      body: {
        code: 'HOT_ERR_ORIGIN_NOT_ALLOWED',
        message: 'origin https://evil.example is not allowed to open phone connections on this node',
      },
    });
    await opens(node.callsUrl, 'https://phone.example.com');
    await opens(node.callsUrl);
    // A phone of an allowed page registers and works like any other.
    const phone = await node.phone('origin-ok');
    expect(phone.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('with no list, lets every origin in', async () => {
    const node = await start();
    await opens(node.callsUrl, 'https://anywhere.example');
  });
});
