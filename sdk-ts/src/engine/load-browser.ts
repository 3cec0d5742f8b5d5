/**
 * Loads the engine in browsers through wasm-bindgen's `bundler` target: the bundler
 * (Vite, webpack, …) resolves and instantiates the `.wasm` import. Its calls are
 * guarded against traps (trap-guard.ts).
 */
import * as bundled from '../../pkg/bundler/rustdht_core.js';
import { guardTraps } from './trap-guard.js';

const glue = guardTraps(bundled);

export const { Engine, Signer, jsonText, contentKey, encodeUpdates, joinFrames, frameUpdateCount, memoryBytes, Placement, soulPosition, peerPosition, signMemberRecord, openMemberRecord, soulDigests, membersDigest, encodeSymbols, Reconciliation } = glue;
