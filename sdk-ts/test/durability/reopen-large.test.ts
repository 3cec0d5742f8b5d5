// Reopening a large store: 100,000 nodes written through the SDK into LevelDB, then
// reopened. Opening reads a couple of records and the first read loads only the node
// it needs, so the time to the first read does not grow with the store. The timings
// are printed, not asserted (the benchmark checks the 300 ms target on a quiet
// machine); the assertions are on what is read and on how little is loaded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { LevelStore, RustDHT, type RangeOptions, type StorageAdapter, type StorageEntry, type StorageOperation } from '../../src/node.js';

const SHELVES = 100;
const ITEMS_PER_SHELF = 1_000;

const directory = mkdtempSync(join(tmpdir(), 'rustdht-reopen-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Passes everything through to a LevelStore, counting range scans of nodes (one per node loaded; opening's scan of the deferred records is not one). */
class CountingStore implements StorageAdapter {
  scans = 0;
  constructor(readonly inner: LevelStore) {}
  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }
  entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
    if (range?.prefix?.[0] === 0x50) this.scans++;
    return this.inner.entries(range);
  }
  batch(operations: readonly StorageOperation[]): Promise<void> {
    return this.inner.batch(operations);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const item = (shelf: number, i: number): { n: number; name: string } => ({ n: shelf * ITEMS_PER_SHELF + i, name: `item ${i} of shelf ${shelf}` });

it(`reopens a store of ${SHELVES * ITEMS_PER_SHELF} nodes and reads from it at once`, { timeout: 180_000 }, async () => {
  const writeStart = performance.now();
  const writer = await RustDHT.open({ store: await LevelStore.open(directory) });
  const catalog = writer.get('catalog');
  for (let shelf = 0; shelf < SHELVES; shelf++) {
    const items: Record<string, { n: number; name: string }> = {};
    for (let i = 0; i < ITEMS_PER_SHELF; i++) items[`item${i}`] = item(shelf, i);
    await catalog.get(`shelf${shelf}`).put(items);
  }
  await writer.close();
  const writeSeconds = (performance.now() - writeStart) / 1000;

  const openStart = performance.now();
  const store = new CountingStore(await LevelStore.open(directory));
  const db = await RustDHT.open({ store });
  const opened = performance.now();
  const first = await db.get('catalog/shelf57/item123').once();
  const firstRead = performance.now();
  const viaPath = await db.get('catalog').get('shelf99').get('item999').get('name').once();
  const pathRead = performance.now();
  console.log(
    `reopen of ${SHELVES * ITEMS_PER_SHELF} nodes (written in ${writeSeconds.toFixed(1)} s): ` +
      `open ${(opened - openStart).toFixed(1)} ms, first read ${(firstRead - opened).toFixed(1)} ms ` +
      `(open to first read ${(firstRead - openStart).toFixed(1)} ms); ` +
      `a 3-hop path through nodes of 100 and 1000 links ${(pathRead - firstRead).toFixed(1)} ms`,
  );

  expect(first).toEqual(item(57, 123));
  expect(viaPath).toBe(item(99, 999).name);
  // One scan for the first node, then one per node on the path: nothing else was loaded.
  expect(store.scans).toBe(4);
  for (let k = 0; k < 50; k++) {
    const shelf = (k * 37) % SHELVES;
    const i = (k * 7919) % ITEMS_PER_SHELF;
    expect(await db.get('catalog').get(`shelf${shelf}`).get(`item${i}`).once()).toEqual(item(shelf, i));
  }
  expect(Object.keys((await db.get('catalog').once()) as object)).toHaveLength(SHELVES);
  await db.close();
});
