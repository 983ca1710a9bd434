/** `hotline node handoff` and the admin route's refusals, against a node in this process (which cannot start a successor). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hotlineCli } from '../support/hotline-cli.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode();
});
afterAll(() => node.shutdown());

const post = (body: unknown) =>
  fetch(`${node.adminUrl}/admin/node/handoff`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('hotline node handoff', () => {
  it('asks the node over its admin API and exits 1 with the code when the handoff fails', async () => {
    const result = await hotlineCli(node, node.adminToken, 'node', 'handoff', '--entry', 'x.ts');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('HOT_ERR_HANDOFF_FAILED');
    // The node carries on.
    const phone = await node.phone('alice');
    expect(phone.isOpen).toBe(true);
  });

  it('refuses a bad request and an unauthenticated one', async () => {
    expect((await post({ entry: '' })).status).toBe(400);
    expect((await post({ other: 'x' })).status).toBe(400);
    const res = await fetch(`${node.adminUrl}/admin/node/handoff`, { method: 'POST' });
    expect(res.status).toBe(401);
  });
});
