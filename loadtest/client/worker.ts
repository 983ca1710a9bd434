/**
 * One load worker process: holds its share of the fleet's phones, each in a call to a
 * service number with media flowing, and reports to its parent. Several run side by side:
 * a process may hold at most 20,000 open files here, and both cores should be busy.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  emptyTotals,
  type FromWorker,
  type ToWorker,
  type WorkerPlan,
  type WorkerTotals,
} from './fleet-messages.ts';
import { encodeHistogram, newHistogram } from './histogram.ts';
import { MediaStream } from './media.ts';
import { Phone, type PhoneTokenSource } from './phone.ts';
import { operatorTokens } from './tokens.ts';

const rtt = newHistogram();
const streams: MediaStream[] = [];
const phones: Phone[] = [];
const timers: NodeJS.Timeout[] = [];
const totals: WorkerTotals = emptyTotals();
let stopping = false;
/** The phones' token source: the operator key is read once per worker. */
let tokens: PhoneTokenSource | undefined;

const send = (m: FromWorker) => process.send?.(m);

function tally(): WorkerTotals {
  const t = { ...totals, sent: 0, acked: 0, duplicated: 0, reordered: 0 };
  for (const s of streams) {
    t.sent += s.counts.sent;
    t.acked += s.counts.acked;
    t.duplicated += s.counts.duplicated;
    t.reordered += s.counts.reordered;
  }
  return t;
}

async function runPhone(plan: WorkerPlan, i: number): Promise<void> {
  tokens ??= operatorTokens(plan.keyDir);
  const phone = await Phone.connect(plan.url, {
    localAddress: plan.localAddresses[i % plan.localAddresses.length] as string,
    keepLog: false,
    // Echoed media: the node sends it as {"type":"media",…}; only acks are measured.
    skipPrefix: '{"type":"media",',
    token: tokens,
  });
  phones.push(phone);
  totals.connected++;
  const callId = `c${i}`;
  const stream = new MediaStream(rtt);
  let up = false;
  const sendFrame = () => {
    if (!phone.isOpen || stopping) return;
    phone.send({ type: 'media', callId, ...stream.next() });
  };
  phone.onMessage((m) => {
    switch (m.type) {
      case 'media_ack':
        stream.ack(m.seq, m.sentAt);
        if (plan.window > 0) sendFrame();
        break;
      case 'answered':
        up = true;
        totals.inCall++;
        streams.push(stream);
        if (plan.window > 0) for (let k = 0; k < plan.window; k++) sendFrame();
        else {
          const every = 1000 / plan.ratePerPhone;
          // Spread the phones' frames over the interval instead of sending in lockstep.
          const start = setTimeout(() => {
            sendFrame();
            timers.push(setInterval(sendFrame, every));
          }, Math.random() * every);
          timers.push(start);
        }
        break;
      case 'ended':
        if (!stopping) totals.dropped++;
        break;
      case 'error':
        totals.errors[m.code] = (totals.errors[m.code] ?? 0) + 1;
        break;
    }
  });
  void phone.closed.then(() => {
    if (!stopping) {
      totals.dropped++;
      totals.closed++;
    }
    if (up) totals.inCall--;
  });
  // The invite follows the register at once: the node holds it until the register is answered.
  await phone.sendRegister(`${plan.userPrefix}${i}`);
  phone.send({ type: 'invite', callId, to: plan.callTo });
}

async function start(plan: WorkerPlan): Promise<void> {
  const progress = setInterval(() => send({ type: 'progress', ...tally() }), 500);
  timers.push(progress);
  let nextPhone = 0;
  const connectOne = async (): Promise<void> => {
    while (nextPhone < plan.phones && !stopping) {
      const i = nextPhone++;
      try {
        await runPhone(plan, i);
      } catch (err) {
        const code = (err as Error).message.slice(0, 60);
        totals.errors[code] = (totals.errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: plan.connectConcurrency }, connectOne));
}

async function stop(): Promise<void> {
  stopping = true;
  for (const t of timers) clearTimeout(t);
  // Acks still in flight get time to arrive (up to 10 s) before anything counts as lost.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && streams.some((st) => st.outstanding > 0)) await sleep(100);
  const t = tally();
  const lost = streams.reduce((n, s) => n + s.outstanding, 0);
  for (const p of phones) p.ws.terminate();
  send({ type: 'done', ...t, lost, histogram: encodeHistogram(rtt) });
  setTimeout(() => process.exit(0), 100);
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'start') void start(m.plan);
  else if (m.type === 'reset') rtt.reset();
  else void stop();
});
process.on('disconnect', () => process.exit(0));
