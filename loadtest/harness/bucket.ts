/** One second's worth of what the workers report, summed: for the run, and for each node. */
import type * as hdr from 'hdr-histogram-js';
import { latencyMs, mergeHistograms, newHistogram } from '../client/histogram.ts';
import { addCounts, emptyCounts, type WorkerSecond } from './messages.ts';

export class Bucket {
  counts = emptyCounts();
  errors = 0;
  rtt = newHistogram();
  setup = newHistogram();

  add(s: WorkerSecond, errorsByCode: Record<string, number>, recoveries: number[]): void {
    addCounts(this.counts, s);
    for (const [code, n] of Object.entries(s.errors)) {
      this.errors += n;
      errorsByCode[code] = (errorsByCode[code] ?? 0) + n;
    }
    recoveries.push(...s.recoveries);
    this.rtt.add(mergeHistograms([s.rtt]));
    this.setup.add(mergeHistograms([s.setup]));
  }

  /** Sum of the nodes' buckets. */
  static merge(parts: Bucket[]): Bucket {
    const b = new Bucket();
    for (const p of parts) {
      addCounts(b.counts, p.counts);
      b.errors += p.errors;
      b.rtt.add(p.rtt);
      b.setup.add(p.setup);
    }
    return b;
  }
}

export const pct = (h: hdr.Histogram, p: number): number | null =>
  h.totalCount === 0 ? null : latencyMs(h)[p === 50 ? 'p50' : 'p99'];
