/**
 * What the observer page shows, pushed: a snapshot of the node every second and the running
 * install's progress whenever it changes. One feed serves every open page; it samples only
 * while someone watches. It reads the runtime and the release handler and is told the rest
 * (frame counts, calls, readiness) by the composition root: it knows nothing of calls.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
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
}

export interface FrameCounts {
  received: number;
  sent: number;
  protocolErrors: number;
}

export type ObserverEvent =
  | { event: 'snapshot'; data: ObserverSnapshot }
  | { event: 'install'; data: InstallProgress | null };

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
  /** Where a snapshot that failed is reported: the feed goes on with the next one. */
  log(err: unknown): void;
}

const SNAPSHOT_EVERY_MS = 1000;
/** How often the install's progress is compared with what was last sent. */
const INSTALL_EVERY_MS = 200;
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
  readonly #listeners = new Set<(e: ObserverEvent) => void>();
  readonly #lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  #timers: NodeJS.Timeout[] = [];
  /** The frame counts at the last sample, for the rates. */
  #frames: { at: number; counts: FrameCounts };
  #last: ObserverSnapshot | null = null;
  #install = '';

  constructor(sources: ObserverSources) {
    this.#s = sources;
    this.#frames = { at: Date.now(), counts: sources.frames() };
  }

  /** Hear every event from now on, starting with a snapshot; returns the unsubscribe. */
  subscribe(listener: (e: ObserverEvent) => void): () => void {
    // Taken before anything starts: if it throws, no timer is left running.
    const first = this.#last ?? this.#snapshot(null);
    if (this.#listeners.size === 0) this.#start();
    this.#listeners.add(listener);
    listener({ event: 'snapshot', data: first });
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stop();
    };
  }

  #start(): void {
    this.#frames = { at: Date.now(), counts: this.#s.frames() };
    this.#install = JSON.stringify(this.#s.releases.progress);
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
        guarded(() => this.#installTick()),
        INSTALL_EVERY_MS,
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
    for (const listener of this.#listeners) listener(e);
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

  #installTick(): void {
    const progress = this.#s.releases.progress;
    const text = JSON.stringify(progress);
    if (text === this.#install) return;
    this.#install = text;
    this.#emit({ event: 'install', data: progress });
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
    };
  }
}
