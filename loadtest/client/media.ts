/**
 * One call's media stream as the sender sees it: sequence numbers out, acknowledgements
 * back. Round trips go into an HDR histogram (µs); lost, duplicated and reordered acks are
 * counted by sequence number.
 */
import { performance } from 'node:perf_hooks';
import type * as hdr from 'hdr-histogram-js';

export interface MediaCounts {
  sent: number;
  acked: number;
  duplicated: number;
  reordered: number;
}

export class MediaStream {
  #next = 0;
  #highestAcked = -1;
  /** seq → send time, for frames not acknowledged yet. */
  readonly #outstanding = new Map<number, number>();
  readonly counts: MediaCounts = { sent: 0, acked: 0, duplicated: 0, reordered: 0 };

  constructor(private readonly rtt: hdr.Histogram) {}

  /** The next frame to send: its seq and a sentAt the node echoes back as is. */
  next(): { seq: number; sentAt: number } {
    const seq = this.#next++;
    const sentAt = performance.now();
    this.#outstanding.set(seq, sentAt);
    this.counts.sent++;
    return { seq, sentAt };
  }

  ack(seq: number, sentAt: number): void {
    if (!this.#outstanding.delete(seq)) {
      // Acked before (or never sent): a duplicate as far as the phone can tell.
      this.counts.duplicated++;
      return;
    }
    this.counts.acked++;
    if (seq < this.#highestAcked) this.counts.reordered++;
    else this.#highestAcked = seq;
    this.rtt.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
  }

  /** Frames sent and not acknowledged: lost once the stream is over. */
  get outstanding(): number {
    return this.#outstanding.size;
  }
}
