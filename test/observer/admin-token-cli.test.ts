/**
 * `hotline admin-token create|list|revoke` and `hotline audit` against a live node: the secret
 * is printed once and works with its scope; revoked, it is refused; the audit lists each change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hotlineCli } from '../support/hotline-cli.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let node: TestNode;

beforeAll(async () => {
  node = await startTestNode();
});
afterAll(() => node.shutdown());

const hotline = (token: string, ...args: string[]) => hotlineCli(node, token, ...args);

describe('hotline admin-token', { timeout: 60_000 }, () => {
  it('creates, lists and revokes tokens; the audit shows each change', async () => {
    const created = await hotline(node.adminToken, 'admin-token', 'create', 'dashboards', '--scope', 'read');
    expect(created.code, created.stderr).toBe(0);
    const { name, scope, token } = JSON.parse(created.stdout) as {
      name: string;
      scope: string;
      token: string;
    };
    expect({ name, scope }).toEqual({ name: 'dashboards', scope: 'read' });

    const listed = await hotline(token, 'admin-token', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).tokens.map((t: { name: string }) => t.name)).toEqual([
      'default',
      'dashboards',
    ]);
    expect(listed.stdout).not.toContain(token);

    const refused = await hotline(token, 'admin-token', 'create', 'sneaky', '--scope', 'operate');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('HOT_ERR_SCOPE_REQUIRED');
    expect(refused.stderr).not.toContain(token);

    const badScope = await hotline(node.adminToken, 'admin-token', 'create', 'x', '--scope', 'root');
    expect(badScope.code).toBe(2);

    const revoked = await hotline(node.adminToken, 'admin-token', 'revoke', 'dashboards');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: 'dashboards' });
    const after = await hotline(token, 'admin-token', 'list');
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('HOT_ERR_UNAUTHORIZED');

    const audit = await hotline(node.adminToken, 'audit', '--limit', '3');
    expect(audit.code, audit.stderr).toBe(0);
    const entries = JSON.parse(audit.stdout).entries as { token: string; route: string; status: number }[];
    expect(entries.map((e) => [e.token, e.route, e.status])).toEqual([
      ['default', '/admin/tokens/:name', 204],
      ['dashboards', '/admin/tokens', 403],
      ['default', '/admin/tokens', 201],
    ]);
    expect(audit.stdout).not.toContain(token);
  });
});
