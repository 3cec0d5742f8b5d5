/**
 * The DHT in one process (helpers/in-process-peers.ts: real databases and networks on
 * libp2p's in-memory transport): 20 servers that each know only the first one find each
 * other through the membership gossip; after random writes through clients, every soul
 * is stored by exactly its R owners and nobody else, and the servers together store
 * about R copies of the data, not 20.
 *
 * The owners are computed here, independently of the code under test: SHA-256 with
 * node:crypto of the soul and of each server's peer-id multihash, XOR, sort.
 */
import { createHash, randomBytes } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { soulPrefix, PROPERTY_PREFIX } from '../../src/persistence/layout.js';
import type { MemoryStore } from '../../src/storage/memory.js';
import { startPeers, type InProcessPeers } from './helpers/in-process-peers.js';
import { waitFor } from './helpers/server-process.js';

const SERVERS = 20;
const CLIENTS = 4;
const R = 3;
const SOULS = 300;

let peers: InProcessPeers;

beforeAll(async () => {
  const started = performance.now();
  peers = await startPeers({ servers: SERVERS, clients: CLIENTS, dht: { replicas: R }, bootstrap: 'first' });
  await Promise.all(peers.clients.map((client) => client.network.whenConnected({ signal: AbortSignal.timeout(20_000) })));
  console.log(`[dht placement] ${SERVERS} servers and ${CLIENTS} clients started in ${Math.round(performance.now() - started)} ms`);
}, 60_000);

afterAll(async () => {
  await peers?.close();
}, 60_000);

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** The R members closest to `soul` by XOR of SHA-256 positions (kad-dht's derivation). */
function expectedOwners(soul: string, members: readonly string[]): string[] {
  const position = sha256(Buffer.from(soul, 'utf8'));
  return members
    .map((id) => ({ id, distance: xor(position, sha256(peerIdFromString(id).toMultihash().bytes)) }))
    .sort((a, b) => Buffer.compare(a.distance, b.distance))
    .slice(0, R)
    .map((entry) => entry.id);
}

async function holds(store: MemoryStore, soul: string): Promise<boolean> {
  for await (const _ of store.entries({ prefix: soulPrefix(soul), limit: 1 })) return true;
  return false;
}

async function propertyBytes(store: MemoryStore, prefix: Uint8Array = PROPERTY_PREFIX): Promise<number> {
  let bytes = 0;
  for await (const { key, value } of store.entries({ prefix })) bytes += key.length + value.length;
  return bytes;
}

describe(`the DHT: ${SERVERS} servers, R = ${R}`, () => {
  it('every server learns every member through gossip from one bootstrap address', async () => {
    const started = performance.now();
    await waitFor('every server to count every member', () => peers.servers.every((server) => server.network.status().dht?.members === SERVERS), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    console.log(`[dht placement] membership settled in ${Math.round(performance.now() - started)} ms`);
    const ids = peers.servers.map((server) => server.network.peerId).sort();
    for (const server of peers.servers) expect(server.network.dht!.placement.members).toEqual(ids);
  }, 40_000);

  it('after random writes, every soul is held by exactly its R owners, and stored bytes are about R copies', async () => {
    const members = peers.servers.map((server) => server.network.peerId);
    const souls: string[] = [];
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < SOULS; i++) {
      const soul = `dht-placement/${i}-${randomBytes(4).toString('hex')}`;
      souls.push(soul);
      const client = peers.clients[i % CLIENTS]!;
      writes.push(client.get(soul).put({ n: i, text: randomBytes(48).toString('base64') }));
    }
    await Promise.all(writes);
    await Promise.all(peers.clients.map((client) => client.network.whenSynced({ signal: AbortSignal.timeout(30_000) })));

    const owners = new Map(souls.map((soul) => [soul, expectedOwners(soul, members)]));
    const started = performance.now();
    let wrong: string[] = [];
    const detail = new Map<string, string[]>();
    await waitFor(
      'every soul on exactly its owners',
      async () => {
        wrong = [];
        for (const soul of souls) {
          const holders: string[] = [];
          for (const [i, store] of peers.stores.entries()) if (await holds(store, soul)) holders.push(members[i]!);
          if (holders.sort().join() !== [...owners.get(soul)!].sort().join()) {
            wrong.push(soul);
            detail.set(soul, holders);
          }
        }
        return wrong.length === 0;
      },
      { timeoutMs: 45_000, intervalMs: 250 },
    ).catch((error: unknown) => {
      const short = (id: string): string => `${id.slice(-6)}${owners.get(wrong[0]!)!.includes(id) ? '' : '*'}`;
      const examples = wrong.slice(0, 3).map((soul) => `${soul} held by [${detail.get(soul)!.map((id) => `${id.slice(-6)}${owners.get(soul)!.includes(id) ? '' : '(not an owner)'}`).join(' ')}] owners [${owners.get(soul)!.map((id) => id.slice(-6)).join(' ')}]`);
      void short;
      throw new Error(`${wrong.length} of ${SOULS} souls not on exactly their owners, e.g. ${examples.join('; ')}`, { cause: error });
    });
    console.log(`[dht placement] all ${SOULS} souls on exactly their ${R} owners ${Math.round(performance.now() - started)} ms after the writes were acknowledged`);

    // One copy: each soul's records as one of its owners stores them.
    let oneCopy = 0;
    for (const soul of souls) {
      const owner = owners.get(soul)![0]!;
      oneCopy += await propertyBytes(peers.stores[members.indexOf(owner)]!, soulPrefix(soul));
    }
    let total = 0;
    for (const store of peers.stores) total += await propertyBytes(store);
    console.log(`[dht placement] stored ${total} bytes across ${SERVERS} servers; one copy is ${oneCopy} bytes (${(total / oneCopy).toFixed(2)} copies)`);
    expect(total).toBeLessThanOrEqual(1.1 * R * oneCopy);
    expect(total).toBeGreaterThanOrEqual(R * oneCopy);

    // And each write reads back, correct, through a client whose server owns it or not.
    const reader = peers.clients[CLIENTS - 1]!;
    for (const soul of souls.slice(0, 20)) {
      const i = Number(soul.split('/')[1]!.split('-')[0]);
      expect(await reader.get(soul).get('n').once()).toBe(i);
    }
  }, 90_000);
});
