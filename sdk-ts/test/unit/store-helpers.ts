/** Stores for tests of store-backed databases. */
import { MemoryStore, type RangeOptions, type StorageAdapter, type StorageEntry, type StorageOperation } from '../../src/node.js';

/**
 * A store that outlives the databases using it (its `close()` does nothing), so a test
 * can reopen a database on the same data, and that counts what is asked of it.
 */
export class ReusableStore implements StorageAdapter {
  readonly inner = new MemoryStore();
  batches = 0;
  /** The prefix of every range scan, as text (property prefixes start with "P" + 4 length bytes). */
  readonly scans: string[] = [];
  /** Makes the next `batch()` fail without writing anything. */
  failNextBatch = false;

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }

  entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
    this.scans.push(range?.prefix === undefined ? '' : scannedSoul(range.prefix));
    return this.inner.entries(range);
  }

  batch(operations: readonly StorageOperation[]): Promise<void> {
    this.batches++;
    if (this.failNextBatch) {
      this.failNextBatch = false;
      return Promise.reject(new Error('the disk is full'));
    }
    return this.inner.batch(operations);
  }

  async close(): Promise<void> {}
}

/** The soul a property-record prefix stands for, or the prefix's first letter for other records. */
function scannedSoul(prefix: Uint8Array): string {
  if (prefix[0] !== 0x50 || prefix.length < 5) return String.fromCharCode(prefix[0] ?? 0x3f);
  return new TextDecoder().decode(prefix.subarray(5));
}
