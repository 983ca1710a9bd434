/**
 * One handoff of a node with N phones in echo calls (a media frame a second each), for a
 * figure, not a test: prints the handoff's summary and what the phones saw.
 *   node --import tsx test/handoff/measure.ts 500
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Phone } from '../../loadtest/client/phone.ts';
import { AdminClient } from '../../server/ops/admin-client.ts';
import { spawnNodeProcess } from '../support/node-process.ts';

const n = Number(process.argv[2] ?? 100);
const node = await spawnNodeProcess(
  mkdtempSync(join(tmpdir(), 'hotline-measure-')),
  ['--max-pending-per-address', String(n + 50), '--max-pending-connections', String(n + 50)],
  120_000,
);
let closed = 0;
let lost = 0;
let maxWait = 0;
const phones: Phone[] = [];
for (let i = 0; i < n; i += 50) {
  const group = await Promise.all(
    Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
      const p = await Phone.connect(node.callsUrl);
      await p.register(`u${i + j}`);
      p.send({ type: 'invite', callId: `c${i + j}`, to: 'echo' });
      await p.next((m) => m.type === 'answered');
      return p;
    }),
  );
  phones.push(...group);
}
const sentAt = new Map<string, number>();
const acked = new Set<string>();
for (const [i, p] of phones.entries()) {
  void p.closed.then(() => closed++);
  p.onMessage((m) => {
    if (m.type !== 'media_ack') return;
    const key = `${i}:${m.seq}`;
    maxWait = Math.max(maxWait, Date.now() - (sentAt.get(key) ?? Date.now()));
    acked.add(key);
  });
}
let seq = 0;
const timer = setInterval(() => {
  const s = seq++;
  for (const [i, p] of phones.entries()) {
    sentAt.set(`${i}:${s}`, Date.now());
    p.send({ type: 'media', callId: `c${i}`, seq: s, sentAt: Date.now() });
  }
}, 1000);
await new Promise((resolve) => setTimeout(resolve, 2500));
maxWait = 0;
const admin = new AdminClient(node.adminUrl, node.adminToken, 300_000);
const { handoff } = await admin.post<{ handoff: { to: number } }>('/admin/node/handoff');
const during = maxWait;
await new Promise((resolve) => setTimeout(resolve, 3000));
clearInterval(timer);
await new Promise((resolve) => setTimeout(resolve, 1500));
for (const key of sentAt.keys()) if (!acked.has(key)) lost++;
process.stdout.write(
  `${JSON.stringify({ phones: n, handoff, maxPhoneWaitMsDuring: during, socketsClosed: closed, framesLost: lost })}\n`,
);
for (const p of phones) p.ws.terminate();
process.kill(handoff.to, 'SIGTERM');
process.exit(0);
