/**
 * The upgrade benchmark's release 2.0.0: the same session with its state regrouped (ids,
 * times, counters), as a real upgrade reshapes state; codeChange maps both ways.
 */
import { RELEASE_API_VERSION } from '../../../../server/release/module.ts';
import {
  type Behaviour,
  type CodeChangeFrom,
  noreply,
  type Pid,
  type TimerRef,
} from '../../../../server/runtime/index.ts';
import type { Ack, SessionArgs, Traffic, State as V1 } from '../1.0.0/index.ts';

const KEEPALIVE_MS = 60_000;

export interface State {
  ids: { index: number; session: string; call: string; user: string; peer: string | null };
  collector: Pid;
  times: { created: number; lastSeen: number };
  counters: { rx: number; tx: number; keepalives: number };
  lastSeq: number;
  timer: TimerRef;
}

const session: Behaviour<
  State,
  SessionArgs,
  { call: never; reply: never; cast: Traffic; info: 'keepalive' }
> = {
  name: 'bench_session',
  version: '2.0.0',
  init: ({ index, collector }, ctx) => ({
    ids: { index, session: `s-${index}`, call: `c-${index}`, user: `user${index}`, peer: null },
    collector,
    times: { created: ctx.now(), lastSeen: ctx.now() },
    counters: { rx: 0, tx: 0, keepalives: 0 },
    lastSeq: 0,
    timer: ctx.sendAfter(KEEPALIVE_MS, 'keepalive'),
  }),
  handleCast(message, state, ctx) {
    const now = ctx.now();
    state.counters.rx++;
    state.counters.tx++;
    state.times.lastSeen = now;
    state.lastSeq = message.seq;
    const ack: Ack = [state.ids.index, message.seq, now - message.sentAt, now];
    ctx.cast(state.collector, ack);
    return noreply(state);
  },
  handleInfo(_message, state, ctx) {
    state.counters.keepalives++;
    state.timer = ctx.sendAfter(KEEPALIVE_MS, 'keepalive');
    return noreply(state);
  },
  codeChange(from: CodeChangeFrom, state: unknown): State {
    if (from === '1.0.0') {
      const s = state as V1;
      return {
        ids: { index: s.index, session: s.sessionId, call: s.callId, user: s.user, peer: s.peer },
        collector: s.collector,
        times: { created: s.createdAt, lastSeen: s.lastSeen },
        counters: { rx: s.rx, tx: s.tx, keepalives: 0 },
        lastSeq: s.lastSeq,
        timer: s.timer,
      };
    }
    if (typeof from === 'object' && from.down === '1.0.0') {
      const s = state as State;
      const down: V1 = {
        index: s.ids.index,
        sessionId: s.ids.session,
        callId: s.ids.call,
        user: s.ids.user,
        peer: s.ids.peer,
        collector: s.collector,
        createdAt: s.times.created,
        lastSeen: s.times.lastSeen,
        rx: s.counters.rx,
        tx: s.counters.tx,
        lastSeq: s.lastSeq,
        timer: s.timer,
      };
      // A downgrade hands back 1.0.0's shape.
      return down as unknown as State;
    }
    throw new Error(`bench_session 2.0.0 cannot migrate from ${JSON.stringify(from)}`);
  },
};

export const release = {
  version: '2.0.0',
  apiVersion: RELEASE_API_VERSION,
  behaviours: [session],
};
