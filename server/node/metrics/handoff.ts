/** The node handoff: its phase, what moved, the pause a moved phone saw, and how handoffs ended. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { HandoffHooks, HandoffPhase } from '../../handoff/handoff.ts';

const PHASES: HandoffPhase[] = ['spawn', 'hello', 'boot', 'listeners', 'phones', 'final', 'done', 'failed'];

export interface HandoffMetrics extends HandoffHooks {
  ended(outcome: 'done' | 'failed' | 'refused'): void;
}

export function handoffMetrics(registry: Registry): HandoffMetrics {
  const phase = new Gauge({
    name: 'hotline_handoff_phase',
    help: 'The phase of the running node handoff (1 for the phase it is in; all 0 when none runs)',
    labelNames: ['phase'],
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
    help: 'How long the processes of one handoff batch were suspended (the pause their phones saw)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const handoffs = new Counter({
    name: 'hotline_handoffs_total',
    help: 'Node handoffs by outcome: done, failed (the node carried on) or refused (before anything moved)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const p of PHASES) phase.set({ phase: p }, 0);
  return {
    phase(current) {
      for (const p of PHASES) phase.set({ phase: p }, p === current ? 1 : 0);
    },
    moved(p, s) {
      processes.inc(p);
      sockets.inc(s);
    },
    paused: (ms) => pause.observe(ms / 1000),
    ended: (outcome) => handoffs.inc({ outcome }),
  };
}
