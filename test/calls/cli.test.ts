/**
 * The `hotline` tool against a live node: build and sign a release with the data
 * directory's key, upload it, install it with the progress bar, list, make permanent, remove, and
 * the typed errors it prints when the node refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionsByRelease } from '../support/call-releases.ts';
import { hotlineCli } from '../support/hotline-cli.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let node: TestNode;

beforeAll(async () => {
  node = await startTestNode();
});
afterAll(() => node.shutdown());

const hotline = (...args: string[]) => hotlineCli(node, node.adminToken, ...args);

describe('hotline CLI', () => {
  it('builds, uploads, installs with progress, lists and makes permanent', async () => {
    const phone = await node.phone('cli-user');
    const built = await hotline('release', 'build', '1.1.0');
    expect(built.code, built.stderr).toBe(0);
    const { path, manifest } = JSON.parse(built.stdout) as { path: string; manifest: { version: string } };
    expect(manifest.version).toBe('1.1.0');

    const uploaded = await hotline('release', 'upload', path);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    // A duration, as `cluster upgrade --watch` takes (a bare number is still milliseconds);
    // the watch thresholds reach the node (its admin API refuses a field it does not know).
    const installed = await hotline(
      'install',
      '1.1.0',
      '--watch',
      '50ms',
      '--max-crashes',
      '1',
      '--max-errors',
      '2',
      '--max-error-rate',
      '0.01',
    );
    expect(installed.code, installed.stderr).toBe(0);
    // The progress bar (on stderr), then the outcome.
    expect(installed.stderr).toMatch(/\| 1\/1 sessions moved \| 1\.1\.0: 1/);
    expect(installed.stdout).toMatch(/"outcome": "installed"/);
    expect(await sessionsByRelease(node)).toEqual({ '1.1.0': 1 });
    expect(phone.isOpen).toBe(true);

    const permanent = await hotline('release', 'permanent', '1.1.0');
    expect(permanent.code, permanent.stderr).toBe(0);
    const listed = JSON.parse((await hotline('release', 'list')).stdout) as {
      current: string;
      permanent: string;
    };
    expect(listed).toMatchObject({ current: '1.1.0', permanent: '1.1.0' });
  }, 60_000);

  it('removes an unused release, and says 404 when it is gone', async () => {
    const built = await hotline('release', 'build', '2.0.0');
    expect(built.code, built.stderr).toBe(0);
    const uploaded = await hotline('release', 'upload', (JSON.parse(built.stdout) as { path: string }).path);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    const versions = async () =>
      (
        JSON.parse((await hotline('release', 'list')).stdout) as { unpacked: { version: string }[] }
      ).unpacked.map((u) => u.version);
    expect(await versions()).toContain('2.0.0');

    const removed = await hotline('release', 'remove', '2.0.0');
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ removed: '2.0.0' });
    expect(await versions()).not.toContain('2.0.0');
    const again = await hotline('release', 'remove', '2.0.0');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/404 HOT_ERR_UNKNOWN_RELEASE/);
  }, 60_000);

  it('prints the node’s typed error and exits non-zero', async () => {
    const unknown = await hotline('install', '7.7.7');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404 HOT_ERR_UNKNOWN_RELEASE/);
    const bad = await hotline('install', '1.1.0', '--canary', '2');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/fraction/);
    const soon = await hotline('install', '1.1.0', '--watch', 'soon');
    expect(soon.code).toBe(2);
    expect(soon.stderr).toMatch(/expected a duration such as 10s/);
    const rate = await hotline('install', '1.1.0', '--max-error-rate', '1.5');
    expect(rate.code).not.toBe(0);
    expect(rate.stderr).toMatch(/--max-error-rate.*fraction/);
  }, 30_000);
});
