/**
 * Rebuilds the cache accounting ("A" records and the "C" totals) of a store that has
 * data but no valid totals: written before the cache existed, or last opened without a
 * cap (such a database does not keep the accounting, and deletes "C" to say so).
 *
 * One scan of every property record, at open, once: afterwards the accounting is kept
 * up to date by every commit. Every soul gets the same oldest tick (0), so the souls
 * used from now on are the ones kept longest.
 */
import type { StorageAdapter, StorageOperation } from '../storage/adapter.js';
import {
  ACCESS_PREFIX,
  CACHE_KEY,
  PROPERTY_PREFIX,
  accessKey,
  encodeAccess,
  encodeCacheTotals,
  soulOfPropertyKey,
  type CacheTotals,
} from './layout.js';

export async function rebuildCacheAccounting(store: StorageAdapter): Promise<CacheTotals> {
  const operations: StorageOperation[] = [];
  // "A" records left by an earlier capped session may be stale: start over.
  for await (const { key } of store.entries({ prefix: ACCESS_PREFIX })) operations.push({ type: 'del', key });
  let bytes = 0;
  let souls = 0;
  // Keys sort byte-wise and every soul's records share its prefix: one soul at a time.
  let soul: string | undefined;
  let soulBytes = 0;
  const finishSoul = (): void => {
    if (soul === undefined) return;
    operations.push({ type: 'put', key: accessKey(soul), value: encodeAccess({ stamp: 0, bytes: soulBytes }) });
    bytes += soulBytes;
    souls++;
  };
  for await (const { key, value } of store.entries({ prefix: PROPERTY_PREFIX })) {
    const owner = soulOfPropertyKey(key).soul;
    if (owner !== soul) {
      finishSoul();
      soul = owner;
      soulBytes = 0;
    }
    soulBytes += key.length + value.length;
  }
  finishSoul();
  const totals = { tick: 0, bytes, souls };
  operations.push({ type: 'put', key: CACHE_KEY, value: encodeCacheTotals(totals) });
  await store.batch(operations);
  return totals;
}

