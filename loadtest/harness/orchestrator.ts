/**
 * The harness's RollOut over a cluster: the rolling-upgrade orchestrator
 * (server/ops/rollout.ts) with the default health gate, its events turned into the
 * steps the run records (each node's install phase, and marks on the timeline).
 */
import { defaultThresholds } from '../../server/ops/health-gate.ts';
import { type RolloutEvent, rollOut } from '../../server/ops/rollout.ts';
import type { RollOut, RolloutStep } from './run.ts';

/** The steps one orchestrator event makes; `installPhase` for an installer phase's own name. */
function steps(e: RolloutEvent): RolloutStep[] {
  switch (e.type) {
    case 'installing':
      return [{ type: 'phase', node: e.node, phase: 'install' }];
    case 'install_phase':
      return [{ type: 'phase', node: e.node, phase: e.phase }];
    case 'gate_passed':
      return [{ type: 'phase', node: e.node, phase: null, outcome: 'upgraded', label: 'gate ok' }];
    case 'gate_failed':
      return [{ type: 'phase', node: e.node, phase: 'gate_failed' }];
    case 'rolling_back':
      return [{ type: 'phase', node: e.node, phase: 'rolling_back' }];
    case 'rolled_back':
      return [{ type: 'phase', node: e.node, phase: null, outcome: 'rolled_back', label: 'rolled back' }];
    case 'preflight_failed':
      return [{ type: 'mark', label: `${e.node} preflight failed` }];
    default:
      return [];
  }
}

export function orchestratorRollOut(o: { adminUrl: string; token: string; watchMs: number }): RollOut {
  return async (release, step) => {
    const report = await rollOut({
      version: release,
      adminUrl: o.adminUrl,
      token: o.token,
      watchMs: o.watchMs,
      gate: defaultThresholds,
      onEvent: (e) => {
        for (const s of steps(e)) step(s);
      },
    });
    return { outcome: report.outcome };
  };
}
