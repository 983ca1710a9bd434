/**
 * The handoff's metrics as the old process and its successor report them: phase, batches,
 * progress, what moved and the pause each phone saw; the successor finishes the old
 * process's handoff, and the pauses go on through a chain of handoffs.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { handoffMetrics } from '../../server/node/metrics/handoff.ts';
import { sample } from '../support/metrics.ts';

const scrape = (r: Registry) => r.metrics();

/** A's side of a handoff of two phone batches (3 phones, then 2) and a last batch. */
function oldProcess() {
  const registry = new Registry();
  const m = handoffMetrics(registry);
  m.phase('spawn');
  m.started(4242);
  m.phase('hello');
  m.phase('boot');
  m.phase('listeners');
  m.phase('phones');
  m.planned(3);
  m.moved(9, 3);
  m.paused(40, 3);
  m.moved(6, 2);
  m.paused(120, 2);
  m.phase('final');
  return { registry, m };
}

describe('handoff metrics', () => {
  it("report the running handoff's phase, batches, progress and pauses in the old process", async () => {
    const { registry, m } = oldProcess();
    const text = await scrape(registry);
    expect(sample(text, 'hotline_handoff_phase', { phase: 'final' })).toBe(1);
    expect(sample(text, 'hotline_handoff_phase', { phase: 'phones' })).toBe(0);
    expect(sample(text, 'hotline_handoff_batches', { state: 'planned' })).toBe(3);
    expect(sample(text, 'hotline_handoff_batches', { state: 'done' })).toBe(2);
    expect(sample(text, 'hotline_handoff_progress_ratio')).toBeCloseTo(2 / 3);
    expect(sample(text, 'hotline_handoff_max_pause_seconds')).toBe(0.12);
    expect(sample(text, 'hotline_handoff_sockets_moved_total')).toBe(5);
    // One observation per phone: three saw 40 ms, two saw 120 ms.
    expect(sample(text, 'hotline_handoff_pause_seconds_count')).toBe(5);
    expect(sample(text, 'hotline_handoff_pause_seconds_bucket', { le: '0.05' })).toBe(3);
    expect(sample(text, 'hotline_handoff_pause_seconds_sum')).toBeCloseTo(0.36);
    expect(m.progress()).toMatchObject({
      phase: 'final',
      from: process.pid,
      to: 4242,
      batches: { planned: 3, done: 2 },
      processes: 15,
      sockets: 5,
      maxPauseMs: 120,
      endedAt: null,
      error: null,
    });
  });

  it('the successor finishes the handoff with its last batch and observes every pause again', async () => {
    const { m } = oldProcess();
    const carried = structuredClone(m.carry());
    const registry = new Registry();
    const b = handoffMetrics(registry);
    expect(b.progress()).toBeNull();
    b.tookOver({ ...carried, at: Date.now() - 30 }, { processes: 7, sockets: 1 });
    const text = await scrape(registry);
    expect(sample(text, 'hotline_handoff_phase', { phase: 'done' })).toBe(1);
    expect(sample(text, 'hotline_handoff_batches', { state: 'done' })).toBe(3);
    expect(sample(text, 'hotline_handoff_progress_ratio')).toBe(1);
    expect(sample(text, 'hotline_handoffs_total', { outcome: 'done' })).toBe(1);
    // Only the last batch's: A's counters come over with carryCounters (node.ts).
    expect(sample(text, 'hotline_handoff_sockets_moved_total')).toBe(1);
    expect(sample(text, 'hotline_handoff_pause_seconds_count')).toBe(6);
    expect(sample(text, 'hotline_handoff_pause_seconds_bucket', { le: '0.025' })).toBe(0);
    expect(b.progress()).toMatchObject({
      phase: 'done',
      from: process.pid,
      to: process.pid,
      batches: { planned: 3, done: 3 },
      processes: 22,
      sockets: 6,
      maxPauseMs: 120,
    });
    expect(b.progress()?.endedAt).not.toBeNull();

    // The successor hands off in its turn: its successor observes all of them again.
    b.phase('spawn');
    b.planned(1);
    const next = new Registry();
    const d = handoffMetrics(next);
    d.tookOver(structuredClone(b.carry()), { processes: 5, sockets: 0 });
    expect(sample(await scrape(next), 'hotline_handoff_pause_seconds_count')).toBe(6);
  });

  it('a failed handoff says why, and all phases read 0 before any', async () => {
    const registry = new Registry();
    const m = handoffMetrics(registry);
    expect(sample(await scrape(registry), 'hotline_handoff_phase', { phase: 'spawn' })).toBe(0);
    expect(sample(await scrape(registry), 'hotline_handoffs_total', { outcome: 'failed' })).toBe(0);
    m.phase('spawn');
    m.phase('failed');
    m.ended('failed', 'the successor failed to boot');
    const text = await scrape(registry);
    expect(sample(text, 'hotline_handoff_phase', { phase: 'failed' })).toBe(1);
    expect(sample(text, 'hotline_handoffs_total', { outcome: 'failed' })).toBe(1);
    expect(m.progress()).toMatchObject({ phase: 'failed', error: 'the successor failed to boot' });
  });
});
