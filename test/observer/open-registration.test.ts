/**
 * The observer in Chromium says when its node takes phones without tokens
 * (`--open-registration`), and says nothing of the kind on a node that checks them.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, watchPage } from '../support/browser.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';

let browser: Browser;
const nodes: TestNode[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.shutdown()));
});

/** The observer of a node started with `openRegistration`, signed in, once its first snapshot is drawn. */
async function observerOf(openRegistration: boolean): Promise<{ page: Page; errors: string[] }> {
  const node = await startTestNode({ node: openRegistration ? 'lab' : 'checked', openRegistration });
  nodes.push(node);
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${node.adminUrl}/observer`);
  await page.fill('#token', node.adminToken);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  // Watched from here: the sign-in page itself answers 401, which Chromium logs.
  const { errors } = watchPage(page);
  await page.locator('#health.ok').waitFor();
  return { page, errors };
}

describe('the observer and open registration', { timeout: 60_000 }, () => {
  it('shows that the node takes phones without tokens', async () => {
    const { page, errors } = await observerOf(true);
    const pill = page.locator('#open-registration');
    expect(await pill.isVisible()).toBe(true);
    expect((await pill.textContent())?.trim()).toBe('open registration');
    expect(await pill.getAttribute('title')).toContain('--open-registration');
    expect(errors).toEqual([]);
  });

  it('shows nothing of the kind on a node that checks tokens', async () => {
    const { page, errors } = await observerOf(false);
    expect(await page.locator('#node-name').textContent()).toBe('checked');
    expect(await page.locator('#open-registration').isVisible()).toBe(false);
    expect(errors).toEqual([]);
  });
});
