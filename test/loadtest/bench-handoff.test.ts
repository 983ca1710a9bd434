/**
 * `npm run bench -- handoff` as a user runs it, small: it prints one JSON object with the
 * issue's figures; the handoff closes no phone's socket and loses no frame, while the restart
 * on the same traffic closes every one. Speed is the bench's business: no time is checked.
 */
import { expect, it } from 'vitest';
import { benchFigures } from '../support/bench.ts';

const SESSIONS = 20;

it('npm run bench -- handoff: every figure, nothing closed or lost by the handoff, everything by the restart', async () => {
  const out = await benchFigures('handoff', '--sessions', String(SESSIONS), '--runs', '1');
  for (const key of [
    'handoff_ms',
    'max_phone_wait_ms',
    'max_loop_stall_old_ms',
    'max_loop_stall_new_ms',
    'successor_rss_bytes_per_session',
    'restart_ms',
  ])
    expect(typeof out[key], key).toBe('number');
  expect(out).toMatchObject({ sockets_closed: 0, frames_lost: 0, restart_sockets_closed: SESSIONS });
  expect(out.sockets_moved).toBe(SESSIONS);
  expect(out.max_phone_wait_ms).toBeGreaterThan(0);
}, 300_000);
