/**
 * What the local store holds, soul by soul, for a database with a cache cap (browser
 * peers are caches of the network, not replicas): how many bytes each soul's "P"
 * records weigh and when the soul was last read or written. The LRU eviction
 * (eviction.ts) decides from this.
 *
 * Cheap by design, since it sits on every operation:
 * - A soul's weight is the sum of its records' key and value lengths. Resident souls
 *   keep the weight of each property (a write replaces one record, so the new weight
 *   is old − previous record + new record); the weights come from the load's own scan.
 * - "Last access" is a tick from one counter (no clock call), persisted with the soul.
 * - Souls touched since the last commit are written back ("A" soul, and the totals
 *   "C") by the next commit's seal. Writes commit anyway; reads alone ask for a commit
 *   at most once per READ_COMMIT_DELAY_MS, so a read-only session costs a small batch
 *   per second at most, not one per read.
 *
 * Only resident souls are held here; the weight and tick of the others are in the
 * store's "A" records, which only the eviction scans.
 */
import type { StorageEntry, StorageOperation } from '../storage/adapter.js';
import { accessKey, encodeAccess, encodeCacheTotals, keyOfPropertyKey, CACHE_KEY, type CacheTotals } from './layout.js';

/** How long a read's access tick may wait for a write's commit to carry it. */
export const READ_COMMIT_DELAY_MS = 1000;

interface ResidentEntry {
  stamp: number;
  bytes: number;
  /** Property key → bytes of its record. */
  readonly sizes: Map<string, number>;
}

export interface CacheUsage {
  /** Souls the store holds data for. */
  readonly souls: number;
  /** Bytes of their records, keys included. */
  readonly bytes: number;
}

export class CacheAccounting {
  /** The cap, in bytes of records (Infinity: account without ever evicting). */
  readonly maxBytes: number;
  readonly #resident = new Map<string, ResidentEntry>();
  /** Souls whose "A" record is behind. */
  #dirty = new Set<string>();
  #totalsChanged = false;
  #tick: number;
  #bytes: number;
  #souls: number;
  readonly #requestCommit: () => void;
  #readTimer: ReturnType<typeof setTimeout> | undefined;

  /** `requestCommit` makes the group commit seal a batch soon (for access ticks of reads). */
  constructor(maxBytes: number, totals: CacheTotals, requestCommit: () => void) {
    this.maxBytes = maxBytes;
    this.#tick = totals.tick;
    this.#bytes = totals.bytes;
    this.#souls = totals.souls;
    this.#requestCommit = requestCommit;
  }

  /** The latest access tick handed out: every soul used after now gets a larger one. */
  get tick(): number {
    return this.#tick;
  }

  get usage(): CacheUsage {
    return { souls: this.#souls, bytes: this.#bytes };
  }

  get overCap(): boolean {
    return this.#bytes > this.maxBytes;
  }

  /** Has any access or weight not been handed to a commit yet? */
  get dirty(): boolean {
    return this.#dirty.size !== 0 || this.#totalsChanged;
  }

  /** Resident souls with their tick and weight (the eviction overlays them on the store's). */
  *resident(): IterableIterator<[soul: string, stamp: number, bytes: number]> {
    for (const [soul, entry] of this.#resident) yield [soul, entry.stamp, entry.bytes];
  }

  stampOf(soul: string): number | undefined {
    return this.#resident.get(soul)?.stamp;
  }

  /** The property keys a resident soul has records for (to delete them on eviction). */
  keysOf(soul: string): Iterable<string> {
    return this.#resident.get(soul)?.sizes.keys() ?? [];
  }

  /** A soul was read or is about to be written. Only resident souls are tracked. */
  touch(soul: string): void {
    const entry = this.#resident.get(soul);
    if (entry === undefined) return;
    entry.stamp = ++this.#tick;
    this.#dirty.add(soul);
    this.#totalsChanged = true;
    // A write stages its batch right away; a read may be the only thing that happens.
    if (this.#readTimer === undefined) {
      this.#readTimer = setTimeout(() => {
        this.#readTimer = undefined;
        if (this.dirty) this.#requestCommit();
      }, READ_COMMIT_DELAY_MS);
      // Node: a pending access tick must not keep the process alive.
      (this.#readTimer as { unref?: () => void }).unref?.();
    }
  }

  /**
   * A soul became resident with these records. Every record in the store is already
   * in the totals (writes and the open-time rebuild keep them so), so only the soul's
   * own weight is learnt here.
   */
  loaded(soul: string, prefixLength: number, entries: readonly StorageEntry[]): void {
    const sizes = new Map<string, number>();
    let bytes = 0;
    for (const { key, value } of entries) {
      const size = key.length + value.length;
      sizes.set(keyOfPropertyKey(key, prefixLength), size);
      bytes += size;
    }
    this.#resident.set(soul, { stamp: ++this.#tick, bytes, sizes });
    this.#dirty.add(soul);
    this.#totalsChanged = true;
  }

  /** The record of `soul`.`key` was (re)written with `size` bytes, key included. */
  written(soul: string, key: string, size: number): void {
    const entry = this.#resident.get(soul);
    if (entry === undefined) return; // unreachable: writes only touch resident souls
    const previous = entry.sizes.get(key) ?? 0;
    entry.sizes.set(key, size);
    if (entry.bytes === 0) this.#souls++;
    entry.bytes += size - previous;
    this.#bytes += size - previous;
    entry.stamp = ++this.#tick;
    this.#dirty.add(soul);
    this.#totalsChanged = true;
  }

  /** A soul's records are being deleted (evicted): it leaves the totals. */
  evicted(soul: string, bytes: number): void {
    const entry = this.#resident.get(soul);
    const weight = entry?.bytes ?? bytes;
    this.#resident.delete(soul);
    this.#dirty.delete(soul);
    if (weight > 0) {
      this.#bytes -= weight;
      this.#souls--;
    }
    this.#totalsChanged = true;
  }

  /** Replaces the running totals by a full count (the eviction's scan makes one). */
  reconcile(usage: CacheUsage): void {
    if (usage.bytes === this.#bytes && usage.souls === this.#souls) return;
    this.#bytes = usage.bytes;
    this.#souls = usage.souls;
    this.#totalsChanged = true;
  }

  /** Adds to a commit the "A" records that are behind, and the totals. */
  seal(operations: StorageOperation[], durable: Promise<void>): void {
    if (!this.dirty) return;
    const written = this.#dirty;
    this.#dirty = new Set();
    this.#totalsChanged = false;
    for (const soul of written) {
      const entry = this.#resident.get(soul);
      // A soul with no record has nothing to evict: no "A" record for it either.
      if (entry !== undefined && entry.bytes > 0) {
        operations.push({ type: 'put', key: accessKey(soul), value: encodeAccess(entry) });
      }
    }
    operations.push({
      type: 'put',
      key: CACHE_KEY,
      value: encodeCacheTotals({ tick: this.#tick, bytes: this.#bytes, souls: this.#souls }),
    });
    // The batch failed: its records must go into the next one.
    durable.catch(() => {
      for (const soul of written) if (this.#resident.has(soul)) this.#dirty.add(soul);
      this.#totalsChanged = true;
    });
  }

  close(): void {
    if (this.#readTimer !== undefined) clearTimeout(this.#readTimer);
    this.#readTimer = undefined;
  }
}
