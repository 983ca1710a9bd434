/** Releases: what the node runs and boots, the install in progress, and how installs went. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { InstallHooks, InstallOutcome, InstallPhase, InstallProgress } from '../../release/installer.ts';
import type { Sources } from './sources.ts';

const INSTALL_OUTCOMES: InstallOutcome[] = ['installed', 'aborted', 'rolled_back'];
const TIMED_PHASES: InstallPhase[] = ['preflight', 'commit', 'canary', 'promote', 'watch', 'rolling_back'];

/** What the release handler reports. */
export type ReleaseMetrics = Pick<InstallHooks, 'phaseDone' | 'codeChangeFailed'> & {
  outcome(p: InstallProgress): void;
};

export function releaseMetrics(registry: Registry, sources: Sources): ReleaseMetrics {
  const installs = new Counter({
    name: 'hotline_release_installs_total',
    help: 'Release installs by outcome (installed, aborted in preflight, rolled_back)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const phases = new Histogram({
    name: 'hotline_release_install_phase_seconds',
    help: 'How long each phase of an install took',
    labelNames: ['phase'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const codeChangeFailures = new Counter({
    name: 'hotline_release_code_change_failures_total',
    help: 'Processes whose codeChange failed (in preflight or commit)',
    registers: [registry],
  });
  const rollbacks = new Counter({
    name: 'hotline_release_rollbacks_total',
    help: 'Installs rolled back (by the watch or by request)',
    registers: [registry],
  });

  new Gauge({
    name: 'hotline_release_info',
    help: 'The release sessions start on (role current) and the one a restart boots (role permanent)',
    labelNames: ['release', 'role'],
    registers: [registry],
    collect() {
      this.reset();
      const source = sources();
      if (source === null) return;
      const { current, permanent } = source.releases();
      this.set({ release: current, role: 'current' }, 1);
      this.set({ release: permanent, role: 'permanent' }, 1);
    },
  });
  // The install in progress: its phase as a 1-valued series (annotations) and how far it got.
  new Gauge({
    name: 'hotline_release_install_phase',
    help: 'The running install: 1 for its current phase, with the release it installs',
    labelNames: ['release', 'phase'],
    registers: [registry],
    collect() {
      this.reset();
      const install = sources()?.releases().install;
      if (install && install.outcome === null) this.set({ release: install.to, phase: install.phase }, 1);
    },
  });
  new Gauge({
    name: 'hotline_release_install_progress_ratio',
    help: 'Share of the processes the latest install applies to that run its release',
    labelNames: ['release'],
    registers: [registry],
    collect() {
      this.reset();
      const install = sources()?.releases().install;
      if (install === null || install === undefined) return;
      const all = Object.values(install.processes).reduce((a, b) => a + b, 0);
      this.set({ release: install.to }, all === 0 ? 0 : (install.processes[install.to] ?? 0) / all);
    },
  });

  // Known outcomes start at zero, so a rate over them is 0 rather than no data,
  for (const outcome of INSTALL_OUTCOMES) installs.labels({ outcome }).inc(0);
  // and a phase's first completion is a change of its count (annotations look for changes).
  for (const phase of TIMED_PHASES) phases.zero({ phase });

  return {
    phaseDone: (phase, ms) => phases.observe({ phase }, ms / 1000),
    codeChangeFailed: () => codeChangeFailures.inc(),
    outcome: (p) => {
      installs.inc({ outcome: p.outcome ?? 'aborted' });
      if (p.outcome === 'rolled_back') rollbacks.inc();
    },
  };
}
