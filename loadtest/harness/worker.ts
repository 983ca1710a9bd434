/**
 * One harness worker process: runs its share of scripted phones and reports one second of
 * counts at a time; on `stop` the phones hang up as the script would, and it reports the
 * calls it completed (for CDR reconciliation) before it exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeHistogram } from '../client/histogram.ts';
import type { FromScriptWorker, ToScriptWorker } from './messages.ts';
import { ScriptedPhone, ScriptStats } from './phone-script.ts';

const stats = new ScriptStats();
const phones: ScriptedPhone[] = [];
const running: Promise<void>[] = [];
let ticker: NodeJS.Timeout | undefined;

const send = (m: FromScriptWorker) => process.send?.(m);

process.on('message', async (m: ToScriptWorker) => {
  if (m.type === 'start') {
    ticker = setInterval(() => send({ type: 'second', ...stats.flush() }), 1000);
    for (let i = 0; i < m.plan.phones; i++) {
      const phone = new ScriptedPhone(m.plan, i, stats);
      phones.push(phone);
      // A script fault is counted, not fatal: the other phones of this worker carry on.
      running.push(phone.run().catch((err: unknown) => stats.error(`script: ${String(err)}`.slice(0, 80))));
    }
    return;
  }
  await Promise.all(phones.map((p) => p.stop()));
  await Promise.race([Promise.all(running), sleep(5000)]);
  clearInterval(ticker);
  send({ type: 'second', ...stats.flush() });
  send({ type: 'done', calls: stats.calls, connect: encodeHistogram(stats.connect), lost: stats.lostTotal });
  setTimeout(() => process.exit(0), 100);
});
process.on('disconnect', () => process.exit(0));
