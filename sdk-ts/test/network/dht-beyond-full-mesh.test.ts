/**
 * A network larger than a full mesh (DhtOptions.fullMeshMax, here 4 so that 24 servers
 * in one process are well past it): servers keep only their routing-table neighbours
 * dialled (network/dht/membership.ts), yet membership still reaches everyone through
 * gossip, and a server that must coordinate a write or read from owners it has no
 * connection to dials them on demand. Owners are computed here, independently of the
 * code under test (node:crypto SHA-256, XOR, sort).
 */
import { createHash, randomBytes } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateNetworkOptions } from '../../src/network/options.js';
import { soulPrefix } from '../../src/persistence/layout.js';
import type { MemoryStore } from '../../src/storage/memory.js';
import { InProcessRustDHT, startPeers, type InProcessPeers, type Peer } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const SERVERS = 24;
const R = 3;

let peers: InProcessPeers;

beforeAll(async () => {
  peers = await startPeers({ servers: SERVERS, clients: 3, dht: { replicas: R, fullMeshMax: 4 }, bootstrap: 'first' });
  await Promise.all(peers.clients.map((client) => client.network.whenConnected({ signal: AbortSignal.timeout(20_000) })));
}, 60_000);

afterAll(async () => {
  await peers?.close();
}, 60_000);

const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

function expectedOwners(soul: string, members: readonly string[]): string[] {
  const position = sha256(Buffer.from(soul, 'utf8'));
  const distance = (id: string): Buffer => {
    const p = sha256(peerIdFromString(id).toMultihash().bytes);
    return Buffer.from(p.map((byte, i) => byte ^ position[i]!));
  };
  return [...members].sort((a, b) => Buffer.compare(distance(a), distance(b))).slice(0, R);
}

/** The servers `server` has a sync session with now. */
function connectedServers(server: Peer, members: ReadonlySet<string>): Set<string> {
  return new Set(server.network.status().peers.map((peer) => peer.peerId).filter((id) => members.has(id)));
}

async function holds(store: MemoryStore, soul: string): Promise<boolean> {
  for await (const _ of store.entries({ prefix: soulPrefix(soul), limit: 1 })) return true;
  return false;
}

describe(`${SERVERS} servers beyond a full mesh (fullMeshMax 4, R = ${R})`, () => {
  it('every server learns every member, though not every pair of servers is connected', async () => {
    await waitFor('every server to count every member', () => peers.servers.every((server) => server.network.status().dht?.members === SERVERS), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const ids = peers.servers.map((server) => server.network.peerId);
    for (const server of peers.servers) expect(server.network.dht!.placement.members).toEqual([...ids].sort());
    const members = new Set(ids);
    const connectedPairs = (): Set<string> => {
      const pairs = new Set<string>();
      for (const server of peers.servers) {
        for (const other of connectedServers(server, members)) pairs.add([server.network.peerId, other].sort().join());
      }
      return pairs;
    };
    // The dials to each server's neighbours, started as members became known, settle.
    let last = -1;
    const pairs = await waitFor(
      'the connections between servers to settle',
      () => {
        const now = connectedPairs();
        const settled = now.size === last;
        last = now.size;
        return settled && now;
      },
      { timeoutMs: 20_000, intervalMs: 1_500 },
    );
    console.log(`[beyond full mesh] ${pairs.size} of ${(SERVERS * (SERVERS - 1)) / 2} server pairs connected`);
    expect(pairs.size).toBeLessThan((SERVERS * (SERVERS - 1)) / 2);
  }, 40_000);

  it('a server coordinates quorum writes to owners it had no connection to, and another reads them back through their owners', async () => {
    const ids = peers.servers.map((server) => server.network.peerId);
    const members = new Set(ids);
    const writer = peers.clients[1]!;
    const coordinator = peers.servers[1]!;
    const reader = peers.clients[2]!;
    // Souls with an owner the writer's server is not connected to, and not owned by it.
    const connected = connectedServers(coordinator, members);
    const souls: string[] = [];
    const owners = new Map<string, string[]>();
    while (souls.length < 20) {
      const soul = `beyond-mesh/${randomBytes(6).toString('hex')}`;
      const list = expectedOwners(soul, ids);
      if (list.includes(coordinator.network.peerId) || list.every((owner) => connected.has(owner))) continue;
      souls.push(soul);
      owners.set(soul, list);
    }
    await Promise.all(souls.map((soul, i) => writer.get(soul).put({ n: i }, { durability: 'quorum', signal: AbortSignal.timeout(20_000) })));

    await waitFor(
      'every soul on exactly its owners',
      async () => {
        for (const soul of souls) {
          const holders: string[] = [];
          for (const [i, store] of peers.stores.entries()) if (await holds(store, soul)) holders.push(ids[i]!);
          if (holders.sort().join() !== [...owners.get(soul)!].sort().join()) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const [i, soul] of souls.entries()) expect(await reader.get(soul).get('n').once()).toBe(i);
  }, 60_000);

  it('a client watching a soul through a server with no connection to its owners hears writes made through another server', async () => {
    const ids = peers.servers.map((server) => server.network.peerId);
    const members = new Set(ids);
    // The watcher's server: the one (not 0-2) with the fewest connections; a soul none of whose owners it is connected to.
    const server = peers.servers.slice(3).reduce((a, b) => (connectedServers(a, members).size <= connectedServers(b, members).size ? a : b));
    const connected = connectedServers(server, members);
    connected.add(server.network.peerId);
    expect(SERVERS - connected.size).toBeGreaterThanOrEqual(R);
    let soul = '';
    do soul = `beyond-mesh/live/${randomBytes(6).toString('hex')}`;
    while (expectedOwners(soul, ids).some((owner) => connected.has(owner)));
    const watcher = await InProcessRustDHT.open({ store: 'memory', network: { role: 'client', peers: [server.network.status().addresses[0]!] } });
    try {
      await watcher.network.whenConnected({ signal: AbortSignal.timeout(10_000) });
      const heard: unknown[] = [];
      watcher.get(soul).get('n').on((value) => void heard.push(value));
      // The watcher's server subscribes at the owners (dialling them); then writes through server 1 reach it.
      for (let n = 1; n <= 3; n++) {
        await peers.clients[1]!.get(soul).put({ n }, { durability: 'all', signal: AbortSignal.timeout(10_000) });
        await waitFor(`the watcher to hear n = ${n}`, () => heard.at(-1) === n, { timeoutMs: 10_000, intervalMs: 25 });
      }
    } finally {
      await watcher.close({ timeoutMs: 0 });
    }
  }, 60_000);

  it('a crashed server a coordinator has no connection to leaves its placement once a write needs it and the dial fails, not only when its record expires', async () => {
    const ids = peers.servers.map((server) => server.network.peerId);
    const members = new Set(ids);
    // The coordinator: the server (not 0-2, whose clients dialled on demand above) with the fewest connections.
    const candidates = peers.servers.slice(3);
    const coordinator = candidates.reduce((a, b) => (connectedServers(a, members).size <= connectedServers(b, members).size ? a : b));
    const connected = connectedServers(coordinator, members);
    const victim = peers.servers.find((server, i) => i !== 0 && server !== coordinator && !connected.has(server.network.peerId))!;
    expect(victim).toBeDefined();
    let soul = '';
    do soul = `beyond-mesh/crash/${randomBytes(6).toString('hex')}`;
    while (!expectedOwners(soul, ids).includes(victim.network.peerId));
    const writer = await InProcessRustDHT.open({ store: 'memory', network: { role: 'client', peers: [coordinator.network.status().addresses[0]!] } });
    try {
      await writer.network.whenConnected({ signal: AbortSignal.timeout(10_000) });
      // Killed, as kill -9 would: its connections drop, no `leaving` record is sent.
      await victim.network.node.stop();
      const killedAt = Date.now();
      await writer.get(soul).put({ v: 1 });
      await waitFor('the coordinator to count the crashed server out', () => !coordinator.network.dht!.placement.isMember(victim.network.peerId), {
        timeoutMs: 20_000,
        intervalMs: 100,
      });
      console.log(`[beyond full mesh] the coordinator counted the crashed server out ${Date.now() - killedAt} ms after the crash`);
    } finally {
      await writer.close({ timeoutMs: 0 });
    }
  }, 40_000);

  it('network.dht.fullMeshMax is a whole number from 0', () => {
    expect(() => validateNetworkOptions({ role: 'server', dht: { fullMeshMax: 0 } })).not.toThrow();
    for (const bad of [-1, 2.5, Number.NaN, '8' as never]) {
      expect(() => validateNetworkOptions({ role: 'server', dht: { fullMeshMax: bad } }), String(bad)).toThrow(expect.objectContaining({ code: 'config/invalid' }));
    }
  });
});
