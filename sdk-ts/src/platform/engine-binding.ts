/**
 * How the public classes find their engine. `RustDHT` and `Identity` are written once
 * (index.ts); the entry points (node.ts, browser.ts) subclass them and set the static
 * `engineModule` to the loader for their platform. Nothing is registered globally, so
 * loading both entries in one process is harmless.
 */
import type { EngineModule } from '../engine/core-types.js';
import { RustDHTError } from '../api/errors.js';

export function requireEngine(engineModule: EngineModule | undefined): EngineModule {
  if (engineModule === undefined) {
    throw new RustDHTError(
      'engine/unbound',
      "this class has no engine: import it from the package entry ('rustdht'), which binds the engine for Node or for browsers.",
    );
  }
  return engineModule;
}
