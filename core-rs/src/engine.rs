//! The engine: the one place where updates enter the graph.
//!
//! Every path (a frame from the network or from storage, a local write, a deferred
//! update whose time has come) ends in [`Engine::merge`], so the rules live once.
//! Incoming batches run decode → verify signatures (one batch equation) → validate
//! (namespace) → merge, and every update gets an [`Outcome`]. The updates that
//! changed the graph are kept in `last_changes` for the shell to persist, announce and
//! turn into subscription events.

use crate::clock::HybridClock;
use crate::codec;
use crate::config::Config;
use crate::crypto::{KeyPair, Signed, Verifier};
use crate::error::{EngineError, Rejection, WriteError};
use crate::graph::{Graph, Node, Property};
use crate::ham::{self, Decision, Version};
use crate::namespace::{admit, Namespace};
use crate::update::Update;
use crate::value::Value;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The graph changed.
    Applied,
    /// Nothing changed: an exact re-application, or the equal-state rule kept the
    /// current value, or an immutable `#` property already holds it.
    Ignored,
    /// Older than the current state.
    Historical,
    /// Kept aside until `now` reaches its state.
    Deferred,
    Rejected(Rejection),
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Ignored => "ignored",
            Outcome::Historical => "historical",
            Outcome::Deferred => "deferred",
            Outcome::Rejected(_) => "rejected",
        }
    }
}

/// A property a local caller wants to write; the engine adds state and signature.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalWrite {
    pub soul: String,
    pub key: String,
    pub value: Value,
}

/// Orders deferred updates by state (then content), using the total order on floats.
/// `digest` is the first 16 bytes of the SHA-256 of the update's single-update frame: the
/// same update arriving twice is deferred once, and a store keeps it under the same key
/// across restarts (`DeferredKey::record_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DeferredKey {
    state_bits: u64,
    digest: [u8; 16],
}

/// Bytes of a deferred update's record id: its state (f64 big-endian, so ids of
/// positive states sort by due time) and its digest.
pub const DEFERRED_ID_LEN: usize = 24;

impl DeferredKey {
    fn of(update: &Update, frame: &[u8]) -> DeferredKey {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(frame);
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&hash[..16]);
        DeferredKey { state_bits: ordered_bits(update.state), digest }
    }

    fn record_id(&self) -> [u8; DEFERRED_ID_LEN] {
        let mut id = [0u8; DEFERRED_ID_LEN];
        id[..8].copy_from_slice(&unordered_state(self.state_bits).to_be_bytes());
        id[8..].copy_from_slice(&self.digest);
        id
    }
}

/// One update waiting for its time, and the bytes it is counted for.
struct Parked {
    update: Update,
    bytes: usize,
}

/// A change of the deferred queue made by the last call, for a store that keeps one
/// record per deferred update: its id, and its frame when it joined (None: it left).
pub struct DeferredRecord {
    pub id: [u8; DEFERRED_ID_LEN],
    pub frame: Option<Vec<u8>>,
}

fn ordered_bits(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

fn unordered_state(bits: u64) -> f64 {
    f64::from_bits(if bits >> 63 == 1 { bits & !(1 << 63) } else { !bits })
}

pub struct Engine {
    config: Config,
    graph: Graph,
    clock: HybridClock,
    verifier: Verifier,
    deferred: BTreeMap<DeferredKey, Parked>,
    /// Sum of the deferred updates' `bytes`, bounded by `max_deferred_bytes`.
    deferred_bytes: usize,
    /// While restoring this peer's own saved deferred updates: they were accepted (and
    /// acknowledged) before, so the bounds do not refuse them.
    restoring: bool,
    /// Keys that joined (true) or left (false) the deferred queue in the last call.
    last_deferred: Vec<(DeferredKey, bool)>,
    last_changes: Vec<Update>,
}

impl Engine {
    pub fn new(config: Config) -> Result<Engine, EngineError> {
        let config = config.validated()?;
        Ok(Engine {
            graph: Graph::new(config.hash_seed),
            config,
            clock: HybridClock::default(),
            verifier: Verifier::default(),
            deferred: BTreeMap::new(),
            deferred_bytes: 0,
            restoring: false,
            last_deferred: Vec::new(),
            last_changes: Vec::new(),
        })
    }

    /// Incoming bytes. A malformed frame fails as a whole and changes nothing.
    pub fn ingest(&mut self, frame: &[u8], now: f64) -> Result<Vec<Outcome>, EngineError> {
        let updates = codec::decode(frame, &self.config)?;
        Ok(self.ingest_updates(updates, now))
    }

    /// Decodes an incoming frame once, for a shell that must know its souls before it
    /// merges it (to load them from its store, or to refuse a frame touching souls it
    /// did not ask for): `ingest_prepared` then merges the same decoded updates, so a
    /// frame is decoded once per hop. Same limits and errors as `ingest`.
    pub fn prepare(&self, frame: &[u8]) -> Result<Prepared, EngineError> {
        let updates = codec::decode(frame, &self.config)?;
        let souls = distinct_souls(&updates);
        Ok(Prepared { updates, souls })
    }

    /// Merges a prepared frame (verify → validate → merge), as `ingest` would the frame.
    pub fn ingest_prepared(&mut self, prepared: Prepared, now: f64) -> Vec<Outcome> {
        self.ingest_updates(prepared.updates, now)
    }

    /// What `ingest_prepared` would answer for each update of a frame this engine checks
    /// but does not merge: signatures verified, namespace and clock checked, against no
    /// held state (a DHT coordinator that owns none of the frame's souls forwards it to
    /// their owners, who merge it). Nothing changes here. `Applied` means an owner holding
    /// nothing of it would apply it.
    pub fn check_prepared(&mut self, prepared: &Prepared, now: f64) -> Vec<Outcome> {
        let updates = &prepared.updates;
        let signatures_ok = self.verify_signatures(updates, &vec![false; updates.len()]);
        let now = self.horizon(now);
        updates
            .iter()
            .zip(signatures_ok)
            .map(|(update, signature_ok)| {
                if !signature_ok {
                    return Outcome::Rejected(Rejection::SignatureInvalid);
                }
                let signer = update.signed.as_ref().map(|s| &s.signer);
                if let Err(rejection) = admit(&update.soul, &update.key, &update.value, signer) {
                    return Outcome::Rejected(rejection);
                }
                let incoming = Version { state: update.state, value: &update.value, signed: update.signed.as_ref() };
                match ham::decide(now, self.config.max_clock_skew_ms, incoming, None) {
                    Decision::TooFarAhead => Outcome::Rejected(Rejection::TooFarAhead),
                    Decision::Defer => Outcome::Deferred,
                    Decision::Historical => Outcome::Historical,
                    Decision::KeepCurrent => Outcome::Ignored,
                    Decision::Incoming => Outcome::Applied,
                }
            })
            .collect()
    }

    /// Already-decoded incoming updates: verify → validate → merge. A signed update the
    /// graph holds exactly (same state, value, signer and signature) is `Ignored` without
    /// verifying it again: it was verified when it was applied, and changes nothing. Owners
    /// receive most updates more than once (a coordinator's PUT, its feed, repair pushes),
    /// and the signature check is most of what a no-op costs.
    pub fn ingest_updates(&mut self, updates: Vec<Update>, now: f64) -> Vec<Outcome> {
        self.last_changes.clear();
        self.last_deferred.clear();
        let held: Vec<bool> = updates.iter().map(|u| u.signed.is_some() && self.holds_exactly(u)).collect();
        let signatures_ok = self.verify_signatures(&updates, &held);
        let mut outcomes = Vec::with_capacity(updates.len());
        for ((update, signature_ok), held) in updates.into_iter().zip(signatures_ok).zip(held) {
            if held {
                outcomes.push(Outcome::Ignored);
                continue;
            }
            if !signature_ok {
                outcomes.push(Outcome::Rejected(Rejection::SignatureInvalid));
                continue;
            }
            let signer = update.signed.as_ref().map(|s| &s.signer);
            let outcome = match admit(&update.soul, &update.key, &update.value, signer) {
                Ok(namespace) => self.merge(update, namespace, now),
                Err(rejection) => Outcome::Rejected(rejection),
            };
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Whether the graph holds `update` exactly: same state, same value (a number bit for
    /// bit: `-0` is not `0`), same signer and signature.
    fn holds_exactly(&self, update: &Update) -> bool {
        let Some(held) = self.graph.property(&update.soul, &update.key) else { return false };
        let same_value = match (&held.value, &update.value) {
            (Value::Number(a), Value::Number(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        };
        held.state.to_bits() == update.state.to_bits() && same_value && held.signed.as_deref() == update.signed.as_ref()
    }

    /// `true` for unsigned updates, for those marked `skip` (held exactly: not checked
    /// again), and for signed ones whose signature verifies.
    fn verify_signatures(&mut self, updates: &[Update], skip: &[bool]) -> Vec<bool> {
        let signed: Vec<(usize, Vec<u8>)> = updates
            .iter()
            .enumerate()
            .filter(|(i, u)| u.signed.is_some() && !skip[*i])
            .map(|(i, u)| (i, u.message()))
            .collect();
        let mut ok = vec![true; updates.len()];
        if signed.is_empty() {
            return ok;
        }
        let items: Vec<(&[u8], &Signed)> = signed
            .iter()
            .map(|(i, message)| (message.as_slice(), updates[*i].signed.as_ref().expect("filtered")))
            .collect();
        for ((i, _), valid) in signed.iter().zip(self.verifier.verify_many(&items)) {
            ok[*i] = valid;
        }
        ok
    }

    /// Local writes, all or nothing: every write is checked (sizes, namespace, the
    /// signer's right to the soul) before any is stamped, signed or applied.
    pub fn write(
        &mut self,
        writes: Vec<LocalWrite>,
        now: f64,
        signer: Option<&KeyPair>,
    ) -> Result<Vec<Outcome>, WriteError> {
        self.config.check_batch(writes.len())?;
        let signer_key = signer.map(KeyPair::public_key);
        let mut namespaces = Vec::with_capacity(writes.len());
        for (i, w) in writes.iter().enumerate() {
            self.config.check_sizes(&w.soul, &w.key, &w.value).map_err(WriteError::at(i))?;
            let admitted = admit(&w.soul, &w.key, &w.value, signer_key).map_err(EngineError::Rejected);
            namespaces.push(admitted.map_err(WriteError::at(i))?);
        }
        self.last_changes.clear();
        self.last_deferred.clear();
        let mut outcomes = Vec::with_capacity(writes.len());
        for (w, namespace) in writes.into_iter().zip(namespaces) {
            let state = self.clock.issue(now);
            let signed = signer.map(|pair| {
                let message = crate::crypto::update_message(&w.soul, &w.key, &w.value, state);
                Signed { signer: *pair.public_key(), signature: pair.sign(&message) }
            });
            let update = Update { soul: w.soul, key: w.key, value: w.value, state, signed };
            outcomes.push(self.merge(update, namespace, now));
        }
        Ok(outcomes)
    }

    /// Applies deferred updates whose time has come; returns how many changed the graph
    /// (they are in `last_changes`).
    pub fn tick(&mut self, now: f64) -> usize {
        self.last_changes.clear();
        self.last_deferred.clear();
        let horizon = self.horizon(now);
        while let Some(entry) = self.deferred.first_entry() {
            if ham::is_future(entry.get().update.state, horizon) {
                break;
            }
            let key = *entry.key();
            let Parked { update, bytes } = entry.remove();
            self.deferred_bytes -= bytes;
            self.last_deferred.push((key, false));
            // Admitted when it arrived; the namespace is looked up again only to know
            // whether the soul is immutable.
            let namespace = Namespace::of(&update.soul).unwrap_or(Namespace::Public);
            self.merge(update, namespace, now);
        }
        self.last_changes.len()
    }

    /// What "now" means for deferral: the wall clock, or our own clock when it has run
    /// ahead (many writes in one millisecond): states we issued or applied are never
    /// the future. The clock only moves past states that were not in the future, so no
    /// peer can push this horizon forward.
    fn horizon(&self, now: f64) -> f64 {
        now.max(self.clock.last())
    }

    /// The single merge point.
    fn merge(&mut self, update: Update, namespace: Namespace, now: f64) -> Outcome {
        let now = self.horizon(now);
        let current = self.graph.property(&update.soul, &update.key);
        if namespace.is_immutable() && current.is_some() {
            return Outcome::Ignored;
        }
        // Every property is a HAM register today. Another CRDT (counter, set) would be
        // recorded in the node's metadata and get its own rule beside ham::decide, chosen
        // here: this is the one place where updates enter the graph.
        let incoming = Version { state: update.state, value: &update.value, signed: update.signed.as_ref() };
        let current = current.map(|p| Version { state: p.state, value: &p.value, signed: p.signed.as_deref() });
        let decision = ham::decide(now, self.config.max_clock_skew_ms, incoming, current);
        match decision {
            Decision::TooFarAhead => Outcome::Rejected(Rejection::TooFarAhead),
            Decision::Defer => self.defer(update),
            Decision::Historical => Outcome::Historical,
            Decision::KeepCurrent => Outcome::Ignored,
            Decision::Incoming => {
                self.clock.observe(update.state);
                let property = Property {
                    value: update.value.clone(),
                    state: update.state,
                    signed: update.signed.clone().map(Box::new),
                };
                self.graph.set(&update.soul, &update.key, property);
                self.last_changes.push(update);
                Outcome::Applied
            }
        }
    }

    /// Parks an update until its state is due, within the queue's bounds (count and
    /// bytes): one that does not fit is refused, never taken and dropped. An update
    /// already parked is parked once; it is reported again in `last_deferred`, so the
    /// shell stores it again with the batch that acknowledges it.
    fn defer(&mut self, update: Update) -> Outcome {
        let frame = codec::encode(std::slice::from_ref(&update));
        let key = DeferredKey::of(&update, &frame);
        if !self.deferred.contains_key(&key) {
            let bytes = frame.len();
            let full = self.deferred.len() >= self.config.max_deferred
                || self.deferred_bytes + bytes > self.config.max_deferred_bytes;
            if full && !self.restoring {
                return Outcome::Rejected(Rejection::DeferredQueueFull);
            }
            self.deferred_bytes += bytes;
            self.deferred.insert(key, Parked { update, bytes });
        }
        self.last_deferred.push((key, true));
        Outcome::Deferred
    }

    /// Loads frames from this peer's own store (one record per property, many in one
    /// call). They were verified and admitted when they first arrived, so signatures and
    /// namespaces are not checked again (that would make reopening a store cost a
    /// verification per signed property); they still merge by HAM, so restoring over
    /// newer in-memory data loses nothing. A malformed frame fails the call before
    /// anything is applied. The properties that changed are in `last_changes` (for the
    /// shell's indexes; there is nothing new to announce). Returns how many.
    pub fn restore_frames(&mut self, frames: &[&[u8]]) -> Result<usize, EngineError> {
        let mut updates = Vec::with_capacity(frames.len());
        for frame in frames {
            updates.extend(codec::decode(frame, &self.config)?);
        }
        self.last_changes.clear();
        self.last_deferred.clear();
        for update in updates {
            let namespace = Namespace::of(&update.soul).unwrap_or(Namespace::Public);
            self.merge(update, namespace, f64::INFINITY);
        }
        Ok(self.last_changes.len())
    }

    /// Puts back the deferred queue saved by this peer (`deferred_updates`): each update
    /// is deferred again, or applied if its time has come (then it is in
    /// `last_changes`). Trusted like `restore_frames`, and decoded with the deferred queue's
    /// bound rather than the batch limit, since the queue may hold more than a batch.
    pub fn restore_deferred(&mut self, frame: &[u8], now: f64) -> Result<usize, EngineError> {
        let limits = Config { max_batch_updates: self.config.max_batch_updates.max(self.config.max_deferred), ..self.config.clone() };
        let updates = codec::decode(frame, &limits)?;
        self.last_changes.clear();
        self.last_deferred.clear();
        self.restoring = true;
        for update in updates {
            let namespace = Namespace::of(&update.soul).unwrap_or(Namespace::Public);
            self.merge(update, namespace, now);
        }
        self.restoring = false;
        Ok(self.last_changes.len())
    }

    /// Puts back deferred updates a store kept one record each (`last_deferred_records`):
    /// all of them join the queue, whatever their state and the bounds (they were
    /// accepted before); those already due are applied by the next `tick`, after the
    /// shell has loaded the souls `souls_due` names. Trusted like `restore_frames`; a
    /// malformed record fails the call before anything is parked. Returns how many joined.
    pub fn restore_deferred_records(&mut self, records: &[&[u8]]) -> Result<usize, EngineError> {
        let mut parked = Vec::with_capacity(records.len());
        for record in records {
            for update in codec::decode(record, &self.config)? {
                let frame = codec::encode(std::slice::from_ref(&update));
                parked.push((DeferredKey::of(&update, &frame), Parked { update, bytes: frame.len() }));
            }
        }
        self.last_changes.clear();
        self.last_deferred.clear();
        let mut joined = 0;
        for (key, p) in parked {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.deferred.entry(key) {
                self.deferred_bytes += p.bytes;
                slot.insert(p);
                joined += 1;
            }
        }
        Ok(joined)
    }

    /// The distinct souls of the deferred updates a `tick(now)` would apply: a
    /// store-backed shell loads them first, so every merge is decided against the
    /// complete stored node.
    pub fn souls_due(&self, now: f64) -> Vec<String> {
        let horizon = self.horizon(now);
        let mut souls: Vec<String> = Vec::new();
        for p in self.deferred.values() {
            if ham::is_future(p.update.state, horizon) {
                break;
            }
            if souls.last() != Some(&p.update.soul) && !souls.contains(&p.update.soul) {
                souls.push(p.update.soul.clone());
            }
        }
        souls
    }

    /// How the last call changed the deferred queue, one record per update (id, and the
    /// single-update frame of one that joined; none for one that left), in order.
    pub fn last_deferred_records(&self) -> Vec<DeferredRecord> {
        self.last_deferred
            .iter()
            .map(|(key, joined)| DeferredRecord {
                id: key.record_id(),
                frame: if *joined { self.deferred.get(key).map(|p| codec::encode(std::slice::from_ref(&p.update))) } else { None },
            })
            .collect()
    }

    /// Every deferred update as a record (id, frame): to store the whole queue once,
    /// when converting a store that kept it as one frame.
    pub fn deferred_records(&self) -> Vec<DeferredRecord> {
        self.deferred
            .iter()
            .map(|(key, p)| DeferredRecord { id: key.record_id(), frame: Some(codec::encode(std::slice::from_ref(&p.update))) })
            .collect()
    }

    /// Moves the clock forward to a persisted value, so states never go backwards
    /// across restarts.
    pub fn restore_clock(&mut self, last: f64) {
        if last.is_finite() {
            self.clock.observe(last);
        }
    }

    /// The distinct souls a frame touches, in first-seen order (decoding only): lets a
    /// store-backed shell load those nodes before ingesting the frame.
    pub fn souls_of(&self, frame: &[u8]) -> Result<Vec<String>, EngineError> {
        // Also used on the saved deferred queue, which may exceed one batch.
        let limits = Config { max_batch_updates: self.config.max_batch_updates.max(self.config.max_deferred), ..self.config.clone() };
        Ok(distinct_souls(&codec::decode(frame, &limits)?))
    }

    /// A node's properties (all, or the given keys) as updates, signatures included:
    /// what a peer answers to a read, and what a store keeps.
    pub fn node_updates(&self, soul: &str, keys: Option<&[String]>) -> Vec<Update> {
        let Some(node) = self.graph.node(soul) else { return Vec::new() };
        let to_update = |key: &String, p: &Property| Update {
            soul: soul.to_owned(),
            key: key.clone(),
            value: p.value.clone(),
            state: p.state,
            signed: p.signed.as_deref().cloned(),
        };
        match keys {
            None => node.props.iter().map(|(k, p)| to_update(k, p)).collect(),
            Some(keys) => keys.iter().filter_map(|k| node.props.get(k).map(|p| to_update(k, p))).collect(),
        }
    }

    /// Each soul's anti-entropy digest (digest.rs) computed from its node in memory: the
    /// records a store keeps of it are its properties' single-update frames, the very
    /// bytes `last_changes` reports. `None` for a soul with no node or no property here
    /// (the shell reads those from its store). Only for souls the shell holds in memory
    /// whole: a node of a partly loaded soul would give a digest of part of it.
    pub fn resident_digests(&self, souls: &[String]) -> Vec<Option<[u8; crate::digest::ITEM_LEN]>> {
        souls
            .iter()
            .map(|soul| {
                let updates = self.node_updates(soul, None);
                if updates.is_empty() {
                    return None;
                }
                let records: Vec<Vec<u8>> = updates.iter().map(|u| codec::encode(std::slice::from_ref(u))).collect();
                Some(crate::digest::soul_digest(soul, records.iter().map(Vec::as_slice)))
            })
            .collect()
    }

    /// Drops a node from memory (a cache eviction; the shell keeps it in its store).
    pub fn evict(&mut self, soul: &str) -> bool {
        self.graph.remove(soul)
    }

    /// The updates that changed the graph in the last `ingest`, `write` or `tick`.
    pub fn last_changes(&self) -> &[Update] {
        &self.last_changes
    }

    pub fn next_deferred_at(&self) -> Option<f64> {
        self.deferred.first_key_value().map(|(_, p)| p.update.state)
    }

    /// Every update waiting for its time, in due order (to persist across restarts).
    pub fn deferred_updates(&self) -> impl Iterator<Item = &Update> {
        self.deferred.values().map(|p| &p.update)
    }

    pub fn deferred_count(&self) -> usize {
        self.deferred.len()
    }

    /// The bytes the deferred updates are counted for (bounded by `max_deferred_bytes`).
    pub fn deferred_bytes(&self) -> usize {
        self.deferred_bytes
    }

    pub fn node(&self, soul: &str) -> Option<&Node> {
        self.graph.node(soul)
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn clock(&self) -> f64 {
        self.clock.last()
    }
}

/// A frame decoded by `Engine::prepare`: its updates, and the distinct souls they touch
/// in first-seen order.
pub struct Prepared {
    updates: Vec<Update>,
    souls: Vec<String>,
}

impl Prepared {
    pub fn souls(&self) -> &[String] {
        &self.souls
    }
}

/// The distinct souls of `updates`, in first-seen order. A set, not a scan of the list
/// so far: a frame of 10,000 updates to distinct souls would otherwise cost 50 million
/// string comparisons, for any peer to ask of a server.
fn distinct_souls(updates: &[Update]) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(updates.len().min(1024));
    let mut souls = Vec::new();
    for update in updates {
        if souls.last() != Some(&update.soul) && seen.insert(update.soul.as_str()) {
            souls.push(update.soul.clone());
        }
    }
    souls
}
