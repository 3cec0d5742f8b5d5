/**
 * The engine boundary as TypeScript sees it: the names the WebAssembly glue exports
 * (see docs/ARCHITECTURE.md, "The engine boundary"). Types come straight from the
 * glue's generated declarations so they cannot drift from the Rust side.
 *
 * This module is also the type entry of the package's `./engine` subpath (benchmarks
 * and interop tests call the engine directly); at run time that subpath resolves to
 * `load-node.js` or `load-browser.js`, which export exactly these names. The shapes of
 * the JSON the engine returns are in ./reports.ts. Exports only benchmarks use
 * (`hamDecide`, `verifySignature(s)`) are not here: they exist only in the benchmark's
 * own build of the engine (cargo feature `bench`, scripts/build-wasm.mjs --bench).
 */
import type * as Glue from '../../pkg/bundler/rustdht_core.js';

export type {
  BatchReport,
  EngineChange,
  EngineConfig,
  EngineNode,
  EngineOutcome,
  EngineProperty,
  EngineValue,
  JsonText,
  OutcomeKind,
} from './reports.js';

export type Engine = Glue.Engine;
export type Signer = Glue.Signer;
/** A frame decoded by `Engine.prepare`, for `Engine.ingestPrepared`. */
export type PreparedFrame = Glue.PreparedFrame;

/** Which servers own which souls (DHT placement, core-rs/src/placement.rs). */
export type Placement = Glue.Placement;
/** The asking side of an anti-entropy round (core-rs/src/digest.rs). */
export type Reconciliation = Glue.Reconciliation;
/** Signed member records (core-rs/src/membership.rs): what is signed, what an opened one says. */
export type { MemberRecord, MemberRecordFields, MemberRole } from '../../pkg/bundler/rustdht_core.js';

/** Everything the SDK needs from one loaded engine instance. */
export interface EngineModule {
  readonly Engine: typeof Glue.Engine;
  readonly Signer: typeof Glue.Signer;
  readonly jsonText: typeof Glue.jsonText;
  readonly contentKey: typeof Glue.contentKey;
  readonly encodeUpdates: typeof Glue.encodeUpdates;
  readonly joinFrames: typeof Glue.joinFrames;
  readonly frameUpdateCount: typeof Glue.frameUpdateCount;
  /** Bytes of linear memory the module holds (shared by its engines; never shrinks). */
  readonly memoryBytes: typeof Glue.memoryBytes;
  // The engine's half of the DHT: placement and signed member records.
  readonly Placement: typeof Glue.Placement;
  readonly soulPosition: typeof Glue.soulPosition;
  readonly peerPosition: typeof Glue.peerPosition;
  readonly signMemberRecord: typeof Glue.signMemberRecord;
  readonly openMemberRecord: typeof Glue.openMemberRecord;
  // Anti-entropy between owners: soul digests and their reconciliation.
  readonly soulDigests: typeof Glue.soulDigests;
  readonly membersDigest: typeof Glue.membersDigest;
  readonly encodeSymbols: typeof Glue.encodeSymbols;
  readonly Reconciliation: typeof Glue.Reconciliation;
}

// Value declarations for the `./engine` subpath's types; the loaders provide them.
export declare const Engine: EngineModule['Engine'];
export declare const Signer: EngineModule['Signer'];
export declare const jsonText: EngineModule['jsonText'];
export declare const contentKey: EngineModule['contentKey'];
export declare const encodeUpdates: EngineModule['encodeUpdates'];
export declare const joinFrames: EngineModule['joinFrames'];
export declare const frameUpdateCount: EngineModule['frameUpdateCount'];
export declare const memoryBytes: EngineModule['memoryBytes'];
export declare const Placement: EngineModule['Placement'];
export declare const soulPosition: EngineModule['soulPosition'];
export declare const peerPosition: EngineModule['peerPosition'];
export declare const signMemberRecord: EngineModule['signMemberRecord'];
export declare const openMemberRecord: EngineModule['openMemberRecord'];
export declare const soulDigests: EngineModule['soulDigests'];
export declare const membersDigest: EngineModule['membersDigest'];
export declare const encodeSymbols: EngineModule['encodeSymbols'];
export declare const Reconciliation: EngineModule['Reconciliation'];
