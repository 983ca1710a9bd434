/**
 * The two HTTP surfaces of a live node: health, readiness, metrics, the protocol schema and
 * the WebSocket front door on the public one; CDRs and the runtime views behind the bearer
 * token on the admin one. Plus the admin token's own logic.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Phone } from '../../loadtest/client/phone.ts';
import type { Cdr } from '../../server/calls/cdr/records.ts';
import { protocolJsonSchema } from '../../server/calls/protocol/json-schema.ts';
import { baseClientMessages, baseServerMessages } from '../../server/calls/protocol/messages.ts';
import { clientMessages, serverMessages } from '../../server/calls/protocol/shipped.ts';
import { shippedAdditions } from '../../server/calls/releases/index.ts';
import { AdminTokens, DEFAULT_HOLDER } from '../../server/http/admin-tokens.ts';
import { resolveAdminToken } from '../../server/http/auth.ts';
import { defaultSettings } from '../../server/node/settings.ts';
import { type Pid, SimulatedClock } from '../../server/runtime/index.ts';
import { listProcesses, type TreeNode } from '../../server/runtime/introspect.ts';
import { loadRelease } from '../support/call-releases.ts';
import { answeredCall } from '../support/calls.ts';
import { cdrOf, fetchCdrs } from '../support/cdrs.ts';
import { sample } from '../support/metrics.ts';
import { type TestNode, useTestNode } from '../support/test-node.ts';
import { sleep, waitFor } from '../support/wait.ts';

const start = useTestNode();

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** The HTTP status a WebSocket upgrade to `url` is refused with. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('error', () => {
      // The status is what matters; 'unexpected-response' reports it.
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
  });
}

// ---- Prometheus text ----

const scrape = async (n: TestNode): Promise<string> => (await get(`${n.httpUrl}/metrics`)).text;

/** Every hotline_* metric the node defines, read from its sources so a new one is covered. */
function definedMetricNames(): string[] {
  const dir = new URL('../../server/node/metrics/', import.meta.url);
  const source = readdirSync(dir)
    .map((file) => readFileSync(new URL(file, dir), 'utf8'))
    .join('\n');
  return [...new Set([...source.matchAll(/'(hotline_[a-z_]+)'/g)].map((m) => m[1] as string))];
}

describe('public surface', () => {
  it('/healthz and /readyz answer 200 with their JSON while running', async () => {
    const n = await start();
    const health = await get(`${n.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    expect(health.body).toMatchObject({ status: 'ok', node: 'hotline' });
    expect((health.body as { uptimeSeconds: number }).uptimeSeconds).toBeGreaterThanOrEqual(0);

    const ready = await get(`${n.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toStrictEqual({ ready: true, node: 'hotline' });
  });

  it('/readyz turns 503 once stop has begun', async () => {
    const n = await start();
    const stopping = n.stop();
    // Injected, so it reaches the route before the HTTP server itself starts closing.
    const res = await n.publicApp.inject({ method: 'GET', url: '/readyz' });
    await stopping;
    expect(res.statusCode).toBe(503);
    expect(res.json()).toStrictEqual({ ready: false, node: 'hotline' });
  });

  it('GET /calls without an upgrade is 426 with an upgrade header', async () => {
    const n = await start();
    const res = await get(`${n.httpUrl}/calls`);
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(res.body).toMatchObject({
      code: 'HOT_ERR_UPGRADE_REQUIRED',
      message: expect.stringContaining('/calls'),
    });
  });

  it('refuses WebSocket upgrades to other paths (404), when full (503) and when stopping (503)', async () => {
    const n = await start({ maxSessions: 1 });
    expect(await upgradeStatus(`${n.callsUrl.replace(/\/calls$/, '')}/nope`)).toBe(404);
    expect(await upgradeStatus(`${n.callsUrl}/more`)).toBe(404);

    await n.phone('alice');
    expect(await upgradeStatus(n.callsUrl)).toBe(503);

    n.gateway.stopAccepting();
    expect(await upgradeStatus(n.callsUrl)).toBe(503);
  });

  it('a phone waits for its session however long the supervisors take, with no orphan port', async () => {
    const clock = new SimulatedClock();
    const n = await start({}, { clock });
    const sessions = n.rt.whereis('sessions') as Pid;
    // A node so busy that the session supervisor gets no turn for longer than a call timeout.
    expect(n.rt.sys.trySuspend(sessions)).toBe(true);
    const ports = () => listProcesses(n.rt, (p) => p.module === 'port').length;
    const phone = await Phone.connect(n.callsUrl, { token: n.tokens });
    try {
      await phone.sendRegister('patient');
      await waitFor('a port for the phone', () => ports() === 1);
      clock.advance(n.rt.callTimeoutMs * 3);
      await sleep(20);
    } finally {
      n.rt.sys.resume(sessions);
    }
    expect(await phone.next('registered')).toMatchObject({ user: 'patient' });
    expect(phone.isOpen).toBe(true);
    expect(ports()).toBe(1);
    phone.ws.terminate();
    await waitFor(
      'no port or session left',
      () => listProcesses(n.rt, (p) => p.module === 'port' || p.module === 'session').length === 0,
    );
  });

  it('an unknown route is a 404 with the error shape', async () => {
    const n = await start();
    const res = await get(`${n.httpUrl}/no/such/route`);
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: 'HOT_ERR_NOT_FOUND', message: expect.any(String) });
    // Admin routes are not on the public surface.
    expect((await get(`${n.httpUrl}/cdrs`, { authorization: `Bearer ${n.adminToken}` })).status).toBe(404);
  });

  it('/protocol.schema.json defines every message the node accepts: the base, plus what its releases add', async () => {
    const read = async (n: TestNode) => {
      const res = await get(`${n.httpUrl}/protocol.schema.json`);
      expect(res.status).toBe(200);
      return res.body as {
        $schema: string;
        definitions: Record<string, { properties?: { type?: { const?: string } }; oneOf?: unknown[] }>;
      };
    };
    const check = (schema: Awaited<ReturnType<typeof read>>, client: string[], server: string[]) => {
      expect(schema.$schema).toMatch(/json-schema\.org/);
      for (const [side, names] of [
        ['client', client],
        ['server', server],
      ] as const) {
        for (const type of names)
          expect(schema.definitions[`${side}.${type}`]?.properties?.type?.const, `${side}.${type}`).toBe(
            type,
          );
        const union = schema.definitions[side === 'client' ? 'ClientMessage' : 'ServerMessage'];
        expect(union?.oneOf).toHaveLength(names.length);
      }
    };
    const baselineNode = await start();
    const onBaseline = await read(baselineNode);
    await baselineNode.shutdown();
    check(onBaseline, Object.keys(baseClientMessages), Object.keys(baseServerMessages));
    expect(onBaseline.definitions['client.call_info']).toBeUndefined();
    // A node on 1.1.0 has learnt call_info from the release: the shipped protocol, as committed.
    const onV11 = await read(await start({}, { release: await loadRelease('1.1.0') }));
    check(onV11, Object.keys(clientMessages), Object.keys(serverMessages));
    expect(onV11).toStrictEqual(JSON.parse(JSON.stringify(protocolJsonSchema(shippedAdditions))));
  });
});

describe('/metrics', () => {
  it('exposes every hotline_* metric and the default process metrics', async () => {
    const n = await start();
    const text = await scrape(n);
    const names = definedMetricNames();
    expect(names.length).toBeGreaterThanOrEqual(11);
    for (const name of names) expect(text, name).toContain(`# TYPE ${name} `);
    for (const name of [
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'process_cpu_user_seconds_total',
      'process_start_time_seconds',
    ]) {
      expect(sample(text, name, { node: 'hotline' }), name).toBeTypeOf('number');
    }
  });

  it('counts frames, call setup, ended calls, protocol errors and live sessions', async () => {
    const n = await start();
    const a = await n.phone('alice');
    const b = await n.phone('bob');
    expect(sample(await scrape(n), 'hotline_sessions_active', { release: '1.0.0' })).toBe(2);

    await answeredCall(a, b, 'mc1', 'bob');
    for (const seq of [1, 2]) {
      a.send({ type: 'media', callId: 'mc1', seq, sentAt: seq });
      await b.next('media');
    }
    b.send({ type: 'media', callId: 'mc1', seq: 3, sentAt: 3 });
    await a.next('media');
    let text = await scrape(n);
    expect(sample(text, 'hotline_calls_active', { state: 'up' })).toBe(1);

    a.send({ type: 'bye', callId: 'mc1' });
    await b.next('ended');
    await cdrOf(n, 'mc1');
    // A frame the gateway refuses, and one the session refuses.
    a.sendRaw('{not json');
    expect(await a.next('error')).toMatchObject({ code: 'HOT_ERR_INVALID_JSON' });
    a.send({ type: 'hold', callId: 'nope' });
    expect(await a.next('error')).toMatchObject({ code: 'HOT_ERR_UNKNOWN_CALL' });

    text = await scrape(n);
    const receivedWant = { register: 2, invite: 1, ringing: 1, answer: 1, media: 3, bye: 1, hold: 1 };
    for (const [type, count] of Object.entries(receivedWant))
      expect(sample(text, 'hotline_frames_received_total', { type }), `received ${type}`).toBe(count);
    const sentWant = {
      registered: 2,
      trying: 1,
      incoming: 1,
      ringing: 1,
      answered: 2,
      media: 3,
      media_ack: 3,
      ended: 2,
      error: 2,
    };
    for (const [type, count] of Object.entries(sentWant))
      expect(sample(text, 'hotline_frames_sent_total', { type }), `sent ${type}`).toBe(count);
    expect(sample(text, 'hotline_call_setup_seconds_count')).toBe(1);
    expect(sample(text, 'hotline_calls_ended_total', { cause: 'normal' })).toBe(1);
    expect(sample(text, 'hotline_protocol_errors_total', { code: 'HOT_ERR_INVALID_JSON' })).toBe(1);
    expect(sample(text, 'hotline_protocol_errors_total', { code: 'HOT_ERR_UNKNOWN_CALL' })).toBe(1);
    expect(sample(text, 'hotline_calls_active', { state: 'up' })).toBe(0);
    expect(sample(text, 'hotline_session_crashes_total', { release: '1.0.0' })).toBe(0);

    // The sessions gauge follows the phones.
    await n.phone('carol');
    expect(sample(await scrape(n), 'hotline_sessions_active', { release: '1.0.0' })).toBe(3);
    await b.close();
    await waitFor(
      'sessions gauge down to 2',
      async () => sample(await scrape(n), 'hotline_sessions_active', { release: '1.0.0' }) === 2,
    );
    expect(sample(await scrape(n), 'hotline_processes', { module: 'session' })).toBe(2);
  });
});

describe('admin surface', () => {
  const adminPaths = ['/cdrs', '/admin/processes', '/admin/tree', '/admin/modules'];

  it('listens on loopback by default', async () => {
    expect(defaultSettings.adminHost).toBe('127.0.0.1');
    const n = await start();
    expect(n.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(n.adminUrl).not.toBe(n.httpUrl);
  });

  it('needs the bearer token on every route', async () => {
    const n = await start();
    const refused = [
      {},
      { authorization: 'Bearer wrong-token' },
      { authorization: 'Bearer test-toke' },
      { authorization: 'Bearer test-token-and-more' },
      { authorization: 'test-token' },
      { authorization: 'Basic test-token' },
    ];
    for (const path of adminPaths) {
      for (const headers of refused) {
        const res = await get(`${n.adminUrl}${path}`, headers);
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.body).toMatchObject({ code: 'HOT_ERR_UNAUTHORIZED' });
      }
      const ok = await get(`${n.adminUrl}${path}`, { authorization: 'Bearer test-token' });
      expect(ok.status, path).toBe(200);
    }
  });

  it('/admin/processes, /admin/modules and /admin/tree describe the node', async () => {
    const n = await start();
    await n.phone('alice');
    await n.phone('bob');

    const procs = await n.admin<{
      count: number;
      processes: { module: string; name?: string; version: string }[];
    }>('/admin/processes?module=session');
    expect(procs.status).toBe(200);
    expect(procs.body.count).toBe(2);
    expect(procs.body.processes.map((p) => p.name).sort()).toEqual(['user:alice', 'user:bob']);
    expect(procs.body.processes.every((p) => p.module === 'session' && p.version === '1.0.0')).toBe(true);
    const limited = await n.admin<{ count: number; processes: unknown[] }>(
      '/admin/processes?module=session&limit=1',
    );
    expect(limited.body.count).toBe(2);
    expect(limited.body.processes).toHaveLength(1);

    const modules = await n.admin<{ modules: { module: string; version: string; processes: number }[] }>(
      '/admin/modules',
    );
    expect(modules.body.modules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ module: 'session', version: '1.0.0', processes: 2 }),
        expect.objectContaining({ module: 'port', processes: 2 }),
        expect.objectContaining({ module: 'cdr_journal', processes: 1 }),
      ]),
    );

    const { body } = await n.admin<{ tree: TreeNode[] }>('/admin/tree');
    expect(body.tree).toHaveLength(1);
    const [app] = body.tree as [TreeNode];
    expect(app.module).toBe('application');
    expect(app.children.map((c) => c.module)).toEqual(['supervisor']);
    const top = app.children[0] as TreeNode;
    expect(top.children.map((c) => [c.name, c.module])).toEqual([
      ['cdr_journal', 'cdr_journal'],
      ['ports', 'dynamic_supervisor'],
      ['sessions', 'dynamic_supervisor'],
    ]);
    const [, ports, sessions] = top.children as [TreeNode, TreeNode, TreeNode];
    expect(sessions.children.map((c) => c.module)).toEqual(['session', 'session']);
    expect(sessions.children.map((c) => c.name).sort()).toEqual(['user:alice', 'user:bob']);
    expect(ports.children.map((c) => c.module)).toEqual(['port', 'port']);

    // maxChildren lists some and counts the rest, at every level.
    const short = await n.admin<{ tree: TreeNode[] }>('/admin/tree?maxChildren=1');
    const shortTop = short.body.tree[0]?.children[0];
    expect(shortTop?.children.map((c) => c.name)).toEqual(['cdr_journal']);
    expect(shortTop?.more).toStrictEqual({ 'dynamic_supervisor@1.0.0': 2 });
  });

  describe('/cdrs', () => {
    /** Three finished calls, oldest first, with distinct end times. */
    async function threeCalls(n: TestNode): Promise<[Cdr, Cdr, Cdr]> {
      const a = await n.phone('alice');
      const b = await n.phone('bob');
      const c = await n.phone('carol');
      a.send({ type: 'invite', callId: 'f1', to: 'echo' });
      await a.next('answered');
      a.send({ type: 'bye', callId: 'f1' });
      const f1 = await cdrOf(n, 'f1');
      await sleep(5);
      b.send({ type: 'invite', callId: 'f2', to: 'noanswer' });
      expect(await b.next('ended')).toMatchObject({ cause: 'ring_timeout' });
      const f2 = await cdrOf(n, 'f2');
      await sleep(5);
      c.send({ type: 'invite', callId: 'f3', to: 'ivr' });
      await c.next('prompt');
      c.send({ type: 'dtmf', callId: 'f3', digit: '#' });
      const f3 = await cdrOf(n, 'f3');
      expect(f1.endedAt).toBeLessThan(f2.endedAt);
      expect(f2.endedAt).toBeLessThan(f3.endedAt);
      return [f1, f2, f3];
    }

    const ids = (list: Cdr[]) => list.map((c) => c.callId);

    it('filters by user, cause, callId, time and limit, newest first', async () => {
      const n = await start({ ringTimeoutMs: 100 });
      const [, f2] = await threeCalls(n);
      const q = async (query: string) => ids((await n.admin<{ cdrs: Cdr[] }>(`/cdrs${query}`)).body.cdrs);

      expect(await q('')).toEqual(['f3', 'f2', 'f1']);
      expect(await q('?user=alice')).toEqual(['f1']);
      expect(await q('?user=echo')).toEqual(['f1']);
      expect(await q('?user=nobody')).toEqual([]);
      expect(await q('?cause=ring_timeout')).toEqual(['f2']);
      expect(await q('?cause=normal')).toEqual(['f3', 'f1']);
      expect(await q('?callId=f3')).toEqual(['f3']);
      expect(await q(`?since=${f2.endedAt}`)).toEqual(['f3', 'f2']);
      expect(await q(`?until=${f2.endedAt}`)).toEqual(['f2', 'f1']);
      expect(await q(`?since=${f2.endedAt}&until=${f2.endedAt}`)).toEqual(['f2']);
      expect(await q('?limit=2')).toEqual(['f3', 'f2']);
      expect(await q('?cause=normal&limit=1')).toEqual(['f3']);
      expect(await q('?user=carol&cause=normal')).toEqual(['f3']);
      expect(ids(await fetchCdrs(n, { user: 'bob' }))).toEqual(['f2']);
    });

    it('rejects a bad query with 400', async () => {
      const n = await start();
      for (const query of [
        'limit=0',
        'limit=10001',
        'limit=abc',
        'since=-1',
        'until=soon',
        'foo=1',
        'user=alice&bogus=',
        `callId=${'x'.repeat(65)}`,
      ]) {
        const res = await n.admin<{ code: string }>(`/cdrs?${query}`);
        expect(res.status, query).toBe(400);
        expect(res.body.code, query).toBe('HOT_ERR_BAD_REQUEST');
      }
      for (const path of [
        '/admin/processes?limit=0',
        '/admin/processes?foo=1',
        '/admin/tree?maxChildren=-1',
        '/admin/tree?foo=1',
      ]) {
        expect((await n.admin(path)).status, path).toBe(400);
      }
    });
  });
});

describe('admin token', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('is made once, stored with mode 0600, and read back the next time', () => {
    const base = mkdtempSync(join(tmpdir(), 'hotline-token-'));
    dir = base;
    const dataDir = join(base, 'data');
    const first = resolveAdminToken(undefined, dataDir);
    expect(first.generated).toBe(true);
    expect(first.token.length).toBeGreaterThanOrEqual(32);
    const file = join(dataDir, 'admin-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.token);

    const second = resolveAdminToken(undefined, dataDir);
    expect(second).toStrictEqual({ token: first.token, generated: false });
    // An empty environment value does not count as a token.
    expect(resolveAdminToken('', dataDir)).toStrictEqual({ token: first.token, generated: false });
  });

  it('takes the environment value over the stored one, and stores nothing for it', () => {
    const base = mkdtempSync(join(tmpdir(), 'hotline-token-'));
    dir = base;
    expect(resolveAdminToken('from-env', base)).toStrictEqual({ token: 'from-env', generated: false });
    expect(() => statSync(join(base, 'admin-token'))).toThrow();
    const stored = resolveAdminToken(undefined, base);
    expect(stored.generated).toBe(true);
    expect(resolveAdminToken('from-env', base)).toStrictEqual({ token: 'from-env', generated: false });
    expect(resolveAdminToken(undefined, base).token).toBe(stored.token);
  });

  it('the default token identifies only with the exact token', () => {
    const tokens = new AdminTokens('s3cret-token');
    expect(tokens.identify('s3cret-token')).toEqual(DEFAULT_HOLDER);
    expect(tokens.identify(undefined)).toBeNull();
    expect(tokens.identify('')).toBeNull();
    expect(tokens.identify('wrong')).toBeNull();
    expect(tokens.identify('s3cret')).toBeNull();
    expect(tokens.identify('s3cret-token2')).toBeNull();
    expect(tokens.identify('S3CRET-TOKEN')).toBeNull();
  });
});
