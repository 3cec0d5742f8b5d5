import { describe, expect, it } from 'vitest';
import { encodeUpdates } from '../../src/engine/load-node.js';
import { DEFERRED_KEY, DEFERRED_RECORD_PREFIX, HEAD_KEY } from '../../src/persistence/layout.js';
import { Identity, RustDHT, type PropertyMeta, type RangeOptions, type StorageEntry } from '../../src/node.js';
import { openDb, settle, valueRecorder } from './helpers.js';
import { ReusableStore } from './store-helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens, runs `body`, closes: one "session" of an app on the store. */
async function session<T>(store: ReusableStore, body: (db: RustDHT) => Promise<T>, options: Parameters<typeof RustDHT.open>[0] = {}): Promise<T> {
  const db = await RustDHT.open({ ...options, store });
  try {
    return await body(db);
  } finally {
    await db.close();
  }
}

async function deferredRecords(store: ReusableStore): Promise<StorageEntry[]> {
  const records: StorageEntry[] = [];
  for await (const entry of store.inner.entries({ prefix: DEFERRED_RECORD_PREFIX })) records.push(entry);
  return records;
}

describe('reopening a store', () => {
  it('reads nothing but the head and the deferred records at open, then one scan per node first used', async () => {
    const store = new ReusableStore();
    await session(store, async (db) => {
      await db.get('post').put({ title: 'Hi', author: { name: 'Ann' } });
      await db.get('other').put({ x: 1 });
    });
    store.scans.length = 0;
    const db = await RustDHT.open({ store });
    // The one scan at open: the deferred updates' "d" records.
    expect(store.scans).toEqual(['d']);
    store.scans.length = 0;
    expect(await db.get('other').get('x').once()).toBe(1);
    expect(store.scans).toEqual(['other']);
    expect(await db.get('other').once()).toEqual({ x: 1 });
    expect(store.scans).toEqual(['other']);
    expect(await db.get('post').get('author').get('name').once()).toBe('Ann');
    expect(store.scans).toEqual(['other', 'post', 'post/author']);
    // A soul the store does not know is scanned once, then known to be empty.
    expect(await db.get('nobody').once()).toBeUndefined();
    expect(await db.get('nobody').once()).toBeUndefined();
    expect(store.scans).toEqual(['other', 'post', 'post/author', 'nobody']);
    await db.close();
  });

  it('merges a write after reopening with the stored node, without reading it first', async () => {
    const store = new ReusableStore();
    await session(store, (db) => db.get('n').put({ a: 1, b: 2 }));
    await session(store, (db) => db.get('n').put({ b: 3 }));
    expect(await session(store, (db) => db.get('n').once())).toEqual({ a: 1, b: 3 });
  });

  it('orders writes after every stored state even when the wall clock went back', async () => {
    const store = new ReusableStore();
    const first = await session(store, async (db) => {
      await db.get('t').put({ v: 'written first' });
      return (await db.get('t').get('v').meta()) as PropertyMeta;
    });
    const hourAgo = (): number => Date.now() - 3_600_000;
    await session(store, (db) => db.get('t').get('v').put('written later'), { now: hourAgo });
    const later = await session(store, async (db) => (await db.get('t').get('v').meta()) as PropertyMeta, { now: hourAgo });
    expect(later.value).toBe('written later');
    expect(later.state).toBeGreaterThan(first.state);
  });

  it('decides received updates against the stored state of nodes not loaded yet', async () => {
    const store = new ReusableStore();
    const stored = await session(store, async (db) => {
      await db.get('r').put({ v: 'stored' });
      return (await db.get('r').get('v').meta()) as PropertyMeta;
    });
    const older = encodeUpdates(['r', 'v', 'older', 'r', 'w', 'new key'], Float64Array.of(stored.state - 1, stored.state - 1));
    const result = await session(store, (db) => db.receive(older));
    expect(result.outcomes.map((o) => o.outcome)).toEqual(['historical', 'applied']);
    expect(await session(store, (db) => db.get('r').once())).toEqual({ v: 'stored', w: 'new key' });
  });

  it('keeps signatures, and loads the children map() and on() show', async () => {
    const store = new ReusableStore();
    const me = Identity.generate();
    const signed = await session(store, async (db) => {
      const list = db.get('list');
      for (const name of ['a', 'b', 'c']) await list.get(name).put({ name });
      await db.get('moved').put({ here: 'yes' });
      await db.user(me).put({ bio: 'signed' });
      return db.user(me).get('bio').meta();
    });
    await session(store, async (db) => {
      expect(await db.user(me).get('bio').meta()).toEqual(signed);
      expect(await db.get('list').map().once()).toEqual([
        ['a', { name: 'a' }],
        ['b', { name: 'b' }],
        ['c', { name: 'c' }],
      ]);
    });
    await session(store, async (db) => {
      const children: Array<[unknown, string]> = [];
      db.get('list').map().on((value, key) => children.push([value, key]));
      const seen = valueRecorder<unknown>();
      db.get('list').get('b').get('name').on(seen.fn);
      await sleep(20);
      expect(children).toEqual([
        [{ name: 'a' }, 'a'],
        [{ name: 'b' }, 'b'],
        [{ name: 'c' }, 'c'],
      ]);
      expect(seen.calls).toEqual([['b']]);
      // Re-link 'b' to a node that is only in the store: both subscribers load it.
      await db.get('list').get('b').put(db.get('moved'));
      await sleep(20);
      expect(children.slice(3)).toEqual([[{ here: 'yes' }, 'b']]);
      expect(seen.calls.slice(1)).toEqual([[undefined]]);
      await db.get('moved').get('name').put('now named');
      await settle();
      expect(seen.calls.slice(2)).toEqual([['now named']]);
    });
  });

  it('keeps deferred updates across a restart and applies them when due', async () => {
    const store = new ReusableStore();
    const soon = encodeUpdates(['d', 'v', 'from the future'], Float64Array.of(Date.now() + 300));
    const result = await session(store, (db) => db.receive(soon));
    expect(result.deferred).toBe(1);
    expect(await store.get(DEFERRED_KEY)).toBeUndefined();
    expect(await deferredRecords(store)).toHaveLength(1);
    const db = await RustDHT.open({ store });
    expect(await db.get('d').once()).toBeUndefined();
    await sleep(400);
    expect(await db.get('d').get('v').once()).toBe('from the future');
    await db.close();
    expect(await deferredRecords(store)).toHaveLength(0);
    expect(await session(store, (db) => db.get('d').get('v').once())).toBe('from the future');
  });

  it('keeps more deferred updates than one batch may hold', async () => {
    const store = new ReusableStore();
    const limits = { limits: { maxBatchUpdates: 10 } };
    const due = Date.now() + 300;
    await session(
      store,
      async (db) => {
        for (let f = 0; f < 3; f++) {
          const flat = Array.from({ length: 8 }, (_, i) => [`d${f}`, `k${i}`, i]).flat();
          expect((await db.receive(encodeUpdates(flat, new Float64Array(8).fill(due + f)))).deferred).toBe(8);
        }
      },
      limits,
    );
    const db = await RustDHT.open({ store, ...limits });
    expect(await db.get('d0').once()).toBeUndefined();
    await sleep(400);
    for (let f = 0; f < 3; f++) expect(Object.keys((await db.get(`d${f}`).once()) as object)).toHaveLength(8);
    await db.close();
  });

  it('loads nodes larger than one engine batch', async () => {
    const store = new ReusableStore();
    const big: Record<string, number> = {};
    for (let i = 0; i < 2_500; i++) big[`k${i}`] = i;
    await session(store, (db) => db.get('big').put(big));
    const read = (await session(store, (db) => db.get('big').once())) as Record<string, number>;
    expect(Object.keys(read)).toHaveLength(2_500);
    expect(read['k2499']).toBe(2_499);
  });

  it('never mixes up souls and keys, whatever characters they contain', async () => {
    const store = new ReusableStore();
    const cases: Array<[string, string]> = [
      ['a', 'b/c'],
      ['a/b', 'c'],
      ['a\u0000', 'b'],
      ['a', '\u0000b'],
      ['😀/x', 'é'],
      ['P', 'P'],
    ];
    await session(store, async (db) => {
      for (const [soul, key] of cases) await db.get(soul).get(key).put(`${soul}|${key}`);
    });
    await session(store, async (db) => {
      for (const [soul, key] of cases) {
        const node = (await db.get(soul).once()) as Record<string, unknown>;
        const own = cases.filter(([s]) => s === soul).map(([, k]) => k);
        expect(Object.keys(node).sort()).toEqual(own.sort());
        expect(node[key]).toBe(`${soul}|${key}`);
      }
    });
  });

  it('refuses a store written with another storage layout, and closes it', async () => {
    const store = new ReusableStore();
    await session(store, (db) => db.get('x').put({ v: 1 }));
    const head = (await store.get(HEAD_KEY))!;
    head[0] = 99;
    await store.inner.batch([{ type: 'put', key: HEAD_KEY, value: head }]);
    await expect(RustDHT.open({ store })).rejects.toMatchObject({ code: 'store/layout' });
  });
});

describe('durability of writes', () => {
  it('coalesces concurrent puts into shared store batches', async () => {
    const store = new ReusableStore();
    const db = await openDb({ store });
    await db.get('warm').put({ up: true }); // the soul is loaded; the puts below need no read
    const before = store.batches;
    await Promise.all(Array.from({ length: 100 }, (_, i) => db.get('warm').get(`k${i}`).put(i)));
    expect(store.batches - before).toBe(1);
  });

  it('rejects the puts of a batch the store refused; later puts persist', async () => {
    const store = new ReusableStore();
    const db = await RustDHT.open({ store });
    await db.get('f').put({ ok: 1 });
    store.failNextBatch = true;
    await expect(db.get('f').get('lost').put(2)).rejects.toThrow('the disk is full');
    expect(db.outbox.size).toBe(1); // the refused write is not queued for the network either
    await db.get('f').get('kept').put(3);
    await db.close();
    expect(await session(store, (again) => again.get('f').once())).toEqual({ ok: 1, kept: 3 });
  });

  it('flush() waits for puts nobody awaited, and close() flushes', async () => {
    const store = new ReusableStore();
    const db = await RustDHT.open({ store });
    void db.get('w').put({ a: 1 });
    void db.get('w').get('b').put(2);
    await db.flush();
    expect(store.batches).toBe(1);
    expect(await store.get(HEAD_KEY)).toBeInstanceOf(Uint8Array);
    void db.get('w').get('c').put(3);
    await db.close();
    expect(await session(store, (again) => again.get('w').once())).toEqual({ a: 1, b: 2, c: 3 });
  });

  it('applies operations in call order even when an earlier one waits for a load', async () => {
    const store = new ReusableStore();
    await session(store, (db) => db.get('o').put({ v: 0, link: { deep: 'x' } }));
    const db = await RustDHT.open({ store });
    expect(await db.get('o/link').once()).toEqual({ deep: 'x' });
    // The first put must load 'o' first; the second could apply at once (its node is
    // loaded) yet must still come after the first, and the read after both.
    const first = db.get('o').get('link').get('deep').put('first');
    const second = db.get('o/link').get('deep').put('second');
    const read = db.get('o').get('link').get('deep').once();
    expect(await read).toBe('second');
    await Promise.all([first, second]);
    await db.close();
  });
});

describe('loading', () => {
  it('operations queued behind a load start loading their own nodes at once', async () => {
    const store = new ReusableStore();
    await session(store, async (db) => {
      for (const soul of ['a', 'b', 'c']) await db.get(soul).put({ v: soul });
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started: string[] = [];
    const slow = Object.assign(Object.create(store) as ReusableStore, {
      entries(range?: RangeOptions): AsyncIterable<StorageEntry> {
        const inner = store.entries(range);
        // Opening's scan of the deferred records is not held back.
        if (range?.prefix?.[0] !== 0x50) return inner;
        started.push(store.scans.at(-1)!);
        return (async function* () {
          await gate;
          yield* inner;
        })();
      },
    });
    const db = await openDb({ store: slow });
    const puts = ['a', 'b', 'c'].map((soul) => db.get(soul).get('w').put(`${soul}!`));
    const read = db.get('c').once();
    await settle();
    expect(started.sort()).toEqual(['a', 'b', 'c']);
    release();
    await Promise.all(puts);
    expect(await read).toEqual({ v: 'c', w: 'c!' });
  });
});

describe('kept identities', () => {
  it('survive a restart and sign again', async () => {
    const store = new ReusableStore();
    const me = Identity.generate();
    const other = Identity.generate();
    await session(store, async (db) => {
      await db.identities.keep(me);
      await db.identities.keep(other);
      expect(await db.identities.forget(other.publicKey)).toBe(true);
      expect(await db.identities.forget(other.publicKey)).toBe(false);
    });
    await session(store, async (db) => {
      expect(await db.identities.list()).toEqual([me.publicKey]);
      expect(await db.identities.load(other.publicKey)).toBeUndefined();
      const loaded = await db.identities.load(me.publicKey);
      expect(loaded).toBeInstanceOf(Identity);
      expect(loaded!.publicKey).toBe(me.publicKey);
      await db.user(loaded!).put({ signedBy: 'the kept identity' });
      expect(((await db.user(me).get('signedBy').meta()) as PropertyMeta).signer).toBe(me.publicKey);
    });
  });

  it('live for the session without a store', async () => {
    const db = await openDb();
    const me = Identity.generate();
    await db.identities.keep(me);
    expect(await db.identities.list()).toEqual([me.publicKey]);
    expect((await db.identities.load(me.publicKey))!.publicKey).toBe(me.publicKey);
    await expect(db.identities.load(42 as unknown as string)).rejects.toMatchObject({ code: 'identity/invalid' });
  });
});
