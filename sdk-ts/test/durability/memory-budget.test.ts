/**
 * The store is the truth and memory is a bounded cache (issue 11, item 1): a database
 * with a memory budget holds far more than the budget in its store, reads all of it back
 * correctly, and keeps the engine's resident souls (their estimated memory) under the
 * budget — after writes, after reading everything back, and after 20,000 reads of souls
 * nobody wrote. Real LevelDB files; the RSS of a `rustdht serve` process is measured in
 * memory-budget-server.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { LevelStore, RustDHT } from '../../src/node.js';
import { waitFor } from '../network/helpers/server-process.js';

const dirs: string[] = [];
const opened: RustDHT[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const BUDGET = 4 * 1024 * 1024;
const NODES = 1_200;
/** ~10 KB per node: 12 MB of records, about 36 MB of engine memory unbounded (9× the budget). */
const blob = (i: number): string => `${String(i).padStart(6, '0')}:${'x'.repeat(10_000)}`;

async function residentUnderBudget(db: RustDHT): Promise<{ residentBytes: number; residentNodes: number }> {
  return waitFor('the resident souls to be back under the budget', async () => {
    const usage = await db.storage.usage();
    return usage.residentBytes! <= BUDGET ? { residentBytes: usage.residentBytes!, residentNodes: usage.residentNodes! } : undefined;
  }, { timeoutMs: 10_000 });
}

it('holds 9× its memory budget in the store, reads it all back, and stays under the budget', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-budget-'));
  dirs.push(dir);
  const db = await RustDHT.open({ store: await LevelStore.open(dir), memoryBudget: BUDGET });
  opened.push(db);
  expect((await db.storage.usage()).memoryBudget).toBe(BUDGET);

  // Written as a server receives them: from a peer (a database's own writes wait in its
  // outbox for the network, and eviction protects them until then).
  const writer = await RustDHT.open({ store: 'memory' });
  opened.push(writer);
  const frames: Uint8Array[] = [];
  writer.onChanges((frame) => void frames.push(frame));
  for (let start = 0; start < NODES; start += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => writer.get(`node-${start + j}`).put({ blob: blob(start + j), n: start + j })));
    await Promise.all(frames.splice(0).map((frame) => db.receive(frame)));
  }
  const afterWrites = await residentUnderBudget(db);
  expect(afterWrites.residentNodes).toBeLessThan(NODES / 2);

  // Everything reads back, from the store where memory let it go.
  for (let i = 0; i < NODES; i++) {
    expect(await db.get(`node-${i}`).once(), `node-${i}`).toEqual({ blob: blob(i), n: i });
  }
  const afterReads = await residentUnderBudget(db);
  expect(afterReads.residentNodes).toBeLessThan(NODES / 2);

  // Reads of souls nobody wrote leave nothing behind beyond the budget.
  for (let i = 0; i < 20_000; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => db.get(`nobody-${i + j}`).once()));
  }
  const afterUnknown = await residentUnderBudget(db);
  expect(afterUnknown.residentNodes).toBeLessThan(20_000);

  // A write to a node that left memory merges against its stored state.
  await writer.get('node-0').put({ n: -1 });
  await Promise.all(frames.splice(0).map((frame) => db.receive(frame)));
  expect(await db.get('node-0').once()).toEqual({ blob: blob(0), n: -1 });
}, 120_000);

it('a memory budget needs a store and a positive size', async () => {
  await expect(RustDHT.open({ store: 'memory', memoryBudget: BUDGET })).rejects.toMatchObject({ code: 'config/invalid' });
  await expect(RustDHT.open({ store: 'memory', memoryBudget: -1 })).rejects.toMatchObject({ code: 'config/invalid' });
});
