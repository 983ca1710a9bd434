/**
 * A node serving TLS (--tls-cert, --tls-key) with certificates made at run time: phones over
 * wss:// register and call, the admin surface answers over https://, a new certificate is
 * taken on a file change with live calls carrying on, a bad one is refused and the old one
 * kept, and plain HTTP to the TLS port gets no HTTP answer.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { NodeSettings } from '../../server/node/settings.ts';
import { answeredCall, MediaFlow, serviceCall } from '../support/calls.ts';
import { hotlineCli } from '../support/hotline-cli.ts';
import { sample } from '../support/metrics.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { httpsGet, servedFingerprint, useTwoCertificates, writeCertificate } from '../support/tls.ts';
import { waitFor } from '../support/wait.ts';

const certs = useTwoCertificates();
const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const running: { node: TestNode; phones: Phone[]; dir: string }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    for (const p of r.phones) p.ws.terminate();
    await r.node.shutdown();
    rmSync(r.dir, { recursive: true, force: true });
  }
});

async function tlsNode(overrides: Partial<NodeSettings> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-tls-'));
  const files = writeCertificate(dir, certs.first);
  const node = await startTestNode({ ...files, ...overrides });
  const r = { node, phones: [] as Phone[], dir, files };
  running.push(r);
  const phone = async (user: string) => {
    const p = await Phone.connect(node.callsUrl, { token: node.tokens, ca: certs.ca });
    r.phones.push(p);
    await p.register(user);
    return p;
  };
  return { ...r, phone };
}

const reloads = async (node: TestNode, outcome: string) =>
  sample(await node.metrics.registry.metrics(), 'hotline_tls_reloads_total', { outcome }) ?? 0;

describe('a node serving TLS', () => {
  it('serves phones over wss:// and the admin surface over https://', async () => {
    const { node, phone } = await tlsNode();
    expect(node.callsUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/calls$/);
    expect(node.httpUrl).toMatch(/^https:\/\//);
    expect(node.adminUrl).toMatch(/^https:\/\//);
    const alice = await phone('alice');
    const bob = await phone('bob');
    await answeredCall(alice, bob, 'c1', 'bob');
    alice.send({ type: 'media', callId: 'c1', seq: 1, sentAt: 1 });
    await bob.next((m) => m.type === 'media' && m.callId === 'c1');
    alice.send({ type: 'bye', callId: 'c1' });
    await bob.next((m) => m.type === 'ended' && m.callId === 'c1');

    const health = await httpsGet(`${node.httpUrl}/healthz`, certs.ca);
    expect(health.status).toBe(200);
    const cdrs = await waitFor('the CDR over https', async () => {
      const res = await httpsGet(`${node.adminUrl}/admin/cdrs?callId=c1`, certs.ca, node.adminToken);
      const list = (JSON.parse(res.body) as { cdrs: { cause: string }[] }).cdrs;
      return res.status === 200 && list.length === 1 && list;
    });
    expect(cdrs[0]?.cause).toBe('normal');
    expect(await servedFingerprint(node.adminUrl, certs.ca)).toBe(certs.first.fingerprint);
    // The observer's session cookie, given over https, is never sent back over plain http.
    const signIn = await httpsGet(`${node.adminUrl}/observer/session`, certs.ca, undefined, {
      token: node.adminToken,
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers['set-cookie']?.[0]).toMatch(/; Secure/);
  });

  it('is reached by the hotline CLI with NODE_EXTRA_CA_CERTS (told so without it) and by npm run phone with --ca', async () => {
    const { node, dir } = await tlsNode();
    const caFile = join(dir, 'cert.pem');
    const target = { adminUrl: node.adminUrl, dataDir: node.dataDir };
    const untrusted = await hotlineCli(target, node.adminToken, 'admin-token', 'list');
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/TLS certificate is not trusted .*NODE_EXTRA_CA_CERTS/);
    const before = process.env.NODE_EXTRA_CA_CERTS;
    process.env.NODE_EXTRA_CA_CERTS = caFile;
    try {
      const cli = await hotlineCli(target, node.adminToken, 'admin-token', 'list');
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      expect(JSON.parse(cli.stdout)).toMatchObject({
        tokens: [expect.objectContaining({ name: 'default' })],
      });
    } finally {
      if (before === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = before;
    }
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'loadtest/phone-cli.ts',
        '--url',
        node.callsUrl,
        '--data-dir',
        node.dataDir,
        '--ca',
        caFile,
        '--user',
        'dave',
        '--media',
        '1',
        '--interval',
        '10',
      ],
      { cwd: repoRoot },
    );
    expect(stdout).toMatch(/← ended +callId=\S+ cause=normal/);
  });

  it('refuses a client that does not trust its certificate', async () => {
    const { node } = await tlsNode();
    await expect(Phone.connect(node.callsUrl)).rejects.toThrow(/self-signed|certificate/i);
  });

  it('gives plain HTTP on its TLS port no HTTP answer: the connection is closed', async () => {
    const { node } = await tlsNode();
    const { port } = new URL(node.httpUrl);
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      const socket = tcpConnect({ host: '127.0.0.1', port: Number(port) }, () =>
        socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
      );
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        got += chunk;
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
    });
    // Node's TLS server takes the request for a bad handshake and closes the socket, saying nothing.
    expect(answer).not.toMatch(/^HTTP\//);
    expect(answer).toBe('');
  });

  it('counts a TLS connection as pending until it is a phone, and closes one that never shakes hands', async () => {
    const { node, phone } = await tlsNode({ maxPendingPerAddress: 2, handshakeTimeoutMs: 500 });
    // Each phone stops being pending once its upgrade is done (over TLS too), so more phones
    // than the per-address cap connect from one address.
    const phones = [];
    for (const user of ['p1', 'p2', 'p3', 'p4']) phones.push(await phone(user));
    expect(phones.every((p) => p.isOpen)).toBe(true);
    expect((await httpsGet(`${node.httpUrl}/healthz`, certs.ca)).status).toBe(200);

    const { port } = new URL(node.httpUrl);
    const silent = tcpConnect({ host: '127.0.0.1', port: Number(port) });
    silent.on('error', () => {});
    await new Promise((resolve) => silent.once('close', resolve));
    await waitFor('the timeout counted', async () => {
      const text = await node.metrics.registry.metrics();
      return (sample(text, 'hotline_connections_timed_out_total', { reason: 'handshake' }) ?? 0) >= 1;
    });
  });

  it('takes a new certificate when its files change; live calls carry on, new connections see it', async () => {
    const { node, phone, dir } = await tlsNode();
    const alice = await phone('alice');
    await serviceCall(alice, 'e1');
    const flow = new MediaFlow(alice, 'e1', 20);
    await waitFor('echoes before the reload', () => flow.received >= 5);

    writeCertificate(dir, certs.second);
    await waitFor('the new certificate on a new connection', async () => {
      return (await servedFingerprint(node.callsUrl, certs.ca)) === certs.second.fingerprint;
    });
    expect(await servedFingerprint(node.adminUrl, certs.ca)).toBe(certs.second.fingerprint);
    expect(await reloads(node, 'reloaded')).toBeGreaterThanOrEqual(1);

    // The call over the old session goes on: more echoes, no error, the socket open.
    const before = flow.received;
    await waitFor('echoes after the reload', () => flow.received >= before + 5);
    flow.stop();
    expect(alice.isOpen).toBe(true);
    expect(flow.errors).toEqual([]);
    expect(flow.ended).toBeNull();
    // A phone that connects now is on the new certificate, and calls.
    const bob = await phone('bob');
    await serviceCall(bob, 'e2');
  });

  it('refuses a certificate it cannot use and keeps the one in use, then takes the good pair', async () => {
    const { node, files, phone } = await tlsNode();
    const alice = await phone('alice');
    await serviceCall(alice, 'e1');

    // Not PEM at all: refused by the check, the first certificate stays.
    writeFileSync(files.tlsCert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n');
    expect(node.tls?.reload('test')).toBe(false);
    await waitFor('the refusals counted', async () => (await reloads(node, 'refused')) >= 1);
    // A renewal caught halfway: the new certificate with the old key.
    writeFileSync(files.tlsCert, certs.second.cert);
    expect(node.tls?.reload('test')).toBe(false);
    expect(await servedFingerprint(node.callsUrl, certs.ca)).toBe(certs.first.fingerprint);
    expect(await reloads(node, 'reloaded')).toBe(0);

    // The key arrives: the pair is whole, and taken.
    writeFileSync(files.tlsKey, certs.second.key);
    await waitFor('the new pair in use', async () => {
      return (await servedFingerprint(node.callsUrl, certs.ca)) === certs.second.fingerprint;
    });
    expect(alice.isOpen).toBe(true);
    alice.send({ type: 'media', callId: 'e1', seq: 1, sentAt: 1 });
    await alice.next((m) => m.type === 'media_ack' && m.callId === 'e1');
  });

  it('refuses to start with a certificate and key that are not a pair, or one without the other', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotline-tls-'));
    try {
      const files = writeCertificate(dir, { cert: certs.first.cert, key: certs.second.key });
      await expect(startTestNode(files)).rejects.toMatchObject({ code: 'HOT_ERR_TLS_CERTIFICATE_INVALID' });
      await expect(startTestNode({ tlsCert: files.tlsCert })).rejects.toMatchObject({
        code: 'HOT_ERR_TLS_CERTIFICATE_INVALID',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
