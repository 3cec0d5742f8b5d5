/**
 * The memory budget's bookkeeping (persistence/memory-budget.ts), exactly: what a
 * resident soul weighs, how writes and unloads change the total, when it is over, and
 * which souls a run unloads — over-weighed ones (written past 4 × their weight at load
 * and 256 KiB) first, then least recently used (a load, a use or a write counts), only as
 * many as it takes to reach LOW_WATER of the budget, never one `may` refuses.
 * The class is used as the database uses it (replica-backing.ts); nothing is mocked.
 * memory-budget.test.ts checks the whole database against LevelDB; these pin the numbers
 * and the order (they kill StrykerJS survivors in memory-budget.ts).
 */
import { describe, expect, it } from 'vitest';
import { ENGINE_BYTES_PER_RECORD_BYTE, LOW_WATER, MemoryBudget, SOUL_OVERHEAD } from '../../src/persistence/memory-budget.js';

const bytes = (n: number): Uint8Array => new Uint8Array(n);
const record = (keyBytes: number, valueBytes: number) => ({ key: bytes(keyBytes), value: bytes(valueBytes) });
/** The weight of a soul of `soulLength` characters loaded with records of these sizes (key + value). */
const weight = (soulLength: number, ...recordBytes: number[]): number =>
  SOUL_OVERHEAD + soulLength * 2 + recordBytes.reduce((sum, n) => sum + n * ENGINE_BYTES_PER_RECORD_BYTE, 0);
const always = (): boolean => true;

describe('MemoryBudget', () => {
  it('a loaded soul weighs its overhead, its name and three times its records; reloading replaces it', () => {
    const budget = new MemoryBudget(1_000_000);
    expect(budget.bytes).toBe(0);
    budget.loaded('abc', [record(10, 20), record(5, 0)]);
    expect(budget.bytes).toBe(256 + 6 + 90 + 15);
    budget.loaded('unknown', []);
    expect(budget.bytes).toBe(weight(3, 30, 5) + weight(7));
    budget.loaded('abc', [record(1, 1)]);
    expect(budget.bytes).toBe(weight(3, 2) + weight(7));
    budget.unloaded('abc');
    expect(budget.bytes).toBe(weight(7));
    budget.unloaded('abc'); // not resident: nothing changes
    budget.unloaded('never');
    expect(budget.bytes).toBe(weight(7));
    budget.unloaded('unknown');
    expect(budget.bytes).toBe(0);
  });

  it('a write adds three times its record bytes to a resident soul, and nothing for one that is not', () => {
    const budget = new MemoryBudget(1_000_000);
    budget.loaded('s', []);
    budget.written('s', 100);
    expect(budget.bytes).toBe(weight(1) + 300);
    budget.written('gone', 100);
    expect(budget.bytes).toBe(weight(1) + 300);
    expect(budget.usedAt('gone')).toBeUndefined();
    budget.unloaded('s'); // the written weight leaves with it
    expect(budget.bytes).toBe(0);
  });

  it('is over only above the budget, not at it', () => {
    const budget = new MemoryBudget(weight(1));
    budget.loaded('a', []);
    expect(budget.bytes).toBe(budget.maxBytes);
    expect(budget.over).toBe(false);
    budget.written('a', 1);
    expect(budget.over).toBe(true);
  });

  it('counts uses: loads and touches of resident souls stamp them, touches of others do not', () => {
    const budget = new MemoryBudget(1_000_000);
    expect(budget.uses).toBe(0);
    budget.loaded('a', []);
    budget.loaded('b', []);
    expect([budget.uses, budget.usedAt('a'), budget.usedAt('b')]).toEqual([2, 1, 2]);
    budget.touch('a');
    expect([budget.uses, budget.usedAt('a')]).toEqual([3, 3]);
    budget.touch('nobody');
    expect(budget.uses).toBe(3);
    expect(budget.usedAt('nobody')).toBeUndefined();
    budget.unloaded('a');
    expect(budget.usedAt('a')).toBeUndefined();
  });

  it('unloads the least recently used souls, only down to LOW_WATER of the budget', () => {
    const one = weight(1); // each soul below weighs this
    // Room for 10 souls; LOW_WATER: 9.
    const budget = new MemoryBudget(one * 10);
    for (const soul of 'abcdefghijkl') budget.loaded(soul, []); // 12 souls: 3 must go
    budget.touch('a'); // now the most recently used
    budget.touch('c');
    expect(budget.victims(always)).toEqual(['b', 'd', 'e']);
    // Exactly at LOW_WATER after two: two go.
    budget.unloaded('l');
    expect(budget.victims(always)).toEqual(['b', 'd']);
    // At or under LOW_WATER: none.
    budget.unloaded('k');
    budget.unloaded('j');
    expect(budget.bytes).toBe(one * 9);
    expect(budget.victims(always)).toEqual([]);
  });

  it('skips the souls `may` refuses, and tells it when each soul was last used', () => {
    const one = weight(1);
    const budget = new MemoryBudget(one * 10);
    for (const soul of 'abcdefghijkl') budget.loaded(soul, []);
    const asked: Array<[string, number]> = [];
    const victims = budget.victims((soul, usedAt) => {
      asked.push([soul, usedAt]);
      return soul !== 'a' && soul !== 'c';
    });
    expect(victims).toEqual(['b', 'd', 'e']);
    expect(asked).toContainEqual(['a', 1]);
    expect(asked).toContainEqual(['e', 5]);
    expect(asked.map(([soul]) => soul)).not.toContain('f'); // enough once e goes
    // Nothing allowed: nothing chosen, however far over.
    expect(budget.victims(() => false)).toEqual([]);
  });

  it('a soul written to more than four times its weight at load goes first, whatever its age', () => {
    const budget = new MemoryBudget(10_000_000);
    budget.loaded('h', [record(10, 29_990)]); // 256 + 2 + 90,000 = 90,258 bytes
    budget.loaded('new', [record(10, 10)]);
    const loaded = weight(1, 30_000);
    // Exactly four times its weight at load (and past the 256 KiB floor): not yet.
    budget.written('h', (loaded * 4) / ENGINE_BYTES_PER_RECORD_BYTE);
    budget.touch('new'); // h is not the least recently used either way
    expect(budget.bytes).toBeLessThan(budget.maxBytes * LOW_WATER);
    expect(budget.victims(always)).toEqual([]);
    // One byte more: unloaded at the next run although the budget is not exceeded.
    budget.written('h', 1);
    expect(budget.victims(always)).toEqual(['h']);
    // ... unless `may` refuses it.
    expect(budget.victims((soul) => soul !== 'h')).toEqual([]);
  });

  it('a small soul is not re-weighed before 256 KiB were written to it', () => {
    const budget = new MemoryBudget(10_000_000);
    budget.loaded('s', []); // 258 bytes: four times that is far below the floor
    budget.written('s', 87_381); // 262,143 bytes written
    expect(budget.victims(always)).toEqual([]);
    budget.written('s', 1); // 262,146
    expect(budget.victims(always)).toEqual(['s']);
    // Reloading weighs it afresh: nothing written since.
    budget.loaded('s', [record(1, 1)]);
    expect(budget.victims(always)).toEqual([]);
  });

  it('a write is a use: the written soul becomes the most recently used', () => {
    const one = weight(1);
    const budget = new MemoryBudget(one * 2);
    budget.loaded('a', []);
    budget.loaded('b', []);
    budget.written('a', 1);
    expect([budget.uses, budget.usedAt('a')]).toEqual([3, 3]);
    expect(budget.victims(always)).toEqual(['b']);
  });

  it('an over-weighed soul counts toward the target, and is not picked twice', () => {
    const one = weight(1, 20_000); // 60,258 bytes
    const budget = new MemoryBudget(one * 10);
    for (const soul of 'abcdefghij') budget.loaded(soul, [record(0, 20_000)]); // exactly at the budget
    budget.written('j', (one * 5) / ENGINE_BYTES_PER_RECORD_BYTE);
    expect(budget.bytes).toBe(one * 15);
    // j goes first; without it the rest is at 9 × one = LOW_WATER: nothing else goes.
    expect(budget.victims(always)).toEqual(['j']);
    // With a bigger rest, the oldest follow, and j is not listed again.
    budget.loaded('k', [record(0, 20_000)]);
    expect(budget.victims(always)).toEqual(['j', 'a']);
  });
});
