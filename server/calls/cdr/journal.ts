/**
 * The CDR journal: one process per node that owns the CDR log. Caller legs tell it when a
 * call opens, is answered and ends; it writes exactly one CDR per call, in batches. It
 * monitors every leg with an open call, so a leg that dies without ending its call (killed,
 * or a crash its terminate could not handle) still gets a CDR with cause error.
 *
 * A call with its legs on two nodes may be recorded from both sides: the callee's leg tells
 * its journal `lost` when the caller's node is gone, and the caller's node, alive after all
 * (a partition) or restarted, ends or recovers the call too. Such a CDR is a candidate: its
 * `claiming` line is made durable first, then the cluster's claim on its id is asked, and
 * only the journal that wins writes the CDR; the other writes `elsewhere`. A journal or node
 * that stops in between finds the `claiming` line again and asks again, with the token the
 * line keeps, so the answer is the same.
 */
import {
  type Behaviour,
  type CastResult,
  noreply,
  type Pid,
  type ProcessContext,
  pidNode,
  type SystemInfo,
  stop,
} from '../../runtime/index.ts';
import { type CallEnd, type CallPhase, JOURNAL, type JournalMessage } from '../contract.ts';
import {
  appendLines,
  appendLinesSync,
  type Candidate,
  type ClaimCdr,
  cdrOf,
  claimAlone,
  claimingLine,
  closeLog,
  line,
  newCandidate,
  openLog,
  scanLog,
} from './log.ts';
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
  /** Candidates whose `claiming` line is in `pending`: claimed once it is on disk. */
  toClaim: Candidate[];
  flushTimer: number | null;
  written: number;
}

/** What the journal tells the node's metrics. Not state: hooks are fixed when the node starts. */
export interface JournalHooks {
  answered?(setupSeconds: number): void;
  ended?(cdr: Cdr): void;
}

type Tick = { type: 'flush' } | { type: 'alive' } | { type: 'claimed'; cdr: Cdr; won: boolean };

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

/** Its other leg is on another node, which may record the call too. */
const acrossNodes = (ctx: Ctx, call: OpenCall): boolean =>
  call.peer !== undefined && pidNode(call.peer as Pid) !== ctx.node;

/** Keep a call open and watch the leg that owns it. */
function watch(ctx: Ctx, s: JournalState, call: Open): void {
  call.monitor = ctx.monitor(call.leg as Pid);
  s.open.set(call.id, call);
  s.byMonitor.set(call.monitor, call.id);
}

function write(ctx: Ctx, s: JournalState, cdr: Cdr, hooks: JournalHooks): void {
  enqueue(ctx, s, line({ t: 'cdr', ...cdr }));
  hooks.ended?.(cdr);
}

/** A candidate CDR: on disk as `claiming`, then claimed (see the module comment). */
function candidate(ctx: Ctx, s: JournalState, cdr: Cdr): void {
  const c = newCandidate(cdr);
  enqueue(ctx, s, line(claimingLine(c)));
  s.toClaim.push(c);
}

function askClaim(ctx: Ctx, { cdr, token }: Candidate, claim: ClaimCdr): void {
  claim(cdr.id, token).then(
    (won) => ctx.send(ctx.self, { type: 'claimed', cdr, won } satisfies Tick),
    () => {
      // No answer for good (the node is leaving): the `claiming` line is asked again at the next start.
    },
  );
}

/** Close a call with its one CDR. */
function close(ctx: Ctx, s: JournalState, call: Open, end: CallEnd, hooks: JournalHooks): void {
  s.open.delete(call.id);
  s.byMonitor.delete(call.monitor);
  ctx.demonitor(call.monitor);
  const cdr = cdrOf(ctx.node, call, end);
  if (acrossNodes(ctx, call) || end.cause === 'node_lost') candidate(ctx, s, cdr);
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
      // a journal restarted mid-run picks them up again and watches their legs, and asks
      // again for the claims its previous run had no answer to.
      const { open, claiming } = await scanLog(args.path);
      const state: JournalState = {
        path: args.path,
        fd: openLog(args.path),
        open: new Map(),
        byMonitor: new Map(),
        pending: [],
        toClaim: [],
        flushTimer: null,
        written: 0,
      };
      for (const call of open.values()) watch(ctx, state, { ...call, monitor: 0 });
      for (const c of claiming.values()) askClaim(ctx, c, claim);
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
          enqueue(ctx, s, line({ t: 'open', ...rest }));
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
          close(ctx, s, call, end, hooks);
          break;
        }
        case 'lost': {
          const { type: _t, id, callId, caller, callee, setupAt, ...end } = m;
          candidate(ctx, s, cdrOf(ctx.node, { id, callId, caller, callee, setupAt, versions: [] }, end));
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
          const toClaim = s.toClaim;
          s.pending = [];
          s.toClaim = [];
          // Messages queue while the write is in flight: the next batch forms meanwhile.
          await appendLines(s.fd, batch);
          s.written += batch.length;
          // Killed during the write: the journal that replaces it asks, from the log.
          if (ctx.whereis(JOURNAL) === ctx.self) for (const c of toClaim) askClaim(ctx, c, claim);
          return noreply(s);
        }
        case 'claimed':
          if (m.won) write(ctx, s, m.cdr, hooks);
          else enqueue(ctx, s, line({ t: 'elsewhere', id: m.cdr.id }));
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
            close(ctx, s, call, { ...end, mediaAtoB: 0, mediaBtoA: 0, versions: [] }, hooks);
          }
          return noreply(s);
        }
        case 'EXIT':
          return m.from === ctx.parent ? stop(m.reason, s) : noreply(s);
        default:
          return noreply(s);
      }
    },

    // A node handoff: the log is flushed and closed here, and reopened by the successor.
    handOver(s) {
      appendLinesSync(s.fd, s.pending);
      closeLog(s.fd);
      return { ...s, fd: -1, pending: [], written: s.written + s.pending.length };
    },

    takeOver: (s) => ({ ...s, fd: openLog(s.path) }),

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
