/**
 * The old node's side of a handoff (A): start the successor (B), check it, hand it the
 * listeners, then every phone and process in batches, then exit. Until B has acked the last
 * batch, anything that goes wrong (B refused, fails to boot, dies, nacks, times out) ends the
 * handoff with HOT_ERR_HANDOFF_FAILED and A carries on with everything it had: B is killed,
 * the listeners are taken back, batches not acked are taken back.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Seat } from '../cluster/cluster.ts';
import { HotlineError, hotlineError } from '../errors/catalogue.ts';
import type { ReleasesImage } from '../release/handler.ts';
import type { StartSuccessor, SuccessorChannel, SuccessorSpec } from './channel.ts';
import { Inbox } from './inbox.ts';
import { handListenersOver, type Listeners } from './listeners.ts';
import { HANDOFF_PROTOCOL_VERSION, incompatibility } from './protocol.ts';
import { successorToRun } from './successor-build.ts';

/** How long B may take to say hello (its process starting and loading its code). */
const HELLO_TIMEOUT_MS = 30_000;
/** How long B may take to boot once welcomed (its releases loaded from the store). */
const BOOT_TIMEOUT_MS = 30_000;

/** What `hotline node handoff` and the admin route may say. */
export interface HandoffRequest {
  /** The successor's entry point (default: this node's). */
  entry?: string;
  /** The Node.js binary that runs it (default: this one). */
  nodeBinary?: string;
}

export interface HandoffSummary {
  /** A's and B's OS pids. */
  from: number;
  to: number;
  processes: number;
  sockets: number;
  /** Phones' sockets B was spawned with as descriptors (the rest went over IPC). */
  inherited: number;
  batches: number;
  ms: number;
  /** The longest any moved process was suspended. */
  maxPauseMs: number;
  /** When each phase began, in ms from the start: where the time went. */
  phases: Partial<Record<HandoffPhase, number>>;
  /** Phones on TLS connections, told to reconnect instead of moving (server/http/tls-reconnect.ts). */
  tlsReconnects: number;
}

export type HandoffPhase = 'spawn' | 'hello' | 'boot' | 'listeners' | 'phones' | 'final' | 'done' | 'failed';

/** What the handoff tells the node's metrics, logs and observer. */
export interface HandoffHooks {
  phase(phase: HandoffPhase): void;
  /** The successor's OS pid, once it is started. */
  started(successor: number): void;
  /** How many batches the handoff will take, the last one included, once the phones are grouped. */
  planned(batches: number): void;
  moved(processes: number, sockets: number): void;
  /** A batch's processes were suspended `ms`: each of its `phones` saw that pause. */
  paused(ms: number, phones: number): void;
}

/**
 * What moves: every phone and process. Made once B is spawned (what can go ahead while B loads
 * does); `run`, once B listens, resolves with the counts once B has them all; `stop` ends
 * whatever still goes ahead.
 */
export type MoveAll = (
  channel: SuccessorChannel,
  inbox: Inbox,
) => {
  run(
    hooks: HandoffHooks,
  ): Promise<Pick<HandoffSummary, 'processes' | 'sockets' | 'batches' | 'maxPauseMs' | 'tlsReconnects'>>;
  stop(): void;
};

export interface OldNode {
  readonly node: string;
  readonly runtimeApi: number;
  /** The successor's command line but for what the request may change. */
  readonly successor: SuccessorSpec;
  readonly listeners: Listeners;
  /** The releases this node runs: B boots the current one and loads the others. */
  releases(): ReleasesImage;
  /** What B's node boots with besides (`welcome.boot`). */
  boot(): unknown;
  /** The runtime's next ids: B's start above them. */
  nextIds(): { pid: number; ref: number };
  /** The pids B may make before the handoff ends: B's first pid is this far above A's. */
  readonly pidHeadroom: number;
  readonly moveAll: MoveAll;
  /** The phones' sockets that can move, by socket id: a spawner may give them to B as it starts. */
  phoneSockets(): Iterable<readonly [id: number, socket: net.Socket]>;
  /** The handoff failed, B is gone and this node has everything back. */
  failed?(): void;
  readonly hooks: HandoffHooks;
  /** In a cluster: the node's seat, which B joins in (seat.ts). */
  seat?(): Seat | undefined;
}

export class Handoffs {
  #running: { to: number } | null = null;

  constructor(
    readonly node: OldNode,
    readonly start: StartSuccessor,
  ) {}

  get running(): boolean {
    return this.#running !== null;
  }

  /** Hand this node to a successor; resolves once it has everything (this node then exits). */
  async run(request: HandoffRequest = {}): Promise<HandoffSummary> {
    if (this.#running !== null) throw hotlineError('HOT_ERR_HANDOFF_RUNNING', this.#running.to);
    this.#running = { to: 0 };
    try {
      return await this.#run(request);
    } finally {
      this.#running = null;
    }
  }

  async #run(request: HandoffRequest): Promise<HandoffSummary> {
    const t0 = performance.now();
    const { node } = this;
    const phases: HandoffSummary['phases'] = {};
    const hooks: HandoffHooks = {
      ...node.hooks,
      phase(phase) {
        phases[phase] = Math.round(performance.now() - t0);
        node.hooks.phase(phase);
      },
    };
    const spec: SuccessorSpec = {
      ...node.successor,
      nodeBinary: request.nodeBinary ?? node.successor.nodeBinary,
      entry: request.entry ?? node.successor.entry,
    };
    hooks.phase('spawn');
    let channel: SuccessorChannel;
    try {
      channel = await this.start(await successorToRun(spec), node.phoneSockets());
    } catch (err) {
      hooks.phase('failed');
      throw failed(`the successor could not be started: ${(err as Error).message}`);
    }
    (this.#running as { to: number }).to = channel.pid;
    hooks.started(channel.pid);
    const inbox = new Inbox(channel);
    const moving = node.moveAll(channel, inbox);
    let takeBackListeners: (() => Promise<void>) | undefined;
    try {
      hooks.phase('hello');
      const { message: hello } = await inbox.take('hello', HELLO_TIMEOUT_MS, 'the successor starts');
      const why = incompatibility(
        { node: node.node, runtimeApi: node.runtimeApi, protocol: HANDOFF_PROTOCOL_VERSION },
        hello,
      );
      if (why !== undefined) {
        await channel.send({ type: 'refused', why }).catch(() => {});
        throw hotlineError('HOT_ERR_HANDOFF_INCOMPATIBLE', why);
      }
      hooks.phase('boot');
      const ids = node.nextIds();
      const releases = node.releases();
      await channel.send({
        type: 'welcome',
        firstPid: ids.pid + node.pidHeadroom,
        firstRef: ids.ref + node.pidHeadroom,
        release: releases.current,
        releases,
        boot: node.boot(),
        ...seatOf(node),
      });
      const booted = await inbox.take(['ready', 'failed'], BOOT_TIMEOUT_MS, 'the successor boots');
      if (booted.message.type === 'failed')
        throw new Error(`the successor failed to boot: ${booted.message.why}`);
      hooks.phase('listeners');
      takeBackListeners = await handListenersOver(channel, inbox, node.listeners);
      const moved = await moving.run(hooks);
      hooks.phase('done');
      return {
        from: process.pid,
        to: channel.pid,
        inherited: channel.inherited.length,
        ...moved,
        ms: Math.round(performance.now() - t0),
        phases,
      };
    } catch (err) {
      hooks.phase('failed');
      moving.stop();
      channel.kill();
      // Its copies of the listeners close with it: only then can this process listen again.
      await new Promise<void>((resolve) => channel.onGone(() => resolve()));
      // Before anything else that may throw: under the keeper, its copies of the phones this
      // node no longer has (committed to B, gone with it) close only when it is told.
      node.failed?.();
      await takeBackListeners?.();
      if (
        HotlineError.is(err, 'HOT_ERR_HANDOFF_INCOMPATIBLE') ||
        HotlineError.is(err, 'HOT_ERR_HANDOFF_FAILED')
      )
        throw err;
      throw failed((err as Error).message);
    }
  }
}

function seatOf(node: OldNode): { cluster?: Seat } {
  const seat = node.seat?.();
  return seat === undefined ? {} : { cluster: seat };
}

const failed = (why: string): HotlineError => hotlineError('HOT_ERR_HANDOFF_FAILED', why);
