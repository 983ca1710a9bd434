/** The runtime's figures: processes and mailboxes by behaviour, supervisor restarts. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Runtime } from '../../runtime/index.ts';
import type { Sources } from './sources.ts';

export function runtimeMetrics(registry: Registry, sources: Sources): { observe(rt: Runtime): void } {
  // Both mailbox gauges come from one walk over the processes per scrape.
  let walked: { at: number; byModule: Map<string, { total: number; max: number }> } = {
    at: -1,
    byModule: new Map(),
  };
  const mailboxes = () => {
    const now = performance.now();
    const source = sources();
    if (source !== null && now - walked.at > 100) walked = { at: now, byModule: mailboxDepths(source.rt) };
    return walked.byModule;
  };

  new Gauge({
    name: 'hotline_processes',
    help: 'Processes by behaviour module',
    labelNames: ['module'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of sources()?.rt.modules.versions() ?? []) this.inc({ module: v.module }, v.processes);
    },
  });
  // A node falling behind shows here first: messages queued, and the longest queue.
  new Gauge({
    name: 'hotline_mailbox_messages',
    help: 'Messages waiting in mailboxes, by behaviour module',
    labelNames: ['module'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [module, q] of mailboxes()) this.set({ module }, q.total);
    },
  });
  new Gauge({
    name: 'hotline_mailbox_max_messages',
    help: 'The longest mailbox, by behaviour module',
    labelNames: ['module'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [module, q] of mailboxes()) this.set({ module }, q.max);
    },
  });
  const restarts = new Counter({
    name: 'hotline_supervisor_restarts_total',
    help: 'Children restarted by supervisors',
    registers: [registry],
  });

  return {
    observe(rt) {
      rt.events.on('restart', () => restarts.inc());
    },
  };
}

function mailboxDepths(rt: Runtime): Map<string, { total: number; max: number }> {
  const byModule = new Map<string, { total: number; max: number }>();
  for (const p of rt.processes()) {
    const module = p.behaviour.name;
    let q = byModule.get(module);
    if (q === undefined) {
      q = { total: 0, max: 0 };
      byModule.set(module, q);
    }
    q.total += p.mailboxLength;
    if (p.mailboxLength > q.max) q.max = p.mailboxLength;
  }
  return byModule;
}
