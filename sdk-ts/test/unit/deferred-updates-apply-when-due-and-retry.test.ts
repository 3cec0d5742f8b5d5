/**
 * Updates from the future (replica/deferred-updates.ts) on a LocalReplica: parked until
 * due, then applied one due time after another; with a store, the souls they touch are
 * loaded before they apply, and a due update whose commit fails is ingested again until
 * it is stored; a closed replica reports an empty queue.
 */
import { describe, expect, it, vi } from 'vitest';
import { encodeUpdates } from '../../src/engine/load-node.js';
import type { LocalReplica } from '../../src/replica/replica.js';
import type { StorageAdapter } from '../../src/storage/adapter.js';
import { openReplica, put } from './replica-helpers.js';
import { ReusableStore } from './store-helpers.js';

async function propsOf(replica: LocalReplica, soul: string): Promise<Record<string, unknown> | undefined> {
  return (await replica.read(() => replica.readNode(soul)))?.props as Record<string, unknown> | undefined;
}

describe('deferred updates', () => {
  it('are counted while parked, and the queue of a closed replica is empty', async () => {
    const replica = await openReplica(undefined as unknown as StorageAdapter);
    const result = await replica.receive(encodeUpdates(['f', 'v', 1], Float64Array.of(Date.now() + 60_000)));
    expect(result.deferred).toBe(1);
    expect(replica.deferredQueue().count).toBe(1);
    expect(replica.deferredQueue().bytes).toBeGreaterThan(0);
    await replica.close();
    expect(replica.deferredQueue()).toEqual({ count: 0, bytes: 0 });
  });

  it('apply at their own due times, a later one after an earlier one', async () => {
    const replica = await openReplica(undefined as unknown as StorageAdapter);
    const now = Date.now();
    const result = await replica.receive(encodeUpdates(['early', 'v', 1, 'late', 'v', 2], Float64Array.of(now + 50, now + 250)));
    expect(result.deferred).toBe(2);
    await vi.waitFor(async () => expect(await propsOf(replica, 'early')).toBeDefined(), { timeout: 5_000, interval: 20 });
    await vi.waitFor(async () => expect(await propsOf(replica, 'late')).toBeDefined(), { timeout: 5_000, interval: 20 });
    expect(replica.deferredQueue().count).toBe(0);
  });

  it('with a store, the soul a due update touches is loaded before it applies', async () => {
    const store = new ReusableStore();
    const first = await openReplica(store);
    await put(first, 'a', 'x', 1);
    expect((await first.receive(encodeUpdates(['a', 'y', 2], Float64Array.of(Date.now() + 1_000)))).deferred).toBe(1);
    await first.close();
    const replica = await openReplica(store);
    store.scans.length = 0;
    await vi.waitFor(() => expect(replica.deferredQueue().count).toBe(0), { timeout: 5_000, interval: 20 });
    await replica.flush();
    // Applied by the tick, with nothing reading a meanwhile: the tick loaded it.
    expect(store.scans).toContain('a');
    expect(replica.cacheReport().residentNodes).toBe(1);
    expect(Object.keys((await propsOf(replica, 'a'))!).sort()).toEqual(['x', 'y']);
  });

  it('a due update whose commit fails is ingested again until it is stored', async () => {
    const store = new ReusableStore();
    const replica = await openReplica(store);
    expect((await replica.receive(encodeUpdates(['r', 'v', 'later'], Float64Array.of(Date.now() + 1_000)))).deferred).toBe(1);
    store.failNextBatch = true;
    await vi.waitFor(() => expect(replica.deferredQueue().count).toBe(0), { timeout: 5_000, interval: 20 });
    // The failed commit took r out of memory; the retry (a second later) stores it.
    await vi.waitFor(async () => expect((await propsOf(replica, 'r'))?.v).toMatchObject({ v: 'later' }), { timeout: 8_000, interval: 50 });
    await replica.flush();
    await replica.close();
    const reopened = await openReplica(store);
    expect((await propsOf(reopened, 'r'))?.v).toMatchObject({ v: 'later' });
  }, 15_000);
});
