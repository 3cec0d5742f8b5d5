//! The nodes the engine holds, with every property's metadata.

use crate::crypto::Signed;
use crate::value::Value;
use std::collections::{BTreeMap, HashMap};

/// Keys for the soul table's hash. Souls come from the network, so with known keys a
/// peer could pick colliding souls and turn every lookup into a scan; on
/// wasm32-unknown-unknown the standard `RandomState` has no randomness and its keys are
/// fixed. The shell passes random bytes (`crypto.getRandomValues`), as it does for key
/// seeds, and aHash keyed with them is also several times faster than SipHash.
pub type HashSeed = [u64; 4];

fn hasher(seed: HashSeed) -> ahash::RandomState {
    ahash::RandomState::with_seeds(seed[0], seed[1], seed[2], seed[3])
}

#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    pub value: Value,
    pub state: f64,
    /// Boxed: most properties are unsigned, and 96 bytes per property add up.
    pub signed: Option<Box<Signed>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// Ordered by key, so reads and `map()` are deterministic (and `set()` keys, which
    /// start with a time prefix, come out in insertion order).
    pub props: BTreeMap<String, Property>,
}

#[derive(Clone, Debug)]
pub struct Graph {
    nodes: HashMap<String, Node, ahash::RandomState>,
    properties: usize,
}

impl Graph {
    pub fn new(seed: HashSeed) -> Graph {
        Graph { nodes: HashMap::with_hasher(hasher(seed)), properties: 0 }
    }

    pub fn node(&self, soul: &str) -> Option<&Node> {
        self.nodes.get(soul)
    }

    pub fn property(&self, soul: &str, key: &str) -> Option<&Property> {
        self.nodes.get(soul)?.props.get(key)
    }

    pub fn set(&mut self, soul: &str, key: &str, property: Property) {
        let node = match self.nodes.get_mut(soul) {
            Some(node) => node,
            None => self.nodes.entry(soul.to_owned()).or_default(),
        };
        match node.props.get_mut(key) {
            Some(slot) => *slot = property,
            None => {
                node.props.insert(key.to_owned(), property);
                self.properties += 1;
            }
        }
    }

    pub fn remove(&mut self, soul: &str) -> bool {
        match self.nodes.remove(soul) {
            Some(node) => {
                self.properties -= node.props.len();
                true
            }
            None => false,
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn property_count(&self) -> usize {
        self.properties
    }

    /// Every soul, in no particular order.
    pub fn souls(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }
}
