// The conformance suite must fail when a backend is wrong. Each adapter here is
// MemoryStore with one deliberate defect of the kind real backends have (partial
// batches, string ordering, live iteration, racing writes, ...); the test requires the
// suite to report the checks that defect breaks as failed.
import { describe, expect, it } from 'vitest';
import type { RangeOptions, StorageAdapter, StorageEntry, StorageOperation } from '../../src/storage/adapter.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { runStorageChecks, storageChecks, type StorageSubject } from './conformance.js';
// Each defect is a DelegatingStore (forwarding to a MemoryStore) that overrides one behaviour.
import { DelegatingStore } from './delegating-store.js';


/** Applies operations one at a time: whatever precedes a bad operation stays. */
class NonAtomic extends DelegatingStore {
  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    for (let i = 0; i < operations.length; i++) await this.inner.batch([operations[i]!]);
  }
}

/** Orders keys shortest first (then byte-wise), as a length-prefixed key encoding would. */
class ShortlexOrder extends DelegatingStore {
  override async *entries(range: RangeOptions = {}): AsyncIterable<StorageEntry> {
    const { limit, reverse, ...bounds } = range;
    const all: StorageEntry[] = [];
    for await (const entry of this.inner.entries(bounds)) all.push(entry);
    all.sort((a, b) => a.key.length - b.key.length);
    if (reverse === true) all.reverse();
    yield* all.slice(0, limit ?? Infinity);
  }
}

/** A cursor that re-reads the live store at every step: no snapshot. */
class LiveIteration extends DelegatingStore {
  override async *entries(range: RangeOptions = {}): AsyncIterable<StorageEntry> {
    const keys: Uint8Array[] = [];
    for await (const { key } of this.inner.entries(range)) keys.push(key);
    for (const key of keys) {
      const value = await this.inner.get(key);
      if (value !== undefined) yield { key, value };
    }
  }
}

/** Gets the range right but applies limit before reversing. */
class ReverseLimitFirst extends DelegatingStore {
  override async *entries(range: RangeOptions = {}): AsyncIterable<StorageEntry> {
    const { reverse, ...forward } = range;
    const selected: StorageEntry[] = [];
    for await (const entry of this.inner.entries(forward)) selected.push(entry);
    yield* reverse === true ? selected.reverse() : selected;
  }
}

/** close() forgets to close. */
class IgnoresClose extends DelegatingStore {
  override async close(): Promise<void> {}
}

/**
 * Concurrent batches land out of order: a batch is held until the next one has landed
 * (or for 5 ms when none follows), so of two overlapping calls the later lands first.
 * Deterministic: random delays let the defect go unseen when the timers happened to
 * fire in call order (it did, once, under load).
 */
class Racing extends DelegatingStore {
  #held: (() => Promise<void>) | undefined;
  override batch(operations: readonly StorageOperation[]): Promise<void> {
    const held = this.#held;
    if (held !== undefined) {
      this.#held = undefined;
      return this.inner.batch(operations).then(() => held());
    }
    return new Promise<void>((resolve, reject) => {
      const apply = (): Promise<void> => this.inner.batch(operations).then(resolve, reject);
      const release = (): Promise<void> => {
        clearTimeout(timer);
        return apply();
      };
      const timer = setTimeout(() => {
        if (this.#held !== release) return;
        this.#held = undefined;
        void apply();
      }, 5);
      this.#held = release;
    });
  }
}

/** Silently keeps only the first MiB of a value. */
class Truncating extends DelegatingStore {
  override batch(operations: readonly StorageOperation[]): Promise<void> {
    return this.inner.batch(operations.map((op) => (op.type === 'put' ? { ...op, value: op.value.subarray(0, 1024 * 1024) } : op)));
  }
}

/** get hands out one cached array per key, so mutating it changes what later reads return. */
class SharedViews extends DelegatingStore {
  readonly #cache = new Map<string, Uint8Array>();
  override async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const id = key.join();
    if (!this.#cache.has(id)) {
      const value = await this.inner.get(key);
      if (value === undefined) return undefined;
      this.#cache.set(id, value);
    }
    return this.#cache.get(id);
  }
  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    await this.inner.batch(operations);
    for (const op of operations) this.#cache.delete(op.key.join());
  }
}

/** A quota that throws a plain Error after writing part of the batch. */
class UntypedQuota extends DelegatingStore {
  #used = 0;
  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    for (const op of operations) {
      const size = op.type === 'put' ? op.value.length : 0;
      if (this.#used + size > 4 * 1024 * 1024) throw new Error('QuotaExceededError');
      this.#used += size;
      await this.inner.batch([op]);
    }
  }
}

const fresh = (make: () => StorageAdapter): StorageSubject['makeStore'] => async () => make();

const cases: Array<{ defect: string; subject: StorageSubject; mustFail: string[] }> = [
  {
    defect: 'batches applied one operation at a time',
    subject: { name: 'NonAtomic', makeStore: fresh(() => new NonAtomic()) },
    mustFail: ['a batch with an invalid operation in the middle leaves nothing of itself', 'a batch whose operations throw while being read leaves nothing of itself'],
  },
  {
    defect: 'shortest keys first',
    subject: { name: 'ShortlexOrder', makeStore: fresh(() => new ShortlexOrder()) },
    mustFail: ['keys sort byte-wise: 0x00 and 0xff bytes, keys that are prefixes of each other', 'ranges: 400 random combinations agree with a reference model'],
  },
  {
    defect: 'iteration reads the live store',
    subject: { name: 'LiveIteration', makeStore: fresh(() => new LiveIteration()) },
    mustFail: ['an iteration sees the store as it was when it started (its first next())'],
  },
  {
    defect: 'limit applied before reversing',
    subject: { name: 'ReverseLimitFirst', makeStore: fresh(() => new ReverseLimitFirst()) },
    mustFail: ['ranges: prefix, gte, lt, reverse and limit, alone and combined', 'ranges: 400 random combinations agree with a reference model', 'prefixes ending in 0xff, the empty prefix, a prefix equal to a key'],
  },
  {
    defect: 'close() does nothing',
    subject: { name: 'IgnoresClose', makeStore: fresh(() => new IgnoresClose()) },
    mustFail: ['after close() every method rejects with ClosedError; close() is idempotent', 'an iteration running when the store closes ends with ClosedError', 'close() waits for batches already issued; batch() after close() rejects'],
  },
  {
    defect: 'concurrent batches land in random order',
    subject: { name: 'Racing', makeStore: fresh(() => new Racing()) },
    mustFail: ['concurrent writers: overlapping batch() calls all land, the later call winning per key'],
  },
  {
    defect: 'values truncated to 1 MiB',
    subject: { name: 'Truncating', makeStore: fresh(() => new Truncating()) },
    mustFail: ['large values (1 MiB and more) round-trip intact'],
  },
  {
    defect: 'get returns the same shared array every time',
    subject: { name: 'SharedViews', makeStore: fresh(() => new SharedViews()) },
    mustFail: ['keys and values are copied in and out; reads return plain Uint8Arrays'],
  },
  {
    defect: 'every store is the same store',
    subject: (() => {
      const shared = new MemoryStore();
      return { name: 'Shared', makeStore: fresh(() => new DelegatingStore(shared)) };
    })(),
    mustFail: ['separate stores do not share data'],
  },
  {
    defect: 'reopening loses the data',
    subject: { name: 'Forgetful', makeStore: fresh(() => new MemoryStore()), reopen: async () => new MemoryStore() },
    mustFail: ['reopening a persistent store keeps its data', 'large values (1 MiB and more) round-trip intact', 'close() waits for batches already issued; batch() after close() rejects'],
  },
  {
    defect: 'quota errors untyped, batches partly written',
    subject: { name: 'UntypedQuota', makeStore: fresh(() => new UntypedQuota()), quotaLimited: true },
    mustFail: ['a batch that exceeds the quota rejects with StorageQuotaError, and nothing is lost'],
  },
];

describe('the conformance suite catches broken backends', () => {
  it('names every mustFail check correctly', () => {
    const names = new Set(storageChecks.map((check) => check.name));
    for (const { mustFail } of cases) for (const name of mustFail) expect(names, name).toContain(name);
  });

  for (const { defect, subject, mustFail } of cases) {
    it(`${subject.name}: ${defect}`, async () => {
      const results = await runStorageChecks(subject);
      const failed = results.filter((r) => r.status === 'failed').map((r) => r.name);
      expect(failed).toEqual(expect.arrayContaining(mustFail));
    });
  }

  it('and passes the same checks on the unbroken MemoryStore', async () => {
    const results = await runStorageChecks({ name: 'MemoryStore', makeStore: async () => new MemoryStore() });
    expect(results.filter((r) => r.status === 'failed')).toEqual([]);
  });
});
