/**
 * `put(value, { durability })` over the DHT (in-process servers on libp2p's memory
 * transport, R = 3): the put resolves once that many of each soul's owners hold the
 * write durably, as counted by the server that took it (network/dht/replicate.ts), and
 * rejects with DurabilityError naming what was reached when they do not; without a
 * network, or when no server answers in time, it says so. The write is never lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DurabilityError, RustDHT } from '../../src/node.js';
import { soulPrefix } from '../../src/persistence/layout.js';
import { InProcessRustDHT, startPeers, type InProcessPeers, type Peer } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const SERVERS = 5;
let peers: InProcessPeers;
let client: Peer;

beforeAll(async () => {
  peers = await startPeers({ servers: SERVERS, clients: 1, dht: { replicas: 3 } });
  client = peers.clients[0]!;
  await client.network.whenConnected({ signal: AbortSignal.timeout(20_000) });
  await waitFor('membership to settle', () => peers.servers.every((server) => server.network.status().dht?.members === SERVERS), { timeoutMs: 20_000 });
  await peers.whenConnected(AbortSignal.timeout(20_000));
}, 40_000);

afterAll(async () => {
  await peers?.close();
}, 30_000);

/** Index of the server the client is connected to (it dials servers[0]). */
const COORDINATOR = 0;

function ownersOf(soul: string): string[] {
  return peers.servers[COORDINATOR]!.network.dht!.placement.ownersOf([soul])[0]!;
}

async function holds(index: number, soul: string): Promise<boolean> {
  for await (const _ of peers.stores[index]!.entries({ prefix: soulPrefix(soul), limit: 1 })) return true;
  return false;
}

/** A fresh soul whose owners satisfy `accept`. */
function soulWhere(accept: (owners: string[]) => boolean): string {
  for (let i = 0; i < 100_000; i++) {
    const soul = `durability/${Date.now()}-${i}`;
    if (accept(ownersOf(soul))) return soul;
  }
  throw new Error(`no soul found with such owners among ${peers.servers[COORDINATOR]!.network.dht!.placement.members.length} members`);
}

describe('durability levels', () => {
  it("'quorum' resolves once 2 of 3 owners hold the write, 'all' once every owner does", async () => {
    const soul = soulWhere(() => true);
    const quorum = await client.get(soul).put({ v: 1 }, { durability: 'quorum' });
    expect(quorum.replication?.owners).toBe(3);
    expect(quorum.replication!.reached).toBeGreaterThanOrEqual(2);

    const all = await client.get(`${soul}/all`).put({ v: 2 }, { durability: 'all' });
    expect(all.replication).toEqual({ level: 'all', reached: 3, owners: 3 });
    // Every owner holds it the moment the put resolved (no waiting).
    const ids = peers.servers.map((server) => server.network.peerId);
    for (const owner of ownersOf(`${soul}/all`)) {
      const index = ids.indexOf(owner);
      const view = peers.servers[index]!.network.dht!.placement;
      expect(await holds(index, `${soul}/all`), `owner ${index} (its view: ${view.members.length} members, owners ${view.ownersOf([`${soul}/all`])[0]!.map((id) => ids.indexOf(id))})`).toBe(true);
    }
  });

  it("'one' resolves through a server that does not own the soul (it coordinates)", async () => {
    const coordinator = peers.servers[COORDINATOR]!.network.peerId;
    const soul = soulWhere((owners) => !owners.includes(coordinator));
    const ack = await client.get(soul).put({ v: 'x' }, { durability: 'one' });
    expect(ack.replication!.reached).toBeGreaterThanOrEqual(1);
  });

  it('with 2 of 3 owners gone, quorum rejects naming what it reached, one still resolves, and the write is kept', async () => {
    const coordinator = peers.servers[COORDINATOR]!.network.peerId;
    const soul = soulWhere((owners) => owners.includes(coordinator));
    const ids = peers.servers.map((server) => server.network.peerId);
    const gone = ownersOf(soul).filter((owner) => owner !== coordinator);
    // Gone without a goodbye as far as placement is concerned for ~1.5 s (until counted down).
    await Promise.all(gone.map((owner) => peers.servers[ids.indexOf(owner)]!.network.goOffline()));

    const error = await client
      .get(soul)
      .put({ v: 'short' }, { durability: 'quorum' })
      .then(() => undefined, (thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(DurabilityError);
    expect(error).toMatchObject({ code: 'durability/not-reached', level: 'quorum', reached: 1, required: 2, owners: 3 });
    expect(await peers.servers[COORDINATOR]!.get(soul).get('v').once({ local: true })).toBe('short');
    expect(await client.get(soul).get('v').once({ local: true })).toBe('short');

    await client.get(`${soul}/one`).put({ v: 'ok' }, { durability: 'one' });
    for (const owner of gone) peers.servers[ids.indexOf(owner)]!.network.goOnline();
    // Back as soon as they are reachable again (not only once they renew their records).
    await waitFor('the owners to count again', () => peers.servers[COORDINATOR]!.network.status().dht?.members === SERVERS, { timeoutMs: 10_000 });
  }, 25_000);

  it('no server in time: DurabilityError with nothing reached; no network at all: the same, at once', async () => {
    const offline = await RustDHT.open({ store: 'memory' });
    try {
      await expect(offline.get('lonely').put({ v: 1 }, { durability: 'one' })).rejects.toMatchObject({ name: 'DurabilityError', reached: 0 });
      expect(await offline.get('lonely').get('v').once()).toBe(1);
    } finally {
      await offline.close();
    }
    await client.network.goOffline();
    try {
      const started = Date.now();
      await expect(client.get('while-offline').put({ v: 1 }, { durability: 'quorum', timeoutMs: 300 })).rejects.toMatchObject({ code: 'durability/not-reached', reached: 0 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(client.outbox.size).toBeGreaterThan(0);
    } finally {
      client.network.goOnline();
    }
    await client.network.whenSynced({ signal: AbortSignal.timeout(10_000) });
  });

  it("reads with a consistency level see what a write with the same level made, through a server that does not own the soul", async () => {
    const coordinator = peers.servers[COORDINATOR]!.network.peerId;
    const soul = soulWhere((owners) => !owners.includes(coordinator));
    await client.get(soul).put({ v: 'q' }, { durability: 'quorum' });
    // A fresh reader on the same (non-owning) server: nothing local, the server asks the owners.
    const reader = await InProcessRustDHT.open({ store: 'memory', network: { peers: [peers.servers[COORDINATOR]!.network.status().addresses[0]!] } });
    try {
      await reader.network.whenConnected({ signal: AbortSignal.timeout(10_000) });
      for (const consistency of ['one', 'quorum', 'all'] as const) {
        expect(await reader.get(soul).get('v').once({ consistency })).toBe('q');
      }
      await expect(reader.get(soul).once({ consistency: 'most' as never })).rejects.toMatchObject({ code: 'config/invalid' });
    } finally {
      await reader.close({ timeoutMs: 0 });
    }
  });

  it('a read of a soul nobody has is "not found" within the bound, and costs a few messages (owners do not pass it on to each other)', async () => {
    const before = peers.servers.reduce((sum, server) => sum + server.network.counters().messagesIn, 0);
    const started = Date.now();
    for (const consistency of [undefined, 'quorum'] as const) expect(await client.get(`nobody-has/${Date.now()}`).once({ consistency })).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(4_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = peers.servers.reduce((sum, server) => sum + server.network.counters().messagesIn, 0);
    // Two reads, each: the client's GET, the coordinator's GETs to at most 3 owners, and
    // background gossip; an echo between owners was thousands (wire/busy).
    expect(after - before).toBeLessThan(100);
  });

  it('bad options are typed errors, and nothing is written', async () => {
    await expect(client.get('bad-options').put({ v: 1 }, { durability: 'most' as never })).rejects.toMatchObject({ code: 'config/invalid' });
    await expect(client.get('bad-options').put({ v: 1 }, { timeoutMs: -1 })).rejects.toMatchObject({ code: 'config/invalid' });
    expect(await client.get('bad-options').get('v').once({ local: true })).toBeUndefined();
  });
});
