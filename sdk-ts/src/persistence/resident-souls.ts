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
import type { StorageAdapter } from '../storage/adapter.js';
import { soulPrefix } from './layout.js';

/** Restores the records (single-update frames) of newly loaded souls into the engine. */
export type RestoreRecords = (records: readonly Uint8Array[]) => void;

export class ResidentSouls {
  readonly #store: StorageAdapter;
  readonly #restore: RestoreRecords;
  /** Resident soul → the key prefix of its records (kept: every write needs it). */
  readonly #prefixes = new Map<string, Uint8Array>();
  readonly #loading = new Map<string, Promise<void>>();

  constructor(store: StorageAdapter, restore: RestoreRecords) {
    this.#store = store;
    this.#restore = restore;
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
      const prefixes = souls.map(soulPrefix);
      const perSoul = await Promise.all(prefixes.map((prefix) => this.#scan(prefix)));
      this.#restore(perSoul.flat());
      for (let i = 0; i < souls.length; i++) this.#prefixes.set(souls[i]!, prefixes[i]!);
    } finally {
      for (const soul of souls) this.#loading.delete(soul);
    }
  }

  async #scan(prefix: Uint8Array): Promise<Uint8Array[]> {
    const records: Uint8Array[] = [];
    for await (const { value } of this.#store.entries({ prefix })) records.push(value);
    return records;
  }
}
