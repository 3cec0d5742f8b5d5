/**
 * The memory half of the cache discipline: with a store, the engine is a cache of it
 * (resident-souls.ts), and a database given a memory budget (servers: `rustdht serve
 * --memory-budget`) keeps what the engine holds under it. When the resident souls weigh
 * more than the budget, the least recently used ones leave the engine — their records
 * stay in the store, and the next use loads them again — until the weight is back under
 * LOW_WATER of the budget. Capped browser caches (eviction.ts) delete records from the
 * store as well; this only unloads. Both skip the same souls (protected-souls.ts) and
 * take the same last step: synchronous, skipping whatever was used or loaded since the
 * run began.
 *
 * Weights estimate engine memory from record bytes (ENGINE_BYTES_PER_RECORD_BYTE, plus
 * SOUL_OVERHEAD per soul, so souls the store does not know — reads of unknown souls —
 * weigh something and leave too). A write adds its record's weight without knowing the
 * size of the record it replaces, so an often-overwritten soul is over-weighed; once the
 * weight written since its load passes REWEIGH_FACTOR times its weight at load (and
 * REWEIGH_MIN_BYTES), it is unloaded at the next run whatever its age, and reloading
 * weighs it exactly again.
 *
 * Recency is the order of a Map (a use moves the soul to the end): O(1) per use, no clock.
 */
import type { StorageEntry } from '../storage/adapter.js';

/** Engine memory per byte of stored record (measured: ~2.5 × for 5-property nodes; rounded up). */
export const ENGINE_BYTES_PER_RECORD_BYTE = 3;
/** Engine and bookkeeping memory per resident soul, records aside. */
export const SOUL_OVERHEAD = 256;
/** A run unloads down to this share of the budget. */
export const LOW_WATER = 0.9;
/**
 * A soul whose written weight since its load passed this multiple of its weight at load,
 * and at least REWEIGH_MIN_BYTES, is re-weighed (unloaded): a new soul's first writes are
 * most of its weight and are not over-weighing.
 */
const REWEIGH_FACTOR = 4;
const REWEIGH_MIN_BYTES = 256 * 1024;

interface Weight {
  bytes: number;
  /** Weight added by writes since the load (each without the record it replaced). */
  written: number;
  /** The weight when it was loaded (re-weigh threshold). */
  readonly loadedBytes: number;
  /** The use counter's value at its last use. */
  used: number;
}

export class MemoryBudget {
  readonly maxBytes: number;
  /** Least recently used first. */
  readonly #souls = new Map<string, Weight>();
  #total = 0;
  #uses = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** The estimated bytes of everything resident. */
  get bytes(): number {
    return this.#total;
  }

  get over(): boolean {
    return this.#total > this.maxBytes;
  }

  /** Counts uses; a run remembers it to skip souls used after it began. */
  get uses(): number {
    return this.#uses;
  }

  /** `soul` became resident with these records. */
  loaded(soul: string, entries: readonly StorageEntry[]): void {
    let bytes = SOUL_OVERHEAD + soul.length * 2;
    for (const { key, value } of entries) bytes += (key.length + value.length) * ENGINE_BYTES_PER_RECORD_BYTE;
    this.#forget(soul);
    this.#souls.set(soul, { bytes, written: 0, loadedBytes: bytes, used: ++this.#uses });
    this.#total += bytes;
  }

  /** A resident soul was used (read or about to be written). */
  touch(soul: string): void {
    const weight = this.#souls.get(soul);
    if (weight === undefined) return;
    this.#souls.delete(soul);
    weight.used = ++this.#uses;
    this.#souls.set(soul, weight);
  }

  /** A record of `soul` of `recordBytes` (key included) was written: a use, and more weight. */
  written(soul: string, recordBytes: number): void {
    const weight = this.#souls.get(soul);
    if (weight === undefined) return;
    const added = recordBytes * ENGINE_BYTES_PER_RECORD_BYTE;
    weight.bytes += added;
    weight.written += added;
    this.#total += added;
    this.touch(soul);
  }

  /** `soul` left the engine. */
  unloaded(soul: string): void {
    this.#forget(soul);
  }

  /**
   * The souls to unload to get under LOW_WATER of the budget, oldest first, among those
   * `may` allows: over-weighed souls first (whatever their age), then by age.
   */
  victims(may: (soul: string, usedAt: number) => boolean): string[] {
    const target = this.maxBytes * LOW_WATER;
    let remaining = this.#total;
    const chosen: string[] = [];
    for (const [soul, weight] of this.#souls) {
      if (weight.written > Math.max(weight.loadedBytes * REWEIGH_FACTOR, REWEIGH_MIN_BYTES) && may(soul, weight.used)) {
        chosen.push(soul);
        remaining -= weight.bytes;
      }
    }
    const picked = new Set(chosen);
    for (const [soul, weight] of this.#souls) {
      if (remaining <= target) break;
      if (picked.has(soul) || !may(soul, weight.used)) continue;
      chosen.push(soul);
      remaining -= weight.bytes;
    }
    return chosen;
  }

  /** The use stamp of a resident soul (undefined when not tracked). */
  usedAt(soul: string): number | undefined {
    return this.#souls.get(soul)?.used;
  }

  #forget(soul: string): void {
    const weight = this.#souls.get(soul);
    if (weight === undefined) return;
    this.#souls.delete(soul);
    this.#total -= weight.bytes;
  }
}
