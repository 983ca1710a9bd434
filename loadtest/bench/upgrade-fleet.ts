/**
 * What the upgrade bench's measuring code (upgrade.ts) and its workloads (upgrade-synthetic.ts,
 * upgrade-calls.ts) share: the clock, the checks on sequence numbers and waits, the artifacts,
 * and what a workload hands the measuring code (a `Fleet`: a runtime full of sessions).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Artifact, verifyArtifact } from '../../server/release/artifact.ts';
import { buildRelease } from '../../server/release/build.ts';
import type { ReleaseModule } from '../../server/release/module.ts';
import {
  type Behaviour,
  type Clock,
  noreply,
  type Pid,
  type Runtime,
  systemClock,
} from '../../server/runtime/index.ts';
import type { Figure } from './report.ts';

/** The runtime clock, with sub-millisecond resolution: waits of a few ms are what we measure. */
export const clock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: systemClock.setTimeout,
  clearTimeout: systemClock.clearTimeout,
};

/**
 * Build, sign, write, read back and verify each release, once: the code a node would load.
 * `entries` maps a version to its entry module; the result maps it to its verified code.
 */
export async function buildCodes(
  name: string,
  entries: Record<string, string>,
): Promise<Map<string, Artifact>> {
  const keys = generateKeyPairSync('ed25519');
  const outDir = mkdtempSync(join(tmpdir(), 'hotline-bench-upgrade-'));
  const codes = new Map<string, Artifact>();
  try {
    for (const [version, entry] of Object.entries(entries)) {
      const { path } = await buildRelease({ entry, version, name, keys, outDir });
      codes.set(version, verifyArtifact(readFileSync(path), [keys.publicKey]));
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  return codes;
}

/** A process of the bench's that hands every cast it gets to `take`. */
export function sink<M>(
  name: string,
  take: (message: M) => void,
): Behaviour<null, null, { call: never; reply: never; cast: M; info: never }> {
  const result = noreply(null);
  return {
    name,
    version: '1.0.0',
    init: () => null,
    handleCast(message) {
      take(message);
      return result;
    },
  };
}

/** Streams of sequence numbers (one per session, say): each number must arrive exactly once, in order. */
export class Sequences {
  readonly last: Uint32Array;
  received = 0;
  duplicated = 0;
  reordered = 0;
  /** Sequence numbers skipped over, by stream: reordered if they come later, lost if not. */
  readonly gaps = new Map<number, Set<number>>();

  constructor(streams: number) {
    this.last = new Uint32Array(streams);
  }

  take(i: number, seq: number): void {
    this.received++;
    const last = this.last[i] as number;
    if (seq === last + 1) this.last[i] = seq;
    else if (seq > last + 1) {
      const gap = this.gaps.get(i) ?? new Set<number>();
      this.gaps.set(i, gap);
      for (let s = last + 1; s < seq; s++) gap.add(s);
      this.last[i] = seq;
    } else if (this.gaps.get(i)?.delete(seq)) this.reordered++;
    else this.duplicated++;
  }

  /** Numbers never seen, given how many each stream sent. */
  lost(sent: (i: number) => number): number {
    let lost = 0;
    for (let i = 0; i < this.last.length; i++) lost += sent(i) - (this.last[i] as number);
    for (const gap of this.gaps.values()) lost += gap.size;
    return lost;
  }
}

/** The longest wait among messages handled within [from, to] (runtime clock). */
export class Waits {
  from = Number.POSITIVE_INFINITY;
  to = Number.POSITIVE_INFINITY;
  max = 0;
  inWindow = 0;

  window(from: number, to = Number.POSITIVE_INFINITY): void {
    this.from = from;
    this.to = to;
    this.max = 0;
    this.inWindow = 0;
  }

  take(waited: number, at: number): void {
    if (at < this.from || at > this.to) return;
    this.inWindow++;
    if (waited > this.max) this.max = waited;
  }
}

/** The traffic to a fleet and what came back of it. */
export abstract class Traffic {
  /** Messages sent so far, per stream: the driver numbers each stream's messages from 1. */
  readonly sent: Uint32Array;
  sentTotal = 0;
  /** How long a message waited in its session's mailbox before the session handled it. */
  readonly wait = new Waits();
  /** Other waits, measured over the same windows as `wait`. */
  protected readonly alsoTimed: Waits[] = [];

  constructor(streams: number) {
    this.sent = new Uint32Array(streams);
  }

  /** Messages the sessions are known to have handled. */
  abstract get handled(): number;
  /** Messages sent whose effects have not all been seen yet. */
  abstract get inFlight(): number;

  window(from: number, to = Number.POSITIVE_INFINITY): void {
    this.wait.window(from, to);
    for (const w of this.alsoTimed) w.window(from, to);
  }

  closeWindow(to: number): void {
    this.wait.to = to;
    for (const w of this.alsoTimed) w.to = to;
  }
}

/** What a run found wrong with the traffic, and figures of the workload's own. */
export interface Tally {
  lost: number;
  duplicated: number;
  reordered: number;
  /** Frames or events that mean a session went wrong (an error frame, a call ended): none is the target. */
  failures: number;
  /** Keyed by the workload's figures' keys (see Workload.figures). */
  extra: Record<string, number>;
}

/** A runtime full of live sessions on the release the install moves them from. */
export interface Fleet {
  readonly rt: Runtime;
  readonly from: ReleaseModule;
  /** `from` loaded again for the preflight's dry runs, as the release handler does. */
  readonly dryFrom: ReleaseModule;
  /** The release the install moves to, evaluated afresh from its artifact at each call. */
  loadTo(): ReleaseModule;
  readonly sessions: Pid[];
  /** Processes an install moves: those running a module its appup changes. */
  readonly moving: number;
  readonly traffic: Traffic;
  /** Streams the driver sends to: stream i is a session's, `sessions[i]`. */
  readonly streams: number;
  /**
   * How the driver picks the stream of each message: `steady` goes round them all in turn, as
   * phones send media at a steady pace; `random` picks at random (some wait long between two).
   */
  readonly pace: 'steady' | 'random';
  /** Deliver message `seq` of stream i, stamped `sentAt` (runtime clock). */
  send(i: number, seq: number, sentAt: number): void;
  /** Once the traffic has drained. */
  tally(): Tally;
}

export interface Workload {
  readonly from: string;
  readonly to: string;
  /**
   * N sessions on `from`. `forCycles`: the fleet the heap cycles run on, which gets no
   * traffic; the workload keeps it as it is for the cycles' length.
   */
  setUp(sessions: number, forCycles: boolean): Promise<Fleet>;
  /** Figures of the workload's own, from the medians of its tallies' extras. */
  figures(median: (key: string) => number): Figure[];
}
