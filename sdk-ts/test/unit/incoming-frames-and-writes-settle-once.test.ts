/**
 * The replica's two paths into the engine seen from their callers (replica/incoming.ts,
 * replica/writes.ts): a prepared frame names its souls before anything merges and is
 * received or discarded exactly once; a malformed frame, a closed replica or a plan that
 * throws reject the returned promise (they never throw at the caller); a refused update
 * names its own soul and key, the first one included; outcomes come one per update, in
 * frame order.
 */
import { describe, expect, it } from 'vitest';
import * as engineModule from '../../src/engine/load-node.js';
import { DEFERRED_RECORD_PREFIX } from '../../src/persistence/layout.js';
import type { StorageOperation } from '../../src/storage/adapter.js';
import { openReplica, put } from './replica-helpers.js';
import { ReusableStore } from './store-helpers.js';

/** A ReusableStore whose batches wait until `open()`. */
class GatedStore extends ReusableStore {
  #gate: Promise<void> | undefined;
  #release: () => void = () => {};
  close_(): void {
    this.#gate = new Promise((resolve) => (this.#release = resolve));
  }
  open(): void {
    this.#gate = undefined;
    this.#release();
  }
  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    await this.#gate;
    return super.batch(operations);
  }
}

describe('incoming frames', () => {
  it('a prepared frame names its souls first, merges once on receive(), and refuses a second receive()', async () => {
    const source = await openReplica(new ReusableStore());
    await put(source, 'a', 'x', 1);
    await put(source, 'b', 'y', 2);
    const frame = (await Promise.all([source.stored.nodeFrame('a'), source.stored.nodeFrame('b')])).map((f) => [...f]);
    const target = await openReplica(new ReusableStore());
    const prepared = target.prepare(new Uint8Array(frame[0]!));
    expect(prepared.souls).toEqual(['a']);
    // Nothing merged before receive().
    expect(await target.read(() => target.readNode('a'))).toBeNull();
    const result = await prepared.receive();
    expect(result).toMatchObject({ applied: 1, outcomes: [{ outcome: 'applied' }] });
    expect(await target.read(() => target.readNode('a'))).not.toBeNull();
    await expect(prepared.receive()).rejects.toMatchObject({ code: 'engine/used', message: expect.stringContaining('already received or discarded') });
    // The same update again is ignored; a frame of two updates answers two outcomes, in frame order.
    expect((await target.receive(new Uint8Array(frame[0]!))).outcomes).toEqual([{ outcome: 'ignored' }]);
  });

  it('a discarded frame merges nothing and cannot be received afterwards; discarding twice is harmless', async () => {
    const source = await openReplica(new ReusableStore());
    await put(source, 'd', 'x', 1);
    const frame = await source.stored.nodeFrame('d');
    const target = await openReplica(new ReusableStore());
    const prepared = target.prepare(frame);
    prepared.discard();
    prepared.discard();
    await expect(prepared.receive()).rejects.toMatchObject({ code: 'engine/used' });
    expect(await target.read(() => target.readNode('d'))).toBeNull();
  });

  it('a frame of updates from the future resolves once their deferred records are stored, not before', async () => {
    const store = new GatedStore();
    const replica = await openReplica(store);
    store.close_();
    let resolved = false;
    const received = replica.receive(engineModule.encodeUpdates(['f', 'v', 1], Float64Array.of(Date.now() + 60_000))).then((result) => ((resolved = true), result));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const early = resolved;
    store.open();
    expect(early).toBe(false);
    expect(await received).toMatchObject({ deferred: 1, outcomes: [{ outcome: 'deferred' }] });
    const records: unknown[] = [];
    for await (const entry of store.inner.entries({ prefix: DEFERRED_RECORD_PREFIX })) records.push(entry);
    expect(records).toHaveLength(1);
  });

  it('a malformed frame and a closed replica reject the promise receive() returns', async () => {
    const replica = await openReplica(new ReusableStore());
    const malformed = replica.receive(new Uint8Array([0xff, 0xff, 0xff]));
    expect(malformed).toBeInstanceOf(Promise);
    await expect(malformed).rejects.toThrow();
    await replica.close();
    const closed = replica.receive(new Uint8Array(0));
    expect(closed).toBeInstanceOf(Promise);
    await expect(closed).rejects.toMatchObject({ code: 'closed' });
  });
});

describe('local writes', () => {
  it('an update the engine refuses is named by its soul and key, the first update and a later one alike', async () => {
    const replica = await openReplica(new ReusableStore());
    const tooLong = 'k'.repeat(2000);
    const first = await replica.write(() => ['s', tooLong, 1, 's', 'second', 1], undefined).catch((e: unknown) => e);
    expect(first).toMatchObject({ code: 'limit/key', soul: 's', key: tooLong });
    const later = await replica.write(() => ['s', 'ok', 1, 't', tooLong, 1], undefined).catch((e: unknown) => e);
    expect(later).toMatchObject({ code: 'limit/key', soul: 't', key: tooLong });
    const last = await replica.write(() => ['s', 'ok', 1, 'u', 'ok', 2, 'v', tooLong, 3], undefined).catch((e: unknown) => e);
    expect(last).toMatchObject({ code: 'limit/key', soul: 'v', key: tooLong });
    expect(await replica.read(() => replica.readNode('s'))).toBeNull();
  });

  it('a plan that throws and a closed replica reject the promise write() returns', async () => {
    const replica = await openReplica(new ReusableStore());
    const thrown = replica.write(() => {
      throw new Error('plan failed');
    }, undefined);
    expect(thrown).toBeInstanceOf(Promise);
    await expect(thrown).rejects.toThrow('plan failed');
    await replica.close();
    const closed = replica.write(() => ['s', 'k', 1], undefined);
    expect(closed).toBeInstanceOf(Promise);
    await expect(closed).rejects.toMatchObject({ code: 'closed' });
  });

  it("a signed write's changes name its signer; an unsigned one's none", async () => {
    const replica = await openReplica(new ReusableStore());
    const signer = engineModule.Signer.fromSeed(new Uint8Array(32).fill(7));
    const space = `~${signer.publicKey()}`;
    const signers: unknown[] = [];
    replica.onApplied((batch) => signers.push(...batch.changes.map((change) => (change as readonly unknown[])[4])));
    await replica.write(() => [space, 'k', 1], signer);
    await replica.write(() => ['plain', 'k', 1], undefined);
    expect(signers).toEqual([signer.publicKey(), null]);
  });

  it('with a store, a write resolves to its counts once durable', async () => {
    const replica = await openReplica(new ReusableStore());
    expect(await replica.write(() => ['s', 'a', 1, 's', 'b', 2], undefined)).toMatchObject({ applied: 2 });
  });

  it('with a store, every soul a write touches is loaded (once) before it applies', async () => {
    const store = new ReusableStore();
    const first = await openReplica(store);
    await put(first, 'a', 'x', 1);
    await put(first, 'b', 'x', 1);
    await first.close();
    const replica = await openReplica(store);
    store.scans.length = 0;
    await replica.write(() => ['a', 'y', 2, 'a', 'z', 3, 'b', 'y', 2], undefined);
    expect(store.scans.filter((soul) => soul === 'a' || soul === 'b').sort()).toEqual(['a', 'b']);
    // The stored properties are there beside the new ones.
    expect(Object.keys((await replica.read(() => replica.readNode('a')))!.props).sort()).toEqual(['x', 'y', 'z']);
  });
});
