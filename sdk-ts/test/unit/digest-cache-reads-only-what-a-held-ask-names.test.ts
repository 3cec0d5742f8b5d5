/**
 * What anti-entropy's digest cache reads (network/dht/digest-cache.ts):
 *
 * - a held ask (the hand-off asking an owner which souls it holds as it does) reads the
 *   souls it names, only those not known yet or changed since, never the whole store: a
 *   server that had just started read its whole store, and then every soul it had caught
 *   up on, to answer its first ones;
 * - souls held whole in memory are digested there (the replica's `residentDigests`, the
 *   engine's Engine::resident_digests), not read back from the store; the digest is the
 *   one their records give.
 *
 * The cache over a scripted replica (what the store lists and holds, what is in memory)
 * and the real engine's digests.
 */
import { describe, expect, it } from 'vitest';
import { encodeUpdates, soulDigests } from '../../src/engine/load-node.js';
import { DigestCache, type ReplicaForDigests } from '../../src/network/dht/digest-cache.js';

const record = (soul: string, key: string, value: string): Uint8Array => encodeUpdates([soul, key, value], Float64Array.of(1));
const digestOfRecords = (soul: string, records: Uint8Array[]): Uint8Array => soulDigests([soul], records, Uint32Array.of(records.length));

class ScriptedReplica implements ReplicaForDigests {
  readonly committed = new Map<string, Uint8Array[]>();
  /** Souls held whole in memory: their digests come from there. */
  readonly inMemory = new Set<string>();
  /** Souls whose records were read, in order; and whether the store was listed. */
  readonly read: string[] = [];
  listings = 0;

  async *storedSouls(): AsyncGenerator<string> {
    this.listings++;
    for (const soul of this.committed.keys()) yield soul;
  }

  async soulRecords(souls: readonly string[]): Promise<Uint8Array[][]> {
    this.read.push(...souls);
    return souls.map((soul) => this.committed.get(soul) ?? []);
  }

  async residentDigests(souls: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return souls.map((soul) => (this.inMemory.has(soul) ? digestOfRecords(soul, this.committed.get(soul)!) : undefined));
  }
}

describe('the digest cache', () => {
  it('answers a held ask by reading only the souls it names, and only those not known or changed', async () => {
    const replica = new ScriptedReplica();
    for (let i = 0; i < 100; i++) replica.committed.set(`s${i}`, [record(`s${i}`, 'k', String(i))]);
    const cache = new DigestCache(replica, { soulDigests });

    // Just started (never scanned): the named souls are read, the store is not listed.
    const first = await cache.digestsFor(['s1', 's2', 'nobody']);
    expect(replica.listings).toBe(0);
    expect(replica.read).toEqual(['s1', 's2', 'nobody']);
    expect(first[0]).toBeDefined();
    expect(first[1]).toBeDefined();
    expect(first[2]).toBeUndefined();

    // After a scan, a soul is read again only once it changed.
    await cache.refresh(() => false);
    replica.read.length = 0;
    replica.committed.set('s3', [record('s3', 'k', 'changed')]);
    cache.changed(['s3']);
    const again = await cache.digestsFor(['s1', 's3']);
    expect(replica.read).toEqual(['s3']);
    expect(again[0]).toBe(first[0]);
    expect(again[1]).toBe(cache.digestOf('s3'));
  });

  it('digests souls held in memory there, the same as their records give', async () => {
    const replica = new ScriptedReplica();
    replica.committed.set('mem', [record('mem', 'a', '1'), record('mem', 'b', '2')]);
    replica.committed.set('disk', [record('disk', 'a', '1')]);
    replica.inMemory.add('mem');
    const cache = new DigestCache(replica, { soulDigests });
    const [mem, disk] = await cache.digestsFor(['mem', 'disk']);
    expect(replica.read).toEqual(['disk']);

    const fromRecords = new ScriptedReplica();
    fromRecords.committed.set('mem', replica.committed.get('mem')!);
    fromRecords.committed.set('disk', replica.committed.get('disk')!);
    const expected = await new DigestCache(fromRecords, { soulDigests }).digestsFor(['mem', 'disk']);
    expect([mem, disk]).toEqual(expected);
  });
});
