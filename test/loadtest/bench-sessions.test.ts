/**
 * `npm run bench -- sessions` as a user runs it, small: every phase runs, and the report
 * carries the registration rates and the steady-state CPU time per media frame with phone
 * tokens and with open registration, their ratio and its range over the pairs. No figure of
 * time is checked, only that each was measured.
 */
import { expect, it } from 'vitest';
import { benchFigures, runBench } from '../support/bench.ts';

it('sessions: registrations and the per-frame cost, with phone tokens and open, in one run', async () => {
  const out = (await benchFigures(
    'sessions',
    ...['--sessions', '20', '--seconds', '1', '--runs', '2'],
    // Fewer saturating phones would each pass the node's per-connection rate limit.
    ...['--saturate-phones', '100', '--saturate-seconds', '1', '--registrations', '20'],
    ...['--frames', '1000'],
  )) as Record<string, number>;
  expect(out.frames).toBe(1000);
  expect(out.runs).toBe(2);
  expect(out.dropped_sessions).toBe(0);
  for (const measured of ['registrations_per_s', 'frame_cpu_us', 'frame_wall_us'])
    for (const mode of ['token', 'open']) expect(out[`${measured}_${mode}`]).toBeGreaterThan(0);
  expect(out.frame_cpu_ratio_token_open_min).toBeGreaterThan(0);
  expect(out.frame_cpu_ratio_token_open_min).toBeLessThanOrEqual(out.frame_cpu_ratio_token_open as number);
  expect(out.frame_cpu_ratio_token_open).toBeLessThanOrEqual(out.frame_cpu_ratio_token_open_max as number);
}, 300_000);

it('sessions: --frames must be a whole number above 0', async () => {
  const run = await runBench('sessions', '--frames', '0');
  expect(run.code).not.toBe(0);
  expect(run.stderr).toContain('--frames');
});
