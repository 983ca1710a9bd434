/**
 * The node handoff: its phase and progress, what moved, the pause the moved phones saw, and
 * how handoffs ended. It also keeps the running (or latest) handoff's progress for the
 * observer page, and carries it to the successor, which finishes it. Prometheus scrapes the
 * successor from the listeners phase on (refused until it has the node, see node.ts), so
 * the old process's pauses reach it only through the successor: every batch's pause is kept
 * and carried, and the successor observes them again (exactly: a handful per handoff, unlike
 * the per-message histograms, which start afresh).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { HandoffHooks, HandoffPhase } from '../../handoff/handoff.ts';
import type { HandoffProgress } from '../../http/observer-feed.ts';

const PHASES: HandoffPhase[] = ['spawn', 'hello', 'boot', 'listeners', 'phones', 'final', 'done', 'failed'];

export type HandoffOutcome = 'done' | 'failed' | 'refused';

/** What the old process carries to its successor (plain data). */
export interface HandoffCarry {
  progress: HandoffProgress | null;
  /** Every batch's pause and phones this node has seen, over all its handoffs. */
  pauses: [ms: number, phones: number][];
  /** Epoch ms this was taken: the last batch was suspended by then. */
  at: number;
}

export interface HandoffMetrics extends HandoffHooks {
  ended(outcome: HandoffOutcome, why?: string): void;
  /** The running handoff, or the latest one; null when this process has seen none. */
  progress(): HandoffProgress | null;
  /** For the successor, with the last batch. */
  carry(): HandoffCarry;
  /**
   * In the successor, when the last batch runs here: the old process's progress finished
   * with that batch, whose pause is counted from when `from` was taken until now.
   */
  tookOver(from: HandoffCarry | undefined, last: { processes: number; sockets: number }): void;
}

export function handoffMetrics(registry: Registry): HandoffMetrics {
  const phase = new Gauge({
    name: 'hotline_handoff_phase',
    help: 'The phase of the running node handoff (1 for the phase it is in; all 0 when none runs)',
    labelNames: ['phase'],
    registers: [registry],
  });
  const batches = new Gauge({
    name: 'hotline_handoff_batches',
    help: 'Batches of the running (or latest) node handoff: planned (the last one included) and done',
    labelNames: ['state'],
    registers: [registry],
  });
  const ratio = new Gauge({
    name: 'hotline_handoff_progress_ratio',
    help: 'Share of the batches of the running (or latest) node handoff that are done',
    registers: [registry],
  });
  const longest = new Gauge({
    name: 'hotline_handoff_max_pause_seconds',
    help: 'The longest any batch of the running (or latest) node handoff was suspended',
    registers: [registry],
  });
  const processes = new Counter({
    name: 'hotline_handoff_processes_moved_total',
    help: 'Processes moved to a successor process',
    registers: [registry],
  });
  const sockets = new Counter({
    name: 'hotline_handoff_sockets_moved_total',
    help: "Phones' sockets moved to a successor process",
    registers: [registry],
  });
  const pause = new Histogram({
    name: 'hotline_handoff_pause_seconds',
    help: 'The pause each phone moved to a successor saw: how long its batch was suspended',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const handoffs = new Counter({
    name: 'hotline_handoffs_total',
    help: 'Node handoffs by outcome: done, failed (the node carried on) or refused (before anything moved)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of ['done', 'failed', 'refused']) handoffs.inc({ outcome }, 0);

  let current: HandoffProgress | null = null;
  const pauses: [number, number][] = [];
  const observe = (ms: number, phones: number) => {
    pauses.push([ms, phones]);
    for (let i = 0; i < phones; i++) pause.observe(ms / 1000);
  };
  const show = () => {
    for (const p of PHASES) phase.set({ phase: p }, p === current?.phase ? 1 : 0);
    const planned = current?.batches.planned ?? 0;
    const done = current?.batches.done ?? 0;
    batches.set({ state: 'planned' }, planned);
    batches.set({ state: 'done' }, done);
    ratio.set(planned === 0 ? 0 : done / planned);
    longest.set((current?.maxPauseMs ?? 0) / 1000);
  };
  show();
  const change = (to: Partial<HandoffProgress>) => {
    if (current === null) return;
    current = { ...current, ...to };
    show();
  };

  return {
    phase(next) {
      if (next === 'spawn') current = fresh(process.pid);
      change({
        phase: next,
        ...(next === 'done' || next === 'failed' ? { endedAt: Date.now() } : {}),
      });
    },
    started: (to) => change({ to }),
    planned: (n) => change({ batches: { planned: n, done: 0 } }),
    moved(p, s) {
      processes.inc(p);
      sockets.inc(s);
      if (current === null) return;
      change({
        processes: current.processes + p,
        sockets: current.sockets + s,
        batches: { ...current.batches, done: current.batches.done + 1 },
      });
    },
    paused(ms, phones) {
      observe(ms, phones);
      if (current !== null) change({ maxPauseMs: Math.max(current.maxPauseMs, ms) });
    },
    ended(outcome, why) {
      handoffs.inc({ outcome });
      if (outcome !== 'done') change({ error: why ?? outcome });
    },
    progress: () => current,
    carry: () => ({ progress: current, pauses, at: Date.now() }),
    tookOver(from, last) {
      processes.inc(last.processes);
      sockets.inc(last.sockets);
      handoffs.inc({ outcome: 'done' });
      const now = Date.now();
      for (const [ms, phones] of from?.pauses ?? []) observe(ms, phones);
      const lastPause = from === undefined ? 0 : Math.max(0, now - from.at);
      observe(lastPause, last.sockets);
      const was = from?.progress ?? fresh(0);
      const planned = Math.max(was.batches.planned, was.batches.done + 1);
      current = {
        ...was,
        to: process.pid,
        phase: 'done',
        endedAt: now,
        batches: { planned, done: planned },
        processes: was.processes + last.processes,
        sockets: was.sockets + last.sockets,
        maxPauseMs: Math.max(was.maxPauseMs, lastPause),
      };
      show();
    },
  };
}

function fresh(from: number): HandoffProgress {
  return {
    phase: 'spawn',
    from,
    to: 0,
    startedAt: Date.now(),
    endedAt: null,
    batches: { planned: 0, done: 0 },
    processes: 0,
    sockets: 0,
    maxPauseMs: 0,
    error: null,
  };
}
