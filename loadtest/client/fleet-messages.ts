/** What the load fleet's parent and its worker processes say to each other over IPC. */

export interface WorkerPlan {
  url: string;
  /** The data directory whose phone key signs the phones' tokens (the node's, or one it trusts). */
  keyDir: string;
  /** Source addresses, used round-robin: one loopback address has about 28,000 ports. */
  localAddresses: string[];
  phones: number;
  /** Users are `${userPrefix}${i}`. */
  userPrefix: string;
  /** Whom each phone calls: a service number. */
  callTo: string;
  /** Steady mode: media frames per second per phone. */
  ratePerPhone: number;
  /** Saturation mode: frames in flight per phone (each ack releases the next); 0 = steady. */
  window: number;
  connectConcurrency: number;
}

/** `reset` forgets the round trips so far (the ramp), keeping the counts. */
export type ToWorker = { type: 'start'; plan: WorkerPlan } | { type: 'reset' } | { type: 'stop' };

export interface WorkerTotals {
  connected: number;
  inCall: number;
  sent: number;
  acked: number;
  duplicated: number;
  reordered: number;
  /** Sockets closed, or calls ended, by anything but the script. */
  dropped: number;
  /** Of those, sockets closed. */
  closed: number;
  errors: Record<string, number>;
}

export const emptyTotals = (): WorkerTotals => ({
  connected: 0,
  inCall: 0,
  sent: 0,
  acked: 0,
  duplicated: 0,
  reordered: 0,
  dropped: 0,
  closed: 0,
  errors: {},
});

export type FromWorker =
  | ({ type: 'progress' } & WorkerTotals)
  | ({ type: 'done'; lost: number; histogram: string } & WorkerTotals);
