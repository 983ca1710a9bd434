/**
 * The CDR journal: one process per node that owns the CDR log. Caller legs tell it when a
 * call opens, is answered and ends; it writes exactly one CDR per call, in batches. It
 * monitors every leg with an open call, so a leg that dies without ending its call (killed,
 * or a crash its terminate could not handle) still gets a CDR with cause error.
 *
 * A call that ended with a node lost may be recorded from both sides (the callee's leg
 * tells its journal `lost` when the caller's node is gone; the caller's node, alive after
 * all or restarted, ends or recovers it too): such a CDR is written only by the journal that
 * wins the cluster's claim on it.
 */
import {
  type Behaviour,
  type CastResult,
  noreply,
  type Pid,
  type ProcessContext,
  type SystemInfo,
  stop,
} from '../../runtime/index.ts';
import { type CallEnd, type CallPhase, JOURNAL, type JournalMessage } from '../contract.ts';
import { appendLines, appendLinesSync, closeLog, line, openLog, scanLog } from './log.ts';
import type { Cdr, OpenCall } from './records.ts';

export interface JournalArgs {
  path: string;
}

export interface JournalState {
  path: string;
  fd: number;
  open: Map<string, OpenCall & { monitor: number }>;
  /** Monitor ref → call id: a DOWN finds its call without a scan. */
  byMonitor: Map<number, string>;
  /** Lines waiting for the next group commit. */
  pending: string[];
  flushTimer: number | null;
  written: number;
}

/** What the journal tells the node's metrics. Not state: hooks are fixed when the node starts. */
export interface JournalHooks {
  answered?(setupSeconds: number): void;
  ended?(cdr: Cdr): void;
}

/** Claims a CDR id across the cluster: true for the first claim of it, false for every later one. */
export type ClaimCdr = (id: string) => Promise<boolean>;
/** A node alone is the only one that could write the CDR. */
export const claimAlone: ClaimCdr = async () => true;

/** `logged`: the log has the call open, and must be told if another node has its CDR. */
type Tick =
  | { type: 'flush' }
  | { type: 'alive' }
  | { type: 'claimed'; cdr: Cdr; won: boolean; logged: boolean };

/** Group commit: the first line of a batch waits this long for company. */
const FLUSH_MS = 5;
/** How often an 'alive' mark is written while calls are up (the `node_lost` end time). */
const ALIVE_MS = 1000;

type Ctx = ProcessContext;

function enqueue(ctx: Ctx, s: JournalState, text: string): void {
  s.pending.push(text);
  if (s.flushTimer === null) s.flushTimer = ctx.sendAfter(FLUSH_MS, { type: 'flush' } satisfies Tick);
}

type Open = OpenCall & { monitor: number };

/** Keep a call open and watch the leg that owns it. */
function watch(ctx: Ctx, s: JournalState, call: Open): void {
  call.monitor = ctx.monitor(call.leg as Pid);
  s.open.set(call.id, call);
  s.byMonitor.set(call.monitor, call.id);
}

function cdrOf(
  ctx: Ctx,
  call: Pick<OpenCall, 'id' | 'callId' | 'caller' | 'callee' | 'setupAt' | 'versions'>,
  end: CallEnd,
): Cdr {
  return {
    id: call.id,
    callId: call.callId,
    caller: call.caller,
    callee: call.callee,
    node: ctx.node,
    setupAt: call.setupAt,
    ...end,
    durationMs: end.answeredAt === null ? 0 : end.endedAt - end.answeredAt,
    versions: [...new Set([...call.versions, ...end.versions])],
  };
}

function write(ctx: Ctx, s: JournalState, cdr: Cdr, hooks: JournalHooks): void {
  enqueue(ctx, s, line({ t: 'cdr', ...cdr }));
  hooks.ended?.(cdr);
}

/**
 * Written once the claim is won. Until then the call's open record stays the only line in
 * the log: a node that dies meanwhile recovers it at restart, through the same claim.
 */
function writeIfClaimed(ctx: Ctx, cdr: Cdr, claim: ClaimCdr, logged: boolean): void {
  claim(cdr.id).then(
    (won) => ctx.send(ctx.self, { type: 'claimed', cdr, won, logged } satisfies Tick),
    () => {
      // The node is leaving its cluster: the owner's log still has the call open.
    },
  );
}

/** Close a call with its one CDR. */
function close(
  ctx: Ctx,
  s: JournalState,
  call: Open,
  end: CallEnd,
  hooks: JournalHooks,
  claim: ClaimCdr,
): void {
  s.open.delete(call.id);
  s.byMonitor.delete(call.monitor);
  ctx.demonitor(call.monitor);
  const cdr = cdrOf(ctx, call, end);
  // Only a node lost can make two journals record one call.
  if (end.cause === 'node_lost') writeIfClaimed(ctx, cdr, claim, true);
  else write(ctx, s, cdr, hooks);
}

export function createJournal(
  hooks: JournalHooks = {},
  claim: ClaimCdr = claimAlone,
): Behaviour<
  JournalState,
  JournalArgs,
  { call: { type: 'calls' }; reply: OpenCall[]; cast: JournalMessage; info: Tick }
> {
  return {
    name: JOURNAL,
    version: '1.0.0',

    async init(args, ctx) {
      ctx.register(JOURNAL);
      // Shutdown arrives as a message, after any write in flight: terminate then flushes.
      ctx.trapExit(true);
      // Calls the log has open are live (recovery at node start closed the dead ones):
      // a journal restarted mid-run picks them up again and watches their legs.
      const { open } = await scanLog(args.path);
      const state: JournalState = {
        path: args.path,
        fd: openLog(args.path),
        open: new Map(),
        byMonitor: new Map(),
        pending: [],
        flushTimer: null,
        written: 0,
      };
      for (const call of open.values()) watch(ctx, state, { ...call, monitor: 0 });
      ctx.sendAfter(ALIVE_MS, { type: 'alive' } satisfies Tick);
      return state;
    },

    handleCall(_m, _from, s) {
      return { type: 'reply', reply: [...s.open.values()].map(({ monitor: _m, ...c }) => c), state: s };
    },

    handleCast(m, s, ctx): CastResult<JournalState> {
      switch (m.type) {
        case 'open': {
          const { type: _t, ...rest } = m;
          watch(ctx, s, { ...rest, phase: 'setup', answeredAt: null, monitor: 0 });
          enqueue(
            ctx,
            s,
            line({
              t: 'open',
              id: m.id,
              callId: m.callId,
              caller: m.caller,
              callee: m.callee,
              leg: m.leg,
              setupAt: m.setupAt,
              versions: m.versions,
            }),
          );
          break;
        }
        case 'phase': {
          const call = s.open.get(m.id);
          if (call === undefined) break;
          if (m.phase === 'up' && call.answeredAt === null) {
            call.answeredAt = m.at;
            enqueue(ctx, s, line({ t: 'answered', id: m.id, at: m.at }));
            hooks.answered?.((m.at - call.setupAt) / 1000);
          }
          call.phase = m.phase;
          break;
        }
        case 'end': {
          const call = s.open.get(m.id);
          // Exactly once: an end for a call already closed (say, by a DOWN) is dropped.
          if (call === undefined) break;
          const { type: _t, id: _id, ...end } = m;
          close(ctx, s, call, end, hooks, claim);
          break;
        }
        case 'lost': {
          const { type: _t, id, callId, caller, callee, setupAt, ...end } = m;
          writeIfClaimed(
            ctx,
            cdrOf(ctx, { id, callId, caller, callee, setupAt, versions: [] }, end),
            claim,
            false,
          );
          break;
        }
      }
      return noreply(s);
    },

    async handleInfo(m: Tick | SystemInfo, s, ctx) {
      switch (m.type) {
        case 'flush': {
          s.flushTimer = null;
          const batch = s.pending;
          s.pending = [];
          // Messages queue while the write is in flight: the next batch forms meanwhile.
          await appendLines(s.fd, batch);
          s.written += batch.length;
          return noreply(s);
        }
        case 'claimed':
          if (m.won) write(ctx, s, m.cdr, hooks);
          else if (m.logged) enqueue(ctx, s, line({ t: 'elsewhere', id: m.cdr.id }));
          return noreply(s);
        case 'alive':
          if (s.open.size > 0) enqueue(ctx, s, line({ t: 'alive', at: ctx.now() }));
          ctx.sendAfter(ALIVE_MS, { type: 'alive' } satisfies Tick);
          return noreply(s);
        case 'DOWN': {
          // A DOWN for a call that ended already (its end crossed the DOWN) finds nothing.
          const id = s.byMonitor.get(m.ref);
          const call = id === undefined ? undefined : s.open.get(id);
          if (call !== undefined) {
            const end = {
              cause: 'error',
              endedBy: 'system',
              endedAt: ctx.now(),
              answeredAt: call.answeredAt,
            } as const;
            close(ctx, s, call, { ...end, mediaAtoB: 0, mediaBtoA: 0, versions: [] }, hooks, claim);
          }
          return noreply(s);
        }
        case 'EXIT':
          return m.from === ctx.parent ? stop(m.reason, s) : noreply(s);
        default:
          return noreply(s);
      }
    },

    terminate(_reason, s) {
      appendLinesSync(s.fd, s.pending);
      s.pending = [];
      closeLog(s.fd);
    },
  };
}

/** Calls by phase, for the calls gauge. */
export function countPhases(calls: Iterable<{ phase: CallPhase }>): Record<CallPhase, number> {
  const counts: Record<CallPhase, number> = { setup: 0, ringing: 0, up: 0, held: 0 };
  for (const c of calls) counts[c.phase]++;
  return counts;
}
