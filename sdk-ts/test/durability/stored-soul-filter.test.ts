/**
 * A server knows which souls its store holds (persistence/stored-soul-filter.ts), so a
 * soul the store does not hold — a fresh write, a read of an unknown soul — costs no
 * store read, while every stored soul is still read from the store, across reopens.
 *
 * The filter alone (a MemoryStore written directly), and a server database (libp2p's
 * in-memory transport, no peers) on a store that lists every range it is asked for
 * (test/unit/store-helpers.ts): after the filter's one background scan, reads of unknown
 * souls and writes of new ones scan nothing; stored souls, and souls written since, read
 * back right, in this session and the next. A client database keeps the old path (no
 * background scan: opening reads nothing but its head and deferred records).
 */
import { describe, expect, it } from 'vitest';
import { PROPERTY_PREFIX, propertyKey, soulPrefix } from '../../src/persistence/layout.js';
import { StoredSoulFilter } from '../../src/persistence/stored-soul-filter.js';
import { MemoryStore, RustDHT } from '../../src/node.js';
import { InProcessRustDHT } from '../network/helpers/in-process-peers.js';
import { waitFor } from '../network/helpers/server-process.js';
import { ReusableStore } from '../unit/store-helpers.js';

const record = (soul: string, key: string) => ({ type: 'put' as const, key: propertyKey(soulPrefix(soul), key), value: new Uint8Array([1]) });

describe('the stored-soul filter', () => {
  it('says "maybe" until built, then "no" only for souls without records, whenever they were added', async () => {
    const store = new MemoryStore();
    await store.batch([record('a', 'x'), record('a', 'y'), record('b/c', 'x'), record('~key.pub/z', 'x')]);
    const filter = new StoredSoulFilter();
    expect(filter.mayHold('never')).toBe(true);
    // Added while the scan runs (a write staged during the build): kept.
    const building = filter.build(store, () => false);
    filter.add('during');
    await building;
    expect(filter.ready).toBe(true);
    expect(['a', 'b/c', '~key.pub/z', 'during'].map((soul) => filter.mayHold(soul))).toEqual([true, true, true, true]);
    expect(['b', 'a/x', 'never', ''].map((soul) => filter.mayHold(soul))).toEqual([false, false, false, false]);
    // Enough additions to be merged into the sorted array: every one still there.
    const many = Array.from({ length: 70_000 }, (_, i) => `many/${i}`);
    for (const soul of many) filter.add(soul);
    expect(many.every((soul) => filter.mayHold(soul))).toBe(true);
    expect(filter.mayHold('a')).toBe(true);
    expect(Array.from({ length: 1000 }, (_, i) => `absent/${i}`).filter((soul) => filter.mayHold(soul)).length).toBeLessThan(5);
  });

  it('a store it cannot read leaves it "maybe" for every soul', async () => {
    const broken = new MemoryStore();
    broken.entries = () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('the disk went away')) }),
    });
    const filter = new StoredSoulFilter();
    await filter.build(broken, () => false);
    expect([filter.ready, filter.mayHold('anything')]).toEqual([false, true]);
  });

  it('a server reads unknown souls and writes new ones without a store scan, and reads every stored soul back, across reopens', async () => {
    const store = new ReusableStore();
    const server = () => InProcessRustDHT.open({ store, network: { role: 'server', peers: [] } });
    let db = await server();
    await db.get('post').put({ title: 'Hi', author: { name: 'Ann' } });
    await db.close();

    db = await server();
    // The filter's scan runs in the background: probe with fresh unknown souls until one costs no scan.
    let probe = 0;
    await waitFor(
      'a read of an unknown soul to scan nothing',
      async () => {
        store.scans.length = 0;
        expect(await db.get(`unknown/${++probe}`).once({ local: true })).toBeUndefined();
        return store.scans.length === 0;
      },
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    store.scans.length = 0;
    for (let i = 0; i < 20; i++) expect(await db.get(`nobody/${i}`).once({ local: true })).toBeUndefined();
    await db.get('fresh').put({ v: 1 });
    expect(store.scans).toEqual([]);
    // Stored souls are still read from the store.
    expect(await db.get('post').get('author').get('name').once({ local: true })).toBe('Ann');
    expect(store.scans).toEqual(['post', 'post/author']);
    await db.close();

    // What was written since the scan is found by the next session's.
    db = await server();
    expect(await db.get('fresh').get('v').once({ local: true })).toBe(1);
    expect(await db.get('post').get('title').once({ local: true })).toBe('Hi');
    await db.close();
  }, 30_000);

  it('a client database scans nothing at open, as before', async () => {
    const store = new ReusableStore();
    const db = await RustDHT.open({ store });
    await db.get('n').put({ a: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.scans.filter((scan) => scan === String.fromCharCode(PROPERTY_PREFIX[0]!))).toEqual([]);
    await db.close();
  });
});
