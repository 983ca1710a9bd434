/** Calls: how many are open by state, their setup time, and how they ended. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { countPhases } from '../../calls/cdr/journal.ts';
import type { Cdr } from '../../calls/cdr/records.ts';
import { EndCause } from '../../calls/protocol/messages.ts';
import type { Sources } from './sources.ts';

const END_CAUSES = EndCause.anyOf.map((c) => c.const);

export interface CallMetrics {
  answered(setupSeconds: number): void;
  ended(cdr: Cdr): void;
}

export function callMetrics(registry: Registry, sources: Sources): CallMetrics {
  new Gauge({
    name: 'hotline_calls_active',
    help: 'Calls up or being set up, by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const source = sources();
      if (source === null) return;
      for (const [state, n] of Object.entries(countPhases(source.openCalls()))) this.set({ state }, n);
    },
  });
  const setup = new Histogram({
    name: 'hotline_call_setup_seconds',
    help: 'Invite to answered',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const ended = new Counter({
    name: 'hotline_calls_ended_total',
    help: 'Calls ended (CDRs written), by cause',
    labelNames: ['cause'],
    registers: [registry],
  });
  // Known causes start at zero, so a rate over them is 0 rather than no data.
  for (const cause of END_CAUSES) ended.labels({ cause }).inc(0);

  return {
    answered: (s) => setup.observe(s),
    ended: (cdr) => ended.inc({ cause: cdr.cause }),
  };
}
