/**
 * Who is in the cluster: every node publishes a heartbeat every `intervalMs`, and a node
 * not heard from for `missedBeats` intervals is down. A node checks every half interval,
 * so a node that dies (kill -9) is declared down at most
 * `(missedBeats + 0.5) × intervalMs` after its last beat: 1.75 s with the defaults. A
 * node that leaves on purpose says so and is down at once; a node that restarted shows a
 * new incarnation, and its old incarnation is down at once.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection, Subscription } from 'nats';
import { encode, type Heartbeat, type NodeInfo, readHeartbeat, readLeave, subjects } from './wire.ts';

export interface MembershipOptions {
  intervalMs?: number;
  missedBeats?: number;
}

/** Who a node is in the others' eyes: kept by a successor that takes the node's place. */
export interface Identity {
  incarnation: string;
  startedAt: number;
}

export interface Member extends Heartbeat {
  lastSeen: number;
}

export interface MembershipEvents {
  up(member: Member): void;
  down(node: string): void;
  /** A heartbeat or leave that is not one was dropped. */
  malformed(): void;
}

export const HEARTBEAT_MS = 500;
export const MISSED_BEATS = 3;

export class Membership {
  readonly incarnation: string;
  readonly startedAt: number;
  readonly intervalMs: number;
  readonly #downAfterMs: number;
  readonly #members = new Map<string, Member>();
  readonly #subs: Subscription[] = [];
  #beat: NodeJS.Timeout | undefined;
  #stopped = false;
  #check: NodeJS.Timeout | undefined;

  constructor(
    readonly nc: NatsConnection,
    readonly node: string,
    readonly info: () => NodeInfo,
    readonly events: MembershipEvents,
    options: MembershipOptions = {},
    identity: Identity = { incarnation: randomUUID(), startedAt: Date.now() },
  ) {
    this.incarnation = identity.incarnation;
    this.startedAt = identity.startedAt;
    this.intervalMs = options.intervalMs ?? HEARTBEAT_MS;
    this.#downAfterMs = this.intervalMs * (options.missedBeats ?? MISSED_BEATS);
  }

  /** The longest a dead node stays up in this node's eyes after its last beat. */
  get detectionBoundMs(): number {
    return this.#downAfterMs + this.intervalMs / 2;
  }

  /** Beat now, out of turn: what the others know of this node has changed (it listens now). */
  announce(): void {
    // After stop() the connection may be draining or closed, where publish throws; a
    // successor that does not hold the seat yet does not speak for the node.
    if (!this.#stopped && this.#beat !== undefined) this.#publish();
  }

  start(): void {
    this.listen();
    this.beat();
  }

  /** Hear the others (a successor does before it beats as the node). */
  listen(): void {
    this.#subs.push(
      // A malformed beat or leave is dropped: a throw here would close the NATS connection.
      this.nc.subscribe(subjects.heartbeat, {
        callback: (_e, m) => {
          const beat = readHeartbeat(m.data);
          if (beat === undefined) this.events.malformed();
          else this.#heard(beat);
        },
      }),
      this.nc.subscribe(subjects.leave, {
        callback: (_e, m) => {
          const leave = readLeave(m.data);
          if (leave === undefined) this.events.malformed();
          else if (this.#members.get(leave.node)?.incarnation === leave.incarnation) this.#down(leave.node);
        },
      }),
    );
    this.#check = setInterval(() => this.#sweep(), this.intervalMs / 2);
  }

  /** Beat now and every interval from now on. */
  beat(): void {
    this.#publish();
    this.#beat = setInterval(() => this.#publish(), this.intervalMs);
  }

  /** Live nodes other than this one. */
  members(): Member[] {
    return [...this.#members.values()];
  }

  isUp(node: string): boolean {
    return this.#members.has(node);
  }

  member(node: string): Member | undefined {
    return this.#members.get(node);
  }

  /** Stop beating; with `announce`, tell the others this node is leaving. */
  stop(announce: boolean): void {
    this.#stopped = true;
    clearInterval(this.#beat);
    clearInterval(this.#check);
    for (const s of this.#subs) s.unsubscribe();
    if (announce) this.nc.publish(subjects.leave, encode({ node: this.node, incarnation: this.incarnation }));
  }

  #publish(): void {
    const beat: Heartbeat = {
      ...this.info(),
      node: this.node,
      incarnation: this.incarnation,
      startedAt: this.startedAt,
    };
    this.nc.publish(subjects.heartbeat, encode(beat));
  }

  #heard(beat: Heartbeat): void {
    if (beat.node === this.node) return;
    const known = this.#members.get(beat.node);
    // A restart within the detection bound: the old incarnation is gone with everything it held.
    if (known !== undefined && known.incarnation !== beat.incarnation) this.#down(beat.node);
    const member: Member = { ...beat, lastSeen: Date.now() };
    this.#members.set(beat.node, member);
    if (known === undefined || known.incarnation !== beat.incarnation) this.events.up(member);
  }

  #sweep(): void {
    const deadline = Date.now() - this.#downAfterMs;
    for (const m of this.#members.values()) if (m.lastSeen < deadline) this.#down(m.node);
  }

  #down(node: string): void {
    if (!this.#members.delete(node)) return;
    this.events.down(node);
  }
}
