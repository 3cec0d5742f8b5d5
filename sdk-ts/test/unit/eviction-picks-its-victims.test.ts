/**
 * Which souls an eviction run (persistence/eviction.ts) drops, to the byte: the least
 * recently used, only until the store is at LOW_WATER of the cap (not one soul more),
 * nothing while the store is at or under its cap, never a soul with no records, never a
 * soul used while the run was under way; an evicted soul leaves nothing behind (records
 * still being written, its "A" record), and callers who ask for a run while one is under
 * way share it. The run stops at its next step once the database is closing.
 *
 * Why: cache-eviction.test.ts checks eviction through the database with souls of one
 * size; these pin the boundaries it cannot see (StrykerJS survivors in eviction.ts).
 * Real store, group commit, resident souls and accounting (eviction-helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { evictionHarness, soul, until, writeSouls } from './eviction-helpers.js';

/** Souls s<from> … s<to - 1>. */
const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => soul(from + i));

describe('an eviction run picks its victims', () => {
  it('evicts the least recently used souls until the store is at LOW_WATER of the cap, and not one more', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await writeSouls(h, 0, 11, 100); // 1100 bytes: two souls of 100 bring it to 900, exactly LOW_WATER of the cap
    expect(await h.evictor.run()).toBe(2);
    expect(await h.storedSouls()).toEqual(range(2, 11));
    expect(h.dropped).toEqual(['s00', 's01']);
    expect(h.accounting.usage).toEqual({ bytes: 900, souls: 9 });
    expect(await h.storedBytes()).toBe(900);
  });

  it('an evicted soul leaves no "A" record: the next run counts what is stored and evicts nothing', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await writeSouls(h, 0, 11, 100);
    expect(await h.evictor.run()).toBe(2);
    expect(await h.accessRecords()).toEqual(range(2, 11));
    // A run recounts the totals from the "A" records: a stale one would count s00 and s01 again.
    expect(await h.evictor.run()).toBe(0);
    expect(h.accounting.usage).toEqual({ bytes: 900, souls: 9 });
    expect(await h.storedSouls()).toEqual(range(2, 11));
  });

  it('a store exactly at its cap is left alone, though it is over LOW_WATER', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await writeSouls(h, 0, 10, 100);
    expect(await h.evictor.run()).toBe(0);
    expect(h.protectionCalls).toBe(0);
    expect(await h.storedSouls()).toEqual(range(0, 10));
    expect(h.dropped).toEqual([]);
  });

  it('a soul with no records (read, never written) is neither counted nor evicted, though it is the oldest', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await h.souls.load(['e00']); // resident, empty, the least recently used of all
    await writeSouls(h, 0, 11, 100);
    expect(await h.evictor.run()).toBe(2);
    expect(h.dropped).toEqual(['s00', 's01']);
    expect(h.souls.has('e00')).toBe(true);
    expect(h.accounting.usage).toEqual({ bytes: 900, souls: 9 });
  });

  it('a soul used while the run is under way stays; the next oldest goes', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await writeSouls(h, 0, 11, 100);
    // The run proposes s00 and s01; s00 is read before it decides.
    h.duringProtection = () => h.accounting.touch('s00');
    expect(await h.evictor.run()).toBe(1);
    expect(h.dropped).toEqual(['s01']);
    expect(await h.storedSouls()).toEqual(['s00', ...range(2, 11)]);
    expect(h.accounting.usage).toEqual({ bytes: 1000, souls: 10 });
    h.accounting.close();
  });

  it('records of an evicted soul that were still being written are deleted with it', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await h.write('s00', 'v', 600);
    await h.commit.flush();
    // A second record is staged and its batch is in flight (a slow disk) when the run reads the soul's keys.
    h.store.held = true;
    await h.write('s00', 'w', 600);
    const run = h.evictor.run();
    await until(() => h.dropped.length !== 0);
    h.store.releaseAll();
    expect(await run).toBe(1);
    expect(await h.storedSouls()).toEqual([]);
    expect(await h.storedBytes()).toBe(0);
    expect(h.accounting.usage).toEqual({ bytes: 0, souls: 0 });
  });

  it('callers who ask while a run is under way share it: one run, one result', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await writeSouls(h, 0, 11, 100);
    const results = await Promise.all([h.evictor.run(), h.evictor.run(), h.evictor.run()]);
    expect(results).toEqual([2, 2, 2]);
    expect(h.store.accessScans).toBe(1);
    expect(h.protectionCalls).toBe(1);
    expect(h.accounting.usage).toEqual({ bytes: 900, souls: 9 });
    await h.evictor.idle();
    // Once it is over, the next call starts a run of its own.
    expect(await h.evictor.run()).toBe(0);
    expect(h.store.accessScans).toBe(2);
  });
});

describe('an eviction run stops at its next step once the database is closing', () => {
  it('closing while the "A" records are scanned: no protection is computed, nothing goes', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await writeSouls(h, 0, 11, 100);
    h.usable = false;
    expect(await h.evictor.run()).toBe(0);
    expect(h.protectionCalls).toBe(0);
    expect(await h.storedSouls()).toEqual(range(0, 11));
  });

  it('closing while the protection is computed: no victim is read, nothing goes', async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await writeSouls(h, 0, 11, 100);
    h.store.soulScans.length = 0;
    h.duringProtection = () => (h.usable = false);
    expect(await h.evictor.run()).toBe(0);
    expect(h.store.soulScans).toEqual([]);
    expect(h.dropped).toEqual([]);
    expect(await h.storedSouls()).toEqual(range(0, 11));
  });

  it("closing while the victims' keys are read: nothing goes", async () => {
    const h = await evictionHarness(1000);
    h.autoRun = false;
    await writeSouls(h, 0, 11, 100);
    h.store.soulScans.length = 0;
    h.store.onSoulScan = () => (h.usable = false);
    expect(await h.evictor.run()).toBe(0);
    expect(h.store.soulScans).toEqual(['s00', 's01']);
    expect(h.dropped).toEqual([]);
    await h.commit.flush();
    expect(await h.storedSouls()).toEqual(range(0, 11));
    expect(h.accounting.usage).toEqual({ bytes: 1100, souls: 11 });
  });
});
