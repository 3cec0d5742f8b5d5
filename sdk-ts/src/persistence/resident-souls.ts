/**
 * Which nodes the engine holds, for a database backed by a store: the engine is a
 * cache of the store, filled one node at a time on first use, so opening a store of
 * any size costs nothing and the first read costs one prefix scan.
 *
 * Invariant: a soul is resident once its stored records have been restored into the
 * engine (a soul the store does not know is resident as soon as the scan finds
 * nothing). The shell never lets a merge touch a soul that is not resident, so the
 * engine decides every merge against the complete stored node, and every change it
 * reports is a change to the stored state too.
 *
 * Loads of many souls share one engine call per batch: each soul is one prefix scan,
 * and their records are restored together once every scan is done.
 */
import type { StorageAdapter, StorageEntry } from '../storage/adapter.js';
import { soulPrefix } from './layout.js';
import type { StoredSoulFilter } from './stored-soul-filter.js';

/** Restores the records (single-update frames) of newly loaded souls into the engine. */
export type RestoreRecords = (records: readonly Uint8Array[]) => void;

/**
 * Told of every soul that becomes resident, with its records (keys and values) as the
 * scan found them: the cache accounting weighs souls this way at no extra read.
 */
export type LoadObserver = (soul: string, prefixLength: number, entries: readonly StorageEntry[]) => void;

export class ResidentSouls {
  readonly #store: StorageAdapter;
  readonly #restore: RestoreRecords;
  /** Resident soul → the key prefix of its records (kept: every write needs it). */
  readonly #prefixes = new Map<string, Uint8Array>();
  readonly #loading = new Map<string, Promise<void>>();
  /**
   * Evicted souls whose record deletions are staged but may not have landed: a load
   * must not scan the store before they have, or it would bring the evicted records back.
   */
  readonly #evicting = new Map<string, Promise<void>>();
  readonly #observe: LoadObserver | undefined;

  readonly #filter: StoredSoulFilter | undefined;

  /** `filter`: souls the store cannot hold are resident at once, without a scan (stored-soul-filter.ts). */
  constructor(store: StorageAdapter, restore: RestoreRecords, observe?: LoadObserver, filter?: StoredSoulFilter) {
    this.#store = store;
    this.#restore = restore;
    this.#observe = observe;
    this.#filter = filter;
  }

  /** True while a load of `soul` is under way (eviction leaves such souls alone). */
  isLoading(soul: string): boolean {
    return this.#loading.has(soul);
  }

  /**
   * Makes `soul` not resident (its engine node was evicted). `deleted` settles once its
   * records' deletion has landed; a later load of the soul waits for that.
   */
  evict(soul: string, deleted: Promise<void>): void {
    this.#prefixes.delete(soul);
    const gate = deleted.catch(() => {});
    this.#evicting.set(soul, gate);
    void gate.then(() => {
      if (this.#evicting.get(soul) === gate) this.#evicting.delete(soul);
    });
  }

  has(soul: string): boolean {
    return this.#prefixes.has(soul);
  }

  get size(): number {
    return this.#prefixes.size;
  }

  /** The key prefix of a resident soul's records. */
  prefix(soul: string): Uint8Array {
    const prefix = this.#prefixes.get(soul);
    if (prefix === undefined) throw new Error(`internal: soul ${JSON.stringify(soul)} was changed without being loaded first`);
    return prefix;
  }

  /** Makes every soul resident; resolves when all are (loads already under way are shared). */
  load(souls: Iterable<string>): Promise<void> {
    const waits: Promise<void>[] = [];
    const fresh = new Set<string>();
    for (const soul of souls) {
      if (this.#prefixes.has(soul)) continue;
      const loading = this.#loading.get(soul);
      if (loading !== undefined) waits.push(loading);
      else fresh.add(soul);
    }
    if (fresh.size !== 0) {
      const loaded = this.#loadBatch([...fresh]);
      for (const soul of fresh) this.#loading.set(soul, loaded);
      waits.push(loaded);
    }
    return waits.length === 1 ? waits[0]! : Promise.all(waits).then(() => undefined);
  }

  /** Resolves once no load is under way (close waits for this before freeing the engine). */
  async settle(): Promise<void> {
    while (this.#loading.size !== 0) await Promise.allSettled([...this.#loading.values()]);
  }

  async #loadBatch(souls: readonly string[]): Promise<void> {
    try {
      const gates = souls.map((soul) => this.#evicting.get(soul)).filter((gate) => gate !== undefined);
      if (gates.length !== 0) await Promise.all(gates);
      const prefixes = souls.map(soulPrefix);
      const perSoul = await Promise.all(souls.map((soul, i) => storedEntries(this.#store, soul, this.#filter, prefixes[i])));
      this.#restore(perSoul.flatMap((entries) => entries.map((entry) => entry.value)));
      for (let i = 0; i < souls.length; i++) {
        this.#prefixes.set(souls[i]!, prefixes[i]!);
        this.#observe?.(souls[i]!, prefixes[i]!.length, perSoul[i]!);
      }
    } finally {
      for (const soul of souls) this.#loading.delete(soul);
    }
  }
}

/**
 * The records of `soul` in `store`, in key order (at most `limit`): one prefix scan, or
 * none at all when the stored-soul filter says the store cannot hold the soul. Every read
 * of a soul's stored records goes through here, so the filter is consulted in one place.
 */
export async function storedEntries(store: StorageAdapter, soul: string, filter: StoredSoulFilter | undefined, prefix = soulPrefix(soul), limit?: number): Promise<StorageEntry[]> {
  if (filter?.mayHold(soul) === false) return [];
  const entries: StorageEntry[] = [];
  for await (const entry of store.entries({ prefix, limit })) entries.push(entry);
  return entries;
}
