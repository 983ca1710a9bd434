/**
 * Call attempts (invites) per user: at most `limit` in any `windowMs` (a sliding window
 * log, exact, of at most `limit` times per user). A refused attempt is not recorded, so a
 * phone that keeps trying is admitted again as soon as its oldest admitted attempt leaves
 * the window. Users with no attempt in the window are dropped by a sweep once per window,
 * so memory follows the users who called lately, not every user ever seen.
 */
export class CallAttempts {
  readonly #times = new Map<string, number[]>();
  #sweptAt: number;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    now: number,
    /** The attempts another process counted (a node handoff). */
    carried?: ReadonlyMap<string, readonly number[]>,
  ) {
    this.#sweptAt = now;
    for (const [user, times] of carried ?? []) this.#times.set(user, [...times]);
  }

  /** The attempts counted, to carry to another process. */
  export(): Map<string, number[]> {
    return new Map([...this.#times].map(([user, times]) => [user, [...times]]));
  }

  /** Record an attempt of `user` at `now` if it is within the limit; false when it is not. 0 = no limit. */
  admit(user: string, now: number): boolean {
    if (this.limit === 0) return true;
    if (now - this.#sweptAt >= this.windowMs) this.#sweep(now);
    let times = this.#times.get(user);
    if (times === undefined) {
      times = [];
      this.#times.set(user, times);
    }
    while (times.length > 0 && (times[0] as number) <= now - this.windowMs) times.shift();
    if (times.length >= this.limit) return false;
    times.push(now);
    return true;
  }

  /** Users with an attempt still counted (what the sweep has not dropped yet). */
  get users(): number {
    return this.#times.size;
  }

  #sweep(now: number): void {
    this.#sweptAt = now;
    for (const [user, times] of this.#times)
      if ((times.at(-1) ?? Number.NEGATIVE_INFINITY) <= now - this.windowMs) this.#times.delete(user);
  }
}
