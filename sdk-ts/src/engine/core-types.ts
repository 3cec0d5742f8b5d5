/**
 * The engine boundary as TypeScript sees it: the names the WebAssembly glue exports
 * (see docs/ARCHITECTURE.md, "The engine boundary"). Types come straight from the
 * glue's generated declarations so they cannot drift from the Rust side.
 *
 * This module is also the type entry of the package's `./engine` subpath (benchmarks
 * and interop tests call the engine directly); at run time that subpath resolves to
 * `load-node.js` or `load-browser.js`, which export exactly these names.
 */
import type * as Glue from '../../pkg/bundler/rustdht_core.js';

export type Engine = Glue.Engine;
export type Signer = Glue.Signer;

/** Everything the SDK needs from one loaded engine instance. */
export interface EngineModule {
  readonly Engine: typeof Glue.Engine;
  readonly Signer: typeof Glue.Signer;
  readonly verifySignature: typeof Glue.verifySignature;
  readonly verifySignatures: typeof Glue.verifySignatures;
  readonly hamDecide: typeof Glue.hamDecide;
  readonly jsonText: typeof Glue.jsonText;
  readonly contentKey: typeof Glue.contentKey;
  readonly encodeUpdates: typeof Glue.encodeUpdates;
  readonly joinFrames: typeof Glue.joinFrames;
}

// Value declarations for the `./engine` subpath's types; the loaders provide them.
export declare const Engine: EngineModule['Engine'];
export declare const Signer: EngineModule['Signer'];
export declare const verifySignature: EngineModule['verifySignature'];
export declare const verifySignatures: EngineModule['verifySignatures'];
export declare const hamDecide: EngineModule['hamDecide'];
export declare const jsonText: EngineModule['jsonText'];
export declare const contentKey: EngineModule['contentKey'];
export declare const encodeUpdates: EngineModule['encodeUpdates'];
export declare const joinFrames: EngineModule['joinFrames'];
