/**
 * `npm run bench -- upgrade` as a user runs it, small, in both workloads: it prints one JSON
 * object with the figures; no message is lost, duplicated or reordered, no session
 * goes wrong, every session ends on the new release, and the heap figure is a number. Speed
 * is the bench's business, not the test's: no figure of time is checked.
 */
import { describe, expect, it } from 'vitest';
import { benchFigures, runBench } from '../support/bench.ts';

const SESSIONS = 2000;
const SMALL = ['--sessions', String(SESSIONS), '--runs', '1', '--cycles', '20', '--cycle-sessions', '200'];

/** The figures of `npm run bench -- upgrade`, small. */
const bench = (...args: string[]): Promise<Record<string, unknown>> =>
  benchFigures('upgrade', ...args, ...SMALL);

/** What every workload reports, and what must hold of it. */
function expectSound(out: Record<string, unknown>): void {
  for (const key of [
    'install_ms',
    'preflight_ms',
    'commit_ms',
    'max_session_wait_ms',
    'max_loop_stall_ms',
    'messages_total',
    'heap_growth_pct',
  ])
    expect(typeof out[key], key).toBe('number');
  expect(out).toMatchObject({
    messages_lost: 0,
    messages_duplicated: 0,
    messages_reordered: 0,
    session_failures: 0,
    sessions_on_new_release: SESSIONS,
  });
  expect(out.messages_total).toBeGreaterThan(0);
  // The waits are measured on messages handled during the install: none seen means no wait measured.
  expect(out.messages_during_install).toBeGreaterThan(0);
  expect(out.max_session_wait_ms).toBeGreaterThan(0);
  expect(Number.isFinite(out.heap_growth_pct)).toBe(true);
}

describe('npm run bench -- upgrade', () => {
  it("--workload calls: the node's call sessions, in calls with media, all moved to 2.0.0", async () => {
    const out = await bench('--workload', 'calls');
    expect(out).toMatchObject({ bench: 'upgrade', workload: 'calls', release: '1.0.0 -> 2.0.0' });
    expectSound(out);
    const calls = out.calls_two_party as number;
    const echo = out.calls_echo as number;
    expect(calls).toBeGreaterThan(0);
    expect(echo).toBeGreaterThan(0);
    // Every session; the echo calls' service legs run a module 2.0.0 leaves unchanged, so they stay put.
    expect(out.processes_moved).toBe(SESSIONS);
    // Each leg in a call had its media check set.
    expect(out.timers_at_install).toBeGreaterThan(0);
    // Every phone's frame was acked to it, and relayed to the other phone (or echoed back).
    expect(out.media_acks).toBe(out.messages_total);
    expect(out.media_relayed).toBe(out.messages_total);
    expect(typeof out.max_ack_at_port_ms).toBe('number');
  }, 120_000);

  it('--workload synthetic: the bench release, all moved to its 2.0.0', async () => {
    const out = await bench('--workload', 'synthetic');
    expect(out).toMatchObject({ bench: 'upgrade', workload: 'synthetic', release: '1.0.0 -> 2.0.0' });
    expectSound(out);
    expect(out.processes_moved).toBe(SESSIONS);
  }, 120_000);

  it('refuses traffic too thin to keep the calls up', async () => {
    const refused = await runBench('upgrade', '--rate', '10', ...SMALL, '--json');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--rate 10 leaves phones silent past the media timeout/);
  });
});
