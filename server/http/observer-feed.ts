/**
 * What the observer page shows, pushed: a snapshot of the node every second and the running
 * install's and node handoff's progress whenever they change. One feed serves every open
 * page; it samples only while someone watches. It reads the runtime and the release handler
 * and is told the rest (frame counts, calls, readiness, the handoff) by the composition
 * root: it knows nothing of calls.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { HandoffPhase } from '../handoff/handoff.ts';
import type { ReleaseHandler, ReleaseList } from '../release/handler.ts';
import type { InstallProgress } from '../release/installer.ts';
import {
  longestMailboxes,
  type ProcessInfo,
  type Runtime,
  type Supervised,
  supervisionSummary,
} from '../runtime/index.ts';

/** The contract of the page's script (server/http/observer/assets/observer.js). */
export interface ObserverSnapshot {
  /** Epoch ms. */
  at: number;
  node: string;
  uptimeSeconds: number;
  ready: boolean;
  /** Phones register without a token (--open-registration): the page says so in red. */
  openRegistration: boolean;
  processes: number;
  /** Session processes by the release they run. */
  sessions: Record<string, number>;
  /** Calls up or being set up, by state. */
  calls: Record<string, number>;
  /** Per second over the last sample; null until a first second has passed. */
  rates: FrameCounts | null;
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number };
  /** Event-loop delay over the last second, ms; null before a first sample. */
  eventLoopLag: { p50: number; p99: number; max: number } | null;
  tree: Supervised;
  /** The ten longest mailboxes, longest first. */
  mailboxes: ProcessInfo[];
  releases: Omit<ReleaseList, 'install'>;
  install: InstallProgress | null;
  /** The running node handoff, or the latest one this process saw (or took over). */
  handoff: HandoffProgress | null;
}

/** A node handoff as it goes (server/handoff): the old process's, then its successor's. */
export interface HandoffProgress {
  phase: HandoffPhase;
  /** OS pids: the process handed off, and its successor (0 until it is started). */
  from: number;
  to: number;
  /** Epoch ms. */
  startedAt: number;
  endedAt: number | null;
  /** Planned is 0 until the phones are grouped; the last batch (supervisors, journal) counts. */
  batches: { planned: number; done: number };
  processes: number;
  sockets: number;
  /** The longest any batch was suspended: the pause its phones saw. */
  maxPauseMs: number;
  /** Why it failed (the node carried on), or null. */
  error: string | null;
}

export interface FrameCounts {
  received: number;
  sent: number;
  protocolErrors: number;
}

export type ObserverEvent =
  | { event: 'snapshot'; data: ObserverSnapshot }
  | { event: 'install'; data: InstallProgress | null }
  | { event: 'handoff'; data: HandoffProgress | null };

export interface ObserverSources {
  node: string;
  /** Epoch ms the node started. */
  startedAt: number;
  rt: Runtime;
  releases: Pick<ReleaseHandler, 'list' | 'progress'>;
  /** The behaviour module whose processes are the sessions. */
  sessionModule: string;
  ready(): boolean;
  openRegistration: boolean;
  /** Frames counted since the node started. */
  frames(): FrameCounts;
  calls(): Record<string, number>;
  handoff(): HandoffProgress | null;
  /** Where a snapshot that failed is reported: the feed goes on with the next one. */
  log(err: unknown): void;
}

const SNAPSHOT_EVERY_MS = 1000;
/** How often the install's and the handoff's progress are compared with what was last sent. */
const PROGRESS_EVERY_MS = 200;
const MAILBOXES = 10;
const NS_PER_MS = 1e6;
/**
 * The delay histogram times a timer of this period, and its samples include the period
 * itself: it is taken off, so an idle loop reads 0, not 10 ms.
 */
const LAG_RESOLUTION_MS = 10;
const lagMs = (ns: number) => Math.max(0, ns / NS_PER_MS - LAG_RESOLUTION_MS);

export class ObserverFeed {
  readonly #s: ObserverSources;
  /** Each listener, with what ends its stream. */
  readonly #listeners = new Map<(e: ObserverEvent) => void, () => void>();
  readonly #lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  #timers: NodeJS.Timeout[] = [];
  /** The frame counts at the last sample, for the rates. */
  #frames: { at: number; counts: FrameCounts };
  #last: ObserverSnapshot | null = null;
  #install = '';
  #handoff = '';

  constructor(sources: ObserverSources) {
    this.#s = sources;
    this.#frames = { at: Date.now(), counts: sources.frames() };
  }

  /**
   * Hear every event from now on, starting with a snapshot, until `ended` (`end()`); returns
   * the unsubscribe.
   */
  subscribe(listener: (e: ObserverEvent) => void, ended: () => void = () => {}): () => void {
    // Taken before anything starts: if it throws, no timer is left running.
    const first = this.#last ?? this.#snapshot(null);
    if (this.#listeners.size === 0) this.#start();
    this.#listeners.set(listener, ended);
    listener({ event: 'snapshot', data: first });
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  /**
   * This process hands the node to its successor: tell every page how the handoff ended and
   * end its stream, so that the page reconnects, to the successor, which listens by now.
   */
  end(): void {
    const handoff = this.#s.handoff();
    for (const [listener, ended] of [...this.#listeners]) {
      listener({ event: 'handoff', data: handoff });
      ended();
    }
  }

  #start(): void {
    this.#frames = { at: Date.now(), counts: this.#s.frames() };
    this.#install = JSON.stringify(this.#s.releases.progress);
    this.#handoff = JSON.stringify(this.#s.handoff());
    this.#lag.enable();
    // A failing snapshot must not become an uncaught exception: that would take the node down.
    const guarded = (fn: () => void) => () => {
      try {
        fn();
      } catch (err) {
        this.#s.log(err);
      }
    };
    this.#timers = [
      setInterval(
        guarded(() => this.#tick()),
        SNAPSHOT_EVERY_MS,
      ),
      setInterval(
        guarded(() => this.#progressTick()),
        PROGRESS_EVERY_MS,
      ),
    ];
  }

  #stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#lag.disable();
    this.#lag.reset();
    this.#last = null;
  }

  #emit(e: ObserverEvent): void {
    for (const listener of this.#listeners.keys()) listener(e);
  }

  #tick(): void {
    const now = Date.now();
    const counts = this.#s.frames();
    const prev = this.#frames;
    const perSecond = (n: number, was: number) => ((n - was) * 1000) / Math.max(1, now - prev.at);
    this.#frames = { at: now, counts };
    this.#last = this.#snapshot({
      received: perSecond(counts.received, prev.counts.received),
      sent: perSecond(counts.sent, prev.counts.sent),
      protocolErrors: perSecond(counts.protocolErrors, prev.counts.protocolErrors),
    });
    // Each snapshot speaks of its own second.
    this.#lag.reset();
    this.#emit({ event: 'snapshot', data: this.#last });
  }

  #progressTick(): void {
    const progress = this.#s.releases.progress;
    const text = JSON.stringify(progress);
    if (text !== this.#install) {
      this.#install = text;
      this.#emit({ event: 'install', data: progress });
    }
    const handoff = this.#s.handoff();
    const handoffText = JSON.stringify(handoff);
    if (handoffText === this.#handoff) return;
    this.#handoff = handoffText;
    this.#emit({ event: 'handoff', data: handoff });
  }

  #snapshot(rates: FrameCounts | null): ObserverSnapshot {
    const { rt, releases } = this.#s;
    const sessions: Record<string, number> = {};
    for (const v of rt.modules.versions())
      if (v.module === this.#s.sessionModule && v.processes > 0)
        sessions[v.version] = (sessions[v.version] ?? 0) + v.processes;
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    const lag = this.#lag;
    const { install, ...list } = releases.list();
    const now = Date.now();
    return {
      at: now,
      node: this.#s.node,
      uptimeSeconds: (now - this.#s.startedAt) / 1000,
      ready: this.#s.ready(),
      openRegistration: this.#s.openRegistration,
      processes: rt.processCount,
      sessions,
      calls: this.#s.calls(),
      rates,
      memory: { rss, heapUsed, heapTotal, external },
      eventLoopLag:
        lag.count === 0
          ? null
          : {
              p50: lagMs(lag.percentile(50)),
              p99: lagMs(lag.percentile(99)),
              max: lagMs(lag.max),
            },
      tree: supervisionSummary(rt),
      mailboxes: longestMailboxes(rt, MAILBOXES),
      releases: list,
      install,
      handoff: this.#s.handoff(),
    };
  }
}
