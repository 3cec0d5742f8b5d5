/**
 * Keeps a misbehaving peer from flooding the log: a peer sending thousands of bad
 * messages a second would otherwise produce thousands of warn lines (and disk I/O) a
 * second. The first event of a kind is logged; repeats within `windowMs` are only
 * counted, and that count rides along on the next line logged for the kind. The exact
 * totals are in /metrics (rustdht_rejects_total) anyway.
 */
export class RepeatThrottle {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #seen = new Map<string, { at: number; suppressed: number }>();

  constructor(windowMs = 10_000, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /**
   * Whether to log this occurrence of `key`: undefined to skip it, else the number of
   * occurrences skipped since the last one logged.
   */
  admit(key: string): number | undefined {
    const now = this.#now();
    const entry = this.#seen.get(key);
    if (entry !== undefined && now - entry.at < this.#windowMs) {
      entry.suppressed++;
      return undefined;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.#seen.set(key, { at: now, suppressed: 0 });
    if (this.#seen.size > 1000) this.#prune(now);
    return suppressed;
  }

  /** Keys are peer × code: forget the quiet ones so the map cannot grow without bound. */
  #prune(now: number): void {
    for (const [key, entry] of this.#seen) {
      if (now - entry.at >= this.#windowMs) this.#seen.delete(key);
    }
  }
}
