/** The package's browser (bundler) entry: the shared API with the engine loaded as a bundled WebAssembly module. */
import * as engine from './engine/load-browser.js';
import { browserStoragePlatform } from './platform/browser-storage.js';
import { browserNetworkPlatform } from './platform/browser-network.js';
import { RustDHT as UnboundRustDHT } from './api/db.js';
import { Identity as UnboundIdentity } from './api/identity.js';

export * from './index.js';
// Browser only: they need IndexedDB and Web Storage, and keep idb out of Node.
export { IndexedDBStore, type IndexedDBStoreOptions } from './storage/indexeddb.js';
export { LocalStorageStore } from './storage/local-storage.js';
export { DEFAULT_BROWSER_CACHE_BYTES } from './platform/browser-storage.js';

/** An Ed25519 key pair that signs writes into its own `~publicKey` space (browser entry). */
export class Identity extends UnboundIdentity {
  protected static override readonly engineModule = engine;
}

/**
 * The database (browser entry): `await RustDHT.open({ network })` persists to IndexedDB,
 * then `db.get(soul)` / `db.user(identity)` refs, `db.network`, `db.outbox`, `db.close()`.
 */
export class RustDHT extends UnboundRustDHT {
  protected static override readonly engineModule = engine;
  protected static override readonly identityClass = Identity;
  protected static override readonly networkPlatform = browserNetworkPlatform;
  // IndexedDB by default, capped as a cache; persistent storage requested at open.
  protected static override readonly storagePlatform = browserStoragePlatform;
}
