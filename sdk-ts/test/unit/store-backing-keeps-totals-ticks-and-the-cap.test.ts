/**
 * What the store backing (persistence/replica-backing.ts) keeps around the graph records,
 * seen through a LocalReplica on a ReusableStore (it survives reopening and counts scans
 * and batches):
 *
 * - a capped store keeps its cache totals ("C"), so opening it reads them, not every
 *   record; an uncapped session deletes "C" (its totals go stale), even when its first
 *   commit failed; opening with a smaller cap evicts at once;
 * - a read's access tick reaches the store by itself within READ_COMMIT_DELAY_MS, and at
 *   once on flush(); a flush with nothing new commits nothing;
 * - without a cap or a budget: trim() evicts nothing and the report has no budget figures;
 * - closing a server stops the stored-soul filter's background scan.
 *
 * Why: StrykerJS survivors in replica-backing.ts; cache-eviction.test.ts goes through
 * these paths without looking at what was read or written on the way.
 */
import { describe, expect, it } from 'vitest';
import type { RangeOptions, StorageEntry } from '../../src/node.js';
import { READ_COMMIT_DELAY_MS } from '../../src/persistence/cache-accounting.js';
import { ACCESS_PREFIX, CACHE_KEY, accessKey, decodeAccess, propertyKey, soulPrefix } from '../../src/persistence/layout.js';
import { acknowledgeAll, listStored, openReplica, put } from './replica-helpers.js';
import { ReusableStore } from './store-helpers.js';

const CAP = { cacheMaxBytes: 1_000_000 };

/** The access stamp the store holds for `soul`. */
async function storedStamp(store: ReusableStore, soul: string): Promise<number | undefined> {
  const bytes = await store.inner.get(accessKey(soul));
  return bytes === undefined ? undefined : decodeAccess(bytes).stamp;
}

describe('a capped store', () => {
  it('opening reads the totals it kept, not every record; an empty store reads nothing but its head', async () => {
    const store = new ReusableStore();
    const first = await openReplica(store, CAP);
    expect(store.scans).toEqual(['d']); // the deferred updates' records: nothing else
    await put(first, 'a', 'x', 1); // one commit, then close: no other
    await first.close();
    expect(await store.inner.get(CACHE_KEY)).toBeDefined();
    store.scans.length = 0;
    const reopened = await openReplica(store, CAP);
    expect(store.scans).toEqual(['d']);
    expect(reopened.cacheReport()).toMatchObject({ cachedNodes: 1 });
  });

  it('an uncapped session deletes the totals, even when its first commit failed; the next capped one rebuilds them', async () => {
    const store = new ReusableStore();
    const capped = await openReplica(store, CAP);
    await put(capped, 'a', 'x', 1);
    await acknowledgeAll(capped);
    await capped.close();
    expect(await store.inner.get(CACHE_KEY)).toBeDefined();
    const uncapped = await openReplica(store);
    store.failNextBatch = true;
    await expect(put(uncapped, 'b', 'x', 2)).rejects.toThrow();
    await put(uncapped, 'c', 'x', 3);
    await acknowledgeAll(uncapped);
    await uncapped.close();
    expect(await store.inner.get(CACHE_KEY)).toBeUndefined();
    // The totals are counted again, "c" included.
    const again = await openReplica(store, CAP);
    expect(again.cacheReport()).toMatchObject({ cachedNodes: 2 });
  });

  it('opened with a smaller cap than last time, it evicts without waiting for a write', async () => {
    const store = new ReusableStore();
    const big = await openReplica(store, CAP);
    for (const soul of ['s1', 's2', 's3', 's4']) await put(big, soul, 'v', 'x'.repeat(200));
    await acknowledgeAll(big);
    const bytes = big.cacheReport().cacheBytes!;
    await big.close();
    const small = await openReplica(store, { cacheMaxBytes: bytes * 0.6 });
    await small.flush(); // waits for the run opening started
    expect(await listStored(small)).toEqual(['s3', 's4']);
    expect(small.cacheReport().cacheBytes).toBe(bytes / 2);
  });

  it("a read's access tick reaches the store by itself, within READ_COMMIT_DELAY_MS", async () => {
    const store = new ReusableStore();
    const replica = await openReplica(store, CAP);
    await put(replica, 'a', 'x', 1);
    await put(replica, 'b', 'x', 2);
    await replica.flush();
    expect(await storedStamp(store, 'a')).toBeLessThan((await storedStamp(store, 'b'))!);
    const batches = store.batches;
    await replica.read(() => replica.readNode('a')); // a read alone: nothing else commits
    await new Promise((resolve) => setTimeout(resolve, READ_COMMIT_DELAY_MS + 300));
    expect(store.batches).toBe(batches + 1);
    expect(await storedStamp(store, 'a')).toBeGreaterThan((await storedStamp(store, 'b'))!);
  });

  it("flush() commits a read's access tick at once, and commits nothing when nothing changed", async () => {
    const store = new ReusableStore();
    const replica = await openReplica(store, CAP);
    await put(replica, 'a', 'x', 1);
    await put(replica, 'b', 'x', 2);
    await replica.flush();
    const batches = store.batches;
    await replica.flush();
    expect(store.batches).toBe(batches);
    await replica.read(() => replica.readNode('a'));
    await replica.flush();
    expect(store.batches).toBe(batches + 1);
    expect(await storedStamp(store, 'a')).toBeGreaterThan((await storedStamp(store, 'b'))!);
    let accessRecords = 0;
    for await (const _ of store.inner.entries({ prefix: ACCESS_PREFIX })) accessRecords++;
    expect(accessRecords).toBe(2);
  });
});

describe('a store without a cap or a memory budget', () => {
  it('trims nothing and reports no cache nor budget figures, only the resident souls', async () => {
    const replica = await openReplica(new ReusableStore());
    await put(replica, 'a', 'x', 1);
    expect(await replica.trimCache()).toBe(0);
    expect(replica.cacheReport()).toEqual({
      cachedNodes: undefined,
      cacheBytes: undefined,
      maxBytes: undefined,
      residentNodes: 1,
      residentBytes: undefined,
      memoryBudget: undefined,
    });
  });
});

/** A ReusableStore that counts the records its full property scans (the filter's build) yield. */
class CountingStore extends ReusableStore {
  yielded = 0;
  override entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
    const entries = super.entries(range);
    if (range?.prefix?.length !== 1 || this.scans.at(-1) !== 'P') return entries;
    const counted = async function* (this: CountingStore): AsyncIterable<StorageEntry> {
      for await (const entry of entries) {
        this.yielded++;
        yield entry;
      }
    };
    return counted.call(this);
  }
}

describe('closing a server', () => {
  it("stops the stored-soul filter's background scan at its next record", async () => {
    const store = new CountingStore();
    const souls = Array.from({ length: 3000 }, (_, i) => `soul/${i}`);
    await store.inner.batch(souls.map((soul) => ({ type: 'put' as const, key: propertyKey(soulPrefix(soul), 'v'), value: Uint8Array.of(1) })));
    const replica = await openReplica(store, { storedSoulFilter: true });
    await replica.close();
    expect(store.yielded).toBeGreaterThan(0);
    expect(store.yielded).toBeLessThan(souls.length / 2);
  });
});
