/**
 * Which souls the store may hold records of, in memory, so that a soul the store does
 * not know costs no store read. Loading a soul before its first merge or read is one
 * prefix scan of the store (resident-souls.ts); for a soul the store has never held —
 * every fresh soul a client writes, every read of an unknown soul, a DHT owner's first
 * copy of a soul — that scan finds nothing and was the largest single cost of a busy
 * server (a LevelDB iterator each: 12–16 % of its CPU in the soak and DHT profiles).
 *
 * Servers only (replica/types.ts `storedSoulFilter`): a browser's cache is not scanned.
 * A 32-bit hash of every soul with records: the souls found by one scan of the store's
 * keys after open (in the background: opening a store of any size still costs nothing),
 * sorted in a Uint32Array, plus those staged since in a Set, merged in from time to
 * time. About 4 bytes per stored soul. "No" is exact; "maybe" is a stored soul or a hash
 * collision (then the scan runs, as it did for every soul before). Until the scan is
 * done everything is "maybe".
 *
 * Souls are never taken out (a soul whose records were deleted — evicted from a capped
 * cache, released by the DHT hand-off — stays "maybe"): a false "maybe" costs one scan, a
 * false "no" would hide stored data, so only additions are tracked, and they are added
 * when their records are staged, before the commit that writes them.
 */
import type { StorageAdapter } from '../storage/adapter.js';
import { PROPERTY_PREFIX, soulOfPropertyKey } from './layout.js';

/** Added hashes kept in the Set before they are merged into the sorted array. */
const MERGE_AFTER = 65_536;

export class StoredSoulFilter {
  #sorted = new Uint32Array(0);
  readonly #added = new Set<number>();
  #ready = false;
  #building: Promise<void> | undefined;

  /** True once the scan after open is done: from then on `mayHold` can say no. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Souls hashed in (for /health and tests). */
  get size(): number {
    return this.#sorted.length + this.#added.size;
  }

  /** False only when the store holds no record of `soul` (nor a commit under way does). */
  mayHold(soul: string): boolean {
    if (!this.#ready) return true;
    const hash = soulHash(soul);
    return this.#added.has(hash) || contains(this.#sorted, hash);
  }

  /** `soul` gets records (call before they are staged). */
  add(soul: string): void {
    this.#added.add(soulHash(soul));
    if (this.#ready && this.#added.size >= Math.max(MERGE_AFTER, this.#sorted.length >> 2)) this.#merge();
  }

  /**
   * Reads every property key of the store once and hashes its soul. Souls staged while it
   * runs are in `#added` already (the caller adds before it stages), so the filter is
   * complete when this resolves. A failed read leaves it not ready (every soul "maybe").
   */
  build(store: StorageAdapter, stopped: () => boolean): Promise<void> {
    this.#building ??= this.#build(store, stopped).catch(() => {});
    return this.#building;
  }

  async #build(store: StorageAdapter, stopped: () => boolean): Promise<void> {
    const found: number[] = [];
    let last = '';
    for await (const { key } of store.entries({ prefix: PROPERTY_PREFIX })) {
      if (stopped()) return;
      const { soul } = soulOfPropertyKey(key);
      if (soul === last) continue;
      last = soul;
      found.push(soulHash(soul));
    }
    this.#sorted = Uint32Array.from(found);
    this.#merge();
    this.#ready = true;
  }

  #merge(): void {
    const merged = new Uint32Array(this.#sorted.length + this.#added.size);
    merged.set(this.#sorted);
    let at = this.#sorted.length;
    for (const hash of this.#added) merged[at++] = hash;
    merged.sort();
    // Duplicates (a soul re-added) are dropped.
    let kept = 0;
    for (let i = 0; i < merged.length; i++) if (i === 0 || merged[i] !== merged[i - 1]) merged[kept++] = merged[i]!;
    this.#sorted = merged.slice(0, kept);
    this.#added.clear();
  }
}

/** FNV-1a over the soul's UTF-16 code units: 32 bits, unsigned. */
export function soulHash(soul: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < soul.length; i++) {
    hash ^= soul.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function contains(sorted: Uint32Array, value: number): boolean {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const at = sorted[mid]!;
    if (at === value) return true;
    if (at < value) low = mid + 1;
    else high = mid - 1;
  }
  return false;
}
