/**
 * pending() lists the entries present when it starts, each once, whichever of its two
 * homes an entry is in: the store (durable) or memory (its batch still on the way). Real
 * databases, real engine, MemoryStore; GatedStore is a MemoryStore whose batches wait for
 * release(), so a test can hold a batch in flight. (Kills StrykerJS survivors in
 * replica/outbox.ts: the iteration's bounds, the recent-entry filter and copy, and the
 * per-batch bookkeeping that moves entries from memory to the store.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, RustDHT, type OutboxEntry, type StorageOperation } from '../../src/node.js';
import { OUTBOX_PREFIX } from '../../src/persistence/layout.js';

const opened: RustDHT[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
});

async function open(store?: MemoryStore): Promise<RustDHT> {
  const db = await RustDHT.open({ store: store ?? 'memory' });
  opened.push(db);
  return db;
}

/** A MemoryStore whose batches wait for `release()` before they are written. */
class GatedStore extends MemoryStore {
  #gates: Array<() => void> = [];
  gated = true;
  /** Called once a batch is written, before its caller hears of it. */
  afterWrite: ((operations: readonly StorageOperation[]) => void) | undefined;

  override async batch(operations: readonly StorageOperation[]): Promise<void> {
    if (this.gated) await new Promise<void>((resolve) => this.#gates.push(resolve));
    await super.batch(operations);
    this.afterWrite?.(operations);
  }

  get waiting(): number {
    return this.#gates.length;
  }

  /** Lets the oldest held batch be written. */
  release(): void {
    this.#gates.shift()?.();
  }
}

async function pendingOf(db: RustDHT, onEach?: (entry: OutboxEntry) => Promise<void> | void): Promise<OutboxEntry[]> {
  const entries: OutboxEntry[] = [];
  for await (const entry of db.outbox.pending()) {
    entries.push(entry);
    await onEach?.(entry);
  }
  return entries;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(what: string, ready: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (ready()) return;
    await tick();
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('pending() lists each pending write once', () => {
  it('without a store: writes made while it runs are not included', async () => {
    const db = await open();
    await db.get('a').put({ v: 1 });
    await db.get('b').put({ v: 2 });
    const ids = (await pendingOf(db, async ({ id }) => {
      if (id === 0) await db.get('c').put({ v: 3 });
    })).map((e) => e.id);
    expect(ids).toEqual([0, 1]);
    expect(db.outbox.size).toBe(3);
    expect((await pendingOf(db)).map((e) => e.id)).toEqual([0, 1, 2]);
  });

  it('with a store: the first writes, still on their way to it, are listed', async () => {
    const store = new GatedStore();
    const db = await open(store);
    void db.get('a').put({ v: 1 }).catch(() => {});
    void db.get('b').put({ v: 2 }).catch(() => {});
    await until('both writes in the outbox', () => db.outbox.size === 2);
    expect((await pendingOf(db)).map((e) => e.id)).toEqual([0, 1]);
    store.gated = false;
    store.release();
  });

  it('an entry whose batch has just landed, so that it is both in the store and in memory, is listed once', async () => {
    const store = new GatedStore();
    store.gated = false;
    const db = await open(store);
    await db.get('a').put({ v: 1 }); // entry 0: durable, read from the store
    // Entry 1's batch is written; before its writer learns so, an iteration starts.
    let listing: Promise<OutboxEntry[]> | undefined;
    store.afterWrite = (operations) => {
      if (!operations.some((op) => op.key[0] === OUTBOX_PREFIX[0])) return;
      store.afterWrite = undefined;
      listing = pendingOf(db);
    };
    await db.get('b').put({ v: 2 });
    expect(listing).toBeDefined();
    expect((await listing!).map((e) => e.id)).toEqual([0, 1]);
  });

  it('stops at an abort among the entries not yet in the store', async () => {
    const store = new GatedStore();
    const db = await open(store);
    for (const soul of ['a', 'b', 'c']) void db.get(soul).put({ v: soul }).catch(() => {});
    await until('three writes in the outbox', () => db.outbox.size === 3);
    const controller = new AbortController();
    const ids: number[] = [];
    for await (const { id } of db.outbox.pending({ signal: controller.signal })) {
      ids.push(id);
      controller.abort();
    }
    expect(ids).toEqual([0]);
    store.gated = false;
    store.release();
  });

  it("frames of entries not yet in the store are the caller's to keep", async () => {
    const store = new GatedStore();
    const db = await open(store);
    const announced: Uint8Array[] = [];
    db.onChanges((frame) => void announced.push(frame.slice()));
    const write = db.get('a').put({ v: 1 });
    await until('the write in the outbox', () => db.outbox.size === 1);
    const [first] = await pendingOf(db);
    first!.frame.fill(0);
    expect((await pendingOf(db))[0]!.frame).toEqual(announced[0]);
    store.gated = false;
    store.release();
    await write;
    // What reached the store is the write's frame too.
    expect((await pendingOf(db))[0]!.frame).toEqual(announced[0]);
  });

  it('a write staged while the batch before it is in flight stays listed until its own batch lands', async () => {
    const store = new GatedStore();
    const db = await open(store);
    const first = db.get('a').put({ v: 1 }); // entry 0, alone in its batch
    await until('the first batch to be in flight', () => store.waiting === 1);
    const second = db.get('b').put({ v: 2 }); // entry 1, alone in the next batch
    await until('the second write in the outbox', () => db.outbox.size === 2);
    store.release();
    await first;
    await until('the second batch to be in flight', () => store.waiting === 1);
    // Entry 0 is in the store; entry 1 is not yet, and must still be listed and acknowledgeable.
    expect((await pendingOf(db)).map((e) => e.id)).toEqual([0, 1]);
    const acknowledged = db.outbox.acknowledge(1);
    store.gated = false;
    store.release();
    await second;
    expect(await acknowledged).toBe(true);
    expect((await pendingOf(db)).map((e) => e.id)).toEqual([0]);
    expect(db.outbox.size).toBe(1);
  });

  it('soulsOf() names the souls a pending write touched', async () => {
    const db = await open();
    await db.get('room').put({ topic: 't', owner: { name: 'x' } });
    const [entry] = await pendingOf(db);
    expect(db.outbox.soulsOf(entry!).sort()).toEqual(['room', 'room/owner']);
  });
});
