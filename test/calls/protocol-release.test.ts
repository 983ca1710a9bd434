/**
 * A release may add phone messages: the node learns them when it loads the release, with no
 * new node. Before that the front door refuses them as unknown; once loaded, sessions on the
 * release answer them and sessions still on an older release answer HOT_ERR_UNSUPPORTED_TYPE.
 * The fixture release 1.3.0-ping adds `ping` (and its answer `pong`) to 1.1.0.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Phone } from '../../loadtest/client/phone.ts';
import type { Artifact } from '../../server/release/artifact.ts';
import {
  adminPost,
  install,
  sessionsByRelease,
  settled,
  signAsCallsRelease,
  upload,
  useTrustingNodes,
} from '../support/call-releases.ts';
import type { TestNode } from '../support/test-node.ts';

const PING = '1.3.0-ping';
const trusting = useTrustingNodes();
let artifact: Artifact;

beforeAll(async () => {
  artifact = await trusting.artifact(PING);
}, 60_000);

/** Send a ping and return what answers it: a pong's release, or an error's code. */
async function ping(p: Phone, token: string): Promise<string> {
  p.sendRaw(JSON.stringify({ type: 'ping', token }));
  const m = (await p.next((m) => {
    const x = m as { type: string; token?: string; ref?: string };
    return (x.type === 'pong' && x.token === token) || (x.type === 'error' && x.ref === 'ping');
  })) as { type: string; release?: string; code?: string };
  return m.type === 'pong' ? `pong from ${m.release}` : (m.code as string);
}

async function schemaTypes(n: TestNode): Promise<string[]> {
  const res = await fetch(`${n.httpUrl}/protocol.schema.json`);
  return Object.keys(((await res.json()) as { definitions: object }).definitions);
}

describe('a release that adds a phone message', () => {
  it('is refused at upload when its messages redefine the base protocol; nothing is stored', async () => {
    const n = await trusting.node();
    const v = '9.0.0-bad-protocol';
    const code = `exports.release = {
      version: '${v}', apiVersion: 1, upgradeFrom: [], downgradeTo: [],
      behaviours: [{ name: 'session', version: '${v}', init: () => ({}) }],
      protocol: { client: { bye: { type: 'object', properties: { type: { const: 'bye' } } } } },
    };`;
    const res = await adminPost<{ code: string; message: string }>(
      n,
      '/admin/releases',
      signAsCallsRelease(trusting.signer(), v, code, { apiVersion: 1, modules: { session: v } }),
    );
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'HOT_ERR_RELEASE_LOAD_FAILED' });
    expect(res.body.message).toContain('it redefines the base client message bye');
    const list = await n.admin<{ unpacked: { version: string }[] }>('/admin/releases');
    expect(list.body.unpacked.map((r) => r.version)).not.toContain(v);
  });

  it('is unknown until loaded; then its sessions answer, older ones refuse it typed, and calls go on', async () => {
    const n = await trusting.node();
    const phones = await Promise.all(Array.from({ length: 20 }, (_, i) => n.phone(`p${i}`)));
    const [a, b] = phones as [Phone, Phone];
    a.send({ type: 'invite', callId: 'c1', to: 'p1' });
    await b.next('incoming');
    b.send({ type: 'answer', callId: 'c1' });
    await a.next('answered');

    expect(await ping(a, 't0')).toBe('HOT_ERR_UNKNOWN_TYPE');
    // Unpacked is stored, not loaded: still unknown.
    await upload(n, artifact);
    expect(await ping(a, 't1')).toBe('HOT_ERR_UNKNOWN_TYPE');
    expect(await schemaTypes(n)).not.toContain('client.ping');

    // A canary: both releases run, and each session answers as its release does.
    expect((await install(n, PING, { mode: 'canary', canaryFraction: 0.5 })).phase).toBe('canary');
    expect(await schemaTypes(n)).toEqual(expect.arrayContaining(['client.ping', 'server.pong']));
    const split = await sessionsByRelease(n);
    const answers = await Promise.all(phones.map((p, i) => ping(p, `c${i}`)));
    const count = (what: string) => answers.filter((x) => x === what).length;
    expect(count(`pong from ${PING}`)).toBe(split[PING]);
    expect(count('HOT_ERR_UNSUPPORTED_TYPE')).toBe(split['1.0.0']);
    expect(count(`pong from ${PING}`)).toBeGreaterThan(0);
    expect(count('HOT_ERR_UNSUPPORTED_TYPE')).toBeGreaterThan(0);

    expect((await adminPost(n, '/admin/install/promote')).status).toBe(200);
    expect((await settled(n)).outcome).toBe('installed');
    expect(new Set(await Promise.all(phones.map((p, i) => ping(p, `d${i}`))))).toEqual(
      new Set([`pong from ${PING}`]),
    );

    // Back down to 1.0.0: the node still knows the message, and the sessions refuse it typed.
    expect((await install(n, '1.0.0')).outcome).toBe('installed');
    expect(await ping(a, 't2')).toBe('HOT_ERR_UNSUPPORTED_TYPE');

    // The call carried on throughout, and no phone was dropped.
    a.send({ type: 'media', callId: 'c1', seq: 1, sentAt: 0 });
    expect(await b.next('media')).toMatchObject({ callId: 'c1', seq: 1 });
    for (const p of phones) expect(p.isOpen).toBe(true);
  });
});
