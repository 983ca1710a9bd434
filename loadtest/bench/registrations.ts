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
import { Phone } from '../client/phone.ts';
import { operatorTokens } from '../client/tokens.ts';

/** Connects in flight at once: a few, so the handshakes do not time out on two cores. */
const CONNECTS = 50;

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
    for (let i = 0; i < phones; i += CONNECTS)
      connected.push(
        ...(await Promise.all(
          users.slice(i, i + CONNECTS).map(() =>
            Phone.connect(node.callsUrl, {
              keepLog: false,
              ...(withTokens ? { token: (u: string) => tokens.get(u) as string } : {}),
            }),
          ),
        )),
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
