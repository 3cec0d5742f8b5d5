// Rows 12b and 12g: RustDHT servers in this one process, as
// sdk-ts/test/network/helpers/in-process-peers.ts starts them, from the SDK's build
// (sdk-ts/dist): each a real database (`RustDHT.open`, a MemoryStore) whose real Network
// runs on a libp2p node with the in-memory transport (@libp2p/memory) instead of TCP;
// everything above the transport is the production path.
//
// Imported by tasks/dht.mjs.

import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dist = (path) => import(pathToFileURL(join(ROOT, 'sdk-ts', 'dist', path)).href);

/**
 * The Node entry's RustDHT with its network on in-memory libp2p nodes (servers listen at
 * a fresh /memory/ address, with an Ed25519 key registered as the server platform does:
 * their member records are signed with it), the SDK's MemoryStore, and a server's address.
 */
export async function inProcessKit() {
  const [{ RustDHT, MemoryStore }, { baseConfig, registerPeerKey }, { generateKeyPair }, { memory }, { createLibp2p }] = await Promise.all([
    dist('node.js'),
    dist('network/libp2p/shared.js'),
    import('@libp2p/crypto/keys'),
    import('@libp2p/memory'),
    import('libp2p'),
  ]);
  let n = 0;
  async function createNode(options) {
    const server = options.role === 'server';
    const privateKey = await generateKeyPair('Ed25519');
    const node = await createLibp2p({
      ...baseConfig(),
      privateKey,
      addresses: { listen: server ? [`/memory/rustdht-bench-${process.pid}-${++n}`] : [] },
      transports: [memory()],
    });
    if (server) registerPeerKey(node, privateKey);
    return node;
  }
  class InProcessRustDHT extends RustDHT {
    static networkPlatform = { createNode };
  }
  return { InProcessRustDHT, MemoryStore, addressOf: (db) => db.network.status().addresses[0] };
}

/**
 * Starts `servers` servers with DHT options `dht`. `bootstrap: 'first'`: each knows only
 * the first and finds the others through the membership gossip (as `rustdht serve
 * --bootstrap <first>` does); 'mesh': each dials every server started before it. After
 * every `batch` servers, `settled(serversSoFar)` is awaited before the next batch opens.
 * Returns { servers, stores, close }.
 */
export async function startInProcessServers({ servers: count, dht, bootstrap = 'first', batch = count, settled = async () => {} }) {
  const { InProcessRustDHT, MemoryStore, addressOf } = await inProcessKit();
  const servers = [];
  const stores = [];
  const close = () => Promise.allSettled(servers.map((db) => db.close({ timeoutMs: 0 })));
  try {
    for (let i = 0; i < count; i++) {
      const peers = bootstrap === 'first' ? servers.slice(0, 1).map(addressOf) : servers.map(addressOf);
      const store = new MemoryStore();
      stores.push(store);
      servers.push(await InProcessRustDHT.open({ store, network: { role: 'server', peers, dht } }));
      if (servers.length % batch === 0 && servers.length < count) await settled(servers);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { servers, stores, close };
}
