/**
 * The admin surface's two credentials without a browser: the bearer token, or the cookie of
 * an observer session (which expires, can be revoked, and needs the observer's header to
 * change anything).
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminTokens, DEFAULT_HOLDER } from '../../server/http/admin-tokens.ts';
import { createFastify } from '../../server/http/app.ts';
import { installAdminAuth, OBSERVER_HEADER } from '../../server/http/auth.ts';
import { OBSERVER_COOKIE, ObserverSessions, SESSION_TTL_MS } from '../../server/http/observer-session.ts';

const TOKEN = 'the-admin-token';

describe('observer sessions', () => {
  it('are random ids, valid until they expire or are revoked', () => {
    let now = 1_000_000;
    const sessions = new ObserverSessions({ ttlMs: 60_000, now: () => now });
    const a = sessions.create(DEFAULT_HOLDER);
    const b = sessions.create(DEFAULT_HOLDER);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[\w-]{43}$/);
    expect(sessions.valid(a)).toBe(true);
    now += 59_999;
    expect(sessions.valid(a)).toBe(true);
    now += 1;
    expect(sessions.valid(a)).toBe(false);
    // Expired is gone, not only refused: turning the clock back does not revive it.
    now -= 10;
    expect(sessions.valid(a)).toBe(false);
    expect(sessions.valid(b)).toBe(true);
    sessions.revoke(b);
    expect(sessions.valid(b)).toBe(false);
    expect(sessions.valid(undefined)).toBe(false);
    expect(sessions.valid('')).toBe(false);
    expect(sessions.valid(TOKEN)).toBe(false);
  });

  it('last twelve hours by default', () => {
    expect(new ObserverSessions().ttlMs).toBe(SESSION_TTL_MS);
    expect(SESSION_TTL_MS).toBe(12 * 60 * 60 * 1000);
  });
});

describe('the admin auth hook', () => {
  let now = 0;
  let sessions: ObserverSessions;
  let app: FastifyInstance | undefined;
  let changes = 0;

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function surface(): Promise<FastifyInstance> {
    now = 5_000_000;
    changes = 0;
    sessions = new ObserverSessions({ ttlMs: 1000, now: () => now });
    app = createFastify({ logger: false });
    await installAdminAuth(app, { tokens: new AdminTokens(TOKEN), sessions });
    app.get('/admin/thing', async () => ({ changes }));
    app.post('/admin/thing', async () => ({ changes: ++changes }));
    app.delete('/admin/thing', async () => ({ changes: ++changes }));
    app.get('/sign-in', { config: { public: true } }, async () => ({ public: true }));
    return app;
  }

  const cookie = (id: string) => ({ cookie: `${OBSERVER_COOKIE}=${id}` });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  async function answer(
    a: FastifyInstance,
    method: 'GET' | 'POST' | 'DELETE',
    headers: Record<string, string>,
    url = '/admin/thing',
  ): Promise<{ status: number; code: string | undefined }> {
    const res = await a.inject({ method, url, headers });
    return { status: res.statusCode, code: (res.json() as { code?: string }).code };
  }

  it('takes the bearer token for reads and changes, with no other header', async () => {
    const a = await surface();
    expect(await answer(a, 'GET', bearer(TOKEN))).toEqual({ status: 200, code: undefined });
    expect(await answer(a, 'POST', bearer(TOKEN))).toEqual({ status: 200, code: undefined });
    expect(changes).toBe(1);
  });

  it('refuses no credential, a wrong token, a wrong cookie, and the token in the cookie', async () => {
    const a = await surface();
    const refused = { status: 401, code: 'HOT_ERR_UNAUTHORIZED' };
    for (const headers of [
      {},
      bearer('wrong'),
      { authorization: TOKEN },
      cookie('not-a-session'),
      cookie(TOKEN),
      { cookie: `other=${sessions.create(DEFAULT_HOLDER)}` },
    ]) {
      expect(await answer(a, 'GET', headers), JSON.stringify(headers)).toEqual(refused);
      expect(await answer(a, 'POST', { ...headers, [OBSERVER_HEADER]: '1' })).toEqual(refused);
    }
    expect(changes).toBe(0);
  });

  it('takes a session cookie for reads; for changes only with the observer header', async () => {
    const a = await surface();
    const id = sessions.create(DEFAULT_HOLDER);
    expect(await answer(a, 'GET', cookie(id))).toEqual({ status: 200, code: undefined });
    const forbidden = { status: 403, code: 'HOT_ERR_OBSERVER_HEADER' };
    expect(await answer(a, 'POST', cookie(id))).toEqual(forbidden);
    expect(await answer(a, 'DELETE', cookie(id))).toEqual(forbidden);
    expect(await answer(a, 'POST', { ...cookie(id), [OBSERVER_HEADER]: '0' })).toEqual(forbidden);
    expect(changes).toBe(0);
    expect(await answer(a, 'POST', { ...cookie(id), [OBSERVER_HEADER]: '1' })).toEqual({
      status: 200,
      code: undefined,
    });
    expect(changes).toBe(1);
  });

  it('stops taking a cookie once its session expires or is revoked', async () => {
    const a = await surface();
    const expiring = sessions.create(DEFAULT_HOLDER);
    const revoked = sessions.create(DEFAULT_HOLDER);
    now += 999;
    expect((await answer(a, 'GET', cookie(expiring))).status).toBe(200);
    sessions.revoke(revoked);
    expect(await answer(a, 'GET', cookie(revoked))).toEqual({ status: 401, code: 'HOT_ERR_UNAUTHORIZED' });
    now += 1;
    expect(await answer(a, 'GET', cookie(expiring))).toEqual({ status: 401, code: 'HOT_ERR_UNAUTHORIZED' });
  });

  it('lets the routes marked public through without a credential, and no other', async () => {
    const a = await surface();
    expect((await a.inject({ url: '/sign-in' })).json()).toEqual({ public: true });
    expect(await answer(a, 'GET', {}, '/nowhere')).toEqual({ status: 401, code: 'HOT_ERR_UNAUTHORIZED' });
    expect(await answer(a, 'GET', bearer(TOKEN), '/nowhere')).toEqual({
      status: 404,
      code: 'HOT_ERR_NOT_FOUND',
    });
  });
});
