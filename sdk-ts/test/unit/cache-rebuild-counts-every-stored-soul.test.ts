/**
 * rebuildCacheAccounting (persistence/cache-rebuild.ts) on a MemoryStore: one "A" record
 * per soul with "P" records (the oldest tick, 0, and the bytes of its records, keys
 * included), stale "A" records of an earlier session gone, the "C" totals written and
 * returned; no other kind of record counted. cache-eviction.test.ts checks a database
 * reopened with a cap after this.
 */
import { describe, expect, it } from 'vitest';
import { rebuildCacheAccounting } from '../../src/persistence/cache-rebuild.js';
import {
  ACCESS_PREFIX,
  CACHE_KEY,
  HEAD_KEY,
  accessKey,
  decodeAccess,
  decodeCacheTotals,
  encodeAccess,
  encodeCacheTotals,
  outboxKey,
  propertyKey,
  soulOfAccessKey,
  soulPrefix,
} from '../../src/persistence/layout.js';
import { MemoryStore } from '../../src/storage/memory.js';

/** Puts a record of `soul`.`key` weighing `size` bytes in all; returns `size`. */
function record(soul: string, key: string, size: number): { type: 'put'; key: Uint8Array; value: Uint8Array } {
  const recordKey = propertyKey(soulPrefix(soul), key);
  return { type: 'put', key: recordKey, value: new Uint8Array(size - recordKey.length) };
}

async function accessRecords(store: MemoryStore): Promise<Record<string, { stamp: number; bytes: number }>> {
  const found: Record<string, { stamp: number; bytes: number }> = {};
  for await (const { key, value } of store.entries({ prefix: ACCESS_PREFIX })) found[soulOfAccessKey(key)] = decodeAccess(value);
  return found;
}

describe('rebuilding the cache accounting', () => {
  it('weighs every soul with records, each at tick 0, and writes the totals', async () => {
    const store = new MemoryStore();
    await store.batch([
      record('a', 'x', 20),
      record('a', 'y', 30),
      record('ab', 'x', 40),
      record('b', 'only', 25),
      record('日本', 'k', 33),
      // Not property records: not counted.
      { type: 'put', key: HEAD_KEY, value: new Uint8Array(25) },
      { type: 'put', key: outboxKey(1), value: new Uint8Array(100) },
      // An earlier capped session's records: one of a soul still stored (stale numbers), one of a soul gone.
      { type: 'put', key: accessKey('a'), value: encodeAccess({ stamp: 99, bytes: 1 }) },
      { type: 'put', key: accessKey('gone'), value: encodeAccess({ stamp: 98, bytes: 5 }) },
      { type: 'put', key: CACHE_KEY, value: encodeCacheTotals({ tick: 99, bytes: 6, souls: 2 }) },
    ]);
    const totals = await rebuildCacheAccounting(store);
    expect(totals).toEqual({ tick: 0, bytes: 148, souls: 4 });
    expect(decodeCacheTotals((await store.get(CACHE_KEY))!)).toEqual(totals);
    expect(await accessRecords(store)).toEqual({
      a: { stamp: 0, bytes: 50 },
      ab: { stamp: 0, bytes: 40 },
      b: { stamp: 0, bytes: 25 },
      日本: { stamp: 0, bytes: 33 },
    });
    expect((await store.get(HEAD_KEY))?.length).toBe(25);
  });

  it('an empty store: zero totals, written, and no access record', async () => {
    const store = new MemoryStore();
    await store.batch([{ type: 'put', key: accessKey('stale'), value: encodeAccess({ stamp: 1, bytes: 1 }) }]);
    expect(await rebuildCacheAccounting(store)).toEqual({ tick: 0, bytes: 0, souls: 0 });
    expect(decodeCacheTotals((await store.get(CACHE_KEY))!)).toEqual({ tick: 0, bytes: 0, souls: 0 });
    expect(await accessRecords(store)).toEqual({});
  });

  it('one soul of one record', async () => {
    const store = new MemoryStore();
    await store.batch([record('solo', 'k', 17)]);
    expect(await rebuildCacheAccounting(store)).toEqual({ tick: 0, bytes: 17, souls: 1 });
    expect(await accessRecords(store)).toEqual({ solo: { stamp: 0, bytes: 17 } });
  });
});
