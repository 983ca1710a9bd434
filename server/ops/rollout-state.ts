/**
 * A rolling upgrade's recorded progress: one JSON file, replaced whole and durably after
 * every step, so an orchestrator killed at any point leaves
 * either the previous step or the next one on disk, never half of one. A rerun reads it
 * to resume or roll back; the nodes' own releases stay the truth it checks against.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hotlineError, hotlineErrorWithCause } from '../errors/catalogue.ts';
import { replaceDurably } from '../files/durable-write.ts';
import type { GateVerdict, NodeFigures } from './health-gate.ts';

/**
 * pending      not touched yet
 * preflighted  the release is unpacked there and its preflight passed
 * installing   its install was started (the mark holds its figures from just before)
 * installed    installed and through its health gate
 * rolled_back  back on its `from` release
 * permanent    the whole rollout succeeded: the new release is what it boots
 */
export type NodeStatus = 'pending' | 'preflighted' | 'installing' | 'installed' | 'rolled_back' | 'permanent';

export interface NodeRecord {
  node: string;
  adminUrl: string;
  httpUrl: string;
  /** Its release when the rollout began: what a rollback returns it to. */
  from: string;
  status: NodeStatus;
  /** Its figures before its install, for the gate after its watch window (kept for a rerun). */
  mark?: NodeFigures;
  verdict?: GateVerdict;
}

export type RolloutPhase = 'preflight' | 'installing' | 'rolling_back' | 'permanent' | 'done';
export type RolloutOutcome = 'upgraded' | 'rolled_back' | 'preflight_failed' | 'failed';

export interface RolloutState {
  format: 'hotline-rollout/1';
  id: string;
  version: string;
  startedAt: string;
  updatedAt: string;
  phase: RolloutPhase;
  /** null while unfinished: a rerun resumes it (or rolls it back with --rollback). */
  outcome: RolloutOutcome | null;
  reason: string | null;
  nodes: NodeRecord[];
}

export function readState(path: string): RolloutState | null {
  if (!existsSync(path)) return null;
  let state: RolloutState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as RolloutState;
  } catch (err) {
    throw hotlineErrorWithCause(err, 'HOT_ERR_ROLLOUT_STATE', `${path} is not readable JSON`);
  }
  if (state.format !== 'hotline-rollout/1' || !Array.isArray(state.nodes))
    throw hotlineError('HOT_ERR_ROLLOUT_STATE', `${path} is not a rollout state file`);
  return state;
}

export function writeState(path: string, state: RolloutState): void {
  state.updatedAt = new Date().toISOString();
  replaceDurably(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}
