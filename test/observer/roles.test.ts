/**
 * Operator roles on a live node: every admin route, with no token, a read token and an operate
 * token (the node's own `default` and a named one), answers as admin-scopes.ts says; a
 * read-only observer session is refused changes; a revoked token and its sessions stop working;
 * the token file holds no secret.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_SCOPES } from '../../server/http/admin-scopes.ts';
import { OBSERVER_HEADER } from '../../server/http/auth.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let node: TestNode;
let readToken: string;
let operateToken: string;

async function call(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; code: string | undefined; text: string }> {
  const res = await fetch(`${node.adminUrl}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // Event streams never end: their status and headers are all this needs.
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, code: undefined, text: '' };
  }
  const text = await res.text();
  const code = res.headers.get('content-type')?.includes('json')
    ? (JSON.parse(text) as { code?: string }).code
    : undefined;
  return { status: res.status, code, text };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A request for each route that changes nothing lasting, whatever scope it needs. */
const REQUESTS: Record<string, { path: string; body?: unknown }> = {
  'GET /cdrs': { path: '/cdrs' },
  'GET /admin/cdrs': { path: '/admin/cdrs' },
  // CSV: the test reads a JSON answer as an error body, and an empty NDJSON export is not JSON.
  'GET /admin/cdrs/export': { path: '/admin/cdrs/export?format=csv' },
  'GET /admin/processes': { path: '/admin/processes' },
  'GET /admin/tree': { path: '/admin/tree' },
  'GET /admin/modules': { path: '/admin/modules' },
  'GET /admin/cluster': { path: '/admin/cluster' },
  'GET /admin/memory': { path: '/admin/memory' },
  'GET /admin/releases': { path: '/admin/releases' },
  'GET /admin/install': { path: '/admin/install' },
  'GET /admin/install/events': { path: '/admin/install/events' },
  'GET /admin/observer/events': { path: '/admin/observer/events' },
  'GET /admin/whoami': { path: '/admin/whoami' },
  'GET /admin/audit': { path: '/admin/audit' },
  'GET /admin/tokens': { path: '/admin/tokens' },
  'GET /observer/assets/*': { path: '/observer/assets/observer.js' },
  'GET /observer/vendor/:file': { path: '/observer/vendor/uPlot.min.css' },
  'POST /admin/releases/:version/preflight': { path: '/admin/releases/1.0.0/preflight' },
  'POST /admin/releases': { path: '/admin/releases', body: { not: 'an artifact' } },
  'DELETE /admin/releases/:version': { path: '/admin/releases/9.9.9' },
  'POST /admin/releases/:version/install': { path: '/admin/releases/9.9.9/install', body: {} },
  'POST /admin/releases/:version/permanent': { path: '/admin/releases/9.9.9/permanent' },
  'POST /admin/install/promote': { path: '/admin/install/promote' },
  'POST /admin/install/rollback': { path: '/admin/install/rollback' },
  // A body the route refuses (400): an accepted one would hand the test's own node over.
  'POST /admin/node/handoff': { path: '/admin/node/handoff', body: { entry: '' } },
  'POST /admin/phone-tokens': { path: '/admin/phone-tokens', body: { user: 'table-user' } },
  'POST /admin/tokens': { path: '/admin/tokens', body: { name: 'made-in-the-table', scope: 'read' } },
  'DELETE /admin/tokens/:name': { path: '/admin/tokens/nobody' },
};

/** The routes the node serves, as `METHOD /pattern` (HEAD left out: it is its GET). */
const PUBLIC_ROUTES = ['GET /observer', 'POST /observer/session', 'POST /observer/session/delete'];

beforeAll(async () => {
  node = await startTestNode();
  const made = async (name: string, scope: string) => {
    const res = await call('POST', '/admin/tokens', bearer(node.adminToken), { name, scope });
    expect(res.status, res.text).toBe(201);
    return (JSON.parse(res.text) as { token: string }).token;
  };
  readToken = await made('grafana', 'read');
  operateToken = await made('deployer', 'operate');
});
afterAll(() => node.shutdown());

const served = (key: string) => {
  const [method, url] = key.split(' ') as [string, string];
  return node.adminApp.hasRoute({ method, url });
};

describe('admin scopes', () => {
  it('declare every route the admin surface serves', () => {
    // printRoutes lists each path with its methods; count them (HEAD aside) against the table.
    const listed = [...node.adminApp.printRoutes({ commonPrefix: false }).matchAll(/\(([A-Z, ]+)\)/g)]
      .flatMap((m) => (m[1] as string).split(', '))
      .filter((method) => method !== 'HEAD');
    const declared = Object.keys(ADMIN_SCOPES).filter(served);
    expect(PUBLIC_ROUTES.every(served)).toBe(true);
    expect(listed.length).toBe(declared.length + PUBLIC_ROUTES.length);
    expect(Object.keys(REQUESTS).sort()).toEqual(Object.keys(ADMIN_SCOPES).sort());
  });

  for (const [key, needed] of Object.entries(ADMIN_SCOPES)) {
    const [method] = key.split(' ') as [string];
    it(`${key} needs ${needed}`, async () => {
      const { path, body } = REQUESTS[key] as { path: string; body?: unknown };
      const nobody = await call(method, path, {}, body);
      expect(nobody, 'no token').toMatchObject({ status: 401, code: 'HOT_ERR_UNAUTHORIZED' });
      const reader = await call(method, path, bearer(readToken), body);
      if (needed === 'read') {
        expect([401, 403], `read: ${reader.text}`).not.toContain(reader.status);
      } else {
        expect(reader, 'read').toMatchObject({ status: 403, code: 'HOT_ERR_SCOPE_REQUIRED' });
        expect(reader.text).not.toContain(readToken);
      }
      for (const token of [operateToken, node.adminToken]) {
        const operator = await call(method, path, bearer(token), body);
        expect([401, 403], `operate: ${operator.text}`).not.toContain(operator.status);
        if (key === 'POST /admin/tokens')
          await call('DELETE', '/admin/tokens/made-in-the-table', bearer(token));
      }
    });
  }
});

describe('admin tokens', () => {
  it('say who holds them, are listed without secrets, and keep only digests on disk', async () => {
    const me = await call('GET', '/admin/whoami', bearer(readToken));
    expect(JSON.parse(me.text)).toEqual({ name: 'grafana', scope: 'read' });
    const listed = await call('GET', '/admin/tokens', bearer(readToken));
    expect(
      JSON.parse(listed.text).tokens.map((t: { name: string; scope: string }) => [t.name, t.scope]),
    ).toEqual([
      ['default', 'operate'],
      ['grafana', 'read'],
      ['deployer', 'operate'],
    ]);
    const file = readFileSync(join(node.dataDir, 'admin-tokens.json'), 'utf8');
    for (const secret of [readToken, operateToken, node.adminToken]) {
      expect(listed.text).not.toContain(secret);
      expect(file).not.toContain(secret);
    }
  });

  it('refuse a second token of one name, and revoking the default one', async () => {
    const twice = await call('POST', '/admin/tokens', bearer(operateToken), {
      name: 'grafana',
      scope: 'operate',
    });
    expect(twice).toMatchObject({ status: 409, code: 'HOT_ERR_ADMIN_TOKEN_EXISTS' });
    const fixed = await call('DELETE', '/admin/tokens/default', bearer(operateToken));
    expect(fixed).toMatchObject({ status: 409, code: 'HOT_ERR_DEFAULT_ADMIN_TOKEN' });
    const badName = await call('POST', '/admin/tokens', bearer(operateToken), {
      name: '../x',
      scope: 'read',
    });
    expect(badName).toMatchObject({ status: 400, code: 'HOT_ERR_BAD_REQUEST' });
  });

  it('sign a read-only observer session in, which the node refuses changes; revoking ends it', async () => {
    const made = await call('POST', '/admin/tokens', bearer(node.adminToken), {
      name: 'viewer',
      scope: 'read',
    });
    const secret = (JSON.parse(made.text) as { token: string }).token;
    const signIn = await fetch(`${node.adminUrl}/observer/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: secret }),
      redirect: 'manual',
    });
    expect(signIn.status).toBe(303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const session = { cookie, [OBSERVER_HEADER]: '1' };
    expect(JSON.parse((await call('GET', '/admin/whoami', session)).text)).toEqual({
      name: 'viewer',
      scope: 'read',
    });
    expect(await call('POST', '/admin/install/rollback', session)).toMatchObject({
      status: 403,
      code: 'HOT_ERR_SCOPE_REQUIRED',
    });

    expect((await call('DELETE', '/admin/tokens/viewer', bearer(operateToken))).status).toBe(204);
    expect(await call('GET', '/admin/whoami', session)).toMatchObject({ status: 401 });
    expect(await call('GET', '/admin/whoami', bearer(secret))).toMatchObject({ status: 401 });
  });

  it('outlive a restart of the node', async () => {
    const again = await startTestNode({ dataDir: node.dataDir, adminToken: 'another-default' });
    try {
      const res = await fetch(`${again.adminUrl}/admin/whoami`, { headers: bearer(readToken) });
      expect(await res.json()).toEqual({ name: 'grafana', scope: 'read' });
    } finally {
      await again.stop();
    }
  });
});
