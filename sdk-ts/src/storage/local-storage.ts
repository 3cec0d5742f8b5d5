/**
 * A StorageAdapter over `localStorage` (or any Web Storage area), for small data:
 * browsers allow about 5 MB per origin, shared by every namespace and by anything
 * else the site stores there.
 *
 * Each entry is one item named `rustdht/<namespace>/<key>`, key and value packed 15
 * bits per UTF-16 unit (utf16-packing.ts explains why: 2.5× what base64 fits). Web
 * Storage cannot list keys in order, so the store keeps the namespace's keys in a
 * sorted in-memory index, built when it opens and kept current by its own writes and
 * by `storage` events from other tabs.
 *
 * Atomicity: Web Storage has no transactions, so a batch records every item it touches
 * before changing it, and if any write fails (QuotaExceededError above all) puts them
 * all back before rejecting: nothing of the batch remains and nothing stored before is
 * lost. A full store rejects with StorageQuotaError. The undo runs in the same task, so
 * no code on the page observes a partial batch; a tab that crashes in the middle of a
 * batch can leave part of it behind, since the browser persists items one by one.
 *
 * Durability: a resolved batch is in the browser's storage area; browsers write that
 * to disk shortly after, not before the call returns.
 */
import { closedError, RustDHTError, StorageQuotaError } from '../api/errors.js';
import type { RangeOptions, StorageAdapter, StorageEntry, StorageOperation } from './adapter.js';
import { compareBytes } from './bytes.js';
import { lowerBound, sortedSlice, toKeyRange } from './range.js';
import { packBytes, unpackBytes } from './utf16-packing.js';
import { checkBytes, copyOperations } from './validate.js';

const ITEM_PREFIX = 'rustdht/';
const identity = (key: Uint8Array): Uint8Array => key;

export class LocalStorageStore implements StorageAdapter {
  readonly namespace: string;
  readonly #storage: Storage;
  /** Every item of this store starts with it; the namespace is URI-encoded, so it holds no '/'. */
  readonly #prefix: string;
  /** The namespace's keys, sorted byte-wise. */
  #keys: Uint8Array[];
  #closed = false;
  readonly #onStorageEvent = (event: StorageEvent): void => this.#storageChanged(event);

  private constructor(namespace: string, storage: Storage) {
    this.namespace = namespace;
    this.#storage = storage;
    this.#prefix = itemPrefix(namespace);
    this.#keys = this.#scanKeys();
    if (typeof globalThis.addEventListener === 'function') globalThis.addEventListener('storage', this.#onStorageEvent);
  }

  /**
   * Opens the store `namespace` in `storage` (default: the page's localStorage). Stores
   * with different namespaces never see each other's data; closing one keeps its data.
   */
  static async open(namespace: string, storage?: Storage): Promise<LocalStorageStore> {
    return new LocalStorageStore(checkNamespace(namespace), storage ?? defaultStorage());
  }

  /** Removes every item of the store `namespace`. Close stores open on it first. */
  static async destroy(namespace: string, storage?: Storage): Promise<void> {
    const area = storage ?? defaultStorage();
    const prefix = itemPrefix(checkNamespace(namespace));
    for (const name of itemNames(area)) if (name.startsWith(prefix)) area.removeItem(name);
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    checkBytes(key, 'key');
    const text = this.#storage.getItem(this.#prefix + packBytes(key));
    return text === null ? undefined : unpackBytes(text);
  }

  async *entries(range: RangeOptions = {}): AsyncIterable<StorageEntry> {
    this.#assertOpen();
    const keyRange = toKeyRange(range);
    if (keyRange === undefined) return;
    // The snapshot: values are read now, all of them (the store is small by design).
    const [start, end] = sortedSlice(keyRange, this.#keys.length, (key) => lowerBound(this.#keys, key, identity));
    const selected: StorageEntry[] = [];
    for (const key of this.#keys.slice(start, end)) {
      const text = this.#storage.getItem(this.#prefix + packBytes(key));
      if (text !== null) selected.push({ key: key.slice(), value: unpackBytes(text) });
    }
    if (keyRange.reverse) selected.reverse();
    for (const entry of selected) {
      this.#assertOpen();
      yield entry;
    }
  }

  async batch(operations: readonly StorageOperation[]): Promise<void> {
    this.#assertOpen();
    const writes = copyOperations(operations).map((operation) => ({
      key: operation.key,
      item: this.#prefix + packBytes(operation.key),
      text: operation.type === 'put' ? packBytes(operation.value) : undefined,
    }));
    /** Each touched item as it was before the batch (null: absent). */
    const before = new Map<string, string | null>();
    try {
      for (const { item, text } of writes) {
        if (!before.has(item)) before.set(item, this.#storage.getItem(item));
        if (text === undefined) this.#storage.removeItem(item);
        else this.#storage.setItem(item, text);
      }
    } catch (error) {
      this.#undo(before, error);
      if (isQuotaExceeded(error)) {
        const size = writes.reduce((sum, { item, text }) => sum + item.length + (text?.length ?? 0), 0);
        throw new StorageQuotaError(
          `localStorage is full: a batch of ${writes.length} operation(s), about ${size} characters, does not fit in what is left of the ~5 MB quota. ` +
            'Nothing of the batch was stored and everything stored before is intact. Delete data, or use IndexedDBStore for more than small data.',
          { cause: error },
        );
      }
      throw error;
    }
    for (const { key, text } of writes) this.#indexKey(key, text !== undefined);
  }

  /** Idempotent. The data stays in storage; open the namespace again to use it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#keys = [];
    if (typeof globalThis.removeEventListener === 'function') globalThis.removeEventListener('storage', this.#onStorageEvent);
  }

  /**
   * Puts every touched item back. Removing them all first frees the room the batch
   * took, so restoring the old values needs no more than they held before.
   */
  #undo(before: Map<string, string | null>, cause: unknown): void {
    try {
      for (const item of before.keys()) this.#storage.removeItem(item);
      for (const [item, text] of before) if (text !== null) this.#storage.setItem(item, text);
    } catch (undoError) {
      // Only possible if something else filled the storage area in between.
      this.#keys = this.#scanKeys();
      throw new RustDHTError('storage/undo', 'a localStorage batch failed and could not be fully undone; some items it touched may be missing.', {
        cause: new AggregateError([cause, undoError]),
      });
    }
  }

  #indexKey(key: Uint8Array, present: boolean): void {
    const index = lowerBound(this.#keys, key, identity);
    const found = index < this.#keys.length && compareBytes(this.#keys[index]!, key) === 0;
    if (present && !found) this.#keys.splice(index, 0, key);
    else if (!present && found) this.#keys.splice(index, 1);
  }

  #scanKeys(): Uint8Array[] {
    const keys: Uint8Array[] = [];
    for (const name of itemNames(this.#storage)) {
      if (name.startsWith(this.#prefix)) keys.push(unpackBytes(name.slice(this.#prefix.length)));
    }
    return keys.sort(compareBytes);
  }

  /** Another tab changed the same storage area. */
  #storageChanged(event: StorageEvent): void {
    if (this.#closed || event.storageArea !== this.#storage) return;
    if (event.key === null) {
      this.#keys = this.#scanKeys(); // clear()
    } else if (event.key.startsWith(this.#prefix)) {
      this.#indexKey(unpackBytes(event.key.slice(this.#prefix.length)), event.newValue !== null);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError(`the localStorage store "${this.namespace}" is closed; open it again with LocalStorageStore.open().`);
  }
}

function checkNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || namespace === '') {
    throw new RustDHTError('storage/location', 'LocalStorageStore.open() needs a non-empty namespace string.');
  }
  return namespace;
}

function itemPrefix(namespace: string): string {
  return `${ITEM_PREFIX}${encodeURIComponent(namespace)}/`;
}

function defaultStorage(): Storage {
  let storage: Storage | undefined;
  try {
    storage = globalThis.localStorage;
  } catch (error) {
    // Opaque origins and blocked site data throw SecurityError on access.
    throw new RustDHTError('storage/unavailable', 'localStorage is not accessible on this page (blocked site data or an opaque origin).', { cause: error });
  }
  if (storage === undefined || storage === null) {
    throw new RustDHTError('storage/unavailable', 'there is no localStorage here; pass a Storage object, or use another store.');
  }
  return storage;
}

/** A copy of the item names: removing items while walking `key(i)` would skip some. */
function itemNames(storage: Storage): string[] {
  const names: string[] = [];
  for (let i = 0; i < storage.length; i++) {
    const name = storage.key(i);
    if (name !== null) names.push(name);
  }
  return names;
}

function isQuotaExceeded(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  // Firefox used its own name before it adopted the standard one.
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
}
