/**
 * StoredSoulFilter (persistence/stored-soul-filter.ts) on a MemoryStore: the souls it holds
 * once built (a "no" only for souls without records), whatever the order of the souls,
 * their hashes, and the adds before, during and after its scan (merged into its sorted
 * array from time to time); its size counting each soul once; its FNV-1a hash; a scan
 * stopped midway. test/durability/stored-soul-filter.test.ts checks the same filter inside
 * a server database.
 */
import { describe, expect, it } from 'vitest';
import { HEAD_KEY, changeLogIndexKey, propertyKey, soulPrefix } from '../../src/persistence/layout.js';
import { StoredSoulFilter, soulHash } from '../../src/persistence/stored-soul-filter.js';
import { MemoryStore } from '../../src/storage/memory.js';
import type { StorageAdapter, StorageEntry } from '../../src/storage/adapter.js';

async function storeWith(souls: readonly string[]): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.batch(souls.flatMap((soul) => ['x', 'y'].map((key) => ({ type: 'put' as const, key: propertyKey(soulPrefix(soul), key), value: Uint8Array.of(1) }))));
  // Records of other kinds around them ("H" before, "l" after "P"): not souls.
  await store.batch([{ type: 'put', key: HEAD_KEY, value: Uint8Array.of(2) }, { type: 'put', key: changeLogIndexKey(propertyKey(soulPrefix('x'), 'k')), value: new Uint8Array(8) }]);
  return store;
}

async function built(souls: readonly string[]): Promise<StoredSoulFilter> {
  const filter = new StoredSoulFilter();
  await filter.build(await storeWith(souls), () => false);
  return filter;
}

/** A store whose scan waits, after its first record, until `release` is called. */
function pausedStore(inner: StorageAdapter): { store: StorageAdapter; paused: Promise<void>; release: () => void } {
  let release!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const paused = new Promise<void>((resolve) => (reached = resolve));
  const store = Object.create(inner) as StorageAdapter;
  store.entries = (range) =>
    (async function* (): AsyncGenerator<StorageEntry> {
      let first = true;
      for await (const entry of inner.entries(range)) {
        yield entry;
        if (first) {
          first = false;
          reached();
          await gate;
        }
      }
    })();
  return { store, paused, release };
}

describe('StoredSoulFilter', () => {
  it('hashes souls with 32-bit FNV-1a over UTF-16 code units', () => {
    expect(soulHash('')).toBe(0x811c9dc5);
    expect(soulHash('a')).toBe(0xe40c292c);
    expect(soulHash('foobar')).toBe(0xbf9cf968);
    // Unsigned, and every code unit counts (a surrogate pair is two).
    expect(soulHash('😀')).toBe(Math.imul(Math.imul(0x811c9dc5 ^ 0xd83d, 0x01000193) ^ 0xde00, 0x01000193) >>> 0);
    for (const soul of ['a', 'b/c', '日本', 'x'.repeat(100)]) expect(soulHash(soul)).toBeGreaterThanOrEqual(0);
  });

  it('once built, says "maybe" for every stored soul and "no" for others, with one soul, a few or many', async () => {
    for (const count of [1, 2, 3, 7, 100, 1000]) {
      const souls = Array.from({ length: count }, (_, i) => `stored/${i}`);
      const filter = await built(souls);
      expect(filter.ready).toBe(true);
      expect(filter.size).toBe(count);
      expect(souls.filter((soul) => !filter.mayHold(soul)), String(count)).toEqual([]);
      const absent = Array.from({ length: 200 }, (_, i) => `absent/${i}`).filter((soul) => filter.mayHold(soul));
      expect(absent.length, String(count)).toBeLessThan(3);
    }
    // The smallest and largest hashes, which a search that stops one short would miss.
    const souls = Array.from({ length: 500 }, (_, i) => `s${i}`);
    const sorted = [...souls].sort((a, b) => soulHash(a) - soulHash(b));
    const filter = await built(souls);
    for (const soul of [sorted[0]!, sorted[1]!, sorted[250]!, sorted[498]!, sorted[499]!]) expect(filter.mayHold(soul)).toBe(true);
  });

  it('an empty store: nothing held, everything "no"', async () => {
    const filter = await built([]);
    expect([filter.ready, filter.size, filter.mayHold(''), filter.mayHold('a')]).toEqual([true, 0, false, false]);
  });

  it('counts each soul once: its records, and adds of a soul it holds already', async () => {
    const filter = await built(['a', 'b', 'c']);
    expect(filter.size).toBe(3);
    filter.add('a');
    filter.add('d');
    filter.add('d');
    // Not merged yet: "a" is counted in both places until the next merge.
    expect(filter.size).toBe(5);
    expect(['a', 'b', 'c', 'd'].every((soul) => filter.mayHold(soul))).toBe(true);
  });

  it('merges adds into its sorted array after 65,536, dropping duplicates, and keeps every soul', async () => {
    const filter = await built(['a', 'b']);
    const many = Array.from({ length: 65_535 }, (_, i) => `many/${i}`);
    for (const soul of many) filter.add(soul);
    filter.add('a');
    // 65,536 distinct hashes added: merged, "a" counted once.
    expect(filter.size).toBe(2 + 65_535);
    filter.add('b');
    filter.add('late');
    expect(filter.size).toBe(2 + 65_535 + 2);
    expect([...many, 'a', 'b', 'late'].filter((soul) => !filter.mayHold(soul))).toEqual([]);
  });

  it('keeps the souls added while its scan runs, however many, and says "maybe" for all until the scan is done', async () => {
    const { store, paused, release } = pausedStore(await storeWith(['first', 'second', 'third']));
    const filter = new StoredSoulFilter();
    const building = filter.build(store, () => false);
    // Asking again while it runs is the same scan.
    expect(filter.build(store, () => false)).toBe(building);
    await paused;
    const added = Array.from({ length: 70_000 }, (_, i) => `during/${i}`);
    for (const soul of added) filter.add(soul);
    expect([filter.ready, filter.mayHold('nothing')]).toEqual([false, true]);
    release();
    await building;
    expect(filter.ready).toBe(true);
    expect(filter.size).toBe(3 + 70_000);
    expect([...added, 'first', 'second', 'third'].filter((soul) => !filter.mayHold(soul))).toEqual([]);
    expect(filter.mayHold('nothing')).toBe(false);
  });

  it('a stored soul added again while the scan runs is counted once, whatever its place in the sorted hashes', async () => {
    const { store, paused, release } = pausedStore(await storeWith(['only']));
    const filter = new StoredSoulFilter();
    const building = filter.build(store, () => false);
    await paused;
    filter.add('only');
    release();
    await building;
    expect([filter.size, filter.mayHold('only'), filter.mayHold('other')]).toEqual([1, true, false]);
  });

  it('a scan stopped midway leaves it not ready, every soul "maybe"', async () => {
    const filter = new StoredSoulFilter();
    let asked = 0;
    await filter.build(await storeWith(['a', 'b', 'c']), () => ++asked > 1);
    expect([filter.ready, filter.mayHold('a'), filter.mayHold('elsewhere')]).toEqual([false, true, true]);
    expect(asked).toBe(2);
  });
});
