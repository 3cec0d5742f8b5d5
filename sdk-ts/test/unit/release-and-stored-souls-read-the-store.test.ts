/**
 * What a server's DHT asks of the store backing (persistence/replica-backing.ts), through
 * a LocalReplica on a MemoryStore (ReusableStore: it survives a reopen and lists the
 * ranges it is asked for):
 *
 * - release(): every record of the released souls leaves the store (records written while
 *   it ran included) and their nodes leave the engine; protected souls (a pending outbox
 *   entry), souls `keep` keeps, and everything once the replica is closing, stay; a capped
 *   store releases nothing (its cache accounting counts records);
 * - storedSouls(after), soulRecords(), holds(): what the store holds, soul by soul, and a
 *   soul the stored-soul filter rules out costs no read; soulRecords reads a bounded number
 *   of souls at once, all calls together (background reads must not flood the store's
 *   threads that a merge's loads wait in).
 *
 * Why: the DHT process tests (dht-rebalance, dht-failure) are the only other users, and
 * they run dist/ in `rustdht serve` processes: StrykerJS found no in-process test of these.
 */
import { describe, expect, it } from 'vitest';
import type { RangeOptions, StorageEntry } from '../../src/node.js';
import { SKIP_AFTER_KEYS } from '../../src/persistence/replica-backing.js';
import { acknowledgeAll, listStored, openReplica, put } from './replica-helpers.js';
import { ReusableStore } from './store-helpers.js';

/** A ReusableStore that calls `onScan` with each soul whose records are scanned. */
class HookedStore extends ReusableStore {
  onScan: ((soul: string) => void) | undefined;
  override entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
    const entries = super.entries(range);
    this.onScan?.(this.scans.at(-1)!);
    return entries;
  }
}

/** A ReusableStore that lists keys alone, counting its walks and the keys they yield. */
class KeyedStore extends ReusableStore {
  walks = 0;
  walked = 0;
  async *keys(range?: RangeOptions): AsyncIterable<Uint8Array> {
    this.walks++;
    for await (const entry of super.entries(range)) {
      this.walked++;
      yield entry.key;
    }
  }
}

describe('release', () => {
  it('deletes every record of the released souls and drops them from the engine; the others stay', async () => {
    const store = new HookedStore();
    const replica = await openReplica(store);
    await put(replica, 'a', 'x', 1);
    await put(replica, 'a', 'y', 2);
    await put(replica, 'b', 'x', 3);
    await put(replica, 'c', 'x', 4);
    await acknowledgeAll(replica);
    expect(replica.cacheReport().residentNodes).toBe(3);
    expect(await replica.stored.release(['a', 'b'])).toEqual(['a', 'b']);
    expect(await listStored(replica)).toEqual(['c']);
    expect(replica.cacheReport().residentNodes).toBe(1);
    // Neither the engine nor the store has them any more.
    expect(await replica.stored.holds('a')).toBe(false);
    expect(await replica.stored.holds('b')).toBe(false);
    expect(await replica.stored.holds('c')).toBe(true);
    expect(await replica.stored.release([])).toEqual([]);
  });

  it('a soul that was only read (in memory, no property, nothing stored) is released too', async () => {
    const replica = await openReplica(new HookedStore());
    expect(await replica.read(() => replica.readNode('seen'))).toBeNull();
    expect(replica.cacheReport().residentNodes).toBe(1);
    expect(await replica.stored.release(['seen'])).toEqual(['seen']);
    expect(replica.cacheReport().residentNodes).toBe(0);
  });

  it('a record written while the release reads the store goes with its soul', async () => {
    const store = new HookedStore();
    const replica = await openReplica(store);
    await put(replica, 'a', 'x', 1);
    await put(replica, 'b', 'x', 2);
    await acknowledgeAll(replica);
    let late: Promise<unknown> | undefined;
    store.onScan = (soul) => {
      if (soul === 'a' && late === undefined) late = put(replica, 'a', 'late', 3);
    };
    expect(await replica.stored.release(['a'])).toEqual(['a']);
    await late;
    await replica.flush();
    expect(await listStored(replica)).toEqual(['b']);
    expect((await replica.stored.soulRecords(['a']))[0]).toEqual([]);
  });

  it('souls with writes still in the outbox, and souls `keep` keeps, stay', async () => {
    const store = new HookedStore();
    const replica = await openReplica(store);
    await put(replica, 'k', 'x', 1);
    await put(replica, 'r', 'x', 2);
    await acknowledgeAll(replica);
    await put(replica, 'p', 'x', 3); // not acknowledged
    expect(await replica.stored.release(['p', 'k', 'r'], (soul) => soul === 'k')).toEqual(['r']);
    expect(await listStored(replica)).toEqual(['k', 'p']);
    expect(replica.cacheReport().residentNodes).toBe(2);
  });

  it('a replica closing while the release reads the store releases nothing', async () => {
    const store = new HookedStore();
    const replica = await openReplica(store);
    await put(replica, 'a', 'x', 1);
    await acknowledgeAll(replica);
    let closing: Promise<void> | undefined;
    store.onScan = (soul) => {
      if (soul === 'a') closing ??= replica.close();
    };
    expect(await replica.stored.release(['a'])).toEqual([]);
    await closing;
    const reopened = await openReplica(store);
    expect(await listStored(reopened)).toEqual(['a']);
  });

  it('a capped store releases nothing', async () => {
    const store = new HookedStore();
    const replica = await openReplica(store, { cacheMaxBytes: 1_000_000 });
    await put(replica, 'a', 'x', 1);
    await acknowledgeAll(replica);
    expect(await replica.stored.release(['a'])).toEqual([]);
    expect(await listStored(replica)).toEqual(['a']);
  });
});

describe('what the store holds, soul by soul', () => {
  it('storedSouls lists the souls with records in key order (shorter names first), from after a soul when asked', async () => {
    const store = new HookedStore();
    const replica = await openReplica(store);
    for (const soul of ['b', 'a', 'c', 'aa']) await put(replica, soul, 'x', 1);
    await put(replica, 'a', 'y', 2); // two records, listed once
    await replica.flush();
    expect(await listStored(replica)).toEqual(['a', 'b', 'c', 'aa']);
    expect(await listStored(replica, 'a')).toEqual(['b', 'c', 'aa']);
    expect(await listStored(replica, 'b')).toEqual(['c', 'aa']);
    expect(await listStored(replica, 'aa')).toEqual([]);
    // One seek per soul, not a read of its records: "a"'s second record is skipped.
    store.scans.length = 0;
    await listStored(replica);
    expect(store.scans.length).toBe(5);
  });

  it('where the store lists keys alone, storedSouls walks them once, and starts afresh past a soul with many', async () => {
    const store = new KeyedStore();
    const replica = await openReplica(store);
    for (const soul of ['b', 'a', 'c', 'aa', 'big']) await put(replica, soul, 'x', 1);
    for (let i = 0; i < 3 * SKIP_AFTER_KEYS; i++) await put(replica, 'big', `p${i}`, i);
    await replica.flush();
    store.walks = 0;
    store.walked = 0;
    // Key order: shorter names first ("b" < "aa" < "big" by length, then bytes).
    expect(await listStored(replica)).toEqual(['a', 'b', 'c', 'aa', 'big']);
    // One walk up to "big", one past it: not its 193 keys, and not a seek per soul.
    expect(store.walks).toBe(2);
    expect(store.walked).toBeLessThanOrEqual(4 + SKIP_AFTER_KEYS + 1);
    expect(await listStored(replica, 'a')).toEqual(['b', 'c', 'aa', 'big']);
    expect(await listStored(replica, 'aa')).toEqual(['big']);
    expect(await listStored(replica, 'big')).toEqual([]);
    await put(replica, 'zz', 'x', 1);
    await replica.flush();
    expect(await listStored(replica, 'aa')).toEqual(['zz', 'big']);
  });

  it('soulRecords reads the stored records of each soul, none for a soul not stored', async () => {
    const store = new HookedStore();
    const replica = await openReplica(store);
    await put(replica, 'a', 'x', 1);
    await put(replica, 'a', 'y', 2);
    await put(replica, 'b', 'x', 3);
    const [a, b, none] = await replica.stored.soulRecords(['a', 'b', 'none']);
    expect([a!.length, b!.length, none]).toEqual([2, 1, []]);
    expect(a!.every((record) => record instanceof Uint8Array && record.length > 0)).toBe(true);
  });

  it('soulRecords reads at most 16 souls at once, however many it is asked for, and in the order asked', async () => {
    // Each scan takes a few milliseconds; count how many are under way at once.
    class SlowStore extends ReusableStore {
      running = 0;
      most = 0;
      override entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
        const entries = super.entries(range);
        const store = this;
        return (async function* () {
          store.running++;
          store.most = Math.max(store.most, store.running);
          try {
            await new Promise((resolve) => setTimeout(resolve, 2));
            yield* entries;
          } finally {
            store.running--;
          }
        })();
      }
    }
    const store = new SlowStore();
    const replica = await openReplica(store);
    const souls = Array.from({ length: 100 }, (_, i) => `s${i}`);
    for (const [i, soul] of souls.entries()) await put(replica, soul, 'x', i);
    await replica.flush();
    store.most = 0;
    const [first, second] = await Promise.all([replica.stored.soulRecords(souls), replica.stored.soulRecords(souls.slice(0, 50))]);
    expect(store.most).toBeGreaterThan(1);
    expect(store.most).toBeLessThanOrEqual(16);
    expect(first!.every((records) => records.length === 1)).toBe(true);
    expect(second!.length).toBe(50);
  });

  it('holds: a stored soul that is not in memory is found with one seek; an unknown one is not found', async () => {
    const store = new HookedStore();
    const writer = await openReplica(store);
    await put(writer, 'a', 'x', 1);
    await writer.close();
    const replica = await openReplica(store);
    expect(replica.cacheReport().residentNodes).toBe(0);
    expect(await replica.stored.holds('a')).toBe(true);
    expect(await replica.stored.holds('none')).toBe(false);
  });

  it('with the stored-soul filter: a soul the store cannot hold costs no read; stored souls are still read', async () => {
    const store = new HookedStore();
    const writer = await openReplica(store);
    await put(writer, 'a', 'x', 1);
    await writer.close();
    const replica = await openReplica(store, { storedSoulFilter: true });
    // Until its background scan is done the filter says "maybe": wait for it.
    for (let i = 0; i < 1000; i++) {
      store.scans.length = 0;
      await replica.stored.soulRecords(['none']);
      if (store.scans.length === 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    store.scans.length = 0;
    expect(await replica.stored.holds('none')).toBe(false);
    expect(await replica.stored.soulRecords(['none', 'other'])).toEqual([[], []]);
    expect(store.scans).toEqual([]);
    expect(await replica.stored.holds('a')).toBe(true);
    const [records] = await replica.stored.soulRecords(['a']);
    expect(records!.length).toBe(1);
    expect(store.scans).toEqual(['a', 'a']);
  });
});
