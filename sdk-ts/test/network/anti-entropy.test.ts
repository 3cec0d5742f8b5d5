/**
 * Anti-entropy between owners (network/dht/anti-entropy.ts, core-rs/src/digest.rs), on
 * real databases and networks in one process (helpers/in-process-peers.ts):
 *
 * (a) owners in sync settle a round for well under 1 KB per pair, and repair nothing;
 * (b) souls whose records were deleted from one owner's store after its feed passed
 *     them (so no feed brings them back) are restored, exactly those, by a round asked
 *     for by either side, and the metadata per differing soul is measured;
 * (c) a server that joins later, whose feeds start past every entry and whose peers'
 *     hand-off is stopped, receives through anti-entropy alone every soul it now owns.
 *
 * Each test fails with anti-entropy disabled: nothing else restores those souls, and
 * no round is counted.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AntiEntropy, AntiEntropyCounters } from '../../src/network/dht/anti-entropy.js';
import { encodeFeedCursor, feedCursorKey } from '../../src/network/duties/feed-follower.js';
import { PROPERTY_PREFIX, soulOfPropertyKey, soulPrefix } from '../../src/persistence/layout.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { InProcessRustDHT, startPeers, type InProcessPeers, type Peer } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const opened: Peer[] = [];
let peers: InProcessPeers | undefined;

afterEach(async () => {
  await peers?.close();
  peers = undefined;
  await Promise.allSettled(opened.splice(0).map((db) => db.close({ timeoutMs: 0 })));
}, 60_000);

afterAll(async () => {
  await peers?.close();
});

function antiEntropy(db: Peer): AntiEntropy {
  return db.network.dht!.antiEntropy;
}

function addressOf(db: Peer): string {
  return db.network.status().addresses[0]!;
}

function snapshot(db: Peer): AntiEntropyCounters {
  return { ...antiEntropy(db).counters };
}

function delta(after: AntiEntropyCounters, before: AntiEntropyCounters): AntiEntropyCounters {
  const out = { ...after };
  for (const key of Object.keys(out) as (keyof AntiEntropyCounters)[]) out[key] = after[key] - before[key];
  return out;
}

/** Every soul a store holds property records of, with those records (key → value, hex). */
async function storedRecords(store: MemoryStore): Promise<Map<string, Map<string, string>>> {
  const souls = new Map<string, Map<string, string>>();
  for await (const { key, value } of store.entries({ prefix: PROPERTY_PREFIX })) {
    const { soul } = soulOfPropertyKey(key);
    let records = souls.get(soul);
    if (records === undefined) souls.set(soul, (records = new Map()));
    records.set(Buffer.from(key).toString('hex'), Buffer.from(value).toString('hex'));
  }
  return souls;
}

async function deleteSoul(store: MemoryStore, soul: string): Promise<void> {
  const keys: Uint8Array[] = [];
  for await (const { key } of store.entries({ prefix: soulPrefix(soul) })) keys.push(key);
  await store.batch(keys.map((key) => ({ type: 'del' as const, key })));
}

describe('anti-entropy', () => {
  it('(a) owners in sync: a round costs well under 1 KB per pair and repairs nothing', async () => {
    peers = await startPeers({ servers: 3, clients: 1, dht: { replicas: 2 } });
    const { servers, stores, clients } = peers;
    await peers.whenConnected(AbortSignal.timeout(20_000));
    await waitFor('every server to count 3 members', () => servers.every((s) => s.network.status().dht?.members === 3), { timeoutMs: 20_000, intervalMs: 50 });
    const souls = Array.from({ length: 300 }, (_, i) => `ae-sync/${i}`);
    await Promise.all(souls.map((soul, i) => clients[0]!.get(soul).put({ n: i, text: randomBytes(24).toString('base64') })));
    await clients[0]!.network.whenSynced({ signal: AbortSignal.timeout(20_000) });
    const ids = servers.map((s) => s.network.peerId);
    // Settled: every soul on exactly its owners.
    await waitFor(
      'every soul on exactly its owners',
      async () => {
        const held = await Promise.all(stores.map(storedRecords));
        return souls.every((soul) => {
          const owners = servers[0]!.network.dht!.placement.ownersOf([soul])[0]!;
          return ids.every((id, i) => held[i]!.has(soul) === owners.includes(id));
        });
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    for (const server of servers) antiEntropy(server).paused = true;

    for (const server of servers) {
      const before = snapshot(server);
      await antiEntropy(server).runRound();
      const did = delta(snapshot(server), before);
      const pairBytes = (did.bytesSent + did.bytesReceived) / did.rounds;
      console.log(`[anti-entropy] in sync: ${did.rounds} pairs, ${pairBytes.toFixed(0)} bytes per pair per round (${did.bytesSent} sent, ${did.bytesReceived} received)`);
      expect(did.rounds).toBe(2);
      expect(did.failedRounds).toBe(0);
      expect(pairBytes).toBeLessThanOrEqual(1024);
      expect(did.soulsRepaired + did.pushed + did.pulled).toBe(0);
    }
  }, 90_000);

  /** Two servers, R = 2 (each owns every soul); `b` keeps no soul in memory (a budget of 1 byte), so its store is what it holds. */
  async function pair(): Promise<{ a: Peer; b: Peer; storeA: MemoryStore; storeB: MemoryStore }> {
    const storeA = new MemoryStore();
    const storeB = new MemoryStore();
    const a = await InProcessRustDHT.open({ store: storeA, network: { role: 'server', dht: { replicas: 2 } } });
    opened.push(a);
    const b = await InProcessRustDHT.open({ store: storeB, memoryBudget: 1, network: { role: 'server', peers: [addressOf(a)], dht: { replicas: 2 } } });
    opened.push(b);
    a.network.dial(addressOf(b));
    await waitFor('both servers to count 2 members', () => [a, b].every((s) => s.network.status().dht?.members === 2), { timeoutMs: 20_000, intervalMs: 50 });
    antiEntropy(a).paused = true;
    antiEntropy(b).paused = true;
    return { a, b, storeA, storeB };
  }

  const SOULS = 10_000;
  const DIFFERING = SOULS / 100;

  it(`(b) souls deleted from one owner's store after its feed passed them: restored, exactly those (1 % of ${SOULS})`, async () => {
    const { a, b, storeA, storeB } = await pair();
    const started = performance.now();
    const souls = Array.from({ length: SOULS }, (_, i) => `ae/${i}`);
    for (let i = 0; i < SOULS; i += 1000) await Promise.all(souls.slice(i, i + 1000).map((soul, j) => a.get(soul).put({ n: i + j, text: `soul ${i + j}` })));
    await a.network.whenSynced({ signal: AbortSignal.timeout(60_000) });
    await waitFor('b to store every soul', async () => (await storedRecords(storeB)).size === SOULS, { timeoutMs: 60_000, intervalMs: 200 });
    await waitFor('b to hold no soul in memory', async () => (await b.storage.usage()).residentNodes === 0, { timeoutMs: 20_000, intervalMs: 100 });
    // And to take no more updates: b stores every soul before a's feed has sent its last
    // entries (b has most from a's PUTs too), and a late entry would bring back a soul
    // deleted below before anti-entropy could.
    let taken = -1;
    await waitFor('b to take no update for 500 ms', () => {
      const now = Object.values(b.network.counters().updates).reduce((sum, n) => sum + n, 0);
      const quiet = now === taken;
      taken = now;
      return quiet;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    console.log(`[anti-entropy] ${SOULS} souls written and fed in ${Math.round(performance.now() - started)} ms`);
    const reference = await storedRecords(storeA);
    expect(await storedRecords(storeB)).toEqual(reference);

    // Round 1, asked for by the owner that lost them: it reads what it lacks (GET_PART).
    // Round 2, asked for by the owner that has them: it pushes them (PUT).
    for (const [round, asker, offset] of [['the owner that lost them pulls', b, 0], ['the owner that has them pushes', a, 50]] as const) {
      const lost = souls.filter((_, i) => i % 100 === offset);
      expect(lost.length).toBe(DIFFERING);
      for (const soul of lost) await deleteSoul(storeB, soul);
      // The store changed under the replica: b reads its digests again (a scrub does this hourly).
      antiEntropy(b).rescan();
      const before = [snapshot(a), snapshot(b)];
      const messagesBefore = asker.network.counters().messagesOut;
      const roundStarted = performance.now();
      await antiEntropy(asker).runRound();
      const ms = performance.now() - roundStarted;
      const messages = asker.network.counters().messagesOut - messagesBefore;
      const [didA, didB] = [delta(snapshot(a), before[0]!), delta(snapshot(b), before[1]!)];
      // The holder sends the 100 souls several to a PUT (soul-transfer.ts pushSouls), not a
      // PUT each: its messages in the round are a few DIGESTs, one PUT and background traffic.
      if (asker === a) expect(messages).toBeLessThan(40);
      const did = asker === a ? didA : didB;
      expect(did.rounds).toBe(1);
      expect(did.soulsRepaired).toBe(DIFFERING);
      expect(asker === a ? did.pushed : did.pulled).toBe(DIFFERING);
      expect(did.pushed + did.pulled).toBe(DIFFERING);
      // Exactly those: b's records are a's again, byte for byte, and nothing else moved.
      expect(await storedRecords(storeB)).toEqual(reference);
      const wire = did.bytesSent + did.bytesReceived;
      const metadata = wire - did.updateBytes;
      console.log(
        `[anti-entropy] ${round}: ${DIFFERING} of ${SOULS} souls in ${Math.round(ms)} ms; ${wire} bytes on the wire, ${did.updateBytes} of them node frames: ` +
          `${(metadata / DIFFERING).toFixed(1)} bytes of metadata per differing soul`,
      );
      expect(metadata / DIFFERING).toBeLessThanOrEqual(100);
      // The other side answered the DIGESTs (and counted them, not as its rounds).
      expect((asker === a ? didB : didA).served).toBeGreaterThan(0);
    }

    // What the hand-off asks before pushing whole souls: which of them the other holds
    // exactly as this side does. In sync: all of them; souls b lost: not those; a soul a
    // does not hold: not that one (a cannot vouch for it).
    const bId = b.network.peerId;
    const sample = souls.slice(0, 2000);
    expect((await a.network.dht!.heldBy(bId, sample)).size).toBe(sample.length);
    const gone = sample.filter((_, i) => i % 10 === 3);
    for (const soul of gone) await deleteSoul(storeB, soul);
    antiEntropy(b).rescan();
    const held = await a.network.dht!.heldBy(bId, [...sample, 'ae/not-written']);
    expect(sample.filter((soul) => !held.has(soul))).toEqual(gone);
    expect(held.has('ae/not-written')).toBe(false);
  }, 180_000);

  it('(c) a server that joins later receives, through anti-entropy alone, the souls it now owns', async () => {
    peers = await startPeers({ servers: 3, clients: 1, dht: { replicas: 2 } });
    const { servers, clients } = peers;
    await peers.whenConnected(AbortSignal.timeout(20_000));
    await waitFor('every server to count 3 members', () => servers.every((s) => s.network.status().dht?.members === 3), { timeoutMs: 20_000, intervalMs: 50 });
    const souls = Array.from({ length: 300 }, (_, i) => `ae-join/${i}`);
    await Promise.all(souls.map((soul, i) => clients[0]!.get(soul).put({ n: i })));
    await clients[0]!.network.whenSynced({ signal: AbortSignal.timeout(20_000) });
    await Promise.all(servers.map((s) => s.network.dht!.handoff.idle()));
    // Isolate anti-entropy: no hand-off pushes to the newcomer, and its feeds start past
    // every entry the others logged (as a feed that skipped them would).
    for (const server of servers) server.network.dht!.handoff.stop();
    const store = new MemoryStore();
    await store.batch(servers.map((s) => ({ type: 'put' as const, key: feedCursorKey(s.network.peerId), value: encodeFeedCursor(2 ** 40) })));
    const joiner = await InProcessRustDHT.open({ store, network: { role: 'server', peers: servers.map(addressOf), dht: { replicas: 2 } } });
    opened.push(joiner);
    for (const server of servers) server.network.dial(addressOf(joiner));
    await waitFor('every server to count 4 members', () => [...servers, joiner].every((s) => s.network.status().dht?.members === 4), { timeoutMs: 20_000, intervalMs: 50 });

    const placement = joiner.network.dht!.placement;
    const owned = souls.filter((soul) => placement.owns(soul));
    expect(owned.length).toBeGreaterThan(0);
    const started = performance.now();
    await waitFor(
      'the joiner to store every soul it owns',
      async () => {
        const held = await storedRecords(store);
        if (owned.every((soul) => held.has(soul))) return true;
        // Rounds also run on their own (after the membership change, then every ~10 s); asking speeds the test up.
        await Promise.all(servers.map((s) => antiEntropy(s).runRound()));
        return false;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const pushed = servers.reduce((n, s) => n + antiEntropy(s).counters.pushed, 0);
    console.log(`[anti-entropy] the joiner owns ${owned.length} of ${souls.length} souls: all received in ${Math.round(performance.now() - started)} ms (${pushed} pushes)`);
    expect(pushed).toBeGreaterThanOrEqual(owned.length);
    // What it received is what its owners hold.
    for (const soul of owned.slice(0, 20)) expect(await joiner.get(soul).get('n').once({ local: true })).toBe(souls.indexOf(soul));
  }, 90_000);
});
