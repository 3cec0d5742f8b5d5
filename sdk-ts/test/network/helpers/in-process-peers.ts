/**
 * N RustDHT peers in one process, cheaply: each is a real database (`RustDHT.open`)
 * whose real `Network` runs on a libp2p node with the in-memory transport
 * (@libp2p/memory) instead of TCP or WebSockets. Everything above the transport is the
 * production path (dialler, backoff, noise, yamux, StreamChannel, sync sessions, duties,
 * feeds); only sockets are left out, so 50 peers start in about a second.
 *
 * Servers keep a change log (a MemoryStore) and keep each other dialled (a full mesh, as
 * a small cluster's shared bootstrap list does); each client dials one server, round robin.
 *
 * Why libp2p's memory transport and not the in-memory Channel pair
 * (transport/memory-channel.ts): joining peers with channel pairs (`network.attach`)
 * would leave out the dialler, redials, backoff and libp2p's own stream handling, which
 * is what a network of many peers exercises; the memory transport keeps all of it and
 * still costs only ~30 ms and a few MB per peer. The channel pair serves where the
 * protocol itself is under test (the sync conformance suite).
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { memory } from '@libp2p/memory';
import { createLibp2p } from 'libp2p';
import { baseConfig, registerPeerKey, type RustDHTNode } from '../../../src/network/libp2p/shared.js';
import type { NetworkPlatform } from '../../../src/network/platform.js';
import type { DhtOptions, NetworkOptions } from '../../../src/network/types.js';
import { MemoryStore, RustDHT, type NetworkedRustDHT } from '../../../src/node.js';

let nodes = 0;

/**
 * A libp2p node like the platform's, on the in-memory transport: servers listen at a
 * fresh /memory/ address, with an Ed25519 key registered as the server platform does
 * (their member records are signed with it: network/dht/).
 */
async function createMemoryNode(options: NetworkOptions): Promise<RustDHTNode> {
  const server = options.role === 'server';
  const privateKey = await generateKeyPair('Ed25519');
  const node = await createLibp2p({
    ...baseConfig(),
    privateKey,
    addresses: { listen: server ? [`/memory/rustdht-${process.pid}-${++nodes}`] : [] },
    transports: [memory()],
  });
  if (server) registerPeerKey(node, privateKey);
  return node;
}

/** The Node entry's RustDHT, with its network on in-memory libp2p nodes. */
export class InProcessRustDHT extends RustDHT {
  protected static override readonly networkPlatform: NetworkPlatform = { createNode: createMemoryNode };
}

export type Peer = NetworkedRustDHT<InProcessRustDHT>;

export interface InProcessPeers {
  readonly servers: readonly Peer[];
  /** Each server's store, in the order of `servers`. */
  readonly stores: readonly MemoryStore[];
  readonly clients: readonly Peer[];
  /** Resolves once every client has a session with its server and every server with the others. */
  whenConnected(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly servers: number;
  readonly clients: number;
  readonly readTimeoutMs?: number;
  /** The servers' DHT options (network.dht). */
  readonly dht?: DhtOptions;
  /**
   * 'mesh' (default): every server keeps every other dialled, as a shared bootstrap list
   * does. 'first': each knows only the first server and finds the others through the
   * membership gossip.
   */
  readonly bootstrap?: 'mesh' | 'first';
  /** More network options for server `index` (e.g. a writeGate). */
  readonly serverNetwork?: (index: number) => Partial<NetworkOptions>;
}

export async function startPeers(options: StartOptions): Promise<InProcessPeers> {
  const servers: Peer[] = [];
  const stores: MemoryStore[] = [];
  const mesh = options.bootstrap !== 'first';
  const clients: Peer[] = [];
  const close = async (): Promise<void> => {
    await Promise.allSettled([...clients, ...servers].map((db) => db.close({ timeoutMs: 0 })));
  };
  try {
    for (let i = 0; i < options.servers; i++) {
      // Each dials the servers started before it: a full mesh once all are up.
      const peers = mesh ? servers.map(addressOf) : servers.slice(0, 1).map(addressOf);
      const store = new MemoryStore();
      stores.push(store);
      servers.push(await InProcessRustDHT.open({ store, network: { role: 'server', peers, readTimeoutMs: options.readTimeoutMs, dht: options.dht, ...options.serverNetwork?.(i) } }));
    }
    // And keeps the ones started after it, as one bootstrap list shared by the cluster
    // would: a server follows the change log only of servers it was configured with
    // (a peer that merely says 'server' in its HELLO is not followed).
    if (mesh) for (const [i, server] of servers.entries()) for (const later of servers.slice(i + 1)) server.network.dial(addressOf(later));
    const opening = Array.from({ length: options.clients }, (_, i) =>
      InProcessRustDHT.open({ store: 'memory', network: { role: 'client', peers: [addressOf(servers[i % servers.length]!)], readTimeoutMs: options.readTimeoutMs } }),
    );
    const opened = await Promise.allSettled(opening);
    for (const result of opened) if (result.status === 'fulfilled') clients.push(result.value);
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  } catch (error) {
    await close();
    throw error;
  }
  return {
    servers,
    stores,
    clients,
    async whenConnected(signal) {
      await Promise.all([
        ...servers.map((server) => server.network.whenConnected({ count: servers.length - 1, signal })),
        ...clients.map((client) => client.network.whenConnected({ signal })),
      ]);
    },
    close,
  };
}


/** A database's first listen address. */
export function addressOf(db: Peer): string {
  const address = db.network.status().addresses[0];
  if (address === undefined) throw new Error(`${db.network.peerId} listens nowhere`);
  return address;
}

/**
 * Opens one in-process database at a time: a server with no peers, or a client of `peers`
 * (with more network options), each on a MemoryStore and recorded in `opened`, which the
 * test closes after each case.
 */
export function singlePeers(opened: { close(options: { timeoutMs: number }): Promise<unknown> }[]): {
  server(): Promise<Peer>;
  client(peers: string[], network?: Record<string, unknown>): Promise<Peer>;
} {
  return {
    async server() {
      const db = await InProcessRustDHT.open({ store: new MemoryStore(), network: { role: 'server', peers: [] } });
      opened.push(db);
      return db;
    },
    async client(peers, network = {}) {
      const db = await InProcessRustDHT.open({ store: new MemoryStore(), network: { peers, ...network } });
      opened.push(db);
      return db;
    },
  };
}

