/**
 * A validly signed release whose top-level code exits, loops, throws or allocates without
 * bound, uploaded to a live node: refused with a typed error by the check in a worker, never
 * evaluated in the node (a mark its code sets first never appears here), and the node and a
 * bystander call carry on. A normal release still uploads.
 */
import { describe, expect, it } from 'vitest';
import { ALLOCATES_1_GB, EXITS, LOOPS_10_S, releaseAfter, THROWS } from '../release/fixtures/unsafe.ts';
import { adminPost, signAsCallsRelease, upload, useTrustingNodes } from '../support/call-releases.ts';
import { assertServes, type SteadyCall, steadyEchoCall } from '../support/calls.ts';
import type { TestNode } from '../support/test-node.ts';

const trusting = useTrustingNodes();
const marked = globalThis as { unsafeReleaseRan?: string };

describe('a release whose top-level code would harm the node', () => {
  let node: TestNode;
  let bystander: SteadyCall;

  it.each([
    ['9.1.0-exits', EXITS, 'HOT_ERR_RELEASE_UNSAFE', /exited/],
    ['9.1.1-loops', LOOPS_10_S, 'HOT_ERR_RELEASE_UNSAFE', /ran for more than/],
    ['9.1.2-throws', THROWS, 'HOT_ERR_RELEASE_LOAD_FAILED', /refused at load/],
    ['9.1.3-allocates', ALLOCATES_1_GB, 'HOT_ERR_RELEASE_UNSAFE', /ran out of its \d+ MB of memory/],
  ])(
    '%s is refused at upload, and the node and a bystander call carry on',
    async (version, prelude, code, why) => {
      node ??= await trusting.node();
      bystander ??= await steadyEchoCall(node);
      const artifact = signAsCallsRelease(
        trusting.signer(),
        version,
        releaseAfter(version, `globalThis.unsafeReleaseRan = '${version}';\n${prelude}`),
        { modules: { worker: version } },
      );
      const res = await adminPost<{ code: string; message: string }>(node, '/admin/releases', artifact);
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.code).toBe(code);
      expect(res.body.message).toMatch(why);
      expect(marked.unsafeReleaseRan).toBeUndefined();
      const list = await node.admin<{ unpacked: { version: string }[] }>('/admin/releases');
      expect(list.body.unpacked.map((r) => r.version)).not.toContain(version);
      await bystander.check();
      await assertServes(node);
    },
  );

  it('while a normal release still uploads, with the bystander call up', async () => {
    node ??= await trusting.node();
    bystander ??= await steadyEchoCall(node);
    await upload(node, await trusting.artifact('1.1.0'));
    await bystander.check();
    await bystander.finish();
  });
});
