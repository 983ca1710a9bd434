/**
 * A real browser for tests that must see a page render: Debian's chromium driven by
 * playwright-core (which downloads no browser of its own). A missing chromium fails the test
 * with the package to install, never skips it: a page nobody rendered is not a passing page.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

/** The names Debian (chromium) and Ubuntu-style packages (chromium-browser) install on PATH. */
const NAMES = ['chromium', 'chromium-browser'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** CHROMIUM_PATH when set, otherwise the first chromium on PATH; null when there is none. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.CHROMIUM_PATH) return isExecutable(env.CHROMIUM_PATH) ? env.CHROMIUM_PATH : null;
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean))
    for (const name of NAMES) if (isExecutable(join(dir, name))) return join(dir, name);
  return null;
}

export function missingChromiumMessage(env: NodeJS.ProcessEnv = process.env): string {
  const where = env.CHROMIUM_PATH
    ? `CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable`
    : 'no chromium or chromium-browser on PATH';
  return env.CI === 'true'
    ? `${where}: CI must install Debian's "chromium" package (apt-get install -y chromium) before the tests`
    : `${where}: install it with \`apt-get install chromium\` (Debian), or set CHROMIUM_PATH to a Chromium binary`;
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (executablePath === null) throw new Error(missingChromiumMessage());
  return chromium.launch({
    executablePath,
    // Root in a container has no usable sandbox and no GPU; background networking would
    // reach out to Google's services, which a test must not depend on.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface PageWatch {
  /** Console errors and uncaught exceptions, as text. */
  errors: string[];
  /** Every URL the page requested, its own included. */
  requests: string[];
  /** Texts of alert/confirm/prompt dialogs, which are dismissed. */
  dialogs: string[];
}

/** Start recording what goes wrong on a page; call before navigating. */
export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = { errors: [], requests: [], dialogs: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') watch.errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => watch.errors.push(`page: ${err.message}`));
  page.on('request', (req) => watch.requests.push(req.url()));
  page.on('dialog', (dialog) => {
    watch.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return watch;
}
