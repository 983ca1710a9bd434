/**
 * The observer and the metrics through a node handoff, with phones in calls. In Chromium: the
 * page signed in to the old process follows the handoff's phases live; when the old process
 * has handed everything over it ends the page's stream, the page reconnects to the
 * successor (which listens by then and knows the sign-in) and shows the handoff done from
 * there, with the batches, processes and sockets moved and the longest pause. The
 * successor's /metrics, refused until it has the node, then say the same, with the pause of
 * every moved phone. Leaves test-artifacts/observer-handoff.png, taken during the handoff.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { Phone } from '../../loadtest/client/phone.ts';
import type { HandoffSummary } from '../../server/handoff/handoff.ts';
import { ObserverSessions } from '../../server/http/observer-session.ts';
import { AdminClient } from '../../server/ops/admin-client.ts';
import { launchChromium, watchPage } from '../support/browser.ts';
import { MediaFlow, serviceCall } from '../support/calls.ts';
import { sample } from '../support/metrics.ts';
import { reapNodeProcesses, reapSuccessorLater, spawnNodeProcess } from '../support/node-process.ts';
import { tokensFor } from '../support/phone-tokens.ts';
import { waitFor } from '../support/wait.ts';

const PHONES = 30;
const artifacts = new URL('../../test-artifacts/', import.meta.url);

/** GET on a new connection (no keep-alive: a reused socket the old process closed would fail for the client's reason). */
function getOnce(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/**
 * Scrape /metrics on a new connection each time, as fast as answers come, until stopped, as a
 * Prometheus would (it reaches whichever process listens): the answers' statuses (or errors),
 * and the media frames counter of each 200.
 */
function scrapeLoop(url: string) {
  const statuses = new Map<string, number>();
  const media: number[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const answer = await getOnce(`${url}/metrics`).then(
        ({ status, body }) => {
          if (status === 200)
            media.push(sample(body, 'hotline_frames_received_total', { type: 'media' }) ?? 0);
          return status === 409 ? `409 ${(JSON.parse(body) as { code: string }).code}` : String(status);
        },
        (err: Error) => `error ${err.message}`,
      );
      statuses.set(answer, (statuses.get(answer) ?? 0) + 1);
    }
  })();
  return {
    statuses,
    media,
    async stop() {
      running = false;
      await done;
    },
  };
}

let browser: Browser | undefined;
let loop: ReturnType<typeof scrapeLoop> | undefined;
const flows: MediaFlow[] = [];
afterEach(async () => {
  await loop?.stop();
  for (const f of flows.splice(0)) f.stop();
  await browser?.close();
  await reapNodeProcesses();
});

interface Recording {
  seen: string[];
}

/** In the page: what the element and the window give recordPhases (the tests are typed without the DOM). */
interface InPage {
  dataset: Record<string, string | undefined>;
  ownerDocument: {
    defaultView: {
      MutationObserver: new (
        note: () => void,
      ) => { observe(el: unknown, options: Record<string, boolean>): void };
    };
  };
}

/** Record on the element every phase the page draws, in order (run in the page). */
function recordPhases(element: unknown): void {
  const el = element as InPage & Recording;
  el.seen = [];
  const note = () => {
    const phase = el.dataset.phase ?? '';
    if (el.seen.at(-1) !== phase) el.seen.push(phase);
  };
  note();
  new el.ownerDocument.defaultView.MutationObserver(note).observe(el, {
    attributes: true,
    childList: true,
    subtree: true,
  });
}

describe('the observer and the metrics through a node handoff', { timeout: 180_000 }, () => {
  it('follows the handoff live, reconnects to the successor still signed in, and the metrics agree', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hotline-observer-handoff-'));
    const node = await spawnNodeProcess(dataDir, [], 90_000);
    const token = tokensFor(dataDir);
    for (let i = 0; i < PHONES; i++) {
      const phone = await Phone.connect(node.callsUrl, { token });
      await phone.register(`watcher-${i}`);
      await serviceCall(phone, `call-${i}`);
      flows.push(new MediaFlow(phone, `call-${i}`, 100));
    }

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const watch = watchPage(page);

    await page.goto(`${node.adminUrl}/observer`);
    await page.fill('#token', node.adminToken);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    const snapshots = async () => Number((await page.locator('html').getAttribute('data-snapshots')) ?? 0);
    // A few seconds of charts first, for the screenshot.
    await waitFor('a few snapshots', async () => (await snapshots()) >= 4, 15_000);
    expect(await page.locator('#handoff-phase').textContent()).toBe('none');
    await page.locator('#handoff-phase').evaluate(recordPhases);
    // Signed in (the sign-in form answered 401): from now on, nothing the page asks is refused.
    watch.errors.length = 0;
    const refused: string[] = [];
    page.on('response', (res) => {
      if (res.status() >= 400) refused.push(`${res.status()} ${res.request().method()} ${res.url()}`);
    });

    const scrapes = scrapeLoop(node.httpUrl);
    loop = scrapes;
    const admin = new AdminClient(node.adminUrl, node.adminToken, 120_000);
    const running = admin.post<{ handoff: HandoffSummary }>('/admin/node/handoff', {});
    // The successor boots for a while (a new Node.js process loading the node): seen live.
    const phase = async () => (await page.locator('#handoff-phase').getAttribute('data-phase')) ?? '';
    await waitFor(
      'the page to show the handoff running',
      async () => ['hello', 'boot', 'listeners', 'phones', 'final'].includes(await phase()),
      60_000,
      20,
    );
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({
      path: fileURLToPath(new URL('observer-handoff.png', artifacts)),
      fullPage: true,
    });
    const { handoff: summary } = await running;
    reapSuccessorLater(summary.to);
    expect(summary).toMatchObject({ from: node.proc.pid, sockets: PHONES });
    expect((await node.exited).code).toBe(0);
    const before = scrapes.media.length;
    await waitFor('a scrape of the successor', () => scrapes.media.length > before);
    await scrapes.stop();
    // Answered by the old process, refused by the successor until it had the node (maybe
    // never seen: that takes milliseconds here), then answered by it: the counters never went
    // backwards, and no scrape failed for any other reason.
    expect(
      [...scrapes.statuses.keys()].filter((s) => s !== '200' && s !== '409 HOT_ERR_HANDOFF_RUNNING'),
    ).toEqual([]);
    expect(scrapes.media).toEqual([...scrapes.media].sort((a, b) => a - b));

    // The old process is gone: what the page shows from now on comes from the successor.
    const snapshotsAfter = await snapshots();
    await waitFor(
      'the page to take snapshots from the successor',
      async () => (await snapshots()) >= snapshotsAfter + 2,
      30_000,
      100,
    );
    expect(await page.locator('#live').textContent()).toBe('live');
    expect(await page.locator('#handoff-phase').textContent()).toBe('done');
    expect(await page.locator('#handoff-route').textContent()).toBe(`pid ${summary.from} → ${summary.to}`);
    expect(await page.locator('#handoff-progress').textContent()).toBe(
      `${summary.batches} of ${summary.batches} batches moved`,
    );
    expect(await page.locator('#handoff-processes').textContent()).toBe(String(summary.processes));
    expect(await page.locator('#handoff-sockets').textContent()).toBe(String(PHONES));
    expect(await page.locator('#handoff-pause').textContent()).toMatch(/^[\d.,]+ ms$/);
    expect(await page.locator('#handoff-outcome').textContent()).toMatch(/^handed off after [\d.]+ s$/);
    await page.screenshot({
      path: fileURLToPath(new URL('observer-handoff-done.png', artifacts)),
      fullPage: true,
    });
    // Live from the old process: its phases in order, up to the successor booting at least.
    const seen = await page.locator('#handoff-phase').evaluate((el) => (el as unknown as Recording).seen);
    expect(seen[0]).toBe('none');
    expect(seen).toContain('boot');
    expect(seen.at(-1)).toBe('done');
    const order = ['none', 'spawn', 'hello', 'boot', 'listeners', 'phones', 'final', 'done'];
    expect(seen.map((p) => order.indexOf(p))).toEqual(
      [...seen.map((p) => order.indexOf(p))].sort((a, b) => a - b),
    );
    // Still signed in with the successor: its admin routes take the page's cookie.
    expect(await page.evaluate(async () => (await fetch('/admin/whoami')).status)).toBe(200);
    expect(refused).toEqual([]);
    expect(watch.errors).toEqual([]);

    // The successor's metrics: the handoff done, every batch, every phone's pause.
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text();
    expect(sample(text, 'hotline_handoff_phase', { phase: 'done' })).toBe(1);
    expect(sample(text, 'hotline_handoff_phase', { phase: 'phones' })).toBe(0);
    expect(sample(text, 'hotline_handoff_batches', { state: 'planned' })).toBe(summary.batches);
    expect(sample(text, 'hotline_handoff_batches', { state: 'done' })).toBe(summary.batches);
    expect(sample(text, 'hotline_handoff_progress_ratio')).toBe(1);
    expect(sample(text, 'hotline_handoffs_total', { outcome: 'done' })).toBe(1);
    expect(sample(text, 'hotline_handoff_sockets_moved_total')).toBe(PHONES);
    expect(sample(text, 'hotline_handoff_processes_moved_total')).toBe(summary.processes);
    expect(sample(text, 'hotline_handoff_pause_seconds_count')).toBe(PHONES);
    const longest = sample(text, 'hotline_handoff_max_pause_seconds') as number;
    expect(longest).toBeGreaterThan(0);
    expect(sample(text, 'hotline_handoff_pause_seconds_bucket', { le: '+Inf' })).toBe(PHONES);
    // The phones' pauses are the old process's batches': none longer than the longest (give or
    // take the rounding of a sum of equal pauses, when every phone was in one batch).
    expect(sample(text, 'hotline_handoff_pause_seconds_sum') as number).toBeLessThanOrEqual(
      PHONES * longest * (1 + 1e-9),
    );
    for (const f of flows) await f.more(3);
    for (const f of flows) await f.drain();
  });
});

describe("the observer's sign-ins carried to a successor", () => {
  it("takes the old process's sessions at boot and again with the last batch, dropping those signed out meanwhile", () => {
    const old = new ObserverSessions();
    const alice = old.create({ name: 'alice', scope: 'operate' });
    const bob = old.create({ name: 'bob', scope: 'read' });
    const successor = new ObserverSessions();
    successor.import(structuredClone(old.export()));
    expect(successor.holder(alice)).toEqual({ name: 'alice', scope: 'operate' });
    expect(successor.valid(bob)).toBe(true);
    // During the handoff: bob signs out on the old process, carol signs in on the successor.
    old.revoke(bob);
    const carol = successor.create({ name: 'carol', scope: 'read' });
    successor.import(structuredClone(old.export()));
    expect([successor.valid(alice), successor.valid(bob), successor.valid(carol)]).toEqual([
      true,
      false,
      true,
    ]);
    // An expired one does not come over.
    const short = new ObserverSessions({ ttlMs: 10, now: () => 0 });
    short.create({ name: 'dave', scope: 'read' });
    const later = new ObserverSessions({ now: () => 1000 });
    later.import(short.export());
    expect(later.export()).toEqual([]);
  });
});
