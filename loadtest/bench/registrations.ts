/**
 * What authenticated registration costs: a node in its own process takes `phones` phones,
 * already connected, registering all at once, and the rate is registrations per second from
 * the first register sent to the last `registered` read. Once with phone tokens (the node's
 * default), once on a node started with --open-registration, in the same run. Tokens are
 * issued before the clock starts, as a client has its token before it connects: the
 * difference between the two is the node's check.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNodeProcess } from '../client/node-process.ts';
import { Phone, type PhoneTokenSource } from '../client/phone.ts';
import { operatorTokens } from '../client/tokens.ts';

/** Connects in flight at once: a few, so the handshakes do not time out on two cores. */
const CONNECTS = 50;

/**
 * `count` phones connected to `url`, a few at a time, into `phones` (as they connect: the
 * caller ends them, whatever happens), registering with tokens from `token` if given (none:
 * as against an open-registration node). Load runs keep no message log, and skip parsing
 * the media a service echoes back.
 */
export async function connectPhones(
  phones: Phone[],
  url: string,
  count: number,
  token?: PhoneTokenSource,
): Promise<void> {
  for (let i = 0; i < count; i += CONNECTS)
    phones.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(CONNECTS, count - i) }, () =>
          Phone.connect(url, {
            keepLog: false,
            skipPrefix: '{"type":"media",',
            ...(token === undefined ? {} : { token }),
          }),
        ),
      )),
    );
}

export async function registrationsPerSecond(phones: number, withTokens: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'hotline-bench-registrations-'));
  const node = await startNodeProcess(
    [
      '--data-dir',
      dir,
      '--max-sessions',
      String(phones + 100),
      ...(withTokens ? [] : ['--open-registration']),
    ],
    { HOTLINE_ADMIN_TOKEN: 'bench-token' },
  );
  const users = Array.from({ length: phones }, (_, i) => `r${i}`);
  const issue = operatorTokens(dir);
  const tokens = new Map(
    withTokens ? await Promise.all(users.map(async (u) => [u, await issue(u)] as const)) : [],
  );
  const connected: Phone[] = [];
  try {
    await connectPhones(
      connected,
      node.callsUrl,
      phones,
      withTokens ? (u: string) => tokens.get(u) as string : undefined,
    );
    const t0 = performance.now();
    await Promise.all(connected.map((p, i) => p.register(users[i] as string)));
    return phones / ((performance.now() - t0) / 1000);
  } finally {
    for (const p of connected) p.ws.terminate();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
