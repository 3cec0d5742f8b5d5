/**
 * Where a RustDHT database keeps its bytes. Keys and values are opaque byte strings;
 * keys sort byte-wise (like LevelDB, IndexedDB array-buffer keys, or `memcmp`), so
 * prefix and range scans work the same on every backend.
 *
 * Every backend must pass the shared conformance suite
 * (sdk-ts/test/unit/storage-conformance.ts). Every method of a closed store rejects
 * (or throws) with `ClosedError`.
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
  /** At most this many entries. */
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
   * Entries in byte-wise key order (reversed on request). An iteration sees the
   * store as it was when the iteration started.
   */
  entries(range?: RangeOptions): AsyncIterable<StorageEntry>;
  /**
   * Applies every operation or none. When the promise resolves the batch is durable
   * to the backend's guarantee (for persistent backends: it survives a crash).
   */
  batch(operations: readonly StorageOperation[]): Promise<void>;
  /** Releases the backend. Later calls reject with ClosedError. */
  close(): Promise<void>;
}
