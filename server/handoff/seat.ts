/**
 * A node in a cluster keeps its seat through a handoff: the successor (B) joins under the
 * same name and incarnation (`welcome` carries the seat), and once the last batch runs in B,
 * the old process (A) hands over what ties the node to NATS, with no message from another
 * node lost, duplicated or reordered and no gap in the heartbeats (server/cluster/README.md,
 * "Handing the seat over", has the argument):
 *
 *   A: hold ──▶ B subscribes, holding what comes ──▶ holding
 *   A drains its subscription, then: cut (the last number heard from each sender)
 *      ──▶ B delivers what it held past those, then the rest as it comes; keeps its own
 *          messages out from now ──▶ cut-done (after every message B relayed to A)
 *   A relays its own messages to B, flushes (NATS has all A published), then: own (the next number)
 *      ──▶ B publishes, beats and answers pings ──▶ live
 *   A stops beating (no leave), lets its claims' answers through, disconnects.
 *
 * Until the cut, messages B's processes send to other nodes go to A (`out`), which publishes
 * them: one publisher for the node at any time. B says `done` (the handoff's last word) only
 * after `live`, so the channel (and a keeper relaying it) carries all of this. If B goes
 * before the cut, A had given up nothing; during it, A takes its subscription and
 * publishing back. If A goes during the cut, B takes the seat alone.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster } from '../cluster/cluster.ts';
import type { Heard } from '../cluster/dist.ts';
import type { DistMessage } from '../runtime/index.ts';
import type { SuccessorChannel } from './channel.ts';
import type { Inbox } from './inbox.ts';
import type { HandoffMessage } from './protocol.ts';

export type SeatStep =
  | { readonly step: 'hold' }
  | { readonly step: 'holding' }
  | { readonly step: 'cut'; readonly heard: Heard }
  | { readonly step: 'cut-done' }
  | { readonly step: 'own'; readonly nextSeq: number }
  | { readonly step: 'live' }
  /** A message for another node, from the process that does not publish to the one that does. */
  | { readonly step: 'out'; readonly node: string; readonly msg: DistMessage };

/** How long each step of the cut may take (a NATS round trip or two, and an IPC hop). */
const STEP_TIMEOUT_MS = 10_000;
/** How long A waits for answers to the claims it asked, so that they reach the journal in B. */
const CLAIMS_MS = 5_000;

type Side = Pick<SuccessorChannel, 'send' | 'onGone'>;

/** The steps of one side, taken in sequence; `out` is published (or passed on) as it comes. */
function seatInbox(cluster: Cluster, side: Side, inbox: Inbox) {
  const waiting = new Map<SeatStep['step'], (m: SeatStep) => void>();
  const arrived = new Map<SeatStep['step'], SeatStep>();
  let gone: string | undefined;
  const failures = new Set<(why: string) => void>();
  side.onGone((why) => {
    gone = why;
    for (const f of failures) f(why);
  });
  inbox.handlers.cluster = ({ message: m }) => {
    if (m.step === 'out') return cluster.dist.send(m.node, m.msg);
    const w = waiting.get(m.step);
    if (w === undefined) return void arrived.set(m.step, m);
    waiting.delete(m.step);
    w(m);
  };
  return {
    send: (m: SeatStep) => side.send({ type: 'cluster', message: m } satisfies HandoffMessage),
    relay: (node: string, msg: DistMessage) =>
      void side.send({ type: 'cluster', message: { step: 'out', node, msg } }).catch(() => {}),
    /** The next `step`; fails when the other side goes, or after `timeoutMs`. */
    take<S extends SeatStep['step']>(
      step: S,
      timeoutMs = STEP_TIMEOUT_MS,
    ): Promise<Extract<SeatStep, { step: S }>> {
      const early = arrived.get(step);
      if (early !== undefined) {
        arrived.delete(step);
        return Promise.resolve(early as Extract<SeatStep, { step: S }>);
      }
      if (gone !== undefined) return Promise.reject(new Error(gone));
      return new Promise((resolve, reject) => {
        const fail = (why: string) => done(() => reject(new Error(why)));
        const timer =
          timeoutMs === Number.POSITIVE_INFINITY
            ? undefined
            : setTimeout(
                () => fail(`no ${step} within ${timeoutMs} ms while handing the cluster seat over`),
                timeoutMs,
              );
        const done = (then: () => void) => {
          clearTimeout(timer);
          failures.delete(fail);
          waiting.delete(step);
          then();
        };
        failures.add(fail);
        waiting.set(step, (m) => done(() => resolve(m as Extract<SeatStep, { step: S }>)));
      });
    },
  };
}

export interface SeatGiver {
  attach(channel: SuccessorChannel, inbox: Inbox): { handOver(): Promise<void> };
}

/** A's side: set up before the first batch (B's processes send through A from then on); `handOver` after the last. */
export function seatGiver(cluster: Cluster): SeatGiver {
  return {
    attach(channel: SuccessorChannel, inbox: Inbox) {
      const steps = seatInbox(cluster, channel, inbox);
      return {
        async handOver(): Promise<void> {
          const { dist } = cluster;
          try {
            await steps.send({ step: 'hold' });
            await steps.take('holding');
            const heard = await dist.release();
            await steps.send({ step: 'cut', heard });
            // Every message B relayed came before this, and is published.
            await steps.take('cut-done');
            dist.relayTo(steps.relay);
            await cluster.nc.flush();
            await steps.send({ step: 'own', nextSeq: dist.nextSeq });
            await steps.take('live');
          } catch (err) {
            dist.reclaim();
            throw err;
          }
          await cluster.vacate(CLAIMS_MS);
        },
      };
    },
  };
}

/**
 * B's side: its processes' messages go to A until A says `own`; A's steps are answered as
 * they come (no timeouts here: A times out, fails the handoff and kills B). If A goes away
 * once B is the node, B takes the seat alone. Resolves once B holds the seat, or A went
 * away before B was the node (then B exits with the handoff).
 */
export function seatTaker(
  cluster: Cluster,
  parent: Side,
  inbox: Inbox,
  isNode: () => boolean,
): Promise<void> {
  const steps = seatInbox(cluster, parent, inbox);
  const { dist } = cluster;
  dist.relayTo(steps.relay);
  const answer = (m: SeatStep) => void steps.send(m).catch(() => {});
  const forever = Number.POSITIVE_INFINITY;
  return (async () => {
    await steps.take('hold', forever);
    await dist.hold();
    answer({ step: 'holding' });
    const { heard } = await steps.take('cut', forever);
    dist.resume(heard);
    dist.queue();
    answer({ step: 'cut-done' });
    const { nextSeq } = await steps.take('own', forever);
    dist.own(nextSeq);
    await cluster.occupy();
    answer({ step: 'live' });
  })().catch(async () => {
    if (!isNode()) return;
    // What A got and had not passed on is lost; what B held, it delivers (some perhaps twice).
    if (!dist.publishing) dist.alone(randomUUID().slice(0, 8));
    await cluster.occupy();
  });
}
