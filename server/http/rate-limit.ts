/** A token bucket per connection: `rate` messages a second on average, bursts up to `burst`. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
    /** A bucket that moved from another process keeps what it had. */
    tokens = burst,
  ) {
    this.#tokens = tokens;
    this.#at = now;
  }

  /** What is left at `now`, to carry the bucket to another process. */
  tokensAt(now: number): number {
    return Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
  }

  /** Take one token; false when the bucket is empty. */
  take(now: number): boolean {
    this.#tokens = this.tokensAt(now);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
