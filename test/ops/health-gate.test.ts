/** The health gate's arithmetic on two reads of a node's /metrics. */
import { describe, expect, it } from 'vitest';
import { defaultThresholds, figuresFrom, judge, p99Between } from '../../server/ops/health-gate.ts';

const exposition = (o: {
  normal: number;
  lost: number;
  ring: number;
  crashes: number;
  errors: number;
  fast: number;
  slow: number;
}) =>
  [
    '# HELP hotline_calls_ended_total Calls ended',
    `hotline_calls_ended_total{cause="normal",node="n1"} ${o.normal}`,
    `hotline_calls_ended_total{cause="node_lost",node="n1"} ${o.lost}`,
    `hotline_calls_ended_total{cause="ring_timeout",node="n1"} ${o.ring}`,
    `hotline_session_crashes_total{release="1.0.0",node="n1"} ${o.crashes}`,
    `hotline_session_crashes_total{release="1.1.0",node="n1"} 0`,
    `hotline_session_errors_total{release="1.0.0",node="n1"} 1`,
    `hotline_session_errors_total{release="1.1.0",node="n1"} ${o.errors}`,
    `hotline_session_processing_seconds_bucket{le="0.001",release="1.0.0",node="n1"} ${o.fast}`,
    `hotline_session_processing_seconds_bucket{le="0.05",release="1.0.0",node="n1"} ${o.fast + o.slow}`,
    `hotline_session_processing_seconds_bucket{le="+Inf",release="1.0.0",node="n1"} ${o.fast + o.slow}`,
    `hotline_session_processing_seconds_bucket{le="0.001",release="1.1.0",node="n1"} 0`,
    `hotline_session_processing_seconds_bucket{le="0.05",release="1.1.0",node="n1"} 0`,
    `hotline_session_processing_seconds_bucket{le="+Inf",release="1.1.0",node="n1"} 0`,
  ].join('\n');

describe('health gate', () => {
  const before = figuresFrom(
    exposition({ normal: 5, lost: 1, ring: 2, crashes: 1, errors: 0, fast: 1000, slow: 0 }),
    0,
  );

  it('passes on a window with only ordinary ends and fast turns', () => {
    const after = figuresFrom(
      exposition({ normal: 50, lost: 1, ring: 9, crashes: 1, errors: 0, fast: 2000, slow: 5 }),
      1000,
    );
    expect(judge(before, after, defaultThresholds)).toEqual({
      ok: true,
      dropped: 0,
      crashes: 0,
      errors: 0,
      p99Ms: 1,
      setupP99Ms: null,
      windowMs: 1000,
      failures: [],
    });
  });

  it('fails on drops, crashes, errors and a slow p99 in the window, and says which', () => {
    const after = figuresFrom(
      exposition({ normal: 5, lost: 4, ring: 2, crashes: 3, errors: 4, fast: 1010, slow: 90 }),
      500,
    );
    const verdict = judge(before, after, { ...defaultThresholds, maxErrors: 3, maxP99Ms: 10 });
    expect(verdict).toMatchObject({ ok: false, dropped: 3, crashes: 2, errors: 4, p99Ms: 50 });
    expect(verdict.failures).toEqual([
      '3 call(s) dropped (node_lost 3), at most 0',
      '2 session crash(es), at most 0',
      '4 session error(s), at most 3',
      'session processing p99 50 ms, at most 10 ms',
    ]);
    // As many errors as tolerated pass.
    expect(judge(before, after, { ...defaultThresholds, maxErrors: 4 }).failures).not.toContainEqual(
      expect.stringMatching(/error/),
    );
  });

  it('p99 of an empty window is null; beyond the last bound it is infinite', () => {
    expect(p99Between({ '+Inf': 3, '0.1': 3 }, { '+Inf': 3, '0.1': 3 })).toBeNull();
    expect(p99Between({ '+Inf': 0, '0.1': 0 }, { '+Inf': 100, '0.1': 0 })).toBe(Number.POSITIVE_INFINITY);
  });
});
