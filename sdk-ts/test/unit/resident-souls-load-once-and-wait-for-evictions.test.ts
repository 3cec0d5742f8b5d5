/**
 * Which souls the engine holds (persistence/resident-souls.ts), on a real MemoryStore with
 * a recording restore callback: a load scans each soul once and restores a batch with one
 * call, loads of a soul under way are shared, a soul whose eviction has not landed is not
 * scanned until it has (whether it lands or fails), a newer eviction's wait is not cut
 * short by an older one, a failed load leaves the soul neither resident nor loading, the
 * stored-soul filter spares the scan of a soul the store cannot hold, and settle() waits
 * for every load.
 *
 * Why: the database tests load souls one way only (StrykerJS survivors in resident-souls.ts).
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore, type RangeOptions, type StorageEntry } from '../../src/node.js';
import { propertyKey, soulOfPropertyKey, soulPrefix } from '../../src/persistence/layout.js';
import { ResidentSouls } from '../../src/persistence/resident-souls.js';
import { StoredSoulFilter } from '../../src/persistence/stored-soul-filter.js';

/** A MemoryStore that lists the souls it scans, and can fail the scans of one soul. */
class ScanLog extends MemoryStore {
  readonly scanned: string[] = [];
  failing: string | undefined;
  /** Scans of these souls wait for their promise (a slow read). */
  readonly held = new Map<string, Promise<void>>();
  /** Every scan waits for a macrotask first, as a store doing I/O does. */
  slow = false;
  override entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
    const soul = soulOfPropertyKey(range!.prefix!).soul;
    this.scanned.push(soul);
    if (soul === this.failing) return (async function* () { throw new Error(`cannot read ${soul}`); })();
    const entries = super.entries(range);
    const wait = this.held.get(soul) ?? (this.slow ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined);
    if (wait === undefined) return entries;
    return (async function* () {
      await wait;
      yield* entries;
    })();
  }
}

const record = (soul: string, key: string, byte: number) => ({ type: 'put' as const, key: propertyKey(soulPrefix(soul), key), value: Uint8Array.of(byte) });

/** A store holding a.x, a.y and b.x, and ResidentSouls over it recording restores and observed loads. */
async function setUp(filter?: StoredSoulFilter) {
  const store = new ScanLog();
  await store.batch([record('a', 'x', 1), record('a', 'y', 2), record('b', 'x', 3)]);
  const restores: number[][] = [];
  const observed: Array<[string, number, number]> = [];
  const souls = new ResidentSouls(
    store,
    (records) => void restores.push(records.map((value) => value[0]!)),
    (soul, prefixLength, entries) => void observed.push([soul, prefixLength, entries.length]),
    filter,
  );
  return { store, souls, restores, observed };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('resident souls', () => {
  it('one load of several souls: one scan each, one restore for all, each soul observed with its records', async () => {
    const { store, souls, restores, observed } = await setUp();
    const loading = souls.load(['a', 'b', 'none']);
    expect(['a', 'b', 'none'].map((soul) => souls.isLoading(soul))).toEqual([true, true, true]);
    await loading;
    expect(store.scanned).toEqual(['a', 'b', 'none']);
    expect(restores).toEqual([[1, 2, 3]]);
    expect(observed).toEqual([['a', soulPrefix('a').length, 2], ['b', soulPrefix('b').length, 1], ['none', soulPrefix('none').length, 0]]);
    expect(souls.size).toBe(3);
    expect(['a', 'b', 'none'].map((soul) => souls.isLoading(soul))).toEqual([false, false, false]);
    expect(souls.prefix('a')).toEqual(soulPrefix('a'));
    // Already resident: nothing more is read.
    await souls.load(['a', 'b']);
    expect(store.scanned).toEqual(['a', 'b', 'none']);
  });

  it('a load of a soul already loading shares it: one scan, one restore', async () => {
    const { store, souls, restores } = await setUp();
    const first = souls.load(['a']);
    const second = souls.load(['a']);
    const mixed = souls.load(['a', 'b']);
    await Promise.all([first, second, mixed]);
    expect(store.scanned).toEqual(['a', 'b']);
    expect(restores).toHaveLength(2);
    expect(restores).toContainEqual([1, 2]);
    expect(restores).toContainEqual([3]);
    expect(souls.has('a') && souls.has('b')).toBe(true);
  });

  it('a load waits for every soul it needs, whichever load brings each in; of resident souls only, it resolves at once', async () => {
    const { store, souls } = await setUp();
    let release!: () => void;
    store.held.set('b', new Promise<void>((resolve) => (release = resolve)));
    const a = souls.load(['a']);
    const b = souls.load(['b']); // slow
    let done = false;
    const both = souls.load(['a', 'b']).then(() => (done = true));
    await a;
    for (let i = 0; i < 5; i++) await tick();
    expect(done).toBe(false);
    release();
    await Promise.all([b, both]);
    expect(souls.has('b')).toBe(true);
    await expect(souls.load(['a', 'b'])).resolves.toBeUndefined();
  });

  it('a soul not resident has no prefix: changing it is a bug, and says so', async () => {
    const { souls } = await setUp();
    expect(() => souls.prefix('a')).toThrow(/"a" was changed without being loaded first/);
  });

  it('an evicted soul is not scanned again until its deletion has landed, or failed', async () => {
    const { store, souls } = await setUp();
    await souls.load(['a']);
    let land!: () => void;
    souls.evict('a', new Promise<void>((resolve) => (land = resolve)));
    expect(souls.has('a')).toBe(false);
    expect(souls.size).toBe(0);
    store.scanned.length = 0;
    const reload = souls.load(['a']);
    for (let i = 0; i < 5; i++) await tick();
    expect(store.scanned).toEqual([]);
    expect(souls.isLoading('a')).toBe(true);
    land();
    await reload;
    expect(store.scanned).toEqual(['a']);
    // A deletion that failed: the load goes ahead all the same.
    let fail!: (error: Error) => void;
    souls.evict('a', new Promise<void>((_, reject) => (fail = reject)));
    const again = souls.load(['a']);
    fail(new Error('the disk is full'));
    await again;
    expect(souls.has('a')).toBe(true);
  });

  it("a newer eviction's wait is not cut short when an older one lands", async () => {
    const { store, souls } = await setUp();
    await souls.load(['a']);
    let landOld!: () => void;
    let landNew!: () => void;
    souls.evict('a', new Promise<void>((resolve) => (landOld = resolve)));
    souls.evict('a', new Promise<void>((resolve) => (landNew = resolve))); // evicted again before the first landed
    landOld();
    await tick();
    store.scanned.length = 0;
    const reload = souls.load(['a']);
    for (let i = 0; i < 5; i++) await tick();
    expect(store.scanned).toEqual([]);
    landNew();
    await reload;
    expect(store.scanned).toEqual(['a']);
  });

  it('a failed load rejects and leaves its souls neither resident nor loading; settle() waits for it all the same', async () => {
    const { store, souls, restores } = await setUp();
    store.failing = 'b';
    const load = souls.load(['a', 'b']);
    const settled = souls.settle();
    await expect(load).rejects.toThrow('cannot read b');
    await settled;
    expect(['a', 'b'].map((soul) => [souls.has(soul), souls.isLoading(soul)])).toEqual([[false, false], [false, false]]);
    expect(restores).toEqual([]);
    store.failing = undefined;
    await souls.load(['a', 'b']);
    expect(souls.size).toBe(2);
  });

  it('settle() resolves once every load under way is done, later ones included, on a store that does I/O', async () => {
    const { store, souls } = await setUp();
    store.slow = true; // settle() must yield to the event loop, not spin on microtasks
    const first = souls.load(['a']);
    const settled = souls.settle();
    const second = souls.load(['b']);
    await settled;
    expect(souls.has('a') && souls.has('b')).toBe(true);
    await Promise.all([first, second]);
    await souls.settle(); // nothing under way: at once
  });

  it('the stored-soul filter spares the scan of a soul the store cannot hold; it is resident and empty', async () => {
    const store0 = new MemoryStore();
    await store0.batch([record('a', 'x', 1)]);
    const filter = new StoredSoulFilter();
    await filter.build(store0, () => false);
    const { store, souls, restores, observed } = await setUp(filter);
    await souls.load(['a', 'unknown']);
    expect(store.scanned).toEqual(['a']);
    expect(souls.has('unknown')).toBe(true);
    expect(restores).toEqual([[1, 2]]);
    expect(observed.find(([soul]) => soul === 'unknown')).toEqual(['unknown', soulPrefix('unknown').length, 0]);
  });
});
