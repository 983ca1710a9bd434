/**
 * Two runtimes of one node, as an old node process and its successor: one in-memory
 * channel each way that delivers later and in order (a copy of each message, as IPC would),
 * the peer routes set on both, and one batch of the handoff protocol as the orchestration
 * runs it: suspend, capture, restore over the channel, commit, then start after what the
 * commit sent.
 */
import {
  type Behaviour,
  type CaptureResult,
  type DistMessage,
  type MoveRoute,
  noreply,
  type Pid,
  type ProcessImage,
  type Runtime,
  reply,
  SimulatedClock,
} from '../../server/runtime/index.ts';
import { newRuntime, recorder, settleBriefly, worker } from '../support/runtime.ts';

/** Delivers posted steps later, one after another, in the order posted. */
class Channel {
  #queue: (() => void)[] = [];
  #scheduled = false;

  post(step: () => void): void {
    this.#queue.push(step);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#drain());
  }

  /** What the receiving side threw on delivery: a test fails on it at the next flush. */
  readonly errors: unknown[] = [];

  #drain(): void {
    this.#scheduled = false;
    for (let step = this.#queue.shift(); step !== undefined; step = this.#queue.shift()) {
      try {
        step();
      } catch (err) {
        this.errors.push(err);
      }
    }
  }

  /** Resolves once everything posted before has been delivered. */
  flushed(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.post(() => (this.errors.length === 0 ? resolve() : reject(this.errors[0]))),
    );
  }
}

export interface Pair {
  clock: SimulatedClock;
  /** The old runtime. */
  a: Runtime;
  /** The successor. */
  b: Runtime;
  /** A's route to B, and B's to A. */
  toB: MoveRoute;
  toA: MoveRoute;
  /** Every message each route carried, in order. */
  sentToB: DistMessage[];
  sentToA: DistMessage[];
  /** Let both runtimes and both channels run until nothing moves for a while. */
  settle(): Promise<void>;
  /** One batch of the handoff, from suspend to start; the images as B got them. */
  move(pids: Pid[]): Promise<ProcessImage[]>;
  /** The first half of a batch: suspend and capture (what is sent now is held). */
  capture(pids: Pid[]): Promise<CaptureResult>;
  /** The second half: restore in B, commit in A, start in B after what the commit sent. */
  finish(images: ProcessImage[]): Promise<void>;
}

/** How far above A's next ids B's start (as the handoff picks them). */
export const ID_GAP = 1_000_000;

export function pair(loads: Behaviour<never, never, never>[] = []): Pair {
  const clock = new SimulatedClock(1_000_000);
  const a = newRuntime({ node: 'n', clock });
  for (const b of [recorder, ...loads]) a.modules.load(b as never);
  const ids = a.move.nextIds();
  const b = newRuntime({ node: 'n', clock, firstPid: ids.pid + ID_GAP, firstRef: ids.ref + ID_GAP });
  for (const m of [recorder, ...loads]) b.modules.load(m as never);
  const toBChannel = new Channel();
  const toAChannel = new Channel();
  const sentToB: DistMessage[] = [];
  const sentToA: DistMessage[] = [];
  const toB: MoveRoute = {
    send(m) {
      sentToB.push(m);
      const copy = structuredClone(m);
      toBChannel.post(() => b.move.receive(copy));
    },
  };
  const toA: MoveRoute = {
    send(m) {
      sentToA.push(m);
      const copy = structuredClone(m);
      toAChannel.post(() => a.move.receive(copy));
    },
  };
  a.move.peer(toB);
  b.move.peer(toA);
  const settle = async () => {
    for (let i = 0; i < 4; i++) {
      await toBChannel.flushed();
      await toAChannel.flushed();
      await settleBriefly(a);
      await settleBriefly(b);
    }
  };
  const capture = async (pids: Pid[]) => {
    for (const pid of pids) await a.sys.suspend(pid);
    return a.move.capture(pids);
  };
  const finish = async (images: ProcessImage[]) => {
    const pids = images.map((i) => i.pid);
    // The images go over the same channel as the route's messages.
    const wire = structuredClone(images);
    await new Promise<void>((resolve, reject) =>
      toBChannel.post(() => {
        try {
          b.move.restore(wire);
          resolve();
        } catch (err) {
          reject(err);
        }
      }),
    );
    a.move.commit(pids, toB);
    toBChannel.post(() => b.move.start(pids));
    await toBChannel.flushed();
  };
  return {
    clock,
    a,
    b,
    toB,
    toA,
    sentToB,
    sentToA,
    settle,
    capture,
    finish,
    async move(pids) {
      const { images, failed } = await capture(pids);
      if (failed.length > 0) throw new Error(`capture failed: ${JSON.stringify(failed)}`);
      await finish(images);
      return images;
    },
  };
}

export interface TickerState {
  refs: Record<string, number>;
  fired: { tag: string; at: number }[];
}

/** Starts and cancels named timers; records when each fires. */
export const ticker: Behaviour<
  TickerState,
  undefined,
  {
    call: 'fired';
    reply: { tag: string; at: number }[];
    cast: { set: string; ms: number } | { cancel: string };
    info: { fired: string };
  }
> = {
  name: 'ticker',
  version: '1.0.0',
  init: () => ({ refs: {}, fired: [] }),
  handleCall: (_m, _from, state) => reply(state.fired, state),
  handleCast(m, state, ctx) {
    if ('set' in m) state.refs[m.set] = ctx.sendAfter(m.ms, { fired: m.set });
    else ctx.cancelTimer(state.refs[m.cancel] as number);
    return noreply(state);
  },
  handleInfo(m, state, ctx) {
    const info = m as { fired?: string };
    if (info.fired !== undefined) state.fired.push({ tag: info.fired, at: ctx.now() });
    return noreply(state);
  },
};

export interface HolderState {
  waiting: { node: string; ref: number }[];
  log: string[];
  refuse: boolean;
}

/**
 * Keeps the From of each 'hold' call in its state and answers the oldest when told to
 * ('release'); logs its handOver and takeOver, and refuses to move when told to.
 */
export const holder: Behaviour<
  HolderState,
  undefined,
  { call: 'hold'; reply: string; cast: { release: string } | 'refuse'; info: never }
> = {
  name: 'holder',
  version: '1.0.0',
  init: () => ({ waiting: [], log: [], refuse: false }),
  handleCall: (_m, from, state) => noreply({ ...state, waiting: [...state.waiting, from] }),
  handleCast(m, state, ctx) {
    if (m === 'refuse') return noreply({ ...state, refuse: true });
    const [oldest, ...rest] = state.waiting;
    if (oldest !== undefined) ctx.reply(oldest, m.release);
    return noreply({ ...state, waiting: rest });
  },
  handOver(state) {
    if (state.refuse) throw new Error('not now');
    return { ...state, log: [...state.log, 'handOver'] };
  },
  takeOver(state, ctx) {
    return { ...state, log: [...state.log, `takeOver ${ctx.self}`] };
  },
};

/** The supervisor tests' worker. */
export const w = worker('w');
