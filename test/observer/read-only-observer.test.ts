/**
 * The observer in Chromium signed in with a read-only token: it shows the node and the audit
 * trail but no actions, and the node refuses a change the page's session asks for anyway. An
 * operate token's sign-in sees the actions.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, watchPage } from '../support/browser.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let node: TestNode;
let browser: Browser;

beforeAll(async () => {
  node = await startTestNode();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await node?.shutdown();
});

async function tokenFor(name: string, scope: string): Promise<string> {
  const res = await fetch(`${node.adminUrl}/admin/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, scope }),
  });
  return ((await res.json()) as { token: string }).token;
}

async function signIn(token: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${node.adminUrl}/observer`);
  await page.fill('#token', token);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  return page;
}

describe('the observer signed in read-only', { timeout: 60_000 }, () => {
  it('hides the actions, lists the audit trail, and the node refuses a change anyway', async () => {
    const page = await signIn(await tokenFor('watcher', 'read'));
    const watch = watchPage(page);
    await page.waitForSelector('html[data-scope="read"]');
    expect((await page.locator('#signed-in').textContent())?.trim()).toBe('watcher · read');
    expect(await page.locator('section.actions').isVisible()).toBe(false);
    expect(await page.locator('#install-button').isVisible()).toBe(false);
    // The audit panel lists this sign-in, newest, and before it the token's own making.
    await page.waitForSelector('#audit-list li');
    const audit = await page.locator('#audit-list li').allTextContents();
    expect(audit[0]).toContain('watcher POST /observer/session {} → 303');
    expect(audit[1]).toContain('default POST /admin/tokens');
    // Nothing the page did on its own was refused.
    expect(watch.errors).toEqual([]);

    const refused = await page.evaluate(async () => {
      const res = await fetch('/admin/install/rollback', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hotline-observer': '1' },
        body: '{}',
      });
      return { status: res.status, body: await res.json() };
    });
    expect(refused).toEqual({
      status: 403,
      body: {
        code: 'HOT_ERR_SCOPE_REQUIRED',
        message: 'admin token watcher has scope read; this route needs operate',
      },
    });
  });

  it('shows the actions to an operate sign-in', async () => {
    const page = await signIn(await tokenFor('operator', 'operate'));
    await page.waitForSelector('html[data-scope="operate"]');
    expect(await page.locator('section.actions').isVisible()).toBe(true);
    expect(await page.locator('#install-button').isVisible()).toBe(true);
  });
});
