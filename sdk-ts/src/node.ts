/** The package's Node entry: the shared API with the engine loaded through wasm-bindgen's nodejs glue. */
import * as engine from './engine/load-node.js';
import { nodeNetworkPlatform } from './platform/node-network.js';
import { RustDHT as UnboundRustDHT } from './api/db.js';
import { Identity as UnboundIdentity } from './api/identity.js';

export * from './index.js';
// Node only: classic-level is a native addon, so only this entry may import it.
import { LevelStore } from './storage/leveldb.js';
export { LevelStore };

/** An Ed25519 key pair that signs writes into its own `~publicKey` space (Node entry). */
export class Identity extends UnboundIdentity {
  protected static override readonly engineModule = engine;
}

/**
 * The database (Node entry): `await RustDHT.open({ directory, network })`, then
 * `db.get(soul)` / `db.user(identity)` refs, `db.network`, `db.outbox`, `db.close()`.
 */
export class RustDHT extends UnboundRustDHT {
  protected static override readonly engineModule = engine;
  protected static override readonly identityClass = Identity;
  protected static override readonly networkPlatform = nodeNetworkPlatform;
  // open({ directory }) is LevelDB, as GunDB's radata/ is its RAD store.
  protected static override readonly directoryStore = (directory: string) => LevelStore.open(directory);
  protected static override readonly memoryWarning = (message: string) => process.emitWarning(message, { code: 'RUSTDHT_MEMORY_ONLY' });
}
