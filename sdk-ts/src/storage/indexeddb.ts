/**
 * IndexedDB through `idb`: the default store in browsers.
 *
 * One database per store name, with one object store of out-of-line keys. Keys are
 * stored as IndexedDB binary keys (a Uint8Array key becomes a copy of its bytes), which
 * IndexedDB orders byte-wise, so its key ranges are exactly the StorageAdapter's.
 * Values are stored as Uint8Arrays.
 *
 * Atomicity and order: a batch is one readwrite transaction, which IndexedDB commits
 * whole or not at all. Transactions over the same object store run in the order they
 * were created, and batch() creates its transaction synchronously, so batches land in
 * call order.
 *
 * Durability: batches use `durability: 'strict'` by default, so a resolved batch has
 * been flushed to disk. `{ durability: 'relaxed' }` resolves once the browser has the
 * data (it survives a tab crash, maybe not an OS crash) and is much faster.
 *
 * Iteration reads the whole selected range in one readonly transaction when it starts:
 * that is the snapshot the interface promises. (A transaction cannot stay open while
 * the consumer awaits other things, and holding one would block the consumer's own
 * writes.) Memory is proportional to the range, so use `limit` or narrow ranges on
 * large stores.
 *
 * Connection events: when another connection (another tab, a newer version of this
 * code, or `IndexedDBStore.destroy()`) needs to upgrade or delete the database, this
 * store closes itself instead of blocking it; so does a connection the browser ends
 * (storage cleared, disk failure). Later calls then reject with ClosedError saying why.
 */
import { deleteDB, openDB, unwrap, type IDBPDatabase } from 'idb';
import { closedError, RustDHTError, StorageQuotaError } from '../api/errors.js';
import type { RangeOptions, StorageAdapter, StorageEntry, StorageOperation } from './adapter.js';
import { toKeyRange, type KeyRange } from './range.js';
import { checkBytes, copyOperations } from './validate.js';

/** Bump only with an upgrade path in `upgrade` below. */
const SCHEMA_VERSION = 1;
const OBJECT_STORE = 'entries';

export interface IndexedDBStoreOptions {
  /** Durability hint for batch transactions; default 'strict' (see the module comment). */
  readonly durability?: 'strict' | 'relaxed' | 'default';
}

export class IndexedDBStore implements StorageAdapter {
  /** The IndexedDB database name. */
  readonly name: string;
  readonly #db: IDBPDatabase;
  readonly #durability: IDBTransactionDurability;
  #closedBecause: string | undefined;
  /** Batches not yet committed or aborted; close() waits for them. */
  readonly #pending = new Set<Promise<void>>();

  private constructor(name: string, db: IDBPDatabase, durability: IDBTransactionDurability) {
    this.name = name;
    this.#db = db;
    this.#durability = durability;
  }

  /** Opens (creating it if needed) the IndexedDB database `name` as a store. */
  static async open(name: string, options: IndexedDBStoreOptions = {}): Promise<IndexedDBStore> {
    if (typeof name !== 'string' || name === '') {
      throw new RustDHTError('storage/location', 'IndexedDBStore.open() needs a database name.');
    }
    if (typeof indexedDB === 'undefined') {
      throw new RustDHTError('storage/unavailable', 'IndexedDB is not available here; in Node use LevelStore or MemoryStore.');
    }
    // The callbacks fire after open() resolved; they reach the store through this slot.
    let store: IndexedDBStore | undefined;
    let db: IDBPDatabase;
    try {
      db = await openDB(name, SCHEMA_VERSION, {
        upgrade(database) {
          if (!database.objectStoreNames.contains(OBJECT_STORE)) database.createObjectStore(OBJECT_STORE);
        },
        // No `blocked` handler: only a first creation upgrades, and other RustDHT
        // connections to an older schema close themselves through `blocking`.
        blocking() {
          if (store !== undefined) store.#shutDown('another connection is upgrading or deleting the database');
        },
        terminated() {
          if (store !== undefined) store.#shutDown('the browser closed the database (storage cleared, or a disk error)');
        },
      });
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name === 'VersionError') {
        throw new RustDHTError('storage/version', `the IndexedDB database "${name}" was written by a newer version of RustDHT; open it with that version.`, { cause: error });
      }
      throw mapDomError(error, `open the IndexedDB database "${name}"`);
    }
    if (!db.objectStoreNames.contains(OBJECT_STORE)) {
      db.close();
      throw new RustDHTError('storage/foreign', `the IndexedDB database "${name}" exists but was not created by RustDHT; choose another name.`);
    }
    store = new IndexedDBStore(name, db, options.durability ?? 'strict');
    return store;
  }

  /** Deletes the database `name` and everything in it. Open stores on it close themselves first. */
  static async destroy(name: string): Promise<void> {
    await deleteDB(name);
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    checkBytes(key, 'key');
    try {
      const value: unknown = await this.#db.get(OBJECT_STORE, idbKey(key));
      return value === undefined ? undefined : asBytes(value);
    } catch (error) {
      throw this.#fromError(error, 'get');
    }
  }

  async *entries(range: RangeOptions = {}): AsyncIterable<StorageEntry> {
    this.#assertOpen();
    const keyRange = toKeyRange(range);
    if (keyRange === undefined) return;
    let keys: IDBValidKey[];
    let values: unknown[];
    try {
      [keys, values] = await this.#readRange(keyRange);
    } catch (error) {
      throw this.#fromError(error, 'iterate');
    }
    for (let i = 0; i < keys.length; i++) {
      this.#assertOpen();
      yield { key: asBytes(keys[i]), value: asBytes(values[i]) };
    }
  }

  async batch(operations: readonly StorageOperation[]): Promise<void> {
    this.#assertOpen();
    const copies = copyOperations(operations);
    // The plain IDB API: idb would make a promise per request, and when a transaction
    // aborts each of them rejects; one completion promise per batch is all we need.
    let transaction: IDBTransaction;
    try {
      transaction = unwrap(this.#db).transaction(OBJECT_STORE, 'readwrite', { durability: this.#durability });
    } catch (error) {
      throw this.#fromError(error, 'write');
    }
    const committed = completion(transaction);
    try {
      const objectStore = transaction.objectStore(OBJECT_STORE);
      for (const operation of copies) {
        if (operation.type === 'put') objectStore.put(operation.value, idbKey(operation.key));
        else objectStore.delete(idbKey(operation.key));
      }
    } catch (error) {
      // Nothing is committed before we yield to the event loop: aborting undoes it all.
      transaction.abort();
      committed.catch(() => {});
      throw this.#fromError(error, 'write');
    }
    this.#pending.add(committed);
    try {
      await committed;
    } catch (error) {
      throw this.#fromError(error, 'write');
    } finally {
      this.#pending.delete(committed);
    }
  }

  /** Idempotent. Waits for batches already issued, then closes the connection. */
  async close(): Promise<void> {
    if (this.#closedBecause === undefined) this.#closedBecause = 'it was closed';
    await Promise.allSettled([...this.#pending]);
    this.#db.close();
  }

  /** Keys and values of `range`, read in one transaction (one consistent snapshot). */
  async #readRange(range: KeyRange): Promise<[IDBValidKey[], unknown[]]> {
    const bounds = toIDBKeyRange(range);
    const transaction = this.#db.transaction(OBJECT_STORE, 'readonly');
    const objectStore = transaction.store;
    // getAll takes a count but no direction, so a reversed, limited range walks a cursor.
    if (range.reverse && range.limit !== Infinity) {
      const keys: IDBValidKey[] = [];
      const values: unknown[] = [];
      let cursor = await objectStore.openCursor(bounds, 'prev');
      while (cursor !== null && keys.length < range.limit) {
        keys.push(cursor.key);
        values.push(cursor.value);
        cursor = await cursor.continue();
      }
      return [keys, values];
    }
    // getAll's count must fit an unsigned long; beyond that it means "everything".
    const count = range.limit <= 0xffff_ffff ? range.limit : undefined;
    const [keys, values] = await Promise.all([objectStore.getAllKeys(bounds, count), objectStore.getAll(bounds, count)]);
    if (range.reverse) {
      keys.reverse();
      values.reverse();
    }
    return [keys, values];
  }

  #shutDown(reason: string): void {
    this.#closedBecause ??= reason;
    this.#db.close();
  }

  #assertOpen(): void {
    if (this.#closedBecause !== undefined) throw this.#closedError();
  }

  #closedError(): Error {
    return closedError(`the IndexedDB store "${this.name}" is closed (${this.#closedBecause}); open it again with IndexedDBStore.open().`);
  }

  #fromError(error: unknown, doing: string): unknown {
    // A closed connection refuses new transactions with InvalidStateError and aborts running ones.
    if (this.#closedBecause !== undefined) return this.#closedError();
    return mapDomError(error, `${doing} in the IndexedDB store "${this.name}"`);
  }
}

/** Resolves when `transaction` commits; rejects with its error when it aborts. */
function completion(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.addEventListener('complete', () => resolve(), { once: true });
    transaction.addEventListener('abort', () => reject(transaction.error ?? new DOMException('the transaction was aborted', 'AbortError')), { once: true });
  });
}

function toIDBKeyRange(range: KeyRange): IDBKeyRange | undefined {
  if (range.gte !== undefined && range.lt !== undefined) return IDBKeyRange.bound(idbKey(range.gte), idbKey(range.lt), false, true);
  if (range.gte !== undefined) return IDBKeyRange.lowerBound(idbKey(range.gte));
  if (range.lt !== undefined) return IDBKeyRange.upperBound(idbKey(range.lt), true);
  return undefined;
}

/** A key IndexedDB accepts: it refuses views of a SharedArrayBuffer, so those are copied. */
function idbKey(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}

/** Binary keys come back as ArrayBuffers, values as the Uint8Arrays we stored. */
function asBytes(stored: unknown): Uint8Array {
  if (stored instanceof ArrayBuffer) return new Uint8Array(stored);
  if (stored instanceof Uint8Array && Object.getPrototypeOf(stored) === Uint8Array.prototype) return stored;
  if (ArrayBuffer.isView(stored)) return new Uint8Array(stored.buffer.slice(stored.byteOffset, stored.byteOffset + stored.byteLength));
  throw new RustDHTError('storage/corrupt', 'the IndexedDB store holds a record that is not bytes; it was not written by RustDHT.');
}

function mapDomError(error: unknown, doing: string): unknown {
  if ((error as { name?: unknown } | null)?.name === 'QuotaExceededError') {
    return new StorageQuotaError(`cannot ${doing}: the browser's storage quota for this site is used up. Nothing of the batch was stored; free space or ask for persistent storage.`, { cause: error });
  }
  return error;
}
