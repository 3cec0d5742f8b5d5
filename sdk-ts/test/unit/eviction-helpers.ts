/**
 * An eviction run (persistence/eviction.ts) as the database wires it (replica-backing.ts),
 * without the engine: a real MemoryStore, GroupCommit, ResidentSouls and CacheAccounting;
 * the host's callbacks (protection, dropFromMemory, usable) are scripted so a test can
 * change what is protected or close the database at a chosen step of a run.
 *
 * Every soul is named `sNN` and written with records of exactly the weight asked for
 * (key and value bytes), so a test can put the store at, under or over its cap to the byte.
 */
import { MemoryStore, type RangeOptions, type StorageEntry, type StorageOperation } from '../../src/node.js';
import { CacheAccounting } from '../../src/persistence/cache-accounting.js';
import { Evictor } from '../../src/persistence/eviction.js';
import { GroupCommit } from '../../src/persistence/group-commit.js';
import { ACCESS_PREFIX, CACHE_KEY, PROPERTY_PREFIX, decodeCacheTotals, propertyKey, soulOfAccessKey, soulOfPropertyKey } from '../../src/persistence/layout.js';
import { ResidentSouls } from '../../src/persistence/resident-souls.js';

/**
 * A MemoryStore that counts eviction runs (each scans the "A" records once) and the
 * souls whose records are scanned, can hold its batches (a slow disk), and can run a
 * callback when a soul's records are scanned or fail its scans.
 */
export class ScriptedStore extends MemoryStore {
  /** Scans of the "A" prefix: one per run that got started. */
  accessScans = 0;
  /** Souls whose "P" records were scanned (a load, or a run reading its victims' keys). */
  readonly soulScans: string[] = [];
  /** Called on every scan of a soul's records, before it is read. */
  onSoulScan: ((soul: string) => void) | undefined;
  /** Makes every scan of the "A" prefix fail with this error. */
  failAccessScans: Error | undefined;
  held = false;
  readonly #gates: Array<() => void> = [];

  override entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
    const prefix = range?.prefix;
    if (prefix?.length === 1 && prefix[0] === ACCESS_PREFIX[0]) {
      this.accessScans++;
      const failure = this.failAccessScans;
      if (failure !== undefined) return (async function* () { throw failure; })();
    } else if (prefix !== undefined && prefix.length > 5 && prefix[0] === PROPERTY_PREFIX[0]) {
      const { soul } = soulOfPropertyKey(prefix);
      this.soulScans.push(soul);
      this.onSoulScan?.(soul);
    }
    return super.entries(range);
  }

  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    if (this.held) await new Promise<void>((resolve) => this.#gates.push(resolve));
    return super.batch(operations);
  }

  /** Lets every held batch (and every later one) through. */
  releaseAll(): void {
    this.held = false;
    for (const release of this.#gates.splice(0)) release();
  }
}

export interface Harness {
  readonly store: ScriptedStore;
  readonly commit: GroupCommit;
  readonly souls: ResidentSouls;
  readonly accounting: CacheAccounting;
  readonly evictor: Evictor;
  /** Souls the scripted protection() protects (read when a run asks). */
  readonly protectedSouls: Set<string>;
  /** Calls of protection(): one per run that found the store over its cap. */
  protectionCalls: number;
  /** Runs inside protection(), before it resolves (the database changing mid-run). */
  duringProtection: (() => void) | undefined;
  /** What usable() answers (false: the database is closing). */
  usable: boolean;
  /** Souls dropFromMemory was called with. */
  readonly dropped: string[];
  /** Whether write() ends with maybeRun(), as a put does (true by default). */
  autoRun: boolean;
  /** Loads `soul` and stages a record `key` weighing exactly `bytes` (key included), as a put does; then maybeRun() (see autoRun). */
  write(soul: string, key: string, bytes: number): Promise<void>;
  /** The souls with "P" records in the store, sorted. */
  storedSouls(): Promise<string[]>;
  /** The souls with "A" records in the store, sorted. */
  accessRecords(): Promise<string[]>;
  /** Bytes of the "P" records in the store, keys included. */
  storedBytes(): Promise<number>;
}

/** A harness over `store` (a new one by default; an earlier harness's store: a reopening, with its "C" totals). */
export async function evictionHarness(maxBytes: number, store = new ScriptedStore()): Promise<Harness> {
  const totalsBytes = await store.get(CACHE_KEY);
  const totals = totalsBytes === undefined ? { tick: 0, bytes: 0, souls: 0 } : decodeCacheTotals(totalsBytes);
  let commit: GroupCommit | undefined;
  const accounting = new CacheAccounting(maxBytes, totals, () => commit?.touch());
  commit = new GroupCommit(store, (operations, durable) => accounting.seal(operations, durable));
  const souls = new ResidentSouls(store, () => {}, (soul, prefixLength, entries) => accounting.loaded(soul, prefixLength, entries));
  const scan = async (prefix: Uint8Array, each: (entry: StorageEntry) => void): Promise<void> => {
    for await (const entry of MemoryStore.prototype.entries.call(store, { prefix })) each(entry);
  };
  const harness: Harness = {
    store,
    commit,
    souls,
    accounting,
    evictor: undefined as unknown as Evictor,
    protectedSouls: new Set(),
    protectionCalls: 0,
    duringProtection: undefined,
    usable: true,
    dropped: [],
    autoRun: true,
    async write(soul, key, bytes) {
      await souls.load([soul]);
      const recordKey = propertyKey(souls.prefix(soul), key);
      if (bytes < recordKey.length) throw new Error(`a record of ${soul}.${key} weighs at least ${recordKey.length} bytes`);
      commit!.put(recordKey, new Uint8Array(bytes - recordKey.length));
      accounting.written(soul, key, bytes);
      if (harness.autoRun) harness.evictor.maybeRun();
    },
    async storedSouls() {
      const found = new Set<string>();
      await scan(PROPERTY_PREFIX, ({ key }) => found.add(soulOfPropertyKey(key).soul));
      return [...found].sort();
    },
    async accessRecords() {
      const found: string[] = [];
      await scan(ACCESS_PREFIX, ({ key }) => found.push(soulOfAccessKey(key)));
      return found.sort();
    },
    async storedBytes() {
      let total = 0;
      await scan(PROPERTY_PREFIX, ({ key, value }) => (total += key.length + value.length));
      return total;
    },
  };
  (harness as { evictor: Evictor }).evictor = new Evictor({
    store,
    commit,
    souls,
    accounting,
    protection: async () => {
      harness.protectionCalls++;
      harness.duringProtection?.();
      const protectedNow = new Set(harness.protectedSouls);
      return (soul) => protectedNow.has(soul);
    },
    dropFromMemory: (soul) => void harness.dropped.push(soul),
    usable: () => harness.usable,
  });
  return harness;
}

/** `s00`, `s01`, …: souls whose records all have keys of the same length. */
export const soul = (i: number): string => `s${String(i).padStart(2, '0')}`;

/** Writes souls `s<from>` … `s<to - 1>`, one record `v` of `bytes` each, oldest first, and waits until they are stored. */
export async function writeSouls(harness: Harness, from: number, to: number, bytes: number): Promise<void> {
  for (let i = from; i < to; i++) await harness.write(soul(i), 'v', bytes);
  await harness.evictor.idle();
  await harness.commit.flush();
}

/** Waits for `condition`, a macrotask at a time (at most ~1000). */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error('until: the condition never held');
}
