/**
 * `db.storage`: how much room the database takes and may take, and the cache controls
 * (docs/ARCHITECTURE.md, "Cache discipline").
 */
import type { LocalReplica } from '../replica/replica.js';
import type { StoragePlatform } from '../platform/storage-platform.js';

export interface StorageUsage {
  /** Bytes the whole origin uses, as the platform estimates (undefined where it cannot say, e.g. Node). */
  readonly usage: number | undefined;
  /** Bytes the origin may use, as the platform estimates (undefined where it cannot say). */
  readonly quota: number | undefined;
  /** Whether the platform granted persistent storage (undefined: not asked, or not answered yet). */
  readonly persisted: boolean | undefined;
  /** Nodes the store holds data for, by the SDK's accounting (undefined without a cache cap). */
  readonly cachedNodes: number | undefined;
  /** Bytes of their records, keys included, by the SDK's accounting (undefined without a cache cap). */
  readonly cacheBytes: number | undefined;
  /** The cache cap in bytes (undefined: no cap). */
  readonly maxBytes: number | undefined;
  /** Nodes loaded in memory now (undefined without a store: everything is in memory). */
  readonly residentNodes: number | undefined;
  /** Their estimated memory, and the budget it is kept under (both undefined without `memoryBudget`). */
  readonly residentBytes: number | undefined;
  readonly memoryBudget: number | undefined;
}

export class DatabaseStorage {
  readonly #replica: LocalReplica;
  readonly #platform: StoragePlatform | undefined;
  #persisted: boolean | undefined;
  /**
   * Resolves with the platform's answer to the request for persistent storage made at
   * open (undefined when none was made: no store, `persist: false`, or no Storage API).
   * Opening does not wait for it: a browser may ask the user.
   */
  readonly persistence: Promise<boolean | undefined>;

  /** @internal The database creates it. */
  constructor(replica: LocalReplica, platform: StoragePlatform | undefined, persistence: Promise<boolean | undefined> | undefined) {
    this.#replica = replica;
    this.#platform = platform;
    this.persistence = (persistence ?? Promise.resolve(undefined)).then((granted) => (this.#persisted = granted));
  }

  /** The answer to the persistence request, once it came (see `persistence`). */
  get persisted(): boolean | undefined {
    return this.#persisted;
  }

  async usage(): Promise<StorageUsage> {
    this.#replica.assertOpen();
    const estimate = (await this.#platform?.estimate()) ?? { usage: undefined, quota: undefined };
    return { ...estimate, persisted: this.#persisted, ...this.#replica.cacheReport() };
  }

  /**
   * Whether the store takes writes: undefined while its commits land; after a failed
   * commit (a full disk, an I/O error), its code, message and since when, until a commit
   * lands again. Writes made meanwhile were refused (their `put()` rejected, a peer's PUT
   * was answered ERROR and stays in that peer's outbox); reads keep working.
   */
  failure(): { readonly code: string; readonly message: string; readonly since: number } | undefined {
    return this.#replica.storageFailure();
  }

  /**
   * Evicts least recently used nodes now if the cache is over its cap (it also does so
   * by itself after writes). Resolves to how many nodes were evicted, once durable.
   */
  trim(): Promise<number> {
    return this.#replica.trimCache();
  }
}
