/** The package's browser (bundler) entry: the shared API with the engine loaded as a bundled WebAssembly module. */
import * as engine from './engine/load-browser.js';
import { RustDHT as UnboundRustDHT } from './db.js';
import { Identity as UnboundIdentity } from './identity.js';

export * from './index.js';

export class RustDHT extends UnboundRustDHT {
  protected static override readonly engineModule = engine;
}

export class Identity extends UnboundIdentity {
  protected static override readonly engineModule = engine;
}
