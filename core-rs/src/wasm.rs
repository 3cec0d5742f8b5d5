//! The only file that knows JavaScript exists: thin `#[wasm_bindgen]` shims that turn
//! JS values into engine types, call the engine once per batch, and turn engine errors
//! into JS `Error`s (name `EngineError`, with a stable `code`) in one place.
//!
//! The TypeScript types of the JSON the engine returns (report.rs) are declared here,
//! once, in `ENGINE_JSON_TYPES`: wasm-bindgen writes them into the glue's `.d.ts` and the
//! methods that return JSON text are typed `JsonText<…>` of them, so the SDK imports
//! them instead of restating them. core-rs/tests/engine_json.rs checks them against what
//! report.rs really writes.
//!
//! Exports only benchmarks use (`hamDecide`, `verifySignature`, `verifySignatures`) are
//! compiled only with the cargo feature `bench` (module `bench` below), which only the
//! benchmark's build enables (`scripts/build-wasm.mjs --bench`).

use crate::config::Config;
use crate::crypto::{self, KeyPair};
use crate::engine::{Engine as CoreEngine, LocalWrite};
use crate::error::{EngineError, WriteError};
use crate::js_json;
use crate::report;
use crate::value::Value;
use js_sys::{Array, JsString, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The engine's JSON contracts (see report.rs and docs/ARCHITECTURE.md), as wasm-bindgen
/// emits them into both glue flavours' `.d.ts`.
#[wasm_bindgen(typescript_custom_section)]
const ENGINE_JSON_TYPES: &str = r##"
/**
 * JSON text that `JSON.parse` turns into a `T`: what the engine's reports and reads
 * return (one `JSON.parse` per batch is far cheaper than building objects from Rust).
 * The brand only exists for the type checker; at run time it is a plain string.
 */
export type JsonText<T> = string & { readonly __jsonOf?: T };

/** A property's value in the engine's JSON: a link is `{"#": soul}`; numbers keep `-0`. */
export type EngineValue = null | boolean | number | string | { readonly '#': string };

/**
 * What one update of a batch did: `applied` (the graph changed), `ignored` (an exact
 * re-application, or the equal-state rule kept the current value), `historical` (older
 * than the current state), `deferred` (kept until its state is due), `rejected`.
 */
export type OutcomeKind = 'applied' | 'ignored' | 'historical' | 'deferred' | 'rejected';

/** One update's outcome; only a rejection has a stable `code` and a message. */
export type EngineOutcome =
  | { readonly o: Exclude<OutcomeKind, 'rejected'>; readonly code?: undefined; readonly msg?: undefined }
  | { readonly o: 'rejected'; readonly code: string; readonly msg: string };

/** A property that changed: `[soul, key, value, state, signer public key | null]`. */
export type EngineChange = readonly [soul: string, key: string, value: EngineValue, state: number, signer: string | null];

/**
 * The answer of `ingest`, `tick`, `restoreRecords` and `restoreDeferred`: `outcomes[i]`
 * answers the i-th update of the call (empty but for `ingest`); `changes` lists only
 * real changes, in application order.
 */
export interface BatchReport {
  readonly outcomes: readonly EngineOutcome[];
  readonly changes: readonly EngineChange[];
}

/** One property of `EngineNode`: value, state, and for a signed one its signer and signature (base64url). */
export type EngineProperty =
  | { readonly v: EngineValue; readonly s: number; readonly by?: undefined; readonly sig?: undefined }
  | { readonly v: EngineValue; readonly s: number; readonly by: string; readonly sig: string };

/** A node with its metadata, as `read` returns it (`null` when the engine does not hold it). */
export interface EngineNode {
  readonly soul: string;
  readonly props: { readonly [key: string]: EngineProperty };
}

/** The engine's settings; every field is optional (defaults in docs/ARCHITECTURE.md). */
export interface EngineConfig {
  /** 32 random bytes keying the engine's hash tables. */
  readonly hashSeed?: Uint8Array | undefined;
  readonly maxClockSkewMs?: number | undefined;
  readonly maxSoulBytes?: number | undefined;
  readonly maxKeyBytes?: number | undefined;
  readonly maxValueBytes?: number | undefined;
  readonly maxBatchUpdates?: number | undefined;
  readonly maxDeferred?: number | undefined;
  /** Bytes of deferred updates (each counted as its single-update frame). */
  readonly maxDeferredBytes?: number | undefined;
}

/** What a server says of itself in its member record: serving, or handing its souls over before it goes. */
export type MemberRole = 'server' | 'leaving';

/** The fields a server signs into its member record (`signMemberRecord`). */
export interface MemberRecordFields {
  readonly role: MemberRole;
  /** Milliseconds since the epoch: a whole number. */
  readonly issuedAt: number;
  /** Bytes of storage the server offers: a whole number. */
  readonly capacity: number;
  /** The server's multiaddrs as text: at most 16, each 1 to 256 bytes of UTF-8. */
  readonly addrs: readonly string[];
}

/**
 * A member record that opened (`openMemberRecord`): genuine, well-formed and fresh. The
 * peer id is derived from the key that signed it ("12D3KooW…"), never read from it.
 */
export interface MemberRecord extends MemberRecordFields {
  readonly peerId: string;
}
"##;

fn to_js(error: EngineError) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name("EngineError");
    let _ = Reflect::set(&js, &JsValue::from_str("code"), &JsValue::from_str(error.code()));
    js.into()
}

/// A write error names the update it is about, so the SDK can say which soul and key.
fn write_error_to_js(error: WriteError) -> JsValue {
    let js = to_js(error.error);
    if let Some(index) = error.index {
        let _ = Reflect::set(&js, &JsValue::from_str("index"), &JsValue::from_f64(index as f64));
    }
    js
}

fn code_error(code: &str, message: &str) -> JsValue {
    let js = js_sys::Error::new(message);
    js.set_name("EngineError");
    let _ = Reflect::set(&js, &JsValue::from_str("code"), &JsValue::from_str(code));
    js.into()
}

/// A JS string as Rust text, refusing lone surrogates. wasm-bindgen would replace
/// them with U+FFFD, silently altering the value; so when a U+FFFD shows up we ask
/// JavaScript whether it was really there (rare, so the common path stays cheap).
fn well_formed_string(v: &JsValue, field: &'static str) -> Result<Option<String>, EngineError> {
    let Some(s) = v.as_string() else { return Ok(None) };
    if s.contains('\u{FFFD}') {
        let js: &JsString = v.unchecked_ref();
        if !js.is_valid_utf16() {
            return Err(EngineError::IllFormedString(field));
        }
    }
    Ok(Some(s))
}

fn text(v: &JsValue, field: &'static str) -> Result<String, EngineError> {
    well_formed_string(v, field)?
        .ok_or_else(|| EngineError::ValueType(format!("the {field} ({})", describe(v))))
}

fn describe(v: &JsValue) -> String {
    if v.is_undefined() {
        "undefined".into()
    } else if Array::is_array(v) {
        "an array".into()
    } else {
        v.js_typeof().as_string().map_or_else(|| "this".into(), |t| format!("a value of type {t}"))
    }
}

fn value(v: &JsValue) -> Result<Value, EngineError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let Some(s) = well_formed_string(v, "string value")? {
        return Ok(Value::Text(s));
    }
    if let Some(x) = v.as_f64() {
        return Value::number(x);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if v.is_object() && !Array::is_array(v) {
        let soul = Reflect::get(v, &JsValue::from_str("#")).unwrap_or(JsValue::UNDEFINED);
        if let Some(soul) = well_formed_string(&soul, "link")? {
            if soul.is_empty() {
                return Err(EngineError::EmptySoul);
            }
            return Ok(Value::Link(soul));
        }
    }
    Err(EngineError::ValueType(describe(v)))
}

fn local_writes(flat: &[JsValue]) -> Result<Vec<LocalWrite>, WriteError> {
    if flat.len() % 3 != 0 {
        return Err(EngineError::ValueType("a write list whose length is not a multiple of 3".into()).into());
    }
    flat.chunks_exact(3)
        .enumerate()
        .map(|(i, w)| {
            let write = || Ok(LocalWrite { soul: text(&w[0], "soul")?, key: text(&w[1], "key")?, value: value(&w[2])? });
            write().map_err(WriteError::at(i))
        })
        .collect()
}

fn parse_config(js: &JsValue) -> Result<Config, EngineError> {
    let mut config = Config::default();
    if js.is_undefined() || js.is_null() {
        return Ok(config);
    }
    let field = |name: &str| -> Result<Option<f64>, EngineError> {
        let v = Reflect::get(js, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        if v.is_undefined() {
            return Ok(None);
        }
        v.as_f64().map(Some).ok_or_else(|| EngineError::InvalidConfig(format!("{name} must be a number")))
    };
    let count = |name: &str, x: f64| -> Result<usize, EngineError> {
        if x.fract() == 0.0 && x >= 0.0 && x <= u32::MAX as f64 {
            Ok(x as usize)
        } else {
            Err(EngineError::InvalidConfig(format!("{name} must be a whole number, got {x}")))
        }
    };
    let seed = Reflect::get(js, &JsValue::from_str("hashSeed")).unwrap_or(JsValue::UNDEFINED);
    if !seed.is_undefined() {
        let bytes = seed
            .dyn_ref::<js_sys::Uint8Array>()
            .map(js_sys::Uint8Array::to_vec)
            .filter(|b| b.len() == 32)
            .ok_or_else(|| EngineError::InvalidConfig("hashSeed must be a Uint8Array of 32 random bytes".into()))?;
        for (slot, chunk) in config.hash_seed.iter_mut().zip(bytes.chunks_exact(8)) {
            *slot = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        }
    }
    if let Some(x) = field("maxClockSkewMs")? {
        config.max_clock_skew_ms = x;
    }
    for (name, slot) in [
        ("maxSoulBytes", &mut config.max_soul_bytes),
        ("maxKeyBytes", &mut config.max_key_bytes),
        ("maxValueBytes", &mut config.max_value_bytes),
        ("maxBatchUpdates", &mut config.max_batch_updates),
        ("maxDeferred", &mut config.max_deferred),
        ("maxDeferredBytes", &mut config.max_deferred_bytes),
    ] {
        if let Some(x) = field(name)? {
            *slot = count(name, x)?;
        }
    }
    Ok(config)
}

#[wasm_bindgen]
pub struct Engine {
    inner: CoreEngine,
}

#[wasm_bindgen]
impl Engine {
    /// `config`: undefined, null, or an `EngineConfig`. Typed `any` on purpose: callers in
    /// plain JavaScript pass anything, and anything else is refused (`config/invalid`).
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> Result<Engine, JsValue> {
        let inner = CoreEngine::new(parse_config(&config).map_err(to_js)?).map_err(to_js)?;
        Ok(Engine { inner })
    }

    /// Local writes given as the JSON text of the flat list (see `write_list`): the
    /// fast path. Returns the state stamped on each write, NaN where it changed
    /// nothing; the shell already knows souls, keys, values and signer, so nothing
    /// else needs to come back. Refusals throw, all or nothing, as `write` does.
    #[wasm_bindgen(js_name = writeList)]
    pub fn write_list(&mut self, json: &str, now: f64) -> Result<Vec<f64>, JsValue> {
        self.write_list_with(json, now, None)
    }

    #[wasm_bindgen(js_name = writeListSigned)]
    pub fn write_list_signed(&mut self, json: &str, now: f64, signer: &Signer) -> Result<Vec<f64>, JsValue> {
        self.write_list_with(json, now, Some(&signer.pair))
    }

    fn write_list_with(&mut self, json: &str, now: f64, signer: Option<&KeyPair>) -> Result<Vec<f64>, JsValue> {
        let writes = crate::write_list::parse(json).map_err(write_error_to_js)?;
        let outcomes = self.inner.write(writes, now, signer).map_err(write_error_to_js)?;
        let mut changes = self.inner.last_changes().iter();
        Ok(outcomes
            .iter()
            .map(|o| match o {
                crate::engine::Outcome::Applied => changes.next().map_or(f64::NAN, |u| u.state),
                _ => f64::NAN,
            })
            .collect())
    }

    /// Incoming frame: decode → verify → validate → merge, one call per batch.
    #[wasm_bindgen(unchecked_return_type = "JsonText<BatchReport>")]
    pub fn ingest(&mut self, frame: &[u8], now: f64) -> Result<String, JsValue> {
        let outcomes = self.inner.ingest(frame, now).map_err(to_js)?;
        Ok(report::batch_report(&outcomes, self.inner.last_changes()))
    }

    /// Decodes an incoming frame once (DecodeError-style codes as `ingest`): its souls
    /// now, its merge later with `ingestPrepared`, so a frame is decoded once per hop.
    pub fn prepare(&self, frame: &[u8]) -> Result<PreparedFrame, JsValue> {
        Ok(PreparedFrame { inner: Some(self.inner.prepare(frame).map_err(to_js)?) })
    }

    /// Merges a prepared frame, as `ingest` would the frame; the prepared frame is used up.
    #[wasm_bindgen(js_name = ingestPrepared, unchecked_return_type = "JsonText<BatchReport>")]
    pub fn ingest_prepared(&mut self, prepared: &mut PreparedFrame, now: f64) -> Result<String, JsValue> {
        let Some(inner) = prepared.inner.take() else {
            return Err(code_error("engine/used", "ingestPrepared: this prepared frame was already ingested"));
        };
        let outcomes = self.inner.ingest_prepared(inner, now);
        Ok(report::batch_report(&outcomes, self.inner.last_changes()))
    }

    /// Checks a prepared frame without merging it (signatures, namespace, clock; see
    /// engine.rs `check_prepared`): the outcomes `ingestPrepared` would give against no held
    /// state, no changes. The prepared frame stays usable.
    #[wasm_bindgen(js_name = checkPrepared, unchecked_return_type = "JsonText<BatchReport>")]
    pub fn check_prepared(&mut self, prepared: &PreparedFrame, now: f64) -> Result<String, JsValue> {
        let Some(inner) = prepared.inner.as_ref() else {
            return Err(code_error("engine/used", "checkPrepared: this prepared frame was already ingested"));
        };
        let outcomes = self.inner.check_prepared(inner, now);
        Ok(report::batch_report(&outcomes, &[]))
    }

    /// Applies deferred updates whose time has come.
    #[wasm_bindgen(unchecked_return_type = "JsonText<BatchReport>")]
    pub fn tick(&mut self, now: f64) -> String {
        self.inner.tick(now);
        report::batch_report(&[], self.inner.last_changes())
    }

    #[wasm_bindgen(js_name = nextDeferredAt)]
    pub fn next_deferred_at(&self) -> Option<f64> {
        self.inner.next_deferred_at()
    }

    #[wasm_bindgen(js_name = deferredCount)]
    pub fn deferred_count(&self) -> usize {
        self.inner.deferred_count()
    }

    /// The last call's changes as a frame, to persist or announce.
    #[wasm_bindgen(js_name = lastChangesFrame)]
    pub fn last_changes_frame(&self) -> Vec<u8> {
        crate::codec::encode(self.inner.last_changes())
    }

    /// The last call's changes, one single-update frame each, in the order of the
    /// report's `changes`: the values of per-property store records.
    #[wasm_bindgen(js_name = lastChangeRecords, unchecked_return_type = "Uint8Array[]")]
    pub fn last_change_records(&self) -> Array {
        self.inner
            .last_changes()
            .iter()
            .map(|u| JsValue::from(js_sys::Uint8Array::from(crate::codec::encode(std::slice::from_ref(u)).as_slice())))
            .collect()
    }

    /// How the last call changed the deferred queue, for a store that keeps one record per
    /// deferred update: `[id, frame, id, frame, …]`, where `id` (24 bytes: the state as
    /// f64 big-endian, then a digest of the update) names the record and `frame` is the
    /// update's single-update frame when it joined the queue, empty when it left.
    #[wasm_bindgen(js_name = lastDeferredRecords, unchecked_return_type = "Uint8Array[]")]
    pub fn last_deferred_records(&self) -> Array {
        deferred_records_array(self.inner.last_deferred_records())
    }

    /// Every deferred update as `[id, frame, …]` (as `lastDeferredRecords`): to store the
    /// queue one record per update when converting a store that kept it as one frame.
    #[wasm_bindgen(js_name = deferredRecords, unchecked_return_type = "Uint8Array[]")]
    pub fn deferred_records(&self) -> Array {
        deferred_records_array(self.inner.deferred_records())
    }

    /// Puts back deferred updates from their stored records (the frames of
    /// `lastDeferredRecords`), whatever their state and the bounds; nothing is applied
    /// (the next `tick` applies the due ones, after `soulsDue` souls are loaded).
    /// Returns how many joined the queue.
    #[wasm_bindgen(js_name = restoreDeferredRecords)]
    pub fn restore_deferred_records(&mut self, records: Vec<js_sys::Uint8Array>) -> Result<usize, JsValue> {
        let owned: Vec<Vec<u8>> = records.iter().map(js_sys::Uint8Array::to_vec).collect();
        let frames: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        self.inner.restore_deferred_records(&frames).map_err(to_js)
    }

    /// The souls of the deferred updates `tick(now)` would apply (load them first).
    #[wasm_bindgen(js_name = soulsDue)]
    pub fn souls_due(&self, now: f64) -> Vec<String> {
        self.inner.souls_due(now)
    }

    /// Bytes the deferred updates are counted for (bounded by `maxDeferredBytes`).
    #[wasm_bindgen(js_name = deferredBytes)]
    pub fn deferred_bytes(&self) -> usize {
        self.inner.deferred_bytes()
    }

    /// Every deferred update as one frame; `ingest` it after a restart to defer them again.
    #[wasm_bindgen(js_name = deferredFrame)]
    pub fn deferred_frame(&self) -> Vec<u8> {
        let updates: Vec<_> = self.inner.deferred_updates().cloned().collect();
        crate::codec::encode(&updates)
    }

    /// Loads records from this peer's own store (single-update frames, many in one call;
    /// trusted: see `Engine::restore_frames`). The report's changes are the properties
    /// that changed.
    #[wasm_bindgen(js_name = restoreRecords, unchecked_return_type = "JsonText<BatchReport>")]
    pub fn restore_records(&mut self, records: Vec<js_sys::Uint8Array>) -> Result<String, JsValue> {
        let owned: Vec<Vec<u8>> = records.iter().map(js_sys::Uint8Array::to_vec).collect();
        let frames: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        self.inner.restore_frames(&frames).map_err(to_js)?;
        Ok(report::batch_report(&[], self.inner.last_changes()))
    }

    /// Puts back a saved `deferredFrame()`: deferred again, or applied if due
    /// (those are the report's changes).
    #[wasm_bindgen(js_name = restoreDeferred, unchecked_return_type = "JsonText<BatchReport>")]
    pub fn restore_deferred(&mut self, frame: &[u8], now: f64) -> Result<String, JsValue> {
        self.inner.restore_deferred(frame, now).map_err(to_js)?;
        Ok(report::batch_report(&[], self.inner.last_changes()))
    }

    #[wasm_bindgen(js_name = restoreClock)]
    pub fn restore_clock(&mut self, last: f64) {
        self.inner.restore_clock(last)
    }

    /// The public key whose protected `~` space `soul` is in, or undefined (namespace.rs).
    #[wasm_bindgen(js_name = spaceOwner)]
    pub fn space_owner(&self, soul: &str) -> Option<String> {
        crate::namespace::space_owner(soul).map(str::to_owned)
    }

    /// The distinct souls a frame touches (decoding only).
    #[wasm_bindgen(js_name = soulsOf)]
    pub fn souls_of(&self, frame: &[u8]) -> Result<Vec<String>, JsValue> {
        self.inner.souls_of(frame).map_err(to_js)
    }

    /// A node's properties (all, or only `keys`) as a frame, signatures included.
    #[wasm_bindgen(js_name = nodeFrame)]
    pub fn node_frame(&self, soul: &str, keys: Option<Vec<String>>) -> Vec<u8> {
        crate::codec::encode(&self.inner.node_updates(soul, keys.as_deref()))
    }

    /// Anti-entropy digests (digest.rs) of souls held in memory, from their nodes
    /// (Engine::resident_digests): 13 bytes per soul, a flag (1: computed here; 0: no node
    /// or no property, read it from the store) then the 12-byte digest (zeros after a 0).
    #[wasm_bindgen(js_name = residentDigests)]
    pub fn resident_digests(&self, souls: Vec<String>) -> Vec<u8> {
        let mut out = Vec::with_capacity(souls.len() * (1 + crate::digest::ITEM_LEN));
        for digest in self.inner.resident_digests(&souls) {
            match digest {
                Some(item) => {
                    out.push(1);
                    out.extend_from_slice(&item);
                }
                None => out.extend_from_slice(&[0; 1 + crate::digest::ITEM_LEN]),
            }
        }
        out
    }

    /// One part of a node, for replies that must fit a peer's limits (node_parts.rs):
    /// the properties after key `after` (from the first when undefined), at most
    /// `maxUpdates` looked at, the frame within `partBytes` (soft) and `maxBytes` (hard,
    /// skipped keys included); `next` is the cursor of the following part (undefined:
    /// this was the last), `skipped` the keys of properties too large for `maxBytes`.
    #[wasm_bindgen(js_name = nodeFramePart, unchecked_return_type = "[frame: Uint8Array, next: string | undefined, skipped: string[]]")]
    pub fn node_frame_part(&self, soul: &str, after: Option<String>, part_bytes: u32, max_bytes: u32, max_updates: u32) -> Array {
        let limits = crate::node_parts::PartLimits {
            part_bytes: part_bytes as usize,
            max_bytes: max_bytes as usize,
            max_updates: max_updates as usize,
        };
        let part = crate::node_parts::node_part(soul, self.inner.node(soul), after.as_deref(), limits);
        let skipped: Array = part.skipped.iter().map(|key| JsValue::from_str(key)).collect();
        let next = part.next.map_or(JsValue::UNDEFINED, |key| JsValue::from_str(&key));
        Array::of3(&js_sys::Uint8Array::from(part.frame.as_slice()).into(), &next, &skipped.into())
    }

    /// Drops a node from memory; true when it was there.
    pub fn evict(&mut self, soul: &str) -> bool {
        self.inner.evict(soul)
    }

    /// A node with its metadata as JSON text (`null` when unknown); with `keys`, only
    /// those of its properties.
    #[wasm_bindgen(unchecked_return_type = "JsonText<EngineNode | null>")]
    pub fn read(&self, soul: &str, keys: Option<Vec<String>>) -> String {
        report::node_json(soul, self.inner.node(soul), keys.as_deref())
    }

    pub fn clock(&self) -> f64 {
        self.inner.clock()
    }

    #[wasm_bindgen(js_name = nodeCount)]
    pub fn node_count(&self) -> usize {
        self.inner.graph().node_count()
    }

    #[wasm_bindgen(js_name = propertyCount)]
    pub fn property_count(&self) -> usize {
        self.inner.graph().property_count()
    }
}

/// `[id, frame-or-empty, …]` of deferred-queue records (see `lastDeferredRecords`).
fn deferred_records_array(records: Vec<crate::engine::DeferredRecord>) -> Array {
    let out = Array::new();
    for record in records {
        out.push(&js_sys::Uint8Array::from(&record.id[..]).into());
        out.push(&js_sys::Uint8Array::from(record.frame.as_deref().unwrap_or(&[])).into());
    }
    out
}

/// An Ed25519 key pair kept inside the engine; the seed comes from the shell.
/// A frame decoded by `Engine.prepare`, waiting for `Engine.ingestPrepared`.
#[wasm_bindgen]
pub struct PreparedFrame {
    inner: Option<crate::engine::Prepared>,
}

#[wasm_bindgen]
impl PreparedFrame {
    /// The distinct souls the frame touches, in first-seen order (empty once ingested).
    pub fn souls(&self) -> Vec<String> {
        self.inner.as_ref().map(|p| p.souls().to_vec()).unwrap_or_default()
    }
}

#[wasm_bindgen]
pub struct Signer {
    pair: KeyPair,
}

#[wasm_bindgen]
impl Signer {
    #[wasm_bindgen(js_name = fromSeed)]
    pub fn from_seed(seed: &[u8]) -> Result<Signer, JsValue> {
        let seed: &[u8; 32] = seed
            .try_into()
            .map_err(|_| code_error("key/seed", "an Ed25519 seed is exactly 32 random bytes"))?;
        Ok(Signer { pair: KeyPair::from_seed(seed) })
    }

    /// base64url, 43 characters.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> String {
        crypto::encode_public_key(self.pair.public_key())
    }

}

/// Encodes unsigned updates with the given states into a frame (tests, tools, import):
/// `flat` as for `Engine.write`, `states[i]` for the i-th update.
#[wasm_bindgen(js_name = encodeUpdates)]
pub fn encode_updates(flat: Vec<JsValue>, states: &[f64]) -> Result<Vec<u8>, JsValue> {
    let writes = local_writes(&flat).map_err(write_error_to_js)?;
    if writes.len() != states.len() {
        return Err(code_error("value/type", "encodeUpdates: one state per update is needed"));
    }
    let mut updates = Vec::with_capacity(writes.len());
    for (w, state) in writes.into_iter().zip(states) {
        if !state.is_finite() {
            return Err(to_js(EngineError::NonFiniteNumber));
        }
        updates.push(crate::update::Update { soul: w.soul, key: w.key, value: w.value, state: *state, signed: None });
    }
    Ok(crate::codec::encode(&updates))
}

/// `[frame, taken]`: one frame with the updates of the first `taken` of `frames`, as many
/// as fit in `maxUpdates` (see codec::join). Many local writes go to a peer as one batch,
/// verified and merged in one engine call there; one call here per batch.
#[wasm_bindgen(js_name = joinFrames, unchecked_return_type = "[frame: Uint8Array, taken: number]")]
pub fn join_frames(frames: Vec<js_sys::Uint8Array>, max_updates: u32) -> Result<js_sys::Array, JsValue> {
    let owned: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    let slices: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    let (frame, taken) = crate::codec::join(&slices, max_updates).map_err(to_js)?;
    Ok(js_sys::Array::of2(&js_sys::Uint8Array::from(frame.as_slice()).into(), &JsValue::from(taken as u32)))
}

/// How many updates `frame` carries (its header's count; the updates are not decoded): a
/// sender that joined several souls' parts into one PUT maps the ACK's outcomes, one per
/// update in order, back to the souls.
#[wasm_bindgen(js_name = frameUpdateCount)]
pub fn frame_update_count(frame: &[u8]) -> Result<u32, JsValue> {
    crate::codec::update_count(frame).map_err(to_js)
}

/// Bytes of WebAssembly linear memory the engine's module holds (all engines of the
/// process share it; it grows and never shrinks): what /health reports of the engine.
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    crate::wasm_memory::linear_memory_bytes() as f64
}

/// Which servers own which souls (placement.rs): built from the member list (peer ids
/// as multihash bytes) and the replica count, then asked per batch.
#[wasm_bindgen]
pub struct Placement {
    inner: crate::placement::Placement,
    /// The last `routeFrame`'s distinct souls and their owners (`routedSouls`, `routedOwners`).
    routed_souls: Vec<String>,
    routed_owners: Vec<u32>,
}

#[wasm_bindgen]
impl Placement {
    /// `members`: each server's libp2p peer id as multihash bytes (`peerId.toMultihash().bytes`),
    /// no two alike; `replicas`: owners per soul, a whole number ≥ 1; `config`: the limits
    /// of the engine that will ingest routed frames (an `EngineConfig`, as `new Engine`
    /// takes), so `routeFrame` refuses what its `ingest` would.
    #[wasm_bindgen(constructor)]
    pub fn new(
        members: Vec<js_sys::Uint8Array>,
        replicas: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "EngineConfig | null")] config: JsValue,
    ) -> Result<Placement, JsValue> {
        if !(replicas.fract() == 0.0 && replicas >= 1.0) {
            return Err(to_js(EngineError::Placement(crate::error::PlacementError::Invalid(format!(
                "replicas must be a whole number ≥ 1, got {replicas}"
            )))));
        }
        let members = members.iter().map(js_sys::Uint8Array::to_vec).collect();
        let limits = parse_config(&config).map_err(to_js)?;
        // Anything above the member count owns every member: clamp before converting.
        let replicas = replicas.min(u32::MAX as f64) as usize;
        let inner = crate::placement::Placement::with_limits(members, replicas, limits).map_err(to_js)?;
        Ok(Placement { inner, routed_souls: Vec::new(), routed_owners: Vec::new() })
    }

    /// How many members there are.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.inner.size()
    }

    /// Owners per soul: the replicas asked for, or every member when there are fewer.
    #[wasm_bindgen(getter)]
    pub fn replicas(&self) -> usize {
        self.inner.replicas()
    }

    /// The owners of each soul as member indices, closest first, flat: those of
    /// `souls[i]` at `[i * replicas, (i + 1) * replicas)`. One call per batch of souls.
    pub fn owners(&self, souls: Vec<JsString>) -> Result<Vec<u32>, JsValue> {
        let souls = souls.iter().map(|s| text(s.as_ref(), "soul")).collect::<Result<Vec<_>, _>>().map_err(to_js)?;
        Ok(self.inner.owners_of(&souls))
    }

    /// The members (indices) member `member` keeps a connection to in a network too large
    /// for a full mesh: the `perBucket` closest of each Kademlia bucket around it, farthest
    /// bucket first (placement.rs `neighbours`). Empty for an index out of range.
    pub fn neighbours(&self, member: u32, per_bucket: u32) -> Vec<u32> {
        self.inner.neighbours(member as usize, per_bucket as usize)
    }

    /// Per member index, a frame of exactly the updates whose soul it owns (bytes
    /// unchanged, signatures included), undefined when it owns none; decoded once, with
    /// `ingest`'s errors for a malformed frame. The frame's distinct souls and their
    /// owners are then `routedSouls()` and `routedOwners()`.
    #[wasm_bindgen(js_name = routeFrame, unchecked_return_type = "(Uint8Array | undefined)[]")]
    pub fn route_frame(&mut self, frame: &[u8]) -> Result<Array, JsValue> {
        let routed = self.inner.route_frame(frame).map_err(to_js)?;
        self.routed_souls = routed.souls;
        self.routed_owners = routed.owners;
        Ok(routed
            .frames
            .iter()
            .map(|f| f.as_deref().map_or(JsValue::UNDEFINED, |f| js_sys::Uint8Array::from(f).into()))
            .collect())
    }

    /// The distinct souls of the last routed frame, in first-seen order.
    #[wasm_bindgen(js_name = routedSouls)]
    pub fn routed_souls(&self) -> Vec<String> {
        self.routed_souls.clone()
    }

    /// The owners of the last routed frame's souls, flat as `owners` gives them: what a
    /// coordinator counts acknowledgements against without decoding the frame again.
    #[wasm_bindgen(js_name = routedOwners)]
    pub fn routed_owners(&self) -> Vec<u32> {
        self.routed_owners.clone()
    }
}

/// A soul's position in the key space: SHA-256 of its UTF-8 bytes (32 bytes).
#[wasm_bindgen(js_name = soulPosition)]
pub fn soul_position(soul: JsString) -> Result<Vec<u8>, JsValue> {
    let soul = text(soul.as_ref(), "soul").map_err(to_js)?;
    Ok(crate::placement::soul_position(&soul).to_vec())
}

/// A server's position: SHA-256 of its peer id's multihash bytes, as kad-dht derives it.
#[wasm_bindgen(js_name = peerPosition)]
pub fn peer_position(multihash: &[u8]) -> Vec<u8> {
    crate::placement::peer_position(multihash).to_vec()
}

fn digest_error(error: crate::digest::DigestError) -> JsValue {
    code_error(error.code(), &error.to_string())
}

/// A whole number from 0 to 2^32 − 1 given as a JS number (wasm-bindgen's own u32
/// conversion would wrap -1 or 2^32 + 5 silently).
fn whole(x: f64, name: &str) -> Result<u32, JsValue> {
    if x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x) {
        Ok(x as u32)
    } else {
        Err(code_error("digest/invalid", &format!("{name} must be a whole number from 0 to 2^32 - 1, got {x}")))
    }
}

/// Soul digests for anti-entropy (digest.rs), 12 bytes per soul, concatenated: the
/// records of `souls[i]` are the next `counts[i]` of `records` (its stored "P" values,
/// in any order). One call per batch of souls.
#[wasm_bindgen(js_name = soulDigests)]
pub fn soul_digests(souls: Vec<JsString>, records: Vec<js_sys::Uint8Array>, counts: &[u32]) -> Result<Vec<u8>, JsValue> {
    if counts.len() != souls.len() || counts.iter().map(|c| *c as usize).sum::<usize>() != records.len() {
        return Err(code_error("digest/invalid", "soulDigests: one count per soul, adding up to the number of records"));
    }
    let mut out = Vec::with_capacity(souls.len() * crate::digest::ITEM_LEN);
    let mut at = 0;
    for (soul, count) in souls.iter().zip(counts) {
        let soul = text(soul.as_ref(), "soul").map_err(to_js)?;
        let own: Vec<Vec<u8>> = records[at..at + *count as usize].iter().map(js_sys::Uint8Array::to_vec).collect();
        at += *count as usize;
        out.extend_from_slice(&crate::digest::soul_digest(&soul, own.iter().map(Vec::as_slice)));
    }
    Ok(out)
}

/// 8 bytes that differ when member lists (peer ids as multihash bytes, any order) or
/// replica counts do: owners compare views before comparing souls.
#[wasm_bindgen(js_name = membersDigest)]
pub fn members_digest(members: Vec<js_sys::Uint8Array>, replicas: f64) -> Result<Vec<u8>, JsValue> {
    let members: Vec<Vec<u8>> = members.iter().map(js_sys::Uint8Array::to_vec).collect();
    Ok(crate::digest::members_digest(&members, whole(replicas, "replicas")?).to_vec())
}

/// Coded symbols `start..end` of a set of soul digests (`items`, 12 bytes each) within
/// the range of the first `bits` position bits equal to `prefix`, under an 8-byte `salt`:
/// what a server answers a DIGEST with. Bounded: at most 8,192 symbols a call, indices
/// below 2^18 (`digest/too-large`).
#[wasm_bindgen(js_name = encodeSymbols)]
pub fn encode_symbols(items: &[u8], salt: &[u8], bits: f64, prefix: f64, start: f64, end: f64) -> Result<Vec<u8>, JsValue> {
    let range = crate::digest::Range::new(whole(bits, "bits")?, whole(prefix, "prefix")?).map_err(digest_error)?;
    let (start, end) = (whole(start, "start")? as usize, whole(end, "end")? as usize);
    crate::digest::encode_symbols(items, salt, range, start, end).map_err(digest_error)
}

/// The asking side of an anti-entropy round (digest.rs): its own soul digests, the other
/// side's symbols as they arrive, and, once decoded, which souls differ.
#[wasm_bindgen]
pub struct Reconciliation {
    inner: crate::digest::Reconciliation,
}

#[wasm_bindgen]
impl Reconciliation {
    /// `items`: this side's soul digests (12 bytes each); those outside the range of
    /// `bits`/`prefix` are left out. `salt`: the round's 8 random bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(items: &[u8], salt: &[u8], bits: f64, prefix: f64) -> Result<Reconciliation, JsValue> {
        let range = crate::digest::Range::new(whole(bits, "bits")?, whole(prefix, "prefix")?).map_err(digest_error)?;
        Ok(Reconciliation { inner: crate::digest::Reconciliation::new(items, salt, range).map_err(digest_error)? })
    }

    /// The other side's next `count` symbols (from index `received`); true once decoded.
    /// A refused batch (`digest/malformed`, `digest/too-large`, `digest/undecodable`)
    /// ends the round.
    pub fn add(&mut self, symbols: &[u8], count: f64) -> Result<bool, JsValue> {
        let count = whole(count, "count")? as usize;
        self.inner.add(symbols, count).map_err(digest_error)
    }

    /// Symbols taken so far.
    #[wasm_bindgen(getter)]
    pub fn received(&self) -> usize {
        self.inner.received()
    }

    #[wasm_bindgen(getter)]
    pub fn decoded(&self) -> bool {
        self.inner.decoded()
    }

    /// How many souls the other side has in range (from its first symbol), once known.
    #[wasm_bindgen(getter, js_name = remoteSize)]
    pub fn remote_size(&self) -> Option<f64> {
        self.inner.remote_size().map(|n| n as f64)
    }

    /// Positions, in the `items` given, of the souls only this side holds as it holds them.
    #[wasm_bindgen(js_name = localOnly)]
    pub fn local_only(&self) -> Vec<u32> {
        self.inner.local_only().to_vec()
    }

    /// Soul digests (12 bytes each, concatenated) only the other side holds.
    #[wasm_bindgen(js_name = remoteOnly)]
    pub fn remote_only(&self) -> Vec<u8> {
        self.inner.remote_only().concat()
    }
}

/// A member record of `record`, signed by the Ed25519 key of `seed` (32 bytes: the first
/// half of libp2p's raw Ed25519 private key).
#[wasm_bindgen(js_name = signMemberRecord)]
pub fn sign_member_record(
    seed: &[u8],
    #[wasm_bindgen(unchecked_param_type = "MemberRecordFields")] record: JsValue,
) -> Result<Vec<u8>, JsValue> {
    let seed: &[u8; 32] = seed
        .try_into()
        .map_err(|_| code_error("key/seed", "an Ed25519 seed is exactly 32 bytes (the first half of libp2p's raw private key)"))?;
    let fields = member_fields(&record).map_err(to_js)?;
    crate::membership::sign_member_record(seed, &fields).map_err(to_js)
}

/// Checks a member record (see membership.rs) and returns what it says, as JSON text.
#[wasm_bindgen(js_name = openMemberRecord, unchecked_return_type = "JsonText<MemberRecord>")]
pub fn open_member_record(bytes: &[u8], now: f64, max_age_ms: f64, max_skew_ms: f64) -> Result<String, JsValue> {
    let record = crate::membership::open_member_record(bytes, now, max_age_ms, max_skew_ms).map_err(to_js)?;
    Ok(record.to_json())
}

fn member_fields(js: &JsValue) -> Result<crate::membership::MemberFields, EngineError> {
    use crate::error::MemberError;
    let bad = |why: String| EngineError::Member(MemberError::Malformed(why));
    if !js.is_object() {
        return Err(bad(format!("the record must be an object, got {}", describe(js))));
    }
    let get = |name: &str| Reflect::get(js, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
    let role = get("role")
        .as_string()
        .and_then(|r| crate::membership::Role::from_name(&r))
        .ok_or_else(|| bad("role must be 'server' or 'leaving'".into()))?;
    let integer = |name: &str| -> Result<u64, EngineError> {
        match get(name).as_f64() {
            Some(x) if x.fract() == 0.0 && x >= 0.0 && x <= crate::membership::MAX_SAFE_INTEGER as f64 => Ok(x as u64),
            _ => Err(bad(format!("{name} must be a whole number from 0 to 2^53 - 1"))),
        }
    };
    let issued_at = integer("issuedAt")?;
    let capacity = integer("capacity")?;
    let addrs = get("addrs");
    if !Array::is_array(&addrs) {
        return Err(bad("addrs must be an array of strings".into()));
    }
    let addrs = Array::from(&addrs)
        .iter()
        .map(|a| well_formed_string(&a, "address")?.ok_or_else(|| bad("addrs must be an array of strings".into())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::membership::MemberFields { role, issued_at, capacity, addrs })
}

/// `JSON.stringify(value)` as the engine computes it.
#[wasm_bindgen(js_name = jsonText)]
pub fn json_text(v: JsValue) -> Result<String, JsValue> {
    Ok(js_json::value_text(&value(&v).map_err(to_js)?))
}

/// The key `value` must have in `#`-space.
#[wasm_bindgen(js_name = contentKey)]
pub fn content_key(v: JsValue) -> Result<String, JsValue> {
    Ok(crypto::content_key(&value(&v).map_err(to_js)?))
}

/// Exports only the benchmarks call (scripts/bench/, rows 3 and 4b), compiled with the
/// cargo feature `bench`: `node scripts/build-wasm.mjs --bench` builds them into a
/// separate glue (target/wasm-bench/pkg/) that the package never ships. The SDK verifies
/// signatures and merges inside `Engine` calls, one per batch.
#[cfg(feature = "bench")]
mod bench {
    use super::{code_error, to_js, value};
    use crate::config::Config;
    use crate::crypto::{Signed, Verifier};
    use crate::ham;
    use std::cell::RefCell;
    use wasm_bindgen::prelude::*;

    thread_local! {
        /// Keeps decompressed public keys across calls, as an Engine does.
        static VERIFIER: RefCell<Verifier> = RefCell::new(Verifier::default());
    }

    fn signed(public_key: &[u8], signature: &[u8]) -> Option<Signed> {
        Some(Signed { signer: public_key.try_into().ok()?, signature: signature.try_into().ok()? })
    }

    /// One signature per call (the boundary cost per signature).
    #[wasm_bindgen(js_name = verifySignature)]
    pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let Some(s) = signed(public_key, signature) else { return false };
        VERIFIER.with(|v| v.borrow_mut().verify(message, &s))
    }

    /// Batch verification, as `Engine.ingest` does it: `public_keys` and `signatures`
    /// concatenated (32 and 64 bytes each), `messages` concatenated with `lengths` giving
    /// each one's length. True when every signature is valid.
    #[wasm_bindgen(js_name = verifySignatures)]
    pub fn verify_signatures(public_keys: &[u8], messages: &[u8], lengths: &[u32], signatures: &[u8]) -> Result<bool, JsValue> {
        let n = lengths.len();
        let total: usize = lengths.iter().map(|l| *l as usize).sum();
        if public_keys.len() != n * 32 || signatures.len() != n * 64 || total != messages.len() {
            return Err(code_error("signature/shape", "verifySignatures: lengths of keys, messages and signatures disagree"));
        }
        let mut items = Vec::with_capacity(n);
        let mut at = 0;
        for (i, len) in lengths.iter().enumerate() {
            let s = signed(&public_keys[i * 32..(i + 1) * 32], &signatures[i * 64..(i + 1) * 64]).expect("sliced to size");
            items.push((&messages[at..at + *len as usize], s));
            at += *len as usize;
        }
        let refs: Vec<(&[u8], &Signed)> = items.iter().map(|(m, s)| (*m, s)).collect();
        Ok(VERIFIER.with(|v| v.borrow_mut().verify_many(&refs)).iter().all(|ok| *ok))
    }

    /// One HAM decision per call (the boundary cost per decision).
    /// `state_cur = -Infinity` means the property is missing.
    #[wasm_bindgen(js_name = hamDecide)]
    pub fn ham_decide(now: f64, state_in: f64, state_cur: f64, value_in: JsValue, value_cur: JsValue) -> Result<String, JsValue> {
        let incoming = value(&value_in).map_err(to_js)?;
        let current = if state_cur == f64::NEG_INFINITY { None } else { Some(value(&value_cur).map_err(to_js)?) };
        let skew = Config::default().max_clock_skew_ms;
        let version = |state, value| ham::Version { state, value, signed: None };
        let decision = ham::decide(now, skew, version(state_in, &incoming), current.as_ref().map(|v| version(state_cur, v)));
        Ok(format!("{decision:?}"))
    }
}
