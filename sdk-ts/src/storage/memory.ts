/**
 * An in-memory StorageAdapter: a sorted array searched by bisection. For tests,
 * caches and short-lived peers; nothing survives the process.
 *
 * Bytes are copied on the way in and on the way out, so callers can neither mutate
 * stored data nor see later writes through a buffer they got earlier. A batch is
 * validated and copied before anything changes, then applied synchronously, so
 * batches land in call order and a failing one leaves nothing behind.
 */
import { closedError } from '../api/errors.js';
import type { RangeOptions, StorageAdapter, StorageEntry, StorageOperation } from './adapter.js';
import { compareBytes } from './bytes.js';
import { lowerBound, sortedSlice, toKeyRange } from './range.js';
import { checkBytes, copyOperations } from './validate.js';

const keyOf = (entry: StorageEntry): Uint8Array => entry.key;

export class MemoryStore implements StorageAdapter {
  /** Sorted by key, byte-wise; keys unique. Entries are never mutated, only replaced. */
  #entries: StorageEntry[] = [];
  #closed = false;

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    checkBytes(key, 'key');
    const entry = this.#entries[this.#search(key)];
    return entry !== undefined && compareBytes(entry.key, key) === 0 ? entry.value.slice() : undefined;
  }

  async *entries(range: RangeOptions = {}): AsyncIterable<StorageEntry> {
    this.#assertOpen();
    const keyRange = toKeyRange(range);
    if (keyRange === undefined) return;
    // The snapshot: entries are immutable, so copying the references suffices.
    const [start, end] = sortedSlice(keyRange, this.#entries.length, (key) => this.#search(key));
    const selected = this.#entries.slice(start, end);
    if (keyRange.reverse) selected.reverse();
    for (const entry of selected) {
      this.#assertOpen();
      yield { key: entry.key.slice(), value: entry.value.slice() };
    }
  }

  async batch(operations: readonly StorageOperation[]): Promise<void> {
    this.#assertOpen();
    for (const operation of copyOperations(operations)) {
      const index = this.#search(operation.key);
      const existing = this.#entries[index];
      const found = existing !== undefined && compareBytes(existing.key, operation.key) === 0;
      if (operation.type === 'put') {
        const entry = { key: operation.key, value: operation.value };
        if (found) this.#entries[index] = entry;
        else this.#entries.splice(index, 0, entry);
      } else if (found) {
        this.#entries.splice(index, 1);
      }
    }
  }

  /** Idempotent: closing twice is not an error. The data is dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#entries = [];
  }

  #search(key: Uint8Array): number {
    return lowerBound(this.#entries, key, keyOf);
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError('the store is closed; create a new one to keep working.');
  }
}
