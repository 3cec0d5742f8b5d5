/**
 * Where a RustDHT database keeps its bytes. Keys and values are opaque byte strings;
 * keys sort byte-wise (like LevelDB, IndexedDB array-buffer keys, or `memcmp`), so
 * prefix and range scans work the same on every backend.
 *
 * Backends: MemoryStore (everywhere), LevelStore (Node), IndexedDBStore and
 * LocalStorageStore (browsers). Every backend must pass the shared conformance suite
 * (sdk-ts/test/storage/conformance.ts), in Node and in Chromium alike.
 *
 * Contract common to all of them:
 * - Keys and values are copied in and out; reads return plain Uint8Arrays.
 * - Arguments that are not bytes, unknown operation types, and bad range options are
 *   rejected with `InvalidValueError` before anything changes.
 * - Batches land in call order: for two batch() calls touching the same key, the later
 *   call's write is the one that stays, even when neither was awaited.
 * - Every method of a closed store rejects with `ClosedError`, including an iteration
 *   that was running when the store closed. `close()` is idempotent and settles the
 *   batches issued before it.
 */

/** A range of keys. All bounds combine (a key must satisfy each one given). */
export interface RangeOptions {
  /** Only keys starting with these bytes. */
  readonly prefix?: Uint8Array;
  /** Only keys ≥ this (byte-wise). */
  readonly gte?: Uint8Array;
  /** Only keys < this (byte-wise). */
  readonly lt?: Uint8Array;
  /** Largest keys first. */
  readonly reverse?: boolean;
  /** At most this many entries: a whole number ≥ 0, or Infinity (the default). */
  readonly limit?: number;
}

export interface StorageEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export type StorageOperation =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: Uint8Array };

export interface StorageAdapter {
  /** The value stored under `key`, or undefined. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * Optional: the values of many keys (undefined where missing), in the order given, as
   * `get` of each would return them, in one call to the backend. Callers that read
   * hundreds of keys at once (persistence/change-log.ts) use it where a backend has it:
   * one native call instead of one per key (LevelDB).
   */
  getMany?(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>>;
  /**
   * Entries in byte-wise key order (reversed on request). An iteration sees the
   * store as it was when the iteration started, i.e. at its first `next()`: batches
   * that resolved before then are in it, nothing written later is.
   */
  entries(range?: RangeOptions): AsyncIterable<StorageEntry>;
  /**
   * Optional: the keys `entries(range)` would yield, without their values. Callers that
   * want only which keys exist (persistence/replica-backing.ts `storedSouls`: every soul
   * a server stores, after each change of membership) use it where a backend has it:
   * LevelDB makes a buffer per value it returns, and skipping them made that walk ~5×
   * cheaper (a 50,000-record store: 600 ms of CPU with values, 117 ms without).
   */
  keys?(range?: RangeOptions): AsyncIterable<Uint8Array>;
  /**
   * Applies every operation, in order, or none. When the promise resolves the batch
   * is durable to the backend's guarantee (each backend's documentation says which).
   * A backend that runs out of room rejects with `StorageQuotaError`, having applied
   * nothing of the batch.
   */
  batch(operations: readonly StorageOperation[]): Promise<void>;
  /** Waits for batches already issued, then releases the backend. Later calls reject with ClosedError. */
  close(): Promise<void>;
}
