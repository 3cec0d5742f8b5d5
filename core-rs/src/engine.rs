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

/// Orders deferred updates by state (then arrival), using the total order on floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DeferredKey {
    state_bits: u64,
    arrival: u64,
}

fn ordered_bits(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

pub struct Engine {
    config: Config,
    graph: Graph,
    clock: HybridClock,
    verifier: Verifier,
    deferred: BTreeMap<DeferredKey, Update>,
    arrivals: u64,
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
            arrivals: 0,
            last_changes: Vec::new(),
        })
    }

    /// Incoming bytes. A malformed frame fails as a whole and changes nothing.
    pub fn ingest(&mut self, frame: &[u8], now: f64) -> Result<Vec<Outcome>, EngineError> {
        let updates = codec::decode(frame, &self.config)?;
        Ok(self.ingest_updates(updates, now))
    }

    /// Already-decoded incoming updates: verify → validate → merge.
    pub fn ingest_updates(&mut self, updates: Vec<Update>, now: f64) -> Vec<Outcome> {
        self.last_changes.clear();
        let signatures_ok = self.verify_signatures(&updates);
        let mut outcomes = Vec::with_capacity(updates.len());
        for (update, signature_ok) in updates.into_iter().zip(signatures_ok) {
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

    /// `true` for unsigned updates and for signed ones whose signature verifies.
    fn verify_signatures(&mut self, updates: &[Update]) -> Vec<bool> {
        let signed: Vec<(usize, Vec<u8>)> = updates
            .iter()
            .enumerate()
            .filter(|(_, u)| u.signed.is_some())
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
        let horizon = self.horizon(now);
        while let Some(entry) = self.deferred.first_entry() {
            if ham::is_future(entry.get().state, horizon) {
                break;
            }
            let update = entry.remove();
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
            Decision::Defer => {
                if self.deferred.len() >= self.config.max_deferred {
                    return Outcome::Rejected(Rejection::DeferredQueueFull);
                }
                self.arrivals += 1;
                let key = DeferredKey { state_bits: ordered_bits(update.state), arrival: self.arrivals };
                self.deferred.insert(key, update);
                Outcome::Deferred
            }
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
        for update in updates {
            let namespace = Namespace::of(&update.soul).unwrap_or(Namespace::Public);
            self.merge(update, namespace, now);
        }
        Ok(self.last_changes.len())
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
        let mut souls: Vec<String> = Vec::new();
        for update in codec::decode(frame, &limits)? {
            if souls.last() != Some(&update.soul) && !souls.contains(&update.soul) {
                souls.push(update.soul);
            }
        }
        Ok(souls)
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

    /// Drops a node from memory (a cache eviction; the shell keeps it in its store).
    pub fn evict(&mut self, soul: &str) -> bool {
        self.graph.remove(soul)
    }

    /// The updates that changed the graph in the last `ingest`, `write` or `tick`.
    pub fn last_changes(&self) -> &[Update] {
        &self.last_changes
    }

    pub fn next_deferred_at(&self) -> Option<f64> {
        self.deferred.first_key_value().map(|(_, u)| u.state)
    }

    /// Every update waiting for its time, in due order (to persist across restarts).
    pub fn deferred_updates(&self) -> impl Iterator<Item = &Update> {
        self.deferred.values()
    }

    pub fn deferred_count(&self) -> usize {
        self.deferred.len()
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
