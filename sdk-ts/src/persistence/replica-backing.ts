/**
 * A replica's store and everything kept around it: the group commit, the souls resident
 * in the engine, the cache accounting and eviction of a capped store, and the records
 * each commit carries besides the graph (the head, the cache totals; the deferred
 * updates' records go with the batch that changed the queue). The replica (replica.ts)
 * decides what changes; this module decides how it is stored and what is kept in
 * memory. Absent for a memory-only database.
 *
 * Layout of the records: layout.ts. What opening reads: `readOpening` (three small
 * records and the deferred updates' records, whatever the size of the store); a server
 * then scans the property keys once in the background for its stored-soul filter.
 *
 * Over ~400 lines on purpose: it is the one place where a commit's records are put
 * together, and the parts it wires (group-commit.ts, resident-souls.ts,
 * cache-accounting.ts, eviction.ts, memory-budget.ts) each live in a file of their own.
 */
import type { EngineChange } from '../replica/batch-report.js';
import type { Engine, EngineNode } from '../engine/core-types.js';
import type { OutboxCounters } from '../replica/outbox.js';
import type { StorageAdapter, StorageOperation } from '../storage/adapter.js';
import { CacheAccounting } from './cache-accounting.js';
import { rebuildCacheAccounting } from './cache-rebuild.js';
import { Evictor, scanKeys } from './eviction.js';
import { prefixEnd, startsWith } from '../storage/bytes.js';
import { GroupCommit } from './group-commit.js';
import { MemoryBudget } from './memory-budget.js';
import { StoredSoulFilter } from './stored-soul-filter.js';
import { reportListenerError } from '../util/listeners.js';
import { afterMicrotasks } from '../util/macrotask.js';
import {
  CACHE_KEY,
  DEFERRED_KEY,
  DEFERRED_RECORD_PREFIX,
  HEAD_KEY,
  decodeCacheTotals,
  deferredRecordKey,
  decodeHead,
  encodeHead,
  propertyKey,
  PROPERTY_PREFIX,
  soulOfPropertyKey,
  soulPrefix,
  type CacheTotals,
  type Head,
} from './layout.js';
import type { IsProtected } from './protected-souls.js';
import { ResidentSouls, storedEntries } from './resident-souls.js';
import { TaskLimit } from '../util/concurrency.js';

/** What opening a store reads. */
export interface Opening {
  readonly head: Head | undefined;
  /** Layout 1 only: the deferred updates' frame ("D"), when some were waiting (converted to "d" records). */
  readonly deferred: Uint8Array | undefined;
  /** The deferred updates' records ("d"), one per update. */
  readonly deferredRecords: readonly Uint8Array[];
  /** Cache totals, when the database is capped (rebuilt by a scan if missing). */
  readonly cacheTotals: CacheTotals | undefined;
}

/** What the backing needs from the replica around it. */
export interface BackingHost {
  /** The engine, while it may be called (undefined once it is freed). */
  engine(): Engine | undefined;
  /** Loads records of newly resident souls into the engine (one call for all). */
  restoreRecords(records: readonly Uint8Array[]): void;
  /** The outbox's counters, for the head record. */
  outboxCounters(): OutboxCounters;
  /** What eviction must never drop, computed when a run starts. */
  protection(): Promise<IsProtected>;
  /** Drops a soul from the engine and from whatever indexes it in memory. */
  dropFromMemory(soul: string): void;
  /** False once the database is closing. */
  usable(): boolean;
}

/** What `db.storage.usage()` reports of the SDK's own accounting. */
export interface CacheReport {
  /** Souls the store holds records for (undefined without cache accounting). */
  readonly cachedNodes: number | undefined;
  /** Bytes of those records, keys included (undefined without cache accounting). */
  readonly cacheBytes: number | undefined;
  /** The cap (undefined when there is none). */
  readonly maxBytes: number | undefined;
  /** Souls loaded in the engine now (undefined without a store: everything is in memory). */
  readonly residentNodes: number | undefined;
  /** The estimated engine memory of those souls, and the budget it is kept under (both undefined without a memory budget). */
  readonly residentBytes: number | undefined;
  readonly memoryBudget: number | undefined;
}

/** storedSouls: keys of one soul walked past before it starts afresh beyond the soul. */
export const SKIP_AFTER_KEYS = 64;
/** Souls `soulRecords` reads at once (background reads: anti-entropy's digests). */
const SOUL_RECORD_READS = 16;

export class ReplicaBacking {
  readonly store: StorageAdapter;
  readonly commit: GroupCommit;
  readonly souls: ResidentSouls;
  readonly #host: BackingHost;
  readonly #accounting: CacheAccounting | undefined;
  readonly #evictor: Evictor | undefined;
  /** Without cache accounting, the first commit deletes "C" (see cache-rebuild.ts). */
  #cacheTotalsStale = false;
  /** Per open batch (by its `durable` promise): the souls whose records it carries. */
  readonly #stagedSouls = new Map<Promise<void>, Set<string>>();
  /** Keeps the engine's resident souls under a byte budget (memory-budget.ts); absent without one. */
  readonly #budget: MemoryBudget | undefined;
  #unloading: Promise<void> | undefined;
  /** Weight above which a change starts an unload run (the budget, or more after a run that could not reach it). */
  #unloadThreshold = Infinity;
  /** The last commit failed (cleared by the next that lands): the store refuses writes. */
  #failure: { readonly error: unknown; readonly since: number } | undefined;

  /**
   * Reads what opening needs: the head, the deferred updates (one scan of their "d"
   * records; a layout-1 store's "D" frame) and, for a capped database (`capped`), the
   * cache totals. Closes the store when that fails.
   */
  static async readOpening(store: StorageAdapter, capped: boolean): Promise<Opening> {
    try {
      const readDeferred = async (): Promise<Uint8Array[]> => {
        const records: Uint8Array[] = [];
        for await (const { value } of store.entries({ prefix: DEFERRED_RECORD_PREFIX })) records.push(value);
        return records;
      };
      const [headBytes, deferred, deferredRecords, totalsBytes] = await Promise.all([
        store.get(HEAD_KEY),
        store.get(DEFERRED_KEY),
        readDeferred(),
        capped ? store.get(CACHE_KEY) : undefined,
      ]);
      const head = headBytes === undefined ? undefined : decodeHead(headBytes);
      let cacheTotals: CacheTotals | undefined;
      if (capped) {
        // A store with data but no totals was never capped, or was last opened without a cap.
        cacheTotals = totalsBytes !== undefined
          ? decodeCacheTotals(totalsBytes)
          : head === undefined
            ? { tick: 0, bytes: 0, souls: 0 }
            : await rebuildCacheAccounting(store);
      }
      return { head, deferred, deferredRecords, cacheTotals };
    } catch (error) {
      await store.close().catch(() => {});
      throw error;
    }
  }

  /**
   * `cacheMaxBytes`: the cap (undefined: no cap and no accounting; needs `opening.cacheTotals`).
   * `memoryBudget`: bytes the engine's resident souls are kept under (undefined: no bound).
   */
  /** Souls the store may hold: a soul it cannot skips the load's scan (stored-soul-filter.ts; servers). */
  readonly #filter: StoredSoulFilter | undefined;
  readonly #filterBuilt: Promise<void> | undefined;
  #closing = false;

  constructor(store: StorageAdapter, host: BackingHost, opening: Opening, cacheMaxBytes: number | undefined, memoryBudget?: number, soulFilter = false) {
    this.store = store;
    this.#host = host;
    const commit = new GroupCommit(store, (operations, durable) => this.#seal(operations, durable));
    this.commit = commit;
    const { cacheTotals } = opening;
    const accounting = cacheMaxBytes === undefined || cacheTotals === undefined ? undefined : new CacheAccounting(cacheMaxBytes, cacheTotals, () => commit.touch());
    this.#accounting = accounting;
    const budget = memoryBudget === undefined ? undefined : new MemoryBudget(memoryBudget);
    this.#budget = budget;
    this.#unloadThreshold = memoryBudget ?? Infinity;
    const filter = soulFilter ? new StoredSoulFilter() : undefined;
    this.#filter = filter;
    this.souls = new ResidentSouls(
      store,
      (records) => host.restoreRecords(records),
      accounting === undefined && budget === undefined
        ? undefined
        : (soul, prefixLength, entries) => {
            accounting?.loaded(soul, prefixLength, entries);
            if (budget !== undefined) {
              budget.loaded(soul, entries);
              this.#maybeUnload();
            }
          },
      filter,
    );
    // In the background: until it is done, every soul is looked up in the store as before.
    this.#filterBuilt = filter?.build(store, () => this.#closing);
    if (accounting !== undefined) {
      this.#evictor = new Evictor({
        store,
        commit,
        souls: this.souls,
        accounting,
        protection: () => host.protection(),
        dropFromMemory: (soul) => host.dropFromMemory(soul),
        usable: () => host.usable(),
      });
    } else {
      this.#cacheTotalsStale = opening.head !== undefined;
    }
  }

  /** Whether `soul` is in the engine; a use of it counts as "recently used" for the cache. */
  resident(soul: string): boolean {
    if (!this.souls.has(soul)) return false;
    this.#accounting?.touch(soul);
    this.#budget?.touch(soul);
    return true;
  }

  /** Stages one record per changed property (in report order: a later change of a property overwrites an earlier one). */
  stage(changes: readonly EngineChange[], records: readonly Uint8Array[]): void {
    const accounting = this.#accounting;
    let lastSoul: string | undefined;
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i]!;
      // Known to the filter before its records are staged (a load must never skip them).
      if (change[0] !== lastSoul) this.#filter?.add((lastSoul = change[0]));
      const key = propertyKey(this.souls.prefix(change[0]), change[1]);
      this.commit.put(key, records[i]!);
      accounting?.written(change[0], change[1], key.length + records[i]!.length);
      this.#budget?.written(change[0], key.length + records[i]!.length);
    }
    this.#unloadIfLost(changes);
    this.#evictor?.maybeRun();
    this.#maybeUnload();
  }

  /** Why the last commit failed, and since when; undefined once a commit lands again. */
  get failure(): { readonly error: unknown; readonly since: number } | undefined {
    return this.#failure;
  }

  /** Starts an unload run when the resident souls weigh more than the memory budget (one at a time). */
  #maybeUnload(): void {
    const budget = this.#budget;
    if (budget === undefined || budget.bytes <= this.#unloadThreshold || this.#unloading !== undefined) return;
    // After the operation that called this has finished (its outbox entry added, its
    // listeners told), so the run's snapshot of what is protected includes it.
    let failed = false;
    const run = new Promise<void>((started) => afterMicrotasks(started)).then(() => this.#unloadRun(budget)).catch((error: unknown) => {
      failed = true;
      if (this.#host.usable()) reportListenerError(error);
    });
    this.#unloading = run.finally(() => {
      this.#unloading = undefined;
      // Loads or writes during the run may have pushed the weight over again. Not after a
      // failed run: the weight is still over, and it would fail again at once, every macrotask.
      if (!failed && this.#host.usable()) this.#maybeUnload();
    });
  }

  /**
   * Unloads least recently used souls until the weight is under LOW_WATER of the
   * budget. The last step is synchronous: it skips souls used since the run began,
   * souls being loaded and protected souls; a later load of an unloaded soul waits for
   * the writes staged before it left (their records must be in the store it scans).
   */
  async #unloadRun(budget: MemoryBudget): Promise<void> {
    const since = budget.uses;
    const isProtected = await this.#host.protection();
    if (!this.#host.usable()) return;
    const victims = budget.victims((soul, usedAt) => usedAt <= since && !this.souls.isLoading(soul) && !isProtected(soul));
    const staged = this.commit.durable();
    for (const soul of victims) {
      if (this.souls.has(soul)) {
        this.#host.dropFromMemory(soul);
        this.souls.evict(soul, staged);
      }
      budget.unloaded(soul);
    }
    // Could not get under the budget (everything left is protected or in use): the next
    // run waits for 10 % more weight rather than spin.
    this.#unloadThreshold = budget.over ? budget.bytes + budget.maxBytes * 0.1 : budget.maxBytes;
  }

  /**
   * The store is the truth: if the batch carrying these changes fails (a full disk, an
   * I/O error), their souls leave the engine and are loaded again from the store on next
   * use, so nothing that could not be made durable is read, served or merged against.
   * (Nothing of the batch was sent either: durability.ts holds everything until commit.)
   */
  #unloadIfLost(changes: readonly EngineChange[]): void {
    const durable = this.commit.durable();
    let souls = this.#stagedSouls.get(durable);
    if (souls === undefined) {
      const staged = new Set<string>();
      souls = staged;
      this.#stagedSouls.set(durable, staged);
      durable.then(
        () => void this.#stagedSouls.delete(durable),
        () => {
          this.#stagedSouls.delete(durable);
          if (!this.#host.usable()) return;
          // Loads wait for what is staged now, so they find the store as it ends up.
          const settled = this.commit.durable();
          for (const soul of staged) {
            if (!this.souls.has(soul)) continue;
            this.#host.dropFromMemory(soul);
            this.souls.evict(soul, settled);
            this.#budget?.unloaded(soul);
          }
        },
      );
    }
    for (const change of changes) souls.add(change[0]);
  }

  /**
   * Stages the deferred queue's changes, `[id, frame, …]` as the engine's
   * `lastDeferredRecords()` gives them: a "d" record put for an update that joined
   * (with the batch that acknowledges it), deleted for one that left (with the changes it
   * made). A deletion that fails leaves a record of an update already applied: restored
   * at the next open, it comes due and changes nothing (HAM), then is deleted.
   */
  stageDeferred(records: readonly Uint8Array[]): void {
    for (let i = 0; i + 1 < records.length; i += 2) {
      const key = deferredRecordKey(records[i]!);
      const frame = records[i + 1]!;
      if (frame.length === 0) this.commit.del(key);
      else this.commit.put(key, frame);
    }
  }

  /** Converts a layout-1 store's deferred frame: every deferred update as a "d" record, and "D" deleted, in the next commit. */
  convertDeferredFrame(allRecords: readonly Uint8Array[]): void {
    this.stageDeferred(allRecords);
    this.commit.del(DEFERRED_KEY);
  }

  /** Whether the store holds a record of `soul` (one seek; staged records are not seen). */
  async holds(soul: string): Promise<boolean> {
    return (await storedEntries(this.store, soul, this.#filter, soulPrefix(soul), 1)).length !== 0;
  }

  /**
   * The souls the store holds property records of, in key order, from the first after
   * `after`. Where the store can list keys alone (LevelDB), one walk over the "P" keys,
   * starting afresh past a soul once it has shown SKIP_AFTER_KEYS of them (a soul of a
   * million properties costs a few chunks, not a million keys); else one seek per soul
   * (its records are skipped, not read). A server walks every soul after each change of
   * membership (dht/handoff.ts): a native iterator per soul cost ~45 µs each (~0.4 s of
   * CPU for 8,000 souls, on each of 19 servers at once), the walk ~12 µs per soul.
   */
  async *storedSouls(after?: string): AsyncIterableIterator<string> {
    // Property keys start with "P" (0x50): their prefix always has an end.
    let from = after === undefined ? PROPERTY_PREFIX : prefixEnd(soulPrefix(after))!;
    const end = prefixEnd(PROPERTY_PREFIX)!;
    const keys = this.store.keys?.bind(this.store);
    for (;;) {
      let last: Uint8Array | undefined;
      let sameSoul = 0;
      let skipFrom: Uint8Array | undefined;
      const walk = keys === undefined ? this.store.entries({ gte: from, lt: end, limit: 1 }) : keys({ gte: from, lt: end });
      for await (const item of walk) {
        const key = item instanceof Uint8Array ? item : item.key;
        if (last !== undefined && startsWith(key, last)) {
          if (++sameSoul < SKIP_AFTER_KEYS) continue;
          // A large soul: start again past it.
          skipFrom = prefixEnd(last)!;
          break;
        }
        const { soul, prefixLength } = soulOfPropertyKey(key);
        last = key.slice(0, prefixLength);
        sameSoul = 0;
        yield soul;
      }
      if (last === undefined) return;
      if (keys !== undefined && skipFrom === undefined) return;
      from = skipFrom ?? prefixEnd(last)!;
    }
  }

  /**
   * The stored property records ("P" values) of each of `souls`, in key order; none for a
   * soul not stored. At most SOUL_RECORD_READS souls are read at once, all calls together:
   * anti-entropy asks for thousands, and a restarted server's merges (each loading its
   * souls first) waited seconds behind 13,000 such reads queued at once in the store's
   * threads.
   */
  async soulRecords(souls: readonly string[]): Promise<Uint8Array[][]> {
    return Promise.all(souls.map((soul) => this.#recordReads.run(async () => (await storedEntries(this.store, soul, this.#filter)).map((entry) => entry.value))));
  }

  readonly #recordReads = new TaskLimit(SOUL_RECORD_READS);

  /**
   * Deletes every record of `souls` and drops them from memory (a server letting go of
   * data it does not own once its owners hold it: network/dht/). The last step is
   * synchronous: a soul being loaded, protected (`host.protection()`, e.g. an outbox
   * entry) or kept by `keep` (watched) stays. Resolves to the souls released, once their
   * deletion is durable. Not for a capped store (its cache accounting counts records).
   */
  async release(souls: readonly string[], keep: (soul: string) => boolean): Promise<string[]> {
    if (this.#accounting !== undefined || souls.length === 0) return [];
    // Everything staged so far is in the store before it is scanned.
    await this.commit.flush();
    const isProtected = await this.#host.protection();
    const storedKeys = await Promise.all(souls.map((soul) => scanKeys(this.store, soulPrefix(soul))));
    if (!this.#host.usable()) return [];
    const engine = this.#host.engine();
    const released: string[] = [];
    for (let i = 0; i < souls.length; i++) {
      const soul = souls[i]!;
      if (this.souls.isLoading(soul) || isProtected(soul) || keep(soul)) continue;
      for (const key of storedKeys[i]!) this.commit.del(key);
      if (this.souls.has(soul) && engine !== undefined) {
        // Records written since the scan (staged, not landed) are known to the engine.
        const prefix = this.souls.prefix(soul);
        const node = JSON.parse(engine.read(soul, undefined)) as EngineNode | null;
        for (const key of Object.keys(node?.props ?? {})) this.commit.del(propertyKey(prefix, key));
        this.#host.dropFromMemory(soul);
      }
      released.push(soul);
    }
    const deleted = this.commit.durable();
    for (const soul of released) {
      if (this.souls.has(soul)) this.souls.evict(soul, deleted);
      this.#budget?.unloaded(soul);
    }
    await deleted;
    return released;
  }

  /** A run if the cache is over its cap (after opening: the cap may be smaller than last time). */
  maybeEvict(): void {
    this.#evictor?.maybeRun();
  }

  /** Outbox entries were acknowledged: a run that backed off may now succeed. */
  relaxEviction(): void {
    this.#evictor?.relax();
    if (this.#budget !== undefined) this.#unloadThreshold = this.#budget.maxBytes;
  }

  /** Evicts now if over the cap; resolves to the number of souls evicted, once durable. */
  async trim(): Promise<number> {
    return (await this.#evictor?.run()) ?? 0;
  }

  cacheReport(): CacheReport {
    const usage = this.#accounting?.usage;
    return {
      cachedNodes: usage?.souls,
      cacheBytes: usage?.bytes,
      maxBytes: this.#accounting?.maxBytes,
      residentNodes: this.souls.size,
      residentBytes: this.#budget?.bytes,
      memoryBudget: this.#budget?.maxBytes,
    };
  }

  /** Waits until everything staged (access ticks of reads included) is durable. */
  async flush(): Promise<void> {
    if (this.#evictor !== undefined) {
      await this.#evictor.idle();
      if (this.#accounting?.dirty) this.commit.touch();
    }
    await this.commit.flush();
  }

  /** Lets eviction and loads finish, commits what is staged, closes the store. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#filterBuilt;
    this.#accounting?.close();
    await this.#evictor?.idle();
    await this.#unloading;
    await this.souls.settle();
    if (this.#accounting?.dirty) this.commit.touch();
    // Failed batches were reported to the puts they belonged to.
    await this.commit.flush().catch(() => {});
    await this.store.close();
  }

  /** Adds to each commit the records that describe the state as of the commit. */
  #seal(operations: StorageOperation[], durable: Promise<void>): void {
    const engine = this.#host.engine();
    if (engine === undefined) return;
    durable.then(
      () => void (this.#failure = undefined),
      (error: unknown) => void (this.#failure ??= { error, since: Date.now() }),
    );
    const { size, nextId } = this.#host.outboxCounters();
    operations.push({ type: 'put', key: HEAD_KEY, value: encodeHead({ clock: engine.clock(), outboxSize: size, outboxNextId: nextId }) });
    this.#accounting?.seal(operations, durable);
    if (this.#cacheTotalsStale) {
      this.#cacheTotalsStale = false;
      operations.push({ type: 'del', key: CACHE_KEY });
      durable.catch(() => void (this.#cacheTotalsStale = true));
    }
  }
}
