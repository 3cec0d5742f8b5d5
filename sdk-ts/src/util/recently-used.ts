/**
 * A map of at most `capacity` entries that forgets the least recently used first: per-peer
 * state a server keeps for peers it may never see again (rate limits, write quotas), bounded
 * however many peer ids come and go. Map order is insertion order, so re-inserting an entry
 * on every use keeps the least recently used one first.
 */
export class RecentlyUsed<K, V> {
  readonly #capacity: number;
  readonly #entries = new Map<K, V>();
  /** Told of each value that is forgotten (to free what it holds). */
  readonly #forgotten: ((value: V) => void) | undefined;

  constructor(capacity: number, forgotten?: (value: V) => void) {
    this.#capacity = capacity;
    this.#forgotten = forgotten;
  }

  /** The entry for `key`, made by `create` if there is none (forgetting the least recently used one when full). */
  getOrCreate(key: K, create: () => V): V {
    let value = this.#entries.get(key);
    if (value === undefined) {
      value = create();
      if (this.#entries.size >= this.#capacity) {
        const [oldest, forgotten] = this.#entries.entries().next().value!;
        this.#entries.delete(oldest);
        this.#forgotten?.(forgotten);
      }
    } else {
      this.#entries.delete(key);
    }
    this.#entries.set(key, value);
    return value;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Forgets every entry. */
  clear(): void {
    const values = [...this.#entries.values()];
    this.#entries.clear();
    if (this.#forgotten !== undefined) for (const value of values) this.#forgotten(value);
  }
}
