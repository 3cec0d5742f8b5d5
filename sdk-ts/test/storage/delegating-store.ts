/**
 * A StorageAdapter that forwards everything to another (a MemoryStore by default). Tests
 * subclass it to change one behaviour: a defect for the conformance suite to catch
 * (broken-backends.test.ts), a full disk (disk-full.test.ts), a byte counter
 * (deferred-queue.test.ts).
 */
import type { RangeOptions, StorageAdapter, StorageEntry, StorageOperation } from '../../src/storage/adapter.js';
import { MemoryStore } from '../../src/storage/memory.js';

export class DelegatingStore implements StorageAdapter {
  constructor(readonly inner: StorageAdapter = new MemoryStore()) {}
  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }
  entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
    return this.inner.entries(range);
  }
  batch(operations: readonly StorageOperation[]): Promise<void> {
    return this.inner.batch(operations);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
