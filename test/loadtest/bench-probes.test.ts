/**
 * `npm run bench -- probes` as a user runs it, small: idle connections beyond the
 * per-address cap are closed at once and the rest at the handshake timeout, none stays
 * open, the node's open files come back down; a busy flood is refused past the call-attempt
 * limit and writes no more busy CDRs than the limit allows, while the same flood without
 * the limit writes more. No figure of time is checked.
 */
import { expect, it } from 'vitest';
import { benchFigures } from '../support/bench.ts';

it('probes: idle connections all closed, a busy flood held to the call-attempt limit', async () => {
  const args = ['--idle', '120', '--addresses', '2', '--phones', '5', '--seconds', '2'];
  const out = (await benchFigures('probes', ...args)) as Record<string, number>;
  // Two addresses, 50 pending connections each (the default cap): 20 refused at once.
  expect(out.idle_closed_at_once).toBe(20);
  expect(out.idle_closed_at_timeout).toBe(100);
  expect(out.idle_open_after_timeout).toBe(0);
  expect(out.idle_node_files_added_after).toBeLessThanOrEqual(0);
  expect(out.flood_refused_per_second).toBeGreaterThan(0);
  expect(out.flood_busy_cdrs).toBeGreaterThan(0);
  expect(out.flood_busy_cdrs).toBeLessThanOrEqual(5 * 60);
  expect(out.flood_busy_cdrs_per_second_without_limit).toBeGreaterThan(
    out.flood_busy_cdrs_per_second as number,
  );
}, 150_000);
