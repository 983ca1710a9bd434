/**
 * The upgrade benchmark's release 1.0.0: a session-like gen_server with a small flat state
 * (ids, timestamps, counters, a keepalive timer). Each traffic message is acked to the
 * bench's collector with its sequence number and how long it waited in the mailbox.
 */
import { RELEASE_API_VERSION } from '../../../../server/release/module.ts';
import { type Behaviour, noreply, type Pid, type TimerRef } from '../../../../server/runtime/index.ts';

export const KEEPALIVE_MS = 60_000;

export interface SessionArgs {
  index: number;
  collector: Pid;
}

export interface Traffic {
  seq: number;
  /** The runtime clock's time when the driver sent it. */
  sentAt: number;
}

/** [session index, seq, ms the message waited, when it was handled]. */
export type Ack = [number, number, number, number];

export interface State {
  index: number;
  sessionId: string;
  callId: string;
  user: string;
  peer: string | null;
  collector: Pid;
  createdAt: number;
  lastSeen: number;
  rx: number;
  tx: number;
  lastSeq: number;
  timer: TimerRef;
}

const session: Behaviour<
  State,
  SessionArgs,
  { call: never; reply: never; cast: Traffic; info: 'keepalive' }
> = {
  name: 'bench_session',
  version: '1.0.0',
  init: ({ index, collector }, ctx) => ({
    index,
    sessionId: `s-${index}`,
    callId: `c-${index}`,
    user: `user${index}`,
    peer: null,
    collector,
    createdAt: ctx.now(),
    lastSeen: ctx.now(),
    rx: 0,
    tx: 0,
    lastSeq: 0,
    timer: ctx.sendAfter(KEEPALIVE_MS, 'keepalive'),
  }),
  handleCast(message, state, ctx) {
    const now = ctx.now();
    state.rx++;
    state.tx++;
    state.lastSeen = now;
    state.lastSeq = message.seq;
    const ack: Ack = [state.index, message.seq, now - message.sentAt, now];
    ctx.cast(state.collector, ack);
    return noreply(state);
  },
  handleInfo(_message, state, ctx) {
    state.timer = ctx.sendAfter(KEEPALIVE_MS, 'keepalive');
    return noreply(state);
  },
};

export const release = {
  version: '1.0.0',
  apiVersion: RELEASE_API_VERSION,
  behaviours: [session],
};
