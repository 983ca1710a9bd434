/**
 * The parent side of the load client: forks worker processes, gives each its share of
 * phones and source addresses, and merges what they report.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { emptyTotals, type FromWorker, type WorkerPlan, type WorkerTotals } from './fleet-messages.ts';
import { mergeHistograms } from './histogram.ts';

export interface FleetPlan extends Omit<WorkerPlan, 'phones' | 'userPrefix' | 'localAddresses'> {
  phones: number;
  /** At most this many phones per worker process (open-file limit). */
  phonesPerWorker: number;
  /** Source addresses 127.0.0.2 … 127.0.0.(1+n). */
  sourceAddresses: number;
  userPrefix: string;
}

export interface FleetResult extends WorkerTotals {
  lost: number;
  histogram: ReturnType<typeof mergeHistograms>;
}

const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));

export class Fleet {
  #workers: ChildProcess[] = [];
  #latest = new Map<number, WorkerTotals>();

  constructor(readonly plan: FleetPlan) {}

  start(): void {
    const { phonesPerWorker: _p, sourceAddresses: _s, ...rest } = this.plan;
    for (const share of forkShares(workerPath, this.plan)) {
      share.child.on('message', (m: FromWorker) => {
        if (m.type === 'progress') this.#latest.set(share.index, m);
      });
      share.child.send({
        type: 'start',
        plan: {
          ...rest,
          phones: share.phones,
          userPrefix: `${this.plan.userPrefix}w${share.index}_`,
          localAddresses: share.localAddresses,
        },
      });
      this.#workers.push(share.child);
    }
  }

  /** Forget round trips so far (the ramp); counts are kept. */
  resetLatency(): void {
    for (const child of this.#workers) child.send({ type: 'reset' });
  }

  /** Wait until `inCall` phones are in calls, or fail after `timeoutMs`. */
  async waitInCall(
    inCall: number,
    timeoutMs: number,
    onProgress?: (t: WorkerTotals) => void,
  ): Promise<WorkerTotals> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = this.progress();
      onProgress?.(t);
      if (t.inCall >= inCall) return t;
      if (Date.now() > deadline)
        throw new Error(
          `only ${t.inCall} of ${inCall} phones in calls after ${timeoutMs} ms (${JSON.stringify(t.errors)})`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** The workers' latest progress, summed. */
  progress(): WorkerTotals {
    return sumTotals([...this.#latest.values()]);
  }

  async stop(): Promise<FleetResult> {
    const done = await Promise.all(
      this.#workers.map(
        (child) =>
          new Promise<Extract<FromWorker, { type: 'done' }>>((resolve, reject) => {
            child.on('message', (m: FromWorker) => {
              if (m.type === 'done') resolve(m);
            });
            child.once('exit', (code) => reject(new Error(`load worker exited (${code}) before reporting`)));
            child.send({ type: 'stop' });
          }),
      ),
    );
    return {
      ...sumTotals(done),
      lost: done.reduce((n, d) => n + d.lost, 0),
      histogram: mergeHistograms(done.map((d) => d.histogram)),
    };
  }
}

/** Worker w's share of the source addresses; with more workers than addresses, all share all. */
function shareOf(addresses: string[], w: number, workers: number): string[] {
  return workers > addresses.length ? addresses : addresses.filter((_, i) => i % workers === w);
}

export interface WorkerShare {
  index: number;
  child: ChildProcess;
  phones: number;
  localAddresses: string[];
}

/**
 * Fork enough worker processes for `phones` (at most `phonesPerWorker` each: the open-file
 * limit) and split the phones and the loopback source addresses between them.
 */
export function forkShares(
  workerModule: string,
  o: { phones: number; phonesPerWorker: number; sourceAddresses: number },
): WorkerShare[] {
  const count = Math.max(1, Math.ceil(o.phones / o.phonesPerWorker));
  const addresses = Array.from({ length: o.sourceAddresses }, (_, i) => `127.0.0.${2 + i}`);
  return Array.from({ length: count }, (_, index) => ({
    index,
    child: fork(workerModule, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
    phones: Math.floor(o.phones / count) + (index < o.phones % count ? 1 : 0),
    localAddresses: shareOf(addresses, index, count),
  }));
}

function sumTotals(list: WorkerTotals[]): WorkerTotals {
  const t: WorkerTotals = emptyTotals();
  for (const x of list) {
    t.connected += x.connected;
    t.inCall += x.inCall;
    t.sent += x.sent;
    t.acked += x.acked;
    t.duplicated += x.duplicated;
    t.reordered += x.reordered;
    t.dropped += x.dropped;
    t.closed += x.closed;
    for (const [k, v] of Object.entries(x.errors)) t.errors[k] = (t.errors[k] ?? 0) + v;
  }
  return t;
}
