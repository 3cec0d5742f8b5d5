/**
 * Anti-entropy's digest cache (network/dht/digest-cache.ts) rebuilds itself by listing
 * the store (after open, and at every scrub). A soul changed just before such a scan, whose
 * commit had not landed when the listing passed it, used to be dropped from the dirty set
 * at the scan's start and missed by the listing: the server then had no digest for a soul
 * it held, so each round a co-owner pushed it the soul again, merged to nothing (found in
 * the 6-server DHT probe: "in sync" rounds of 9–17 KB per pair instead of ~320 B).
 *
 * The cache over a scripted replica (what the store lists, what it reads) and the real
 * engine's digests.
 */
import { describe, expect, it } from 'vitest';
import { encodeUpdates, soulDigests } from '../../src/engine/load-node.js';
import { DigestCache, type ReplicaForDigests } from '../../src/network/dht/digest-cache.js';

/** One property record of `soul` (a single-update frame, as the store keeps them). */
const record = (soul: string, key: string, value: string): Uint8Array => encodeUpdates([soul, key, value], Float64Array.of(1));

class ScriptedStore implements ReplicaForDigests {
  /** What the store holds (committed). */
  readonly committed = new Map<string, Uint8Array[]>();
  /** What a listing of the store yields: what was committed when it started, unless told otherwise. */
  listed: string[] | undefined;

  async *storedSouls(): AsyncGenerator<string> {
    for (const soul of this.listed ?? [...this.committed.keys()]) yield soul;
  }

  async soulRecords(souls: readonly string[]): Promise<Uint8Array[][]> {
    return souls.map((soul) => this.committed.get(soul) ?? []);
  }

  /** Nothing held in memory here: every digest comes from the records. */
  async residentDigests(souls: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return souls.map(() => undefined);
  }
}

describe('the digest cache', () => {
  it('reads a soul marked changed before a scan even when the scan does not list it (its commit landed after the listing)', async () => {
    const store = new ScriptedStore();
    store.committed.set('a', [record('a', 'k', '1')]);
    const cache = new DigestCache(store, { soulDigests });
    // A change to b, marked before the first scan; the listing started before its commit landed.
    cache.changed(['b']);
    store.listed = ['a'];
    store.committed.set('b', [record('b', 'k', '2')]);
    await cache.refresh(() => false);
    expect(cache.digestOf('a')).toBeDefined();
    expect(cache.digestOf('b')).toBeDefined();
    expect(cache.size).toBe(2);
  });

  it('the same at a scrub (rescan): a soul changed just before it keeps its digest', async () => {
    const store = new ScriptedStore();
    store.committed.set('a', [record('a', 'k', '1')]);
    const cache = new DigestCache(store, { soulDigests });
    await cache.refresh(() => false);
    const before = cache.digestOf('a');
    store.committed.set('a', [record('a', 'k', '1'), record('a', 'j', '3')]);
    cache.changed(['a']);
    cache.rescan();
    // The listing misses a (its new records land only as the listing ends).
    store.listed = [];
    await cache.refresh(() => false);
    expect(cache.digestOf('a')).toBeDefined();
    expect(cache.digestOf('a')).not.toBe(before);
  });

  it('a soul the store no longer holds leaves the cache', async () => {
    const store = new ScriptedStore();
    store.committed.set('a', [record('a', 'k', '1')]);
    const cache = new DigestCache(store, { soulDigests });
    await cache.refresh(() => false);
    store.committed.delete('a');
    cache.changed(['a']);
    await cache.refresh(() => false);
    expect(cache.digestOf('a')).toBeUndefined();
  });
});
