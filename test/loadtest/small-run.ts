/** The small, short load the harness tests put on a node or a cluster: 60 phones, 9 s. */
import { expect } from 'vitest';
import type { RunSummary } from '../../loadtest/harness/report-model.ts';
import type { RunOptions } from '../../loadtest/harness/run.ts';

export function smallRun(
  node: RunOptions['node'],
  keyDir: string,
  options: Partial<RunOptions> & Pick<RunOptions, 'upgrades' | 'mode'>,
): RunOptions {
  return {
    node,
    keyDir,
    sessions: 60,
    rampSeconds: 2,
    durationSeconds: 7,
    rollbackAtSeconds: null,
    mediaRate: 5,
    meanCallSeconds: 2,
    phonesPerWorker: 30,
    sourceAddresses: 2,
    fromRelease: '1.0.0',
    watchMs: 1000,
    thresholds: { maxDropped: 0 },
    userPrefix: 'h-',
    ...options,
  };
}

/** Nothing dropped or lost, and every completed call has exactly its CDR. */
export function expectNothingLost(s: RunSummary): void {
  expect(s).toMatchObject({ droppedSessions: 0, droppedCalls: 0, lostMedia: 0, duplicatedMedia: 0 });
  expect(s.cdr).toEqual({
    checked: s.callsCompleted,
    matched: s.callsCompleted,
    missing: 0,
    duplicated: 0,
    mismatched: 0,
  });
}
