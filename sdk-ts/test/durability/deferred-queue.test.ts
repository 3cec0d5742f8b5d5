/**
 * The deferred queue on a real LevelDB store (issue 11, item 4): bounded in bytes as well
 * as in count, refused (limit/deferred) before anything is acknowledged, stored as one
 * record per parked update (write volume O(N), not O(N²)), and reopened quickly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as engineModule from '../../src/engine/load-node.js';
import { DEFERRED_RECORD_PREFIX } from '../../src/persistence/layout.js';
import { LocalReplica } from '../../src/replica/replica.js';
import type { EngineConfig } from '../../src/engine/reports.js';
import { LevelStore } from '../../src/storage/leveldb.js';
import { DelegatingStore } from '../storage/delegating-store.js';
import type { StorageAdapter, StorageOperation } from '../../src/storage/adapter.js';

const MIB = 1024 * 1024;
const dirs: string[] = [];
const open: LocalReplica[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((replica) => replica.close().catch(() => {})));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function directory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rustdht-deferred-'));
  dirs.push(dir);
  return dir;
}

/** Counts what is written through it: bytes of keys and values put, batches. */
class CountingStore extends DelegatingStore {
  bytesWritten = 0;
  batches = 0;
  override batch(operations: readonly StorageOperation[]): Promise<void> {
    this.batches++;
    for (const op of operations) this.bytesWritten += op.key.length + (op.type === 'put' ? op.value.length : 0);
    return this.inner.batch(operations);
  }
}

async function openReplica(store: StorageAdapter, engineConfig: EngineConfig = {}, now: () => number = Date.now): Promise<LocalReplica> {
  const replica = await LocalReplica.open({
    engineModule,
    engineConfig,
    now,
    store,
    signal: undefined,
    importIdentity: () => {
      throw new Error('no identities here');
    },
  });
  open.push(replica);
  return replica;
}

async function deferredRecords(store: StorageAdapter): Promise<number> {
  let n = 0;
  for await (const _ of store.entries({ prefix: DEFERRED_RECORD_PREFIX })) n++;
  return n;
}

const bigValue = 'x'.repeat(MIB - 100);

describe('the deferred queue on LevelDB', () => {
  it('parks 1 MiB updates from a fast clock up to maxDeferredBytes, refuses the rest with limit/deferred, and keeps every one it took', async () => {
    const dir = await directory();
    const level = await LevelStore.open(dir);
    const replica = await openReplica(level, { maxDeferredBytes: 16 * MIB });
    const fast = Date.now() + 60_000;
    const outcomes: string[] = [];
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 64; i++) {
      const result = await replica.receive(engineModule.encodeUpdates(['parked', `k${i}`, bigValue], Float64Array.of(fast + i)));
      const outcome = result.outcomes[0]!;
      outcomes.push(outcome.outcome === 'rejected' ? outcome.code : outcome.outcome);
    }
    const taken = outcomes.filter((o) => o === 'deferred').length;
    // 16 MiB of just-under-1 MiB updates: 16 fit; every later one is refused, typed.
    expect(taken).toBe(16);
    expect(outcomes.slice(taken).every((o) => o === 'limit/deferred')).toBe(true);
    const queue = replica.deferredQueue();
    expect(queue.count).toBe(16);
    expect(queue.bytes).toBeLessThanOrEqual(16 * MIB);
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    console.log(`[deferred] 64 × 1 MiB from a fast clock: ${taken} parked (${(queue.bytes / MIB).toFixed(1)} MiB in the engine), ${64 - taken} refused with limit/deferred; RSS +${(rssGrowth / MIB).toFixed(0)} MiB`);
    expect(rssGrowth).toBeLessThan(256 * MIB);
    await replica.close();
    // Every update acknowledged as deferred is in the store, and comes back.
    const reopenedStore = await LevelStore.open(dir);
    expect(await deferredRecords(reopenedStore)).toBe(16);
    const reopened = await openReplica(reopenedStore, { maxDeferredBytes: 16 * MIB }, () => fast + 100);
    expect(reopened.deferredQueue().count).toBe(16);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await reopened.flush();
    expect(reopened.deferredQueue().count).toBe(0);
    const node = await reopened.read(() => reopened.readNode('parked'));
    expect(Object.keys(node!.props)).toHaveLength(16);
  }, 60_000);

  it('stores N deferred updates with O(N) bytes written, and reopens 100,000 of them quickly', async () => {
    const dir = await directory();
    const store = new CountingStore(await LevelStore.open(dir));
    const replica = await openReplica(store);
    const future = Date.now() + 300_000;
    const written: Array<[number, number]> = [];
    const value = 'v'.repeat(100);
    let parked = 0;
    // 100 batches of 1,000 updates, each its own commit: with the whole queue rewritten by
    // every commit this writes ~N²/2 update copies; with one record per update, ~N.
    for (let b = 0; b < 100; b++) {
      const flat: unknown[] = [];
      for (let i = 0; i < 1000; i++) flat.push(`soul${b}-${i}`, 'k', value);
      const result = await replica.receive(engineModule.encodeUpdates(flat, new Float64Array(1000).fill(future + b)));
      parked += result.deferred;
      if ((b + 1) % 25 === 0) written.push([parked, store.bytesWritten]);
    }
    expect(parked).toBe(100_000);
    const perUpdate = written.map(([n, bytes]) => bytes / n);
    console.log(`[deferred] bytes written per parked update at ${written.map(([n]) => n).join(', ')}: ${perUpdate.map((b) => b.toFixed(0)).join(', ')} (total ${(store.bytesWritten / MIB).toFixed(1)} MiB in ${store.batches} batches)`);
    // Linear: the cost per update does not grow with the queue (it would grow ×4 from 25,000 to 100,000).
    expect(perUpdate[3]!).toBeLessThan(perUpdate[0]! * 1.2);
    expect(store.bytesWritten).toBeLessThan(100_000 * 400);
    await replica.close();

    const reopenStarted = performance.now();
    const reopened = await openReplica(await LevelStore.open(dir));
    const reopenMs = performance.now() - reopenStarted;
    console.log(`[deferred] reopening with 100,000 parked updates: ${reopenMs.toFixed(0)} ms`);
    expect(reopened.deferredQueue().count).toBe(100_000);
    expect(reopenMs).toBeLessThan(10_000);
  }, 180_000);
});
