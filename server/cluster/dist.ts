/**
 * The runtime's messages over NATS, both ways, for one node: each message out is stamped
 * with the sender's releases and numbered (`run`, `seq`: one sequence per incarnation of the
 * node, going on across handoffs); each message in is checked and delivered, and the last
 * number heard from each sender is kept.
 *
 * The numbers are what lets a node's seat pass from one OS process to its successor with
 * nothing lost, duplicated or reordered (server/handoff/seat.ts, and the README's
 * "Handing the seat over"): the successor subscribes and holds what comes (`hold`), the old
 * process unsubscribes and drains (`release`) and says what it got, and the successor
 * delivers the rest (`resume`). Outgoing, only one process publishes at any time: the other
 * passes its messages to it (`relayTo`) or keeps them until it may publish (`queue`, then `own`).
 */
import type { NatsConnection, Subscription } from 'nats';
import type { DistMessage, Distribution } from '../runtime/index.ts';
import { type Envelope, encode, readEnvelope, subjects } from './wire.ts';

/** The last number heard from each sender: [node, run, seq]. */
export type Heard = [string, string, number][];

export interface DistOptions {
  node: string;
  /** This node's incarnation: its messages are numbered within it. */
  run: string;
  /** The releases to stamp, read for every message (kept ready by the caller). */
  stamp: () => Pick<Envelope, 'release' | 'alsoRuns'>;
  /** A message from another node, checked: deliver it (or refuse it). */
  deliver: (envelope: Envelope) => void;
  malformed: () => void;
}

type Out =
  | { mode: 'publish' }
  | { mode: 'queue'; queue: [string, DistMessage][] }
  | { mode: 'relay'; to: Relay };
type Relay = (node: string, msg: DistMessage) => void;

export class DistLink implements Distribution {
  #run: string;
  #seq = 0;
  #out: Out;
  #sub: Subscription | undefined;
  /** While a successor waits for its seat: what came, in order, not yet delivered. */
  #held: Envelope[] | null = null;
  readonly #heard = new Map<string, Map<string, number>>();

  constructor(
    readonly nc: NatsConnection,
    readonly options: DistOptions,
    publishing: boolean,
  ) {
    this.#run = options.run;
    this.#out = publishing ? { mode: 'publish' } : { mode: 'queue', queue: [] };
  }

  /** The number the next message out will carry. */
  get nextSeq(): number {
    return this.#seq + 1;
  }

  /** Whether this process publishes the node's messages (it holds the seat). */
  get publishing(): boolean {
    return this.#out.mode === 'publish';
  }

  send(node: string, msg: DistMessage): void {
    const out = this.#out;
    if (out.mode === 'publish') this.publish(node, msg);
    else if (out.mode === 'queue') out.queue.push([node, msg]);
    else out.to(node, msg);
  }

  /** On NATS now, stamped and numbered (also what the other process relayed). */
  publish(node: string, msg: DistMessage): void {
    const { release, alsoRuns } = this.options.stamp();
    const envelope: Envelope = {
      from: this.options.node,
      release,
      alsoRuns,
      run: this.#run,
      seq: ++this.#seq,
      msg,
    };
    this.nc.publish(subjects.dist(node), encode(envelope));
  }

  /** Take messages from now on and deliver them. */
  subscribe(): void {
    this.#sub = this.nc.subscribe(subjects.dist(this.options.node), {
      callback: (_e, m) => {
        const envelope = readEnvelope(m.data);
        if (envelope === undefined) return this.options.malformed();
        if (this.#held !== null) this.#held.push(envelope);
        else this.#deliver(envelope);
      },
    });
  }

  // ---- the successor ----

  /** Subscribe, holding what comes; resolves once the server has the subscription. */
  async hold(): Promise<void> {
    this.#held = [];
    this.subscribe();
    await this.nc.flush();
  }

  /**
   * The old process got everything up to `heard`: deliver the rest of what was held, in order,
   * then everything as it comes. What the server had already sent this process when the old
   * one drained can still be on its way here, so the numbers stay the filter after the cut too.
   */
  resume(heard: Heard): void {
    for (const [node, run, seq] of heard) this.#runsOf(node).set(run, seq);
    const held = this.#held ?? [];
    this.#held = null;
    for (const e of held) this.#deliver(e);
  }

  /** Keep messages out until `own` (the old process publishes until it has flushed). */
  queue(): void {
    if (this.#out.mode !== 'queue') this.#out = { mode: 'queue', queue: [] };
  }

  /** Publish from now on, numbering from `nextSeq`: first what was queued. */
  own(nextSeq: number): void {
    const out = this.#out;
    this.#seq = Math.max(this.#seq, nextSeq - 1);
    this.#out = { mode: 'publish' };
    if (out.mode === 'queue') for (const [node, msg] of out.queue) this.publish(node, msg);
  }

  /**
   * The old process went away during the cut: take messages (delivering all that was held:
   * nothing says which the old process got) and publish, numbering afresh in a new `run`
   * (the old process's last number is not known).
   */
  alone(run: string): void {
    if (this.#sub === undefined) this.subscribe();
    else if (this.#held !== null) this.resume([]);
    this.#run = run;
    this.#seq = 0;
    this.own(1);
  }

  // ---- both ----

  /** Messages out go to the other process of the node, which publishes them. */
  relayTo(to: Relay): void {
    const out = this.#out;
    this.#out = { mode: 'relay', to };
    if (out.mode === 'queue') for (const [node, msg] of out.queue) to(node, msg);
  }

  // ---- the old process ----

  /**
   * Unsubscribe, and deliver what the server sent before it had the unsubscription
   * (NATS drain: UNSUB, then a PING whose PONG follows every message sent before it).
   * Resolves with the last number heard from each sender.
   */
  async release(): Promise<Heard> {
    await this.#sub?.drain();
    this.#sub = undefined;
    return [...this.#heard].flatMap(([node, runs]) =>
      [...runs].map(([run, seq]): Heard[number] => [node, run, seq]),
    );
  }

  /** The successor is gone: take messages again, and publish again. */
  reclaim(): void {
    if (this.#sub === undefined) this.subscribe();
    if (this.#out.mode === 'relay') this.#out = { mode: 'publish' };
    else if (this.#out.mode === 'queue') this.own(this.nextSeq);
  }

  close(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }

  #runsOf(node: string): Map<string, number> {
    let runs = this.#heard.get(node);
    if (runs === undefined) {
      runs = new Map();
      this.#heard.set(node, runs);
    }
    return runs;
  }

  /** One sender's messages come in order, so a number not above the last one heard was delivered already. */
  #deliver(e: Envelope): void {
    if (e.run !== undefined && e.seq !== undefined) {
      const runs = this.#runsOf(e.from);
      if (e.seq <= (runs.get(e.run) ?? 0)) return;
      runs.set(e.run, e.seq);
    }
    this.options.deliver(e);
  }
}
