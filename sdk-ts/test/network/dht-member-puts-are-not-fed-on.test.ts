/**
 * What a DHT server receives from another member by PUT — the replication of a write it
 * coordinated (replicate.ts), a hand-off or a repair (handoff.ts, anti-entropy.ts) — is
 * logged but not sent to its live followers (serving/serving.ts `feedsLive`): the sender
 * reaches every owner itself. Before, each owner fed every coordinated write on to its
 * co-owners, which merged it again for nothing (at R = 3, each owner took each write three
 * times more than it needed). Nor is a client's PUT_AT fed on live by its coordinator:
 * replicate.ts sends it to every other owner itself, whatever the durability level (each
 * owner took each coordinated write twice before, from the PUT and from the feed). A
 * follower that was away still reads it from the log when it catches up.
 *
 * Five servers in one process (helpers/in-process-peers.ts), R = 3, so placement is not
 * "everyone owns everything"; one client writes through server 0, half with durability 'all', half with 'one'.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeFeedCursor, feedCursorKey } from '../../src/network/duties/feed-follower.js';
import { FEED_MARK_DELAY_MS } from '../../src/network/serving/feed-marks.js';
import { CHANGE_LOG_PREFIX, PROPERTY_PREFIX, changeLogSeqOf, soulOfPropertyKey } from '../../src/persistence/layout.js';
import type { Peer } from './helpers/in-process-peers.js';
import type { MemoryStore } from '../../src/storage/memory.js';
import { ownersOf } from './helpers/dht-cluster.js';
import { startPeers, type InProcessPeers } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const R = 3;
const SOULS = 60;

let peers: InProcessPeers | undefined;

afterEach(async () => {
  await peers?.close();
  peers = undefined;
}, 60_000);

async function count(store: MemoryStore, prefix: Uint8Array): Promise<number> {
  let n = 0;
  for await (const _ of store.entries({ prefix })) n++;
  return n;
}

async function storedSouls(store: MemoryStore): Promise<Set<string>> {
  const souls = new Set<string>();
  for await (const { key } of store.entries({ prefix: PROPERTY_PREFIX })) souls.add(soulOfPropertyKey(key).soul);
  return souls;
}

/** Updates this server took from peers (any path, any outcome). */
function taken(server: Peer): number {
  const updates = server.network.counters().updates;
  return Object.values(updates).reduce((sum, n) => sum + n, 0);
}

describe("a member's PUT is not fed on live", () => {
  it('each owner takes a coordinated write once, from the coordinator, not again from its feed or a co-owner; all log it; every owner holds it', async () => {
    peers = await startPeers({ servers: 5, clients: 1, dht: { replicas: R } });
    const { servers, stores, clients } = peers;
    await peers.whenConnected(AbortSignal.timeout(20_000));
    await waitFor('every server to count 5 members', () => servers.every((s) => s.network.status().dht?.members === 5), { timeoutMs: 20_000, intervalMs: 50 });
    const logsBefore = await Promise.all(stores.map((store) => count(store, CHANGE_LOG_PREFIX)));
    const takenBefore = servers.map(taken);

    const souls = Array.from({ length: SOULS }, (_, i) => `member-puts/${i}`);
    for (const [i, soul] of souls.entries()) await clients[0]!.get(soul).put({ n: i }, { durability: i % 2 === 0 ? 'all' : 'one' });
    await Promise.all(servers.map((s) => s.network.dht!.handoff.idle()));
    // Whatever the feeds still carry has arrived.
    const members = servers.map((s) => s.network.peerId);
    const ownedBy = servers.map((server) => souls.filter((soul) => ownersOf(soul, members, R).includes(server.network.peerId)));
    await waitFor('the coordinator\'s PUTs to reach every owner', () => servers.slice(1).every((s, k) => taken(s) - takenBefore[k + 1]! >= ownedBy[k + 1]!.length), { timeoutMs: 10_000, intervalMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 300));

    for (const [k] of servers.entries()) {
      const held = await storedSouls(stores[k]!);
      expect(ownedBy[k]!.filter((soul) => !held.has(soul))).toEqual([]);
    }
    // Each other owner took each of its writes once: the coordinator's PUT. Fed live by
    // the coordinator too it would be twice, and fed on by each co-owner four times.
    for (const [k, server] of servers.entries()) {
      if (k === 0) continue;
      expect(taken(server) - takenBefore[k]!).toBe(ownedBy[k]!.length);
    }
    // Logged by every owner (a follower that was away reads it from there); the
    // coordinator stored and logged only its own souls (the rest it forwarded: dht/forward.ts).
    const logged = (await Promise.all(stores.map((store) => count(store, CHANGE_LOG_PREFIX)))).map((n, k) => n - logsBefore[k]!);
    for (const [k] of servers.entries()) expect(logged[k]).toBe(ownedBy[k]!.length);
  });

  it("marks move each follower's cursor past the entries it was not sent, so a restart does not read them again", async () => {
    peers = await startPeers({ servers: 5, clients: 1, dht: { replicas: R } });
    const { servers, stores, clients } = peers;
    await peers.whenConnected(AbortSignal.timeout(20_000));
    await waitFor('every server to count 5 members', () => servers.every((s) => s.network.status().dht?.members === 5), { timeoutMs: 20_000, intervalMs: 50 });
    const souls = Array.from({ length: SOULS }, (_, i) => `marked/${i}`);
    for (const [i, soul] of souls.entries()) await clients[0]!.get(soul).put({ n: i }, { durability: 'all' });
    // Server 0 coordinated every write: its log names those of its own souls, and none
    // went to a follower by its feed (each owner got its PUT_AT; the others own none of them).
    const members = servers.map((s) => s.network.peerId);
    const own = souls.filter((soul) => ownersOf(soul, members, R).includes(members[0]!));
    expect(own.length).toBeGreaterThan(0);
    let lastSeq = 0;
    for await (const { key } of stores[0]!.entries({ prefix: CHANGE_LOG_PREFIX, reverse: true, limit: 1 })) lastSeq = changeLogSeqOf(key);
    expect(lastSeq).toBeGreaterThanOrEqual(own.length);
    const cursorAt = async (k: number): Promise<number> => {
      const bytes = await stores[k]!.get(feedCursorKey(servers[0]!.network.peerId));
      return bytes === undefined ? 0 : decodeFeedCursor(bytes);
    };
    // Within a mark's delay (and a commit), every follower's stored cursor on server 0's feed is at its end.
    await waitFor("every follower's cursor on server 0's feed to reach its last entry", async () => (await Promise.all([1, 2, 3, 4].map(cursorAt))).every((seq) => seq === lastSeq), {
      timeoutMs: FEED_MARK_DELAY_MS + 5_000,
      intervalMs: 50,
    });
  });
});
