/** Waiting in tests: polling until a condition holds, and plain sleeps. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How early, by Date.now(), a real timer may seem to fire: Node starts timers from the event
 * loop's cached clock, which lags Date.now() by a few ms on a busy machine (CI saw 299 of 300).
 */
export const TIMER_SLACK_MS = 15;

/** Poll `check` until it returns something other than undefined or false; fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
