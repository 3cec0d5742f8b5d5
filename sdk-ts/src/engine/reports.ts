/**
 * The engine's JSON, as the SDK reads it. The shapes are declared once, in Rust
 * (core-rs/src/wasm.rs, `ENGINE_JSON_TYPES`), and come from the glue's generated
 * declarations; core-rs/tests/engine_json.rs checks them against what the engine really
 * writes (see test/unit/engine-json.fixture.ts). Nothing here restates a shape.
 *
 * The engine answers each batch with one JSON text, parsed once per batch (one
 * `JSON.parse` beats building objects across the WebAssembly boundary property by
 * property). Methods that return JSON are typed `JsonText<T>`, so `parseJson` knows
 * what it gets.
 */
import type { BatchReport, JsonText } from '../../pkg/bundler/rustdht_core.js';

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
} from '../../pkg/bundler/rustdht_core.js';

/** The value of a JSON text the engine returned, with the type its method declares. */
export function parseJson<T>(text: JsonText<T>): T {
  return JSON.parse(text) as T;
}

/**
 * A report of `ingest`, `tick`, `restoreRecords` or `restoreDeferred` held as a plain
 * `string` (replica.ts keeps them in `string` variables); `parseJson` is the typed form.
 */
export function parseReport(json: string): BatchReport {
  return JSON.parse(json) as BatchReport;
}
