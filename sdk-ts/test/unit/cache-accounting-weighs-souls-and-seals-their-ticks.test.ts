/**
 * CacheAccounting (persistence/cache-accounting.ts) on its own: the weight and access tick
 * of each resident soul, the running totals (bytes, souls) against the cap, and what a
 * commit's seal writes ("A" records of the souls that changed, the "C" totals), again when
 * that commit fails; a read's tick asks for a commit once per READ_COMMIT_DELAY_MS (fake
 * timers), never after close. The eviction tests run it inside the database.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CacheAccounting, READ_COMMIT_DELAY_MS } from '../../src/persistence/cache-accounting.js';
import { CACHE_KEY, accessKey, decodeAccess, decodeCacheTotals, propertyKey, soulOfAccessKey, soulPrefix, type CacheTotals } from '../../src/persistence/layout.js';
import type { StorageEntry, StorageOperation } from '../../src/storage/adapter.js';

/** The records of `soul`, each of `size` bytes in all (key included). */
function records(soul: string, sizes: Record<string, number>): { prefixLength: number; entries: StorageEntry[] } {
  const prefix = soulPrefix(soul);
  const entries = Object.entries(sizes).map(([key, size]) => {
    const recordKey = propertyKey(prefix, key);
    return { key: recordKey, value: new Uint8Array(size - recordKey.length) };
  });
  return { prefixLength: prefix.length, entries };
}

function load(accounting: CacheAccounting, soul: string, sizes: Record<string, number>): void {
  const { prefixLength, entries } = records(soul, sizes);
  accounting.loaded(soul, prefixLength, entries);
}

/** What a seal adds to a commit: the "A" records by soul, and the "C" totals. */
function sealed(accounting: CacheAccounting, durable: Promise<void> = Promise.resolve()): { access: Record<string, { stamp: number; bytes: number }>; totals?: CacheTotals; count: number } {
  const operations: StorageOperation[] = [];
  accounting.seal(operations, durable);
  const access: Record<string, { stamp: number; bytes: number }> = {};
  let totals: CacheTotals | undefined;
  for (const operation of operations) {
    if (operation.type !== 'put') throw new Error('a seal only puts');
    if (operation.key.length === 1 && operation.key[0] === CACHE_KEY[0]) totals = decodeCacheTotals(operation.value);
    else {
      expect(Buffer.from(operation.key)).toEqual(Buffer.from(accessKey(soulOfAccessKey(operation.key))));
      access[soulOfAccessKey(operation.key)] = decodeAccess(operation.value);
    }
  }
  return totals === undefined ? { access, count: operations.length } : { access, totals, count: operations.length };
}

const TOTALS = { tick: 10, bytes: 1000, souls: 4 };

describe('CacheAccounting', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('starts from the stored totals; over the cap only above it', () => {
    const accounting = new CacheAccounting(1000, TOTALS, () => {});
    expect([accounting.maxBytes, accounting.tick, accounting.usage, accounting.overCap, accounting.dirty]).toEqual([1000, 10, { souls: 4, bytes: 1000 }, false, false]);
    expect(new CacheAccounting(999, TOTALS, () => {}).overCap).toBe(true);
    expect(new CacheAccounting(Infinity, TOTALS, () => {}).overCap).toBe(false);
    expect(sealed(accounting)).toEqual({ access: {}, count: 0 });
  });

  it('learns a loaded soul its weight and a new tick, without changing the totals', () => {
    const accounting = new CacheAccounting(5000, TOTALS, () => {});
    load(accounting, 'doc', { a: 30, b: 45 });
    load(accounting, 'empty', {});
    expect([...accounting.resident()]).toEqual([['doc', 11, 75], ['empty', 12, 0]]);
    expect([accounting.stampOf('doc'), accounting.stampOf('empty'), accounting.stampOf('other')]).toEqual([11, 12, undefined]);
    expect([...accounting.keysOf('doc')]).toEqual(['a', 'b']);
    expect([...accounting.keysOf('other')]).toEqual([]);
    expect([accounting.tick, accounting.usage, accounting.dirty]).toEqual([12, { souls: 4, bytes: 1000 }, true]);
    // A soul without records gets no "A" record; the totals are written all the same.
    expect(sealed(accounting)).toEqual({ access: { doc: { stamp: 11, bytes: 75 } }, totals: { tick: 12, bytes: 1000, souls: 4 }, count: 2 });
    expect(accounting.dirty).toBe(false);
    expect(sealed(accounting).count).toBe(0);
  });

  it('weighs a write as the new record less the one it replaces; a first record makes one more soul', () => {
    const accounting = new CacheAccounting(1100, TOTALS, () => {});
    load(accounting, 'doc', { a: 30 });
    load(accounting, 'fresh', {});
    sealed(accounting);
    accounting.written('doc', 'a', 50);
    expect([...accounting.resident()][0]).toEqual(['doc', 13, 50]);
    expect(accounting.usage).toEqual({ souls: 4, bytes: 1020 });
    accounting.written('doc', 'b', 20);
    accounting.written('fresh', 'x', 90);
    expect(accounting.usage).toEqual({ souls: 5, bytes: 1130 });
    expect(accounting.overCap).toBe(true);
    expect([...accounting.keysOf('fresh')]).toEqual(['x']);
    expect(sealed(accounting)).toEqual({
      access: { doc: { stamp: 14, bytes: 70 }, fresh: { stamp: 15, bytes: 90 } },
      totals: { tick: 15, bytes: 1130, souls: 5 },
      count: 3,
    });
    // A soul that is not resident is not tracked.
    accounting.written('elsewhere', 'k', 10);
    expect([accounting.usage, accounting.tick, accounting.dirty]).toEqual([{ souls: 5, bytes: 1130 }, 15, false]);
  });

  it('takes an evicted soul out of the totals: its resident weight, or the one the eviction read', () => {
    const accounting = new CacheAccounting(5000, TOTALS, () => {});
    load(accounting, 'doc', { a: 100 });
    load(accounting, 'kept', { a: 10 });
    accounting.evicted('doc', 1);
    expect([...accounting.resident()].map(([soul]) => soul)).toEqual(['kept']);
    expect(accounting.stampOf('doc')).toBeUndefined();
    expect(accounting.usage).toEqual({ souls: 3, bytes: 900 });
    accounting.evicted('stored-only', 200);
    expect(accounting.usage).toEqual({ souls: 2, bytes: 700 });
    // A soul that weighs nothing was never counted.
    accounting.evicted('weightless', 0);
    load(accounting, 'empty', {});
    accounting.evicted('empty', 50);
    expect(accounting.usage).toEqual({ souls: 2, bytes: 700 });
    // The evicted soul's "A" record is not written back.
    expect(sealed(accounting)).toEqual({ access: { kept: { stamp: 12, bytes: 10 } }, totals: { tick: 13, bytes: 700, souls: 2 }, count: 2 });
    accounting.evicted('gone', 0);
    expect(sealed(accounting)).toEqual({ access: {}, totals: { tick: 13, bytes: 700, souls: 2 }, count: 1 });
  });

  it('replaces its totals by a full count only when they differ', () => {
    const accounting = new CacheAccounting(5000, TOTALS, () => {});
    accounting.reconcile({ souls: 4, bytes: 1000 });
    expect(accounting.dirty).toBe(false);
    accounting.reconcile({ souls: 4, bytes: 999 });
    expect([accounting.usage, accounting.dirty]).toEqual([{ souls: 4, bytes: 999 }, true]);
    expect(sealed(accounting).totals).toEqual({ tick: 10, bytes: 999, souls: 4 });
    accounting.reconcile({ souls: 3, bytes: 999 });
    expect([accounting.usage, accounting.dirty]).toEqual([{ souls: 3, bytes: 999 }, true]);
  });

  it('a failed commit puts its souls and totals into the next seal, except souls evicted since', async () => {
    const accounting = new CacheAccounting(5000, TOTALS, () => {});
    load(accounting, 'a', { k: 10 });
    load(accounting, 'b', { k: 20 });
    let fail!: (error: Error) => void;
    const durable = new Promise<void>((_, reject) => (fail = reject));
    expect(Object.keys(sealed(accounting, durable).access)).toEqual(['a', 'b']);
    expect(accounting.dirty).toBe(false);
    accounting.evicted('b', 0);
    sealed(accounting);
    fail(new Error('disk full'));
    await vi.advanceTimersByTimeAsync(0);
    expect(accounting.dirty).toBe(true);
    expect(sealed(accounting)).toEqual({ access: { a: { stamp: 11, bytes: 10 } }, totals: { tick: 12, bytes: 980, souls: 3 }, count: 2 });
    // A failed commit that carried only the totals carries them again.
    accounting.reconcile({ souls: 3, bytes: 900 });
    let failAgain!: (error: Error) => void;
    expect(sealed(accounting, new Promise<void>((_, reject) => (failAgain = reject)))).toEqual({ access: {}, totals: { tick: 12, bytes: 900, souls: 3 }, count: 1 });
    failAgain(new Error('disk full'));
    await vi.advanceTimersByTimeAsync(0);
    expect(accounting.dirty).toBe(true);
    expect(sealed(accounting)).toEqual({ access: {}, totals: { tick: 12, bytes: 900, souls: 3 }, count: 1 });
    // A commit that succeeds leaves nothing behind.
    sealed(accounting);
    await vi.advanceTimersByTimeAsync(0);
    expect(accounting.dirty).toBe(false);
  });

  it("asks for a commit for a read's tick once per READ_COMMIT_DELAY_MS, only while something is unsealed", async () => {
    expect(READ_COMMIT_DELAY_MS).toBe(1000);
    let requests = 0;
    const accounting = new CacheAccounting(5000, TOTALS, () => requests++);
    accounting.touch('not-resident');
    expect([accounting.tick, accounting.dirty, vi.getTimerCount()]).toEqual([10, false, 0]);
    load(accounting, 'doc', { a: 10 });
    sealed(accounting);
    accounting.touch('doc');
    accounting.touch('doc');
    expect([accounting.tick, accounting.stampOf('doc'), accounting.dirty]).toEqual([13, 13, true]);
    await vi.advanceTimersByTimeAsync(READ_COMMIT_DELAY_MS - 1);
    expect(requests).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(requests).toBe(1);
    expect(sealed(accounting)).toEqual({ access: { doc: { stamp: 13, bytes: 10 } }, totals: { tick: 13, bytes: 1000, souls: 4 }, count: 2 });
    // Sealed before the delay ran out: nothing to ask for.
    accounting.touch('doc');
    sealed(accounting);
    await vi.advanceTimersByTimeAsync(READ_COMMIT_DELAY_MS);
    expect(requests).toBe(1);
    // A touch after a timer fired starts another.
    accounting.touch('doc');
    await vi.advanceTimersByTimeAsync(READ_COMMIT_DELAY_MS);
    expect(requests).toBe(2);
    // Closed: the pending request is dropped.
    sealed(accounting);
    accounting.touch('doc');
    accounting.close();
    await vi.advanceTimersByTimeAsync(READ_COMMIT_DELAY_MS * 2);
    expect([requests, vi.getTimerCount()]).toEqual([2, 0]);
    accounting.close();
  });

  it("does not keep a Node process alive for a read's tick", () => {
    vi.useRealTimers();
    const accounting = new CacheAccounting(5000, TOTALS, () => {});
    load(accounting, 'doc', { a: 10 });
    const unref = vi.spyOn(globalThis, 'setTimeout');
    accounting.touch('doc');
    const timer = unref.mock.results[0]!.value as NodeJS.Timeout;
    unref.mockRestore();
    expect(timer.hasRef()).toBe(false);
    accounting.close();
  });
});
