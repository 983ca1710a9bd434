/**
 * One harness worker process: runs its share of scripted phones and reports one second of
 * counts at a time, per node; on `stop` the phones hang up as the script would, and it
 * reports the calls it completed (for CDR reconciliation) before it exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeHistogram, newHistogram } from '../client/histogram.ts';
import type { FromScriptWorker, ToScriptWorker } from './messages.ts';
import { ScriptedPhone, ScriptStats } from './phone-script.ts';
import { nodeOf } from './placement.ts';

let stats: ScriptStats[] = [];
const phones: ScriptedPhone[] = [];
const running: Promise<void>[] = [];
let ticker: NodeJS.Timeout | undefined;

const send = (m: FromScriptWorker, then?: () => void) => process.send?.(m, undefined, {}, then);
const second = () => send({ type: 'second', nodes: stats.map((s) => s.flush()) });

process.on('message', async (m: ToScriptWorker) => {
  if (m.type === 'start') {
    stats = m.plan.urls.map(() => new ScriptStats());
    ticker = setInterval(second, 1000);
    for (let i = 0; i < m.plan.phones; i++) {
      const node = nodeOf(i, m.plan.placement);
      const s = stats[node] as ScriptStats;
      const phone = new ScriptedPhone(m.plan, i, node, s);
      phones.push(phone);
      // A script fault is counted, not fatal: the other phones of this worker carry on.
      running.push(phone.run().catch((err: unknown) => s.error(`script: ${String(err)}`.slice(0, 80))));
    }
    return;
  }
  await Promise.all(phones.map((p) => p.stop()));
  await Promise.race([Promise.all(running), sleep(5000)]);
  clearInterval(ticker);
  second();
  const connect = newHistogram();
  for (const s of stats) connect.add(s.connect);
  send(
    {
      type: 'done',
      calls: stats.flatMap((s) => s.calls),
      connect: encodeHistogram(connect),
      lost: stats.reduce((n, s) => n + s.lostTotal, 0),
    },
    // Exit once the report is out: under load the IPC channel can still hold earlier seconds.
    () => process.exit(0),
  );
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
