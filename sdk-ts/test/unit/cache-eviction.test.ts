// Cache discipline (docs/ARCHITECTURE.md, "Cache discipline"): a capped store evicts the
// least recently used souls, never the outbox's nor the user's own space, keeps its
// accounting across reopenings, and evicted souls read as empty without breaking
// subscribers. MemoryStore-backed (ReusableStore), with the cap passed explicitly since
// Node has none by default.
import { afterEach, describe, expect, it } from 'vitest';
import { Identity, RustDHT, type OpenOptions } from '../../src/node.js';
import { ReusableStore } from './store-helpers.js';

const BIG = 'x'.repeat(1000);
const opened: RustDHT[] = [];

async function open(options: OpenOptions): Promise<RustDHT> {
  const db = await RustDHT.open(options);
  opened.push(db);
  return db;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()));
});

/** The souls that have "P" records in the store. */
async function storedSouls(store: ReusableStore): Promise<string[]> {
  const souls = new Set<string>();
  for await (const { key } of store.inner.entries({ prefix: Uint8Array.of(0x50) })) {
    const length = new DataView(key.buffer, key.byteOffset).getUint32(1);
    souls.add(new TextDecoder().decode(key.subarray(5, 5 + length)));
  }
  return [...souls].sort();
}

/** Bytes of every "P" record, keys included: what the accounting must match. */
async function storedBytes(store: ReusableStore): Promise<number> {
  let bytes = 0;
  for await (const { key, value } of store.inner.entries({ prefix: Uint8Array.of(0x50) })) bytes += key.length + value.length;
  return bytes;
}

/** The network took every pending write: nothing is protected by the outbox any more. */
async function acknowledgeAll(db: RustDHT): Promise<void> {
  const ids: number[] = [];
  for await (const { id } of db.outbox.pending()) ids.push(id);
  for (const id of ids) await db.outbox.acknowledge(id);
}

/** Ids of the outbox entries, oldest first. */
async function pendingIds(db: RustDHT): Promise<number[]> {
  const ids: number[] = [];
  for await (const { id } of db.outbox.pending()) ids.push(id);
  return ids;
}

/** The weight of one soul `sN` holding BIG (all test souls have same-length names). */
async function soulWeight(): Promise<number> {
  const db = await open({ store: new ReusableStore(), cache: { maxBytes: Infinity } });
  await db.get('s0').get('v').put(BIG);
  const { cacheBytes } = await db.storage.usage();
  return cacheBytes!;
}

describe('cache eviction (LRU)', () => {
  it('evicts the least recently used souls first, down to the low-water mark under the cap', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const db = await open({ store, cache: { maxBytes: 3.5 * weight } });
    for (const soul of ['s1', 's2', 's3']) await db.get(soul).get('v').put(BIG);
    await acknowledgeAll(db);
    expect(await db.get('s1').get('v').once()).toBe(BIG); // s1 is now more recent than s2 and s3
    await db.get('s4').get('v').put(BIG); // 4 souls > 3.5: evicts by itself
    await db.flush();
    expect(await storedSouls(store)).toEqual(['s1', 's3', 's4']);
    const usage = await db.storage.usage();
    expect(usage).toMatchObject({ cachedNodes: 3, cacheBytes: 3 * weight, maxBytes: 3.5 * weight });
    expect(usage.cacheBytes).toBe(await storedBytes(store));
  });

  it('keeps the store under its cap through many writes, its accounting exact', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const cap = 10 * weight;
    const db = await open({ store, cache: { maxBytes: cap } });
    for (let i = 10; i < 60; i++) {
      await db.get(`s${i}`).get('v').put(BIG);
      await db.get(`s${i}`).get('v').put(BIG + i); // rewrites replace a record's weight, not add to it
      await acknowledgeAll(db);
      await db.flush();
      expect(await storedBytes(store)).toBeLessThanOrEqual(cap + 2 * weight); // the newest write may be in flight
    }
    await db.storage.trim();
    const { cacheBytes, cachedNodes } = await db.storage.usage();
    expect(cacheBytes).toBeLessThanOrEqual(cap);
    expect(cacheBytes).toBe(await storedBytes(store));
    expect(cachedNodes).toBe((await storedSouls(store)).length);
    // The newest souls stayed.
    expect(await storedSouls(store)).toContain('s59');
    expect(await storedSouls(store)).not.toContain('s10');
  });

  it('never evicts souls with writes still in the outbox', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const db = await open({ store, cache: { maxBytes: 2.5 * weight } });
    for (const soul of ['s1', 's2', 's3', 's4']) await db.get(soul).get('v').put(BIG);
    await db.flush();
    // Nothing was acknowledged: everything is protected, nothing goes.
    expect(await storedSouls(store)).toEqual(['s1', 's2', 's3', 's4']);
    // The network takes all but s1's write (the oldest): s1 stays, s2 and s3 go.
    const [first, ...rest] = await pendingIds(db);
    for (const id of rest) await db.outbox.acknowledge(id);
    expect(await db.storage.trim()).toBe(2);
    expect(await storedSouls(store)).toEqual(['s1', 's4']);
    expect(first).toBe(0);
  });

  it("never evicts the user's own space: identities used via db.user or kept", async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const me = Identity.generate();
    const kept = Identity.generate();
    const db = await open({ store, cache: { maxBytes: 2.5 * weight } });
    await db.user(me).get('bio').put(BIG);
    await db.identities.keep(kept);
    await db.user(kept).get('bio').put(BIG);
    for (const soul of ['s1', 's2', 's3']) await db.get(soul).get('v').put(BIG);
    await acknowledgeAll(db);
    await db.storage.trim();
    expect(await storedSouls(store)).toEqual([`~${kept.publicKey}`, `~${me.publicKey}`].sort());
    await db.close();

    // After a restart only the kept identity is known to be the user's.
    const reopened = await open({ store, cache: { maxBytes: 1.5 * weight } });
    await reopened.storage.trim();
    expect(await storedSouls(store)).toEqual([`~${kept.publicKey}`]);
  });

  it('a read of an evicted soul finds nothing, and loads nothing', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const db = await open({ store, cache: { maxBytes: 2.5 * weight } });
    await db.get('s1').get('v').put(BIG);
    await db.get('s1').get('link').put({ '#': 's2' });
    for (const soul of ['s2', 's3']) await db.get(soul).get('v').put(BIG);
    await acknowledgeAll(db);
    expect(await db.storage.trim()).toBe(1);
    expect(await storedSouls(store)).toEqual(['s2', 's3']);
    store.scans.length = 0;
    expect(await db.get('s1').get('v').once()).toBeUndefined();
    expect(await db.get('s1').once()).toBeUndefined();
    // The link the evicted node held is gone with it.
    expect(await db.get('s1').get('link').get('v').once()).toBeUndefined();
    expect(store.scans).toEqual(['s1']); // loaded once (found nothing), then resident and empty
    expect(await db.get('s2').get('v').once()).toBe(BIG);
    expect((await db.storage.usage()).cachedNodes).toBe(2);
  });

  it('subscribers of an evicted soul keep receiving its changes', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const db = await open({ store, cache: { maxBytes: 2.5 * weight } });
    await db.get('s1').get('v').put(BIG);
    const seen: unknown[] = [];
    db.get('s1').get('v').on((value) => seen.push(value));
    for (const soul of ['s2', 's3']) await db.get(soul).get('v').put(BIG);
    await acknowledgeAll(db);
    // The subscription read s1 when it started; s2 and s3 were written after.
    expect(await db.storage.trim()).toBe(1);
    expect(await storedSouls(store)).toEqual(['s2', 's3']);
    expect(seen).toEqual([BIG]);

    // The data comes back from the network (another peer's write) …
    const peer = await open({ store: 'memory' });
    const frames: Uint8Array[] = [];
    peer.onChanges((frame) => frames.push(frame));
    await peer.get('s1').get('v').put('from the network');
    await db.receive(frames[0]!);
    // … and a local write: both reach the subscriber.
    await db.get('s1').get('v').put('local');
    expect(seen).toEqual([BIG, 'from the network', 'local']);
    expect(await db.get('s1').get('v').once()).toBe('local');
  });

  it('a chained subscription through an evicted node reads it as empty and still follows it', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const db = await open({ store, cache: { maxBytes: 2.5 * weight } });
    await db.get('s1').get('v').put(BIG);
    await db.get('s2').get('author').put({ '#': 's1' });
    const seen: unknown[] = [];
    db.get('s2').get('author').get('v').on((value) => seen.push(value));
    for (const soul of ['s3', 's4']) await db.get(soul).get('v').put(BIG);
    await db.get('s2').get('title').once(); // uses s2 alone (reading the link would read s1): s1 is the oldest
    await acknowledgeAll(db);
    expect(await db.storage.trim()).toBe(1);
    expect(await storedSouls(store)).toEqual(['s2', 's3', 's4']);
    // Eviction is no change: the subscriber is not told anything.
    expect(seen).toEqual([BIG]);
    expect(await db.get('s2').get('author').get('v').once()).toBeUndefined(); // s1 reads as empty
    await db.get('s1').get('v').put('back'); // the link still leads there
    expect(seen).toEqual([BIG, 'back']);
  });

  it('an acknowledgement lets a run that backed off try again on the next write', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const db = await open({ store, cache: { maxBytes: 2.5 * weight } });
    for (const soul of ['s1', 's2', 's3']) await db.get(soul).get('v').put(BIG);
    await db.flush(); // over the cap, all protected: the run backs off
    await acknowledgeAll(db);
    await db.get('s4').get('v').put('small'); // s1 is the oldest: it goes
    await db.flush();
    expect(await storedSouls(store)).toEqual(['s2', 's3', 's4']);
  });

  it('keeps its accounting and the access order across a reopen', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const cap = 3.5 * weight;
    const db = await open({ store, cache: { maxBytes: cap } });
    for (const soul of ['s1', 's2', 's3']) await db.get(soul).get('v').put(BIG);
    await acknowledgeAll(db);
    await db.get('s1').get('v').once(); // a read alone: its access tick is written by the next commit
    await db.close();

    const reopened = await open({ store, cache: { maxBytes: cap } });
    expect(await reopened.storage.usage()).toMatchObject({ cachedNodes: 3, cacheBytes: 3 * weight, residentNodes: 0 });
    await reopened.get('s4').get('v').put(BIG); // over the cap: evicts by itself
    await reopened.flush();
    expect(await storedSouls(store)).toEqual(['s1', 's3', 's4']);
  });

  it('rebuilds the accounting of a store written without a cap', async () => {
    const weight = await soulWeight();
    const store = new ReusableStore();
    const uncapped = await open({ store });
    for (const soul of ['s1', 's2', 's3']) await uncapped.get(soul).get('v').put(BIG);
    await acknowledgeAll(uncapped);
    expect((await uncapped.storage.usage()).cacheBytes).toBeUndefined();
    await uncapped.close();

    const capped = await open({ store, cache: { maxBytes: 2.5 * weight } });
    expect(await capped.storage.usage()).toMatchObject({ cachedNodes: 3, cacheBytes: 3 * weight });
    await capped.storage.trim();
    expect((await storedSouls(store)).length).toBe(2);
    await capped.get('s9').get('v').put(BIG);
    await capped.close();

    // Opened without a cap again, then with one: the totals are rebuilt, not trusted.
    const again = await open({ store });
    await again.get('s8').get('v').put(BIG);
    await again.close();
    const last = await open({ store, cache: { maxBytes: Infinity } });
    expect((await last.storage.usage()).cacheBytes).toBe(await storedBytes(store));
  });
});

describe('default store and usage in Node', () => {
  it('opens in memory without a store, with no cap and nothing to estimate', async () => {
    const db = await open({});
    await db.get('a').get('v').put(1);
    expect(await db.storage.usage()).toEqual({
      usage: undefined,
      quota: undefined,
      persisted: undefined,
      cachedNodes: undefined,
      cacheBytes: undefined,
      maxBytes: undefined,
      residentNodes: undefined,
    });
    expect(await db.storage.persistence).toBeUndefined();
    expect(await db.storage.trim()).toBe(0);
  });

  it("accepts store: 'memory' and refuses a cap without a store", async () => {
    const db = await open({ store: 'memory' });
    expect(await db.get('a').once()).toBeUndefined();
    await expect(RustDHT.open({ cache: { maxBytes: 1000 } })).rejects.toMatchObject({ code: 'config/invalid' });
    await expect(RustDHT.open({ store: new ReusableStore(), cache: { maxBytes: -1 } })).rejects.toMatchObject({ code: 'config/invalid' });
    const uncapped = await open({ store: new ReusableStore(), cache: false });
    expect((await uncapped.storage.usage()).maxBytes).toBeUndefined();
  });
});
