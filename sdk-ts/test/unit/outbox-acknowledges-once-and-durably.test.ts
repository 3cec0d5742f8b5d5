/**
 * acknowledge() removes an entry exactly once, and only for good: two acknowledgements
 * racing count once, a removal that cannot reach the store leaves the entry pending,
 * a write whose batch fails leaves the outbox, and nothing is announced after close().
 * Real databases, real engine; the stores are MemoryStores that can be told to fail
 * their next read or batch. (Kills StrykerJS survivors in replica/outbox.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, RustDHT, type OutboxEntry, type OutboxEvent, type StorageOperation } from '../../src/node.js';

const opened: RustDHT[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
});

/** A MemoryStore that can fail its next get() or batch() (writing nothing), and outlives the database. */
class FailingStore extends MemoryStore {
  failNextGet = false;
  failNextBatch = false;

  override get(key: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.failNextGet) {
      this.failNextGet = false;
      return Promise.reject(new Error('the disk cannot be read'));
    }
    return super.get(key);
  }

  override batch(operations: readonly StorageOperation[]): Promise<void> {
    if (this.failNextBatch) {
      this.failNextBatch = false;
      return Promise.reject(new Error('the disk is full'));
    }
    return super.batch(operations);
  }

  override async close(): Promise<void> {}
}

async function open(store: MemoryStore | 'memory'): Promise<RustDHT> {
  const db = await RustDHT.open({ store });
  opened.push(db);
  return db;
}

async function pendingIds(db: RustDHT): Promise<number[]> {
  const entries: OutboxEntry[] = [];
  for await (const entry of db.outbox.pending()) entries.push(entry);
  return entries.map((e) => e.id);
}


describe('acknowledge()', () => {
  it('an invalid id is refused with a message naming it', async () => {
    const db = await open('memory');
    await expect(db.outbox.acknowledge(1.5)).rejects.toMatchObject({
      code: 'outbox/id',
      message: expect.stringContaining('acknowledge() takes an entry id from pending(), not 1.5'),
    });
  });

  it('two acknowledgements of a durable entry, at once, remove it once', async () => {
    const db = await open(new FailingStore());
    await db.get('a').put({ v: 1 });
    await db.get('b').put({ v: 2 });
    const events: OutboxEvent[] = [];
    db.outbox.onChange((event) => events.push(event));
    expect(await Promise.all([db.outbox.acknowledge(0), db.outbox.acknowledge(0)])).toEqual([true, false]);
    expect(db.outbox.size).toBe(1);
    expect(events).toEqual([{ type: 'removed', id: 0, size: 1 }]);
    expect(await pendingIds(db)).toEqual([1]);
  });

  it('an entry not yet durable is acknowledged from memory, once', async () => {
    const db = await open(new FailingStore());
    await db.get('a').put({ v: 1 });
    await db.get('b').put({ v: 2 });
    const other = db.get('c').put({ v: 3 });
    // Microtasks only: its batch is committed after the current macrotask, so not yet.
    for (let i = 0; i < 1_000 && db.outbox.size < 3; i++) await Promise.resolve();
    expect(db.outbox.size).toBe(3);
    expect(await Promise.all([db.outbox.acknowledge(2), db.outbox.acknowledge(2)])).toEqual([true, false]);
    await other;
    expect(db.outbox.size).toBe(2);
    expect(await pendingIds(db)).toEqual([0, 1]);
  });

  it('an entry being removed is not listed while its deletion is on its way to the store', async () => {
    const db = await open(new FailingStore());
    await db.get('a').put({ v: 1 });
    let listing: Promise<number[]> | undefined;
    db.outbox.onChange((event) => {
      if (event.type === 'removed') listing = pendingIds(db);
    });
    const acknowledged = db.outbox.acknowledge(0);
    await new Promise<void>((resolve) => {
      const wait = (): void => void (listing === undefined ? setImmediate(wait) : resolve());
      wait();
    });
    expect(await listing).toEqual([]);
    expect(await acknowledged).toBe(true);
  });

  it('when the store cannot be read, acknowledging a durable entry rejects and leaves it pending', async () => {
    const store = new FailingStore();
    const db = await open(store);
    await db.get('a').put({ v: 1 }); // durable: the outbox reads it back from the store
    store.failNextGet = true;
    await expect(db.outbox.acknowledge(0)).rejects.toThrow('the disk cannot be read');
    expect(db.outbox.size).toBe(1);
    expect(await pendingIds(db)).toEqual([0]);
    expect(await db.outbox.acknowledge(0)).toBe(true);
    expect(db.outbox.size).toBe(0);
  });

  it('when the deletion cannot be stored, the acknowledgement rejects and the entry stays pending', async () => {
    const store = new FailingStore();
    const db = await open(store);
    await db.get('a').put({ v: 1 });
    const heard: Array<[string, number]> = [];
    db.outbox.onChange((event) => heard.push([event.type, event.size]));
    store.failNextBatch = true;
    await expect(db.outbox.acknowledge(0)).rejects.toThrow('the disk is full');
    expect(db.outbox.size).toBe(1);
    // Listeners heard the removal, then that it did not land (no stale size left with them).
    expect(heard).toEqual([['removed', 0], ['restored', 1]]);
    expect(await pendingIds(db)).toEqual([0]);
    expect(await db.outbox.acknowledge(0)).toBe(true);
    expect(db.outbox.size).toBe(0);
    // Reopened, the store agrees.
    await db.close();
    const again = await open(store);
    expect(again.outbox.size).toBe(0);
    expect(await pendingIds(again)).toEqual([]);
  });
});

describe('the outbox and failed writes', () => {
  it('a write whose batch fails leaves the outbox: it was never stored', async () => {
    const store = new FailingStore();
    const db = await open(store);
    const events: OutboxEvent[] = [];
    db.outbox.onChange((event) => events.push(event));
    store.failNextBatch = true;
    await expect(db.get('a').put({ v: 1 })).rejects.toThrow();
    expect(events.map((e) => [e.type, e.id, e.size])).toEqual([['added', 0, 1], ['removed', 0, 0]]);
    expect(db.outbox.size).toBe(0);
    expect(await pendingIds(db)).toEqual([]);
    expect(await db.outbox.acknowledge(0)).toBe(false);
    await db.get('b').put({ v: 2 });
    expect(await pendingIds(db)).toEqual([1]);
  });
});

describe('listeners', () => {
  it('an unsubscribed listener hears nothing more', async () => {
    const db = await open('memory');
    const events: OutboxEvent[] = [];
    const stop = db.outbox.onChange((event) => events.push(event));
    await db.get('a').put({ v: 1 });
    stop();
    await db.get('b').put({ v: 2 });
    expect(events.map((e) => e.id)).toEqual([0]);
  });

  it('after close() nothing is announced, and onChange() refuses', async () => {
    const store = new FailingStore();
    const db = await open(store);
    const outbox = db.outbox;
    const events: OutboxEvent[] = [];
    outbox.onChange((event) => events.push(event));
    const write = db.get('a').put({ v: 1 }).catch(() => {});
    await Promise.resolve();
    const before = events.length;
    store.failNextBatch = true; // the batch close() commits fails: its entry leaves the outbox
    await db.close();
    await write;
    expect(events).toHaveLength(before);
    expect(() => outbox.onChange(() => {})).toThrow(expect.objectContaining({ name: 'ClosedError' }));
  });
});
