/**
 * The audit trail: every admin change, accepted or refused, is one JSON line in
 * <data-dir>/audit.log with who, from where, what and how it ended, and never a secret; it pages
 * newest first, outlives a restart, and a torn last line (a kill mid-append) is never read back.
 */
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../server/http/audit-log.ts';
import { startTestNode, type TestNode, tempDataDir } from '../support/test-node.ts';

const nodes: TestNode[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = tempDataDir();
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string): Promise<TestNode> {
  const node = await startTestNode({ dataDir });
  nodes.push(node);
  return node;
}

async function send(node: TestNode, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${node.adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

/** A node on a fresh data directory, with a read-only token named viewer (its first audited change). */
async function withViewer(): Promise<{ dir: string; node: TestNode; viewer: string }> {
  const dir = dataDir();
  const node = await start(dir);
  const made = await send(node, 'POST', '/admin/tokens', node.adminToken, { name: 'viewer', scope: 'read' });
  return { dir, node, viewer: (JSON.parse(made.text) as { token: string }).token };
}

describe('the audit trail', () => {
  it('records changes and refusals with token, source and outcome, newest first, and never a secret', async () => {
    const { dir, node, viewer } = await withViewer();
    await send(node, 'POST', '/admin/releases/9.9.9/install', node.adminToken, {
      mode: 'canary',
      watchMs: 1000,
    });
    await send(node, 'POST', '/admin/install/rollback', viewer);
    await send(node, 'POST', '/admin/install/promote', 'not-a-token');
    await send(node, 'GET', '/admin/releases', node.adminToken);

    const page = await send(node, 'GET', '/admin/audit?limit=10', viewer);
    const { total, entries } = JSON.parse(page.text);
    expect(total).toBe(4);
    expect(entries.map((e: { route: string }) => e.route)).toEqual([
      '/admin/install/promote',
      '/admin/install/rollback',
      '/admin/releases/:version/install',
      '/admin/tokens',
    ]);
    expect(entries[0]).toMatchObject({
      token: null,
      method: 'POST',
      status: 401,
      code: 'HOT_ERR_UNAUTHORIZED',
    });
    expect(entries[1]).toMatchObject({ token: 'viewer', status: 403, code: 'HOT_ERR_SCOPE_REQUIRED' });
    expect(entries[2]).toMatchObject({
      token: 'default',
      params: { version: '9.9.9', mode: 'canary', watchMs: 1000 },
      status: 404,
      code: 'HOT_ERR_UNKNOWN_RELEASE',
    });
    expect(entries[3]).toMatchObject({
      token: 'default',
      params: { name: 'viewer', scope: 'read' },
      status: 201,
    });
    expect(entries[3].source).toMatch(/127\.0\.0\.1/);
    expect(Date.parse(entries[3].time)).not.toBeNaN();

    const older = JSON.parse((await send(node, 'GET', '/admin/audit?limit=2&offset=2', viewer)).text);
    expect(older.entries).toEqual(entries.slice(2));

    const file = readFileSync(join(dir, 'audit.log'), 'utf8');
    for (const secret of [viewer, node.adminToken, 'not-a-token']) expect(file).not.toContain(secret);
  });

  it('records every observer sign-in, accepted or refused, by token name and never the token', async () => {
    const { dir, node, viewer } = await withViewer();
    const signIn = (body: string, type: string) =>
      fetch(`${node.adminUrl}/observer/session`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
        redirect: 'manual',
      });
    const form = 'application/x-www-form-urlencoded';
    expect((await signIn(new URLSearchParams({ token: viewer }).toString(), form)).status).toBe(303);
    expect((await signIn(new URLSearchParams({ token: 'guessed-wrong' }).toString(), form)).status).toBe(401);
    expect((await signIn(JSON.stringify({ token: 'guessed-again' }), 'application/json')).status).toBe(401);
    expect((await signIn(JSON.stringify({ token: node.adminToken }), 'application/json')).status).toBe(303);

    const { total, entries } = JSON.parse((await send(node, 'GET', '/admin/audit', node.adminToken)).text);
    expect(total).toBe(5);
    const signIns = entries.slice(0, 4);
    for (const e of signIns)
      expect(e).toMatchObject({ method: 'POST', route: '/observer/session', params: {} });
    expect(
      signIns.map((e: { token: string | null; status: number; code?: string }) => [
        e.token,
        e.status,
        e.code,
      ]),
    ).toEqual([
      ['default', 303, undefined],
      [null, 401, 'HOT_ERR_WRONG_ADMIN_TOKEN'],
      [null, 401, undefined],
      ['viewer', 303, undefined],
    ]);
    expect(signIns[3].source).toMatch(/127\.0\.0\.1/);

    // Signing out is not an admin change, nor is showing the sign-in page.
    await fetch(`${node.adminUrl}/observer`);
    await fetch(`${node.adminUrl}/observer/session/delete`, { method: 'POST', redirect: 'manual' });
    expect(JSON.parse((await send(node, 'GET', '/admin/audit', viewer)).text).total).toBe(5);

    const file = readFileSync(join(dir, 'audit.log'), 'utf8');
    for (const secret of [viewer, node.adminToken, 'guessed-wrong', 'guessed-again'])
      expect(file).not.toContain(secret);
  });

  it('outlives a restart, and never reads back or builds on a torn last line', async () => {
    const dir = dataDir();
    const first = await start(dir);
    await send(first, 'DELETE', '/admin/releases/9.9.9', first.adminToken);
    await first.stop();
    nodes.splice(0);
    // What a kill -9 in the middle of an append leaves.
    appendFileSync(join(dir, 'audit.log'), '{"time":"2026-12-07T00:00:00.000Z","token":"def');
    expect(new AuditLog(join(dir, 'audit.log')).read(10).total).toBe(1);

    const second = await start(dir);
    await send(second, 'DELETE', '/admin/releases/8.8.8', second.adminToken);
    const { total, entries } = JSON.parse(
      (await send(second, 'GET', '/admin/audit', second.adminToken)).text,
    );
    expect(total).toBe(2);
    expect(entries.map((e: { params: { version: string } }) => e.params.version)).toEqual(['8.8.8', '9.9.9']);
    // Every line on disk is whole JSON: the torn one was cut, not glued to the next.
    const lines = readFileSync(join(dir, 'audit.log'), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('skips a torn last line when reading, before any restart', () => {
    const file = join(dataDir(), 'audit.log');
    const log = new AuditLog(file);
    const entry = {
      time: 't',
      token: 'a',
      source: 's',
      method: 'POST',
      route: '/r',
      params: {},
      status: 200,
    };
    log.append(entry);
    log.append({ ...entry, token: 'b' });
    appendFileSync(file, '{"time":"t","tok');
    expect(log.read(10)).toEqual({ total: 2, entries: [{ ...entry, token: 'b' }, entry] });
    expect(log.read(1, 1).entries).toEqual([entry]);
    expect(log.read(5, 7)).toEqual({ total: 2, entries: [] });
  });
});
