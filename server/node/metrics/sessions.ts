/** Session processes by the release they run: how many, their time per message, crashes and reported errors. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Runtime } from '../../runtime/index.ts';
import { plainHistogram } from './plain.ts';
import type { Sources } from './sources.ts';

export interface SessionMetrics {
  /** The runtime's turn observer for session processes. */
  turn: { module: string; observe(ms: number, release: string): void };
  observe(rt: Runtime): void;
}

export function sessionMetrics(registry: Registry, sources: Sources): SessionMetrics {
  const sessionVersions = () =>
    (sources()?.rt.modules.versions() ?? []).filter((v) => v.module === 'session');

  new Gauge({
    name: 'hotline_sessions_active',
    help: 'Session processes by the release they run',
    labelNames: ['release'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of sessionVersions()) this.inc({ release: v.version }, v.processes);
    },
  });
  // Observed for every session message: counted in plain arrays, handed to prom-client at scrape.
  const processing = plainHistogram(
    registry,
    'hotline_session_processing_seconds',
    'Time a session process spends handling one message, by the release that handled it',
    'release',
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
  );
  // Every release that runs sessions shows, at zero until its first count.
  const bySessionRelease = (name: string, help: string) =>
    new Counter({
      name,
      help,
      labelNames: ['release'],
      registers: [registry],
      collect() {
        for (const v of sessionVersions()) this.inc({ release: v.version }, 0);
      },
    });
  const crashes = bySessionRelease(
    'hotline_session_crashes_total',
    'Session processes that ended with an error, by the release they ran',
  );
  const errors = bySessionRelease(
    'hotline_session_errors_total',
    'Errors session processes reported and carried on from (the node failed a request), by the release they ran',
  );

  return {
    turn: { module: 'session', observe: (ms, release) => processing.observe(release, ms / 1000) },
    observe(rt) {
      rt.events.on('exit', (e) => {
        if (e.module === 'session' && e.reason.type === 'error') crashes.inc({ release: e.version });
      });
      rt.events.on('error_report', (e) => {
        if (e.module === 'session') errors.inc({ release: e.version });
      });
    },
  };
}
