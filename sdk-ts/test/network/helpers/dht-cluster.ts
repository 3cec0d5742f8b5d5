/**
 * What the DHT process tests need to look at a cluster from outside, independently of
 * the code under test:
 *
 * - `ownersOf`: a soul's R owners, computed here (DESIGN.md §5: SHA-256 of the soul and
 *   of each server's peer-id multihash, XOR, closest first) with node:crypto, not with
 *   the engine's placement;
 * - `storedSouls`: which souls a running `rustdht serve` holds *durably*, read from its
 *   LevelDB files. The server keeps its store open (LevelDB's lock), and asking it over
 *   the network would not do: a server answers a read of a soul it does not own by
 *   fetching it from the owners (and then holds a copy), so a probe would change what it
 *   probes. Instead the process is paused (SIGSTOP) for the few milliseconds it takes to
 *   copy its store directory, resumed (SIGCONT), and the copy is opened here. The copy is
 *   what a kill -9 at that moment would have left on disk (LevelDB recovers it the same
 *   way), which is exactly "held durably".
 *   `storedProperties` reads values and states from such a copy too (through a database
 *   opened on it, without a network).
 * - `dhtStatus`: the `dht` field of /health, when the server reports one.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import type { PropertyMeta } from '../../../src/api/values.js';
import { RustDHT } from '../../../src/node.js';
import { PROPERTY_PREFIX, soulOfPropertyKey } from '../../../src/persistence/layout.js';
import { LevelStore } from '../../../src/storage/leveldb.js';
import type { ServerProcess } from './server-process.js';

/** A running `rustdht serve` whose data directory this process can read (any of the helpers' handles). */
export interface ServerOnDisk {
  readonly name: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Its --data directory (the store is `store/` in it). */
  readonly dataDir: string;
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

const positions = new Map<string, Buffer>();

/** A server's position on the ring: SHA-256 of its peer id's multihash bytes (kad-dht's derivation). */
function positionOf(peerId: string): Buffer {
  let position = positions.get(peerId);
  if (position === undefined) {
    position = sha256(peerIdFromString(peerId).toMultihash().bytes);
    positions.set(peerId, position);
  }
  return position;
}

/** The `r` members closest to `soul` by XOR of SHA-256 positions, closest first. */
export function ownersOf(soul: string, members: readonly string[], r: number): string[] {
  const soulPosition = sha256(Buffer.from(soul, 'utf8'));
  const distance = (peerId: string): Buffer => {
    const server = positionOf(peerId);
    const out = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) out[i] = soulPosition[i]! ^ server[i]!;
    return out;
  };
  return members
    .map((peerId) => ({ peerId, distance: distance(peerId) }))
    .sort((a, b) => Buffer.compare(a.distance, b.distance))
    .slice(0, r)
    .map((entry) => entry.peerId);
}

/**
 * The souls `server` holds property records of in its LevelDB store right now (see the
 * file comment: a copy taken while the process is paused for a moment).
 */
export async function storedSouls(server: ServerOnDisk): Promise<Set<string>> {
  return withStoreCopy(server, async (store) => {
    const souls = new Set<string>();
    for await (const { key } of store.entries({ prefix: PROPERTY_PREFIX })) souls.add(soulOfPropertyKey(key).soul);
    return souls;
  });
}

/**
 * What `server` holds durably of property `key` of each of `souls` (value and state;
 * undefined where it holds nothing), from a copy of its store as `storedSouls` takes it.
 */
export async function storedProperties(server: ServerOnDisk, souls: readonly string[], key: string): Promise<Map<string, PropertyMeta | undefined>> {
  return withStoreCopy(server, async (store) => {
    const db = await RustDHT.open({ store });
    try {
      const metas = new Map<string, PropertyMeta | undefined>();
      for (const soul of souls) metas.set(soul, (await db.get(soul).get(key).meta({ local: true })) as PropertyMeta | undefined);
      return metas;
    } finally {
      await db.close();
    }
  });
}

/** Copies `server`'s store while the process is paused, opens the copy for `use`, then closes and removes it. */
async function withStoreCopy<T>(server: ServerOnDisk, use: (store: LevelStore) => Promise<T>): Promise<T> {
  const pid = server.pid;
  if (!server.running || pid === undefined) throw new Error(`${server.name} is not running`);
  const copy = await mkdtemp(join(tmpdir(), `rustdht-census-${server.name}-`));
  try {
    process.kill(pid, 'SIGSTOP');
    try {
      await cp(join(server.dataDir, 'store'), copy, { recursive: true });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const store = await LevelStore.open(copy);
    try {
      return await use(store);
    } finally {
      await store.close();
    }
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

/** Who holds each of `souls`, by `storedSouls` of each server: soul → names of the servers holding it. */
export async function holdersOf(servers: readonly ServerProcess[], souls: readonly string[]): Promise<Map<string, string[]>> {
  const held = new Map<string, string[]>(souls.map((soul) => [soul, []]));
  // One server at a time: each is paused while its store is copied.
  for (const server of servers) {
    const stored = await storedSouls(server);
    for (const soul of souls) if (stored.has(soul)) held.get(soul)!.push(server.peerId);
  }
  return held;
}

export interface DhtHealth {
  readonly members: number;
  readonly replicas: number;
  readonly [field: string]: unknown;
}

/** The `dht` field of `server`'s /health, or undefined when it reports none (older builds). */
export async function dhtStatus(server: ServerProcess): Promise<DhtHealth | undefined> {
  const { body } = await server.health();
  const dht = body['dht'];
  if (dht === null || typeof dht !== 'object') return undefined;
  const members = (dht as Record<string, unknown>)['members'];
  return typeof members === 'number' ? (dht as DhtHealth) : undefined;
}
