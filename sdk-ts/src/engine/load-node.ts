/**
 * Loads the engine in Node. wasm-bindgen's `nodejs` target is CommonJS that reads its
 * `.wasm` file synchronously, so `createRequire` gives a ready engine without
 * top-level await or a bundler. Its calls are guarded against traps (trap-guard.ts).
 */
import { createRequire } from 'node:module';
import type { EngineModule } from './core-types.js';
import { guardTraps } from './trap-guard.js';

const glue = guardTraps(createRequire(import.meta.url)('../../pkg/node/rustdht_core.js') as EngineModule);

export const { Engine, Signer, jsonText, contentKey, encodeUpdates, joinFrames, frameUpdateCount, memoryBytes, Placement, soulPosition, peerPosition, signMemberRecord, openMemberRecord, soulDigests, membersDigest, encodeSymbols, Reconciliation } = glue;
