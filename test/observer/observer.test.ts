/**
 * The observer: its sign-in and event stream over plain HTTP, then the page in a real
 * headless Chromium against a node carrying a few hundred calls — signed in, showing the
 * node's own numbers, following an install live while it drives it (canary, promote, roll
 * back), and refused without the token or the session. Leaves test-artifacts/observer.png,
 * taken while an install runs.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { ObserverSnapshot } from '../../server/http/observer-feed.ts';
import type { Artifact } from '../../server/release/artifact.ts';
import type { InstallProgress } from '../../server/release/installer.ts';
import { launchChromium, type PageWatch, watchPage } from '../support/browser.ts';
import {
  adminPost,
  buildArtifact,
  sessionsByRelease,
  upload,
  useTrustingNodes,
} from '../support/call-releases.ts';
import { MediaFlow, serviceCall } from '../support/calls.ts';
import { processCount, type TestNode } from '../support/test-node.ts';
import { waitFor } from '../support/wait.ts';

const artifacts = new URL('../../test-artifacts/', import.meta.url);
const trusting = useTrustingNodes();

let built: Promise<Artifact> | undefined;
/** Release 1.1.0, built once for the file (by the first test that needs it, so it can fail). */
const release110 = () => {
  built ??= buildArtifact(trusting.signer(), '1.1.0');
  return built;
};

async function trustingNode(): Promise<TestNode> {
  const n = await trusting.node();
  await upload(n, await release110());
  return n;
}

/** The session cookie out of a sign-in answer. */
function sessionCookie(res: Response): { pair: string; attributes: string[] } {
  const header = res.headers.getSetCookie().find((c) => c.startsWith('hotline_observer='));
  if (header === undefined) throw new Error(`no session cookie in ${res.headers.getSetCookie()}`);
  const [pair, ...attributes] = header.split(/;\s*/);
  return { pair: pair as string, attributes };
}

const signIn = (n: TestNode, body: string, contentType: string) =>
  fetch(`${n.adminUrl}/observer/session`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
    redirect: 'manual',
  });

interface StreamEvent {
  event: string;
  data: unknown;
}

/** A server-sent event stream, read as far as each `until` needs. */
function eventReader(res: Response) {
  const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
  const events: StreamEvent[] = [];
  let pending = '';
  return {
    events,
    /** Read until `done` holds for the events so far; false if the stream ended first. */
    async until(done: (events: StreamEvent[]) => boolean): Promise<boolean> {
      while (!done(events)) {
        const { value, done: ended } = await reader.read();
        if (ended) return false;
        pending += value;
        const blocks = pending.split('\n\n');
        pending = blocks.pop() ?? '';
        for (const block of blocks) {
          const field = (name: string) =>
            block
              .split('\n')
              .find((l) => l.startsWith(`${name}: `))
              ?.slice(name.length + 2);
          events.push({ event: field('event') ?? 'message', data: JSON.parse(field('data') ?? 'null') });
        }
      }
      return true;
    },
  };
}

const bearer = (n: TestNode) => ({ headers: { authorization: `Bearer ${n.adminToken}` } });

describe('the observer over HTTP', () => {
  it('signs in with a form or JSON: a session cookie that is not the token; signs out', async () => {
    const n = await trusting.node();
    const page = await fetch(`${n.adminUrl}/observer`);
    expect(page.status).toBe(401);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.getSetCookie()).toEqual([]);
    const form = await page.text();
    expect(form).toContain('<form method="post" action="/observer/session">');
    expect(form).not.toContain('observer.js');

    const wrongForm = await signIn(n, 'token=guess', 'application/x-www-form-urlencoded');
    expect(wrongForm.status).toBe(401);
    expect(wrongForm.headers.getSetCookie()).toEqual([]);
    expect(await wrongForm.text()).toContain('that is not the admin token');
    const wrongJson = await signIn(n, JSON.stringify({ token: `${n.adminToken}x` }), 'application/json');
    expect(wrongJson.status).toBe(401);
    expect(await wrongJson.json()).toEqual({
      code: 'HOT_ERR_WRONG_ADMIN_TOKEN',
      message: 'that is not the admin token',
    });

    for (const [body, type] of [
      [`token=${encodeURIComponent(n.adminToken)}`, 'application/x-www-form-urlencoded'],
      [JSON.stringify({ token: n.adminToken }), 'application/json'],
    ] as const) {
      const res = await signIn(n, body, type);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/observer');
      const { pair, attributes } = sessionCookie(res);
      expect(pair).not.toContain(n.adminToken);
      expect(attributes).toEqual(
        expect.arrayContaining(['Max-Age=43200', 'Path=/', 'HttpOnly', 'SameSite=Strict']),
      );
      const signedIn = await fetch(`${n.adminUrl}/observer`, { headers: { cookie: pair } });
      expect(signedIn.status).toBe(200);
      expect(signedIn.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await signedIn.text()).toContain('/observer/assets/observer.js');
      const modules = await fetch(`${n.adminUrl}/admin/modules`, { headers: { cookie: pair } });
      expect(modules.status).toBe(200);

      const out = await fetch(`${n.adminUrl}/observer/session/delete`, {
        method: 'POST',
        headers: { cookie: pair },
        redirect: 'manual',
      });
      expect(out.status).toBe(303);
      expect(sessionCookie(out).pair).toBe('hotline_observer=');
      expect((await fetch(`${n.adminUrl}/admin/modules`, { headers: { cookie: pair } })).status).toBe(401);
      expect((await fetch(`${n.adminUrl}/observer`, { headers: { cookie: pair } })).status).toBe(401);
    }
  });

  it('streams a snapshot a second and the install as it moves; a stopping node ends the stream', async () => {
    const n = await trustingNode();
    const phone = await n.phone('watched');
    await serviceCall(phone, 'watched-call');
    const res = await fetch(`${n.adminUrl}/admin/observer/events`, bearer(n));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const stream = eventReader(res);
    expect(await stream.until((e) => e.length >= 2)).toBe(true);
    expect(stream.events.map((e) => e.event)).toEqual(['snapshot', 'snapshot']);
    const [first, second] = stream.events.map((e) => e.data as ObserverSnapshot) as [
      ObserverSnapshot,
      ObserverSnapshot,
    ];
    expect(first).toMatchObject({
      node: n.settings.node,
      ready: true,
      openRegistration: false,
      sessions: { '1.0.0': 1 },
    });
    expect(first.calls).toMatchObject({ up: 1 });
    expect(first.releases).toMatchObject({ current: '1.0.0', unpacked: [{ version: '1.1.0' }] });
    expect(first.tree.supervisors.map((sup) => sup.module)).toEqual(['application']);
    expect(second.rates).toEqual({
      received: expect.any(Number),
      sent: expect.any(Number),
      protocolErrors: 0,
    });
    expect(second.eventLoopLag?.p99).toBeGreaterThan(0);
    expect(second.at - first.at).toBeGreaterThanOrEqual(900);

    const started = await adminPost(n, '/admin/releases/1.1.0/install', { watchMs: 600 });
    expect(started.status).toBe(202);
    const ended = (e: StreamEvent) => e.event === 'install' && (e.data as InstallProgress).outcome !== null;
    expect(await stream.until((events) => events.some(ended))).toBe(true);
    const installs = stream.events.filter((e) => e.event === 'install').map((e) => e.data as InstallProgress);
    const last = installs.at(-1) as InstallProgress;
    expect(last).toMatchObject({ to: '1.1.0', outcome: 'installed' });
    expect(installs.map((p) => p.phase)).toContain('watch');
    // Told as it changes, but at most every 200 ms.
    expect(installs.length).toBeLessThanOrEqual(((last.endedAt ?? 0) - last.startedAt) / 200 + 2);

    // An open stream does not hold the node up when it stops: the node ends it.
    const open = eventReader(await fetch(`${n.adminUrl}/admin/observer/events`, bearer(n)));
    expect(await open.until((e) => e.length > 0)).toBe(true);
    trusting.forget(n);
    await n.shutdown();
    expect(await open.until(() => false)).toBe(false);
  });
});

// ---- in chromium ----------------------------------------------------------------------------

const PHONES = 240;
const JSON_BODY = { 'content-type': 'application/json' };
const MEDIA_EVERY_MS = 250;

interface Scene {
  node: TestNode;
  flows: MediaFlow[];
  browser: Browser;
  /** Signed in by the tests below; `page` is its watched page. */
  context: BrowserContext;
  page?: Page;
  watch?: PageWatch;
}

let scene: Promise<Scene> | undefined;
/** Started by the first test, so that a missing chromium fails every test rather than skipping it. */
function theScene(): Promise<Scene> {
  scene ??= (async () => {
    const node = await trustingNode();
    const flows: MediaFlow[] = [];
    for (let batch = 0; batch < PHONES; batch += 40)
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const phone = await node.phone(`phone-${batch + i}`);
          await serviceCall(phone, `call-${batch + i}`);
          flows.push(new MediaFlow(phone, `call-${batch + i}`, MEDIA_EVERY_MS));
        }),
      );
    const browser = await launchChromium();
    // A laptop's screen.
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    return { node, flows, browser, context };
  })();
  return scene;
}

afterAll(async () => {
  const s = await scene?.catch(() => undefined);
  for (const f of s?.flows ?? []) f.stop();
  await s?.browser.close();
});

/** The signed-in page, with what it logged. */
function signedIn(s: Scene): { page: Page; watch: PageWatch } {
  if (s.page === undefined || s.watch === undefined) throw new Error('not signed in: run the file in order');
  return { page: s.page, watch: s.watch };
}

const text = async (page: Page, selector: string): Promise<string> =>
  (await page.locator(selector).textContent())?.trim() ?? '';
const number = async (page: Page, selector: string): Promise<number> =>
  Number((await text(page, selector)).replace(/,/g, ''));

/** Poll the page (it updates itself) until `check` holds for what `selector` shows. */
function shows(page: Page, selector: string, check: (shown: string) => boolean, timeoutMs = 10_000) {
  return waitFor(
    `${selector} to show what is expected`,
    async () => {
      const shown = await text(page, selector);
      return check(shown) ? shown : undefined;
    },
    timeoutMs,
    50,
  );
}

/** Sessions by release as the page's tile shows them (read in one go: the page redraws it). */
async function tileSessions(page: Page): Promise<Record<string, number>> {
  const chips = await page
    .locator('#sessions-by-release li')
    .evaluateAll((all) =>
      all.map((li) => [li.getAttribute('data-release'), li.querySelector('b')?.textContent]),
    );
  return Object.fromEntries(chips.map(([release, n]) => [release, Number(n?.replace(/,/g, ''))]));
}

/** The page's sessions by release once it agrees with the admin API (which it must, soon). */
async function agreesOnSessions(page: Page, n: TestNode): Promise<Record<string, number>> {
  return waitFor(
    'the page to show the sessions by release the admin API reports',
    async () => {
      const [shown, api] = [await tileSessions(page), await sessionsByRelease(n)];
      return isDeepStrictEqual(shown, api) ? shown : undefined;
    },
    10_000,
    100,
  );
}

/** POST from inside a page, as its own script would; [status, error code]. */
function postFromPage(page: Page, url: string, headers: Record<string, string>): Promise<[number, string]> {
  return page.evaluate(
    async ([url, headers]) => {
      const res = await fetch(url, { method: 'POST', headers, body: '{}' });
      return [res.status, ((await res.json()) as { code: string }).code] as [number, string];
    },
    [url, headers] as const,
  );
}

async function installFromPage(
  page: Page,
  version: string,
  { percent, watchSeconds }: { percent: number; watchSeconds: number },
): Promise<void> {
  await page.selectOption('#release-select', version);
  await page.check('input[name="mode"][value="canary"]');
  await page.fill('#canary-percent', String(percent));
  await page.fill('#watch-seconds', String(watchSeconds));
  await page.click('#install-button');
  await shows(page, '#action-result', (t) => t === `Install ${version}: accepted`);
}

describe('the observer in chromium', { timeout: 60_000 }, () => {
  it('answers /observer with 401 and a sign-in form, and refuses a wrong token', async () => {
    const s = await theScene();
    const page = await s.context.newPage();
    const res = await page.goto(`${s.node.adminUrl}/observer`);
    expect(res?.status()).toBe(401);
    expect(await page.locator('form[action="/observer/session"] input[name="token"]').isVisible()).toBe(true);
    await page.fill('#token', 'a-guess');
    const [refused] = await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    expect(refused?.status()).toBe(401);
    expect(await text(page, '.error')).toBe('that is not the admin token');
    expect(await s.context.cookies()).toEqual([]);
    await page.close();
  });

  it("signs in with the admin token to a page with the node's own numbers", async () => {
    const s = await theScene();
    const n = s.node;
    const signInPage = await s.context.newPage();
    await signInPage.goto(`${n.adminUrl}/observer`);
    await signInPage.fill('#token', n.adminToken);
    const [landed] = await Promise.all([
      signInPage.waitForNavigation(),
      signInPage.click('button[type="submit"]'),
    ]);
    expect(landed?.status()).toBe(200);
    const cookies = await s.context.cookies();
    expect(cookies).toEqual([
      expect.objectContaining({ name: 'hotline_observer', httpOnly: true, sameSite: 'Strict', path: '/' }),
    ]);
    expect(cookies[0]?.value).not.toContain(n.adminToken);
    await signInPage.close();

    // A fresh page of the signed-in browser, watched from its first request.
    const page = await s.context.newPage();
    const watch = watchPage(page);
    s.page = page;
    s.watch = watch;
    expect((await page.goto(`${n.adminUrl}/observer`))?.status()).toBe(200);
    await waitFor(
      'three snapshots drawn',
      async () => Number(await page.getAttribute('html', 'data-snapshots')) >= 3,
    );

    expect(await text(page, '#node-name')).toBe(n.settings.node);
    expect(await text(page, '#health')).toBe('ready');
    expect(await page.locator('#open-registration').isVisible()).toBe(false);
    expect(await text(page, '#release-current')).toBe('1.0.0');
    expect(await text(page, '#release-permanent')).toBe('1.0.0');
    expect(await processCount(n)).toBe(PHONES);
    await shows(page, '#sessions-total', (t) => t === String(PHONES));
    expect(await agreesOnSessions(page, n)).toEqual({ '1.0.0': PHONES });
    await shows(page, '#calls-total', (t) => t === String(PHONES));
    await shows(page, '#processes', (t) => Number(t.replace(/,/g, '')) === n.rt.processCount);
    // Each phone sends a frame every 250 ms: about four a second each, whatever the noise.
    expect(await number(page, '#rate-in')).toBeGreaterThan(PHONES);
    expect(await number(page, '#rate-out')).toBeGreaterThan(PHONES);
    expect(await text(page, '#rate-errors')).toBe('0');
    expect(await text(page, '#memory-rss')).toMatch(/^\d[\d,]* MB$/);
    expect(await text(page, '#lag-p99')).toMatch(/^[\d.,]+$/);
    expect(await text(page, '#lag-detail')).toMatch(/^p50 [\d.,]+ · max [\d.,]+ ms$/);
    expect(await text(page, '#tree')).toContain(`session@1.0.0 ${PHONES}`);
    expect(await text(page, '#install-phase')).toBe('none');
    expect(await page.locator('#release-select option').allTextContents()).toEqual(['1.1.0']);
    // Both charts drew something.
    const painted = await page.$$eval('.chart canvas', (all) =>
      all.map((c) => {
        const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? [];
        let pixels = 0;
        for (let i = 3; i < data.length; i += 4) if ((data[i] as number) > 0) pixels++;
        return pixels;
      }),
    );
    expect(painted).toHaveLength(2);
    for (const p of painted) expect(p).toBeGreaterThan(500);
  });

  it('follows a canary install live, without a reload, and promotes it from the page', async () => {
    const s = await theScene();
    const n = s.node;
    const { page } = signedIn(s);
    let reloads = 0;
    page.on('load', () => reloads++);
    const progressBefore = await text(page, '#install-progress');

    await installFromPage(page, '1.1.0', { percent: 25, watchSeconds: 3 });
    await shows(page, '#install-phase', (t) => t === 'canary');
    const api = (await n.admin<{ install: InstallProgress }>('/admin/install')).body.install;
    expect(api).toMatchObject({ phase: 'canary', to: '1.1.0', mode: 'canary' });
    await shows(page, '#install-progress', (t) =>
      t.startsWith(`${api.moved} of ${api.total} processes moved`),
    );
    expect(await text(page, '#install-progress')).not.toBe(progressBefore);
    expect(await text(page, '#install-note')).toContain('Canary:');
    const during = await agreesOnSessions(page, n);
    expect(during['1.1.0']).toBeGreaterThan(0);
    expect(during['1.0.0']).toBeGreaterThan(0);
    expect((during['1.0.0'] ?? 0) + (during['1.1.0'] ?? 0)).toBe(PHONES);
    expect(await page.locator('#promote-button').isEnabled()).toBe(true);
    expect(await page.locator('#install-button').isDisabled()).toBe(true);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: fileURLToPath(new URL('observer.png', artifacts)) });

    await page.click('#promote-button');
    await shows(page, '#action-result', (t) => t === 'Promote: accepted');
    await shows(page, '#install-phase', (t) => t === 'watch');
    await shows(page, '#install-outcome', (t) => t.startsWith('installed after'), 15_000);
    expect(await text(page, '#install-progress')).toMatch(/^[\d,]+ of [\d,]+ processes moved \(100%\)$/);
    expect(await text(page, '#install-phase')).toBe('installed');
    expect(await agreesOnSessions(page, n)).toEqual({ '1.1.0': PHONES });
    await shows(page, '#release-current', (t) => t === '1.1.0');
    expect(reloads).toBe(0);
  });

  it('rolls a running install back from the page', async () => {
    const s = await theScene();
    const n = s.node;
    const { page } = signedIn(s);
    expect(await page.locator('#release-select option').allTextContents()).toEqual(['1.0.0']);
    await installFromPage(page, '1.0.0', { percent: 50, watchSeconds: 30 });
    await shows(page, '#install-route', (t) => t.startsWith('1.1.0 → 1.0.0 · canary · downgrade'));
    await shows(page, '#install-phase', (t) => t === 'canary');
    expect(Object.keys(await agreesOnSessions(page, n)).sort()).toEqual(['1.0.0', '1.1.0']);

    await page.click('#rollback-button');
    await shows(page, '#action-result', (t) => t === 'Roll back: accepted');
    await shows(page, '#install-outcome', (t) => t.startsWith('rolled back after'), 15_000);
    expect((await n.admin<{ install: InstallProgress }>('/admin/install')).body.install.outcome).toBe(
      'rolled_back',
    );
    expect(await agreesOnSessions(page, n)).toEqual({ '1.1.0': PHONES });
    expect(await text(page, '#release-current')).toBe('1.1.0');
  });

  it('logged no errors and asked nothing of any host but the node', async () => {
    const s = await theScene();
    const { watch } = signedIn(s);
    expect(watch.errors).toEqual([]);
    expect(watch.dialogs).toEqual([]);
    expect(watch.requests.length).toBeGreaterThan(5);
    expect(
      watch.requests.filter((url) => !url.startsWith(`${s.node.adminUrl}/`) && url !== 'data:,'),
    ).toEqual([]);
    expect(s.node.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses the same actions without the token or the session, and nothing changes', async () => {
    const s = await theScene();
    const n = s.node;
    const { page } = signedIn(s);
    const before = (await n.admin<{ install: InstallProgress }>('/admin/install')).body.install.id;
    const install = `${n.adminUrl}/admin/releases/1.0.0/install`;
    const post = (headers: Record<string, string>) =>
      fetch(install, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      });

    // From Node: no credential, a made-up cookie, the observer's header alone.
    for (const headers of [{}, { cookie: 'hotline_observer=made-up' }, { 'x-hotline-observer': '1' }]) {
      const res = await post(headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'HOT_ERR_UNAUTHORIZED' });
    }
    // From a browser that never signed in. (Its sign-in page allows no fetch at all: ask from
    // another page of the same origin.)
    const stranger = await s.browser.newContext();
    const strangerPage = await stranger.newPage();
    expect((await strangerPage.goto(`${n.adminUrl}/observer`))?.status()).toBe(401);
    expect((await strangerPage.goto(`${n.adminUrl}/admin/observer/events`))?.status()).toBe(401);
    for (const url of [install, '/admin/install/rollback'])
      expect(await postFromPage(strangerPage, url, { ...JSON_BODY, 'x-hotline-observer': '1' })).toEqual([
        401,
        'HOT_ERR_UNAUTHORIZED',
      ]);
    await stranger.close();
    // From the signed-in page, but without the observer's header (as a forged form would be).
    expect(await postFromPage(page, install, JSON_BODY)).toEqual([403, 'HOT_ERR_OBSERVER_HEADER']);

    const after = (await n.admin<{ install: InstallProgress }>('/admin/install')).body.install;
    expect(after).toMatchObject({ id: before, outcome: 'rolled_back' });
    expect(await sessionsByRelease(n)).toEqual({ '1.1.0': PHONES });
  });

  it('signing out elsewhere cuts the open page off, and its actions are refused with the reason', async () => {
    const s = await theScene();
    const n = s.node;
    const { page, watch } = signedIn(s);
    const other = await s.context.newPage();
    await other.goto(`${n.adminUrl}/observer`);
    const [out] = await Promise.all([other.waitForNavigation(), other.click('text=Sign out')]);
    expect(out?.status()).toBe(401);
    expect(await s.context.cookies()).toEqual([]);

    await shows(page, '#live', (t) => t === 'disconnected: sign in again');
    await page.click('#install-button');
    await shows(page, '#action-result', (t) =>
      t.startsWith('Install 1.0.0 refused (401) HOT_ERR_UNAUTHORIZED: a valid bearer token is required'),
    );
    expect((await n.admin<{ install: InstallProgress }>('/admin/install')).body.install.outcome).toBe(
      'rolled_back',
    );
    // What the page logged since its clean run is the refusals (the forged request's, and these).
    expect(watch.errors.length).toBeGreaterThan(0);
    for (const e of watch.errors) expect(e).toMatch(/status of (401 \(Unauthorized\)|403 \(Forbidden\))$/);
  });
});
