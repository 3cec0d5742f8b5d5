/**
 * Loads the engine in browsers through wasm-bindgen's `bundler` target: the bundler
 * (Vite, webpack, …) resolves and instantiates the `.wasm` import.
 */
export {
  Engine,
  Signer,
  jsonText,
  contentKey,
  encodeUpdates,
  joinFrames,
} from '../../pkg/bundler/rustdht_core.js';
