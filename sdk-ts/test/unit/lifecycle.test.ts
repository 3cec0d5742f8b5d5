import { describe, expect, it } from 'vitest';
import { ClosedError, Identity, MemoryStore, RustDHT, type PropertyMeta, type StorageAdapter } from '../../src/node.js';
import { openDb, valueRecorder } from './helpers.js';
import { ReusableStore } from './store-helpers.js';

describe('close()', () => {
  it('makes every later call fail with ClosedError', async () => {
    const db = await RustDHT.open();
    const ref = db.get('x');
    const identity = Identity.generate();
    const { outbox, identities } = db;
    await db.close();
    expect(db.closed).toBe(true);
    expect(() => db.get('x')).toThrow(ClosedError);
    expect(() => db.user(identity)).toThrow(ClosedError);
    expect(() => db.onChanges(() => {})).toThrow(ClosedError);
    await expect(db.receive(new Uint8Array([1]))).rejects.toBeInstanceOf(ClosedError);
    await expect(ref.put({ a: 1 })).rejects.toBeInstanceOf(ClosedError);
    await expect(ref.get('k').put(1)).rejects.toBeInstanceOf(ClosedError);
    await expect(ref.set({ a: 1 })).rejects.toBeInstanceOf(ClosedError);
    await expect(ref.once()).rejects.toBeInstanceOf(ClosedError);
    await expect(ref.meta()).rejects.toBeInstanceOf(ClosedError);
    await expect(ref.map().once()).rejects.toBeInstanceOf(ClosedError);
    expect(() => ref.on(() => {})).toThrow(ClosedError);
    expect(() => ref.changes()).toThrow(ClosedError);
    expect(() => ref.map().on(() => {})).toThrow(ClosedError);
    expect(() => ref.map().changes()).toThrow(ClosedError);
    expect(() => db.outbox).toThrow(ClosedError);
    expect(() => db.identities).toThrow(ClosedError);
    await expect(db.flush()).rejects.toBeInstanceOf(ClosedError);
    await expect(outbox.acknowledge(0)).rejects.toBeInstanceOf(ClosedError);
    await expect(outbox.pending().next()).rejects.toBeInstanceOf(ClosedError);
    await expect(identities.keep(identity)).rejects.toBeInstanceOf(ClosedError);
    await expect(identities.list()).rejects.toBeInstanceOf(ClosedError);
    await db.close(); // idempotent
  });

  it('stops subscriptions and deferred timers', async () => {
    const db = await RustDHT.open();
    const seen = valueRecorder<unknown>();
    db.get('x').on(seen.fn);
    const iterator = db.get('x').map().changes();
    await db.close();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect(seen.calls).toEqual([]);
  });

  it('closes when the open signal aborts', async () => {
    const controller = new AbortController();
    const db = await RustDHT.open({ signal: controller.signal });
    controller.abort();
    expect(db.closed).toBe(true);
    await expect(RustDHT.open({ signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('persistence through a StorageAdapter', () => {
  it('restores the graph, signatures included, when reopened on the same store', async () => {
    const store = new ReusableStore();
    const me = Identity.generate();
    const first = await RustDHT.open({ store });
    await first.get('post').put({ title: 'Persisted', author: { name: 'Ann' } });
    await first.user(me).put({ name: 'Me' });
    const signedMeta = (await first.user(me).get('name').meta()) as PropertyMeta;
    await first.close();
    expect(store.batches).toBe(2);

    const second = await RustDHT.open({ store });
    expect(await second.get('post').get('author').get('name').once()).toBe('Ann');
    expect(await second.user(me).get('name').meta()).toEqual(signedMeta);
    // Writes after reopening merge into the stored nodes instead of replacing them.
    await second.get('post').get('title').put('Edited');
    await second.close();
    const third = await RustDHT.open({ store });
    expect(await third.get('post').get('title').once()).toBe('Edited');
    expect(await third.get('post').get('author').get('name').once()).toBe('Ann');
    await third.close();
  });

  it('persists received changes too, but not refused writes', async () => {
    const store = new ReusableStore();
    const writer = await openDb({ now: () => Date.now() - 1_000 });
    let frame: Uint8Array | undefined;
    writer.onChanges((f) => (frame = f));
    await writer.get('r').put({ v: 1 });
    const db = await RustDHT.open({ store });
    await db.receive(frame!);
    await expect(db.get('r').put({ bad: NaN })).rejects.toThrow();
    await db.close();
    expect(store.batches).toBe(1);
    const reopened = await RustDHT.open({ store });
    expect(await reopened.get('r').once()).toEqual({ v: 1 });
    await reopened.close();
  });

  it('restores everything even when the clock has since moved back beyond the allowed skew', async () => {
    const store = new ReusableStore();
    const first = await RustDHT.open({ store });
    await first.get('t').put({ v: 'written now' });
    await first.close();
    const hourAgo = () => Date.now() - 3_600_000;
    const reopened = await RustDHT.open({ store, now: hourAgo, maxClockSkewMs: 1_000 });
    expect(await reopened.get('t').once()).toEqual({ v: 'written now' });
    // And the restored clock keeps new local writes ordered after the restored ones.
    await reopened.get('t').put({ v: 'written later' });
    expect(await reopened.get('t').get('v').once()).toBe('written later');
    await reopened.close();
  });

  it('put resolves only once the store has the batch', async () => {
    const store = new ReusableStore();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: StorageAdapter = {
      get: (key) => store.get(key),
      entries: (range) => store.entries(range),
      batch: async (operations) => {
        await gate;
        return store.batch(operations);
      },
      close: () => store.close(),
    };
    const db = await openDb({ store: slow });
    let acked = false;
    const put = db.get('slow').put({ v: 1 }).then(() => (acked = true));
    // Applied (readable) at once; acknowledged only when durable.
    expect(await db.get('slow').get('v').once()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(acked).toBe(false);
    release();
    await put;
    expect(acked).toBe(true);
  });

  it('the database owns the store: close() closes it', async () => {
    const store = new MemoryStore();
    const db = await RustDHT.open({ store });
    await db.close();
    await expect(store.get(new Uint8Array([1]))).rejects.toBeInstanceOf(ClosedError);
  });
});
