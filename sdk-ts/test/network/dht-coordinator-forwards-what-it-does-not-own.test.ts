/**
 * A server that coordinates a PUT_AT for souls it does not own passes it on to their
 * owners without storing it (network/dht/forward.ts): checked in its engine, sent to
 * every owner, answered once the level is met. It keeps the write only when an owner did
 * not confirm it — then as a hint, delivered by the hand-off once that owner takes writes
 * again. Souls it owns it takes as before (merged, stored, logged, then replicated).
 *
 * Servers in one process (helpers/in-process-peers.ts), one client on server 0.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CHANGE_LOG_PREFIX, PROPERTY_PREFIX, soulOfPropertyKey } from '../../src/persistence/layout.js';
import type { MemoryStore } from '../../src/storage/memory.js';
import { ownersOf } from './helpers/dht-cluster.js';
import { startPeers, type InProcessPeers } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

let peers: InProcessPeers | undefined;
afterEach(async () => {
  await peers?.close();
  peers = undefined;
}, 60_000);

async function storedSouls(store: MemoryStore): Promise<Set<string>> {
  const souls = new Set<string>();
  for await (const { key } of store.entries({ prefix: PROPERTY_PREFIX })) souls.add(soulOfPropertyKey(key).soul);
  return souls;
}

async function count(store: MemoryStore, prefix: Uint8Array): Promise<number> {
  let n = 0;
  for await (const _ of store.entries({ prefix })) n++;
  return n;
}

describe('a coordinator forwards what it does not own', () => {
  it('stores and logs only its own souls of the PUT_ATs it coordinates; every owner holds each write', async () => {
    const R = 3;
    peers = await startPeers({ servers: 5, clients: 1, dht: { replicas: R } });
    const { servers, stores, clients } = peers;
    await peers.whenConnected(AbortSignal.timeout(20_000));
    await waitFor('every server to count 5 members', () => servers.every((s) => s.network.status().dht?.members === 5), { timeoutMs: 20_000, intervalMs: 50 });
    const members = servers.map((s) => s.network.peerId);
    const logBefore = await count(stores[0]!, CHANGE_LOG_PREFIX);
    const souls = Array.from({ length: 30 }, (_, i) => `forwarded/${i}`);
    const own = souls.filter((soul) => ownersOf(soul, members, R).includes(members[0]!));
    expect(own.length).toBeLessThan(souls.length);

    let pendingSeen = 0;
    for (const [i, soul] of souls.entries()) {
      await clients[0]!.get(soul).put({ n: i }, { durability: 'quorum' });
      pendingSeen = Math.max(pendingSeen, servers[0]!.network.dht!.handoff.pendingSouls);
    }
    // Every owner holds each of its souls…
    await waitFor(
      'every owner to hold its souls',
      async () => {
        for (const [k] of servers.entries()) {
          const held = await storedSouls(stores[k]!);
          if (souls.some((soul) => ownersOf(soul, members, R).includes(members[k]!) && !held.has(soul))) return false;
        }
        return true;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    // …and the coordinator held nothing else, at any point: no copy to hand off or release.
    expect([...(await storedSouls(stores[0]!))].sort()).toEqual([...own].sort());
    expect(pendingSeen).toBe(0);
    expect(servers[0]!.network.dht!.handoff.counters.released).toBe(0);
    expect((await count(stores[0]!, CHANGE_LOG_PREFIX)) - logBefore).toBe(own.length);
    // What it read back through its owners is the write.
    for (const [i, soul] of souls.entries()) expect(await clients[0]!.get(soul).get('n').once()).toBe(i);
  });

  it('an owner that refuses for now: the coordinator keeps the write as a hint and hands it over once the owner takes writes', async () => {
    const R = 2;
    let ownerFull = true;
    peers = await startPeers({
      servers: 3,
      clients: 1,
      dht: { replicas: R },
      serverNetwork: (index) => (index === 1 ? { writeGate: () => (ownerFull ? { code: 'storage/full', message: 'the test says the disk is full.' } : undefined) } : {}),
    });
    const { servers, stores, clients } = peers;
    await peers.whenConnected(AbortSignal.timeout(20_000));
    await waitFor('every server to count 3 members', () => servers.every((s) => s.network.status().dht?.members === 3), { timeoutMs: 20_000, intervalMs: 50 });
    const members = servers.map((s) => s.network.peerId);
    // A soul owned by servers 1 and 2, not by the coordinator (server 0).
    let soul = '';
    for (let i = 0; soul === ''; i++) {
      const owners = ownersOf(`hinted/${i}`, members, R);
      if (owners.includes(members[1]!) && owners.includes(members[2]!)) soul = `hinted/${i}`;
    }
    // Level one: server 2 confirms, server 1 refuses (a full disk).
    await clients[0]!.get(soul).put({ v: 'kept' }, { durability: 'one' });
    await waitFor('the coordinator to keep the write as a hint', async () => servers[0]!.network.dht!.handoff.pendingSouls === 1 && (await storedSouls(stores[0]!)).has(soul), {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect((await storedSouls(stores[1]!)).has(soul)).toBe(false);
    // Room again: the hand-off delivers it, then lets its copy go.
    ownerFull = false;
    await waitFor('the refusing owner to hold it', async () => (await storedSouls(stores[1]!)).has(soul), { timeoutMs: 20_000, intervalMs: 100 });
    await waitFor('the coordinator to let its copy go', async () => !(await storedSouls(stores[0]!)).has(soul), { timeoutMs: 20_000, intervalMs: 100 });
    expect(servers[0]!.network.dht!.handoff.pendingSouls).toBe(0);
  });
});
