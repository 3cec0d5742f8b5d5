/**
 * An in-memory StorageAdapter: a sorted array searched by bisection. For tests,
 * caches and short-lived peers; nothing survives the process.
 *
 * Bytes are copied on the way in and on the way out, so callers can neither mutate
 * stored data nor see later writes through a buffer they got earlier.
 */
import { closedError, InvalidValueError } from '../errors.js';
import type { RangeOptions, StorageAdapter, StorageEntry, StorageOperation } from './adapter.js';
import { compareBytes, prefixEnd } from './bytes.js';

export class MemoryStore implements StorageAdapter {
  /** Sorted by key, byte-wise; keys unique. */
  #entries: StorageEntry[] = [];
  #closed = false;

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    checkBytes(key, 'key');
    const index = this.#search(key);
    const entry = this.#entries[index];
    return entry !== undefined && compareBytes(entry.key, key) === 0 ? entry.value.slice() : undefined;
  }

  async *entries(range: RangeOptions = {}): AsyncIterable<StorageEntry> {
    this.#assertOpen();
    const selected = this.#select(range);
    for (const entry of selected) {
      this.#assertOpen();
      yield { key: entry.key.slice(), value: entry.value.slice() };
    }
  }

  async batch(operations: readonly StorageOperation[]): Promise<void> {
    this.#assertOpen();
    // Validate everything first: a batch applies completely or not at all.
    for (const operation of operations) {
      checkBytes(operation.key, 'key');
      if (operation.type === 'put') checkBytes(operation.value, 'value');
      else if (operation.type !== 'del') throw new InvalidValueError('storage/operation', `unknown batch operation type ${JSON.stringify((operation as { type: unknown }).type)}; use 'put' or 'del'.`);
    }
    for (const operation of operations) {
      const index = this.#search(operation.key);
      const existing = this.#entries[index];
      const found = existing !== undefined && compareBytes(existing.key, operation.key) === 0;
      if (operation.type === 'put') {
        const entry = { key: operation.key.slice(), value: operation.value.slice() };
        if (found) this.#entries[index] = entry;
        else this.#entries.splice(index, 0, entry);
      } else if (found) {
        this.#entries.splice(index, 1);
      }
    }
  }

  /** Idempotent: closing twice is not an error. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#entries = [];
  }

  /** Index of the first entry whose key is ≥ `key`. */
  #search(key: Uint8Array): number {
    let low = 0;
    let high = this.#entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareBytes(this.#entries[middle]!.key, key) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #select(range: RangeOptions): StorageEntry[] {
    const { prefix, gte, lt, reverse = false, limit = Infinity } = range;
    if (prefix !== undefined) checkBytes(prefix, 'prefix');
    if (gte !== undefined) checkBytes(gte, 'gte');
    if (lt !== undefined) checkBytes(lt, 'lt');
    if (!(limit >= 0)) throw new InvalidValueError('storage/range', `limit must be a number ≥ 0, got ${String(limit)}.`);
    let start = gte === undefined ? 0 : this.#search(gte);
    let end = lt === undefined ? this.#entries.length : this.#search(lt);
    if (prefix !== undefined) {
      start = Math.max(start, this.#search(prefix));
      const after = prefixEnd(prefix);
      if (after !== undefined) end = Math.min(end, this.#search(after));
    }
    const count = Math.max(0, Math.min(end - start, limit));
    return reverse ? this.#entries.slice(end - count, end).reverse() : this.#entries.slice(start, start + count);
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError('the store is closed; create a new one to keep working.');
  }
}

function checkBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidValueError('storage/bytes', `the ${what} must be a Uint8Array; encode strings with TextEncoder first.`);
  }
}
