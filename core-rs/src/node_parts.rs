//! A node of any size as a sequence of frames that each fit the limits of the peer that
//! receives them: whole-node read answers and subscription snapshots (see
//! docs/ARCHITECTURE.md, "The wire format"). Without it one reply carried the whole
//! node, and 10,001 junk keys (past a receiver's `maxBatchUpdates`) or a few 1 MiB
//! values (past the 4 MiB message limit) made a public node unreadable for everyone.
//!
//! A part is found by its cursor: the properties after key `after` in key order (the
//! order the node keeps), so a reader asks for one part at a time and the holder keeps
//! nothing between the requests. A part holds at least one property (or refuses one);
//! then it takes more while the frame stays within `part_bytes` and `max_bytes` and
//! within `max_updates` properties looked at. A property whose frame alone is larger than
//! `max_bytes` can never travel: it is skipped and named in `skipped` (its key counts
//! against `max_bytes`, so the receiver can be told), rather than blocking the rest.

use crate::codec::{self, MAX_HEADER_LEN};
use crate::graph::Node;
use crate::update::Update;
use std::ops::Bound;

/// The limits one part must keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartLimits {
    /// A part stops growing past these bytes (a soft target: the first property of a part
    /// may take it alone up to `max_bytes`).
    pub part_bytes: usize,
    /// The frame plus the skipped keys (each with a 5-byte length) never exceed these bytes.
    pub max_bytes: usize,
    /// Properties one part looks at (taken or skipped), at least 1.
    pub max_updates: usize,
}

/// One part of a node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePart {
    /// The properties taken, as a frame (no updates when the node has nothing after the cursor).
    pub frame: Vec<u8>,
    /// The cursor of the next part: the last key this part looked at; `None` when it was the last.
    pub next: Option<String>,
    /// Keys of properties too large for `max_bytes` on their own, passed over.
    pub skipped: Vec<String>,
}

/// Bytes a skipped key costs in a reply: its UTF-8 and a length varint at its longest.
pub fn skipped_key_cost(key: &str) -> usize {
    key.len() + 5
}

/// The part of `node` (the node of `soul`, if held) after `after` (from the first key when
/// `None`), within `limits`.
pub fn node_part(soul: &str, node: Option<&Node>, after: Option<&str>, limits: PartLimits) -> NodePart {
    let Some(node) = node else { return NodePart { frame: codec::encode(&[]), next: None, skipped: Vec::new() } };
    let start = match after {
        Some(key) => Bound::Excluded(key),
        None => Bound::Unbounded,
    };
    let max_updates = limits.max_updates.max(1);
    let mut properties = node.props.range::<str, _>((start, Bound::Unbounded)).peekable();
    let mut updates: Vec<Update> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut used = MAX_HEADER_LEN;
    let mut looked_at = 0;
    let mut last: Option<&str> = None;
    while let Some(&(key, property)) = properties.peek() {
        if looked_at == max_updates {
            break;
        }
        let signed = property.signed.is_some();
        let alone = MAX_HEADER_LEN + codec::update_len(soul, key, &property.value, signed, false);
        if alone > limits.max_bytes {
            let cost = skipped_key_cost(key);
            // The first property looked at is always passed: every part makes progress.
            if looked_at > 0 && used + cost > limits.max_bytes {
                break;
            }
            used += cost;
            skipped.push(key.clone());
        } else {
            let size = codec::update_len(soul, key, &property.value, signed, !updates.is_empty());
            let fits = used + size <= limits.max_bytes && (updates.is_empty() || used + size <= limits.part_bytes);
            if !fits {
                break;
            }
            used += size;
            updates.push(Update {
                soul: soul.to_owned(),
                key: key.clone(),
                value: property.value.clone(),
                state: property.state,
                signed: property.signed.as_deref().cloned(),
            });
        }
        looked_at += 1;
        last = Some(key);
        properties.next();
    }
    let next = match properties.peek() {
        Some(_) => last.map(str::to_owned),
        None => None,
    };
    NodePart { frame: codec::encode(&updates), next, skipped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::crypto::Signed;
    use crate::graph::Property;
    use crate::value::Value;

    fn node(props: impl IntoIterator<Item = (String, Value)>) -> Node {
        let mut node = Node::default();
        for (key, value) in props {
            node.props.insert(key, Property { value, state: 1_700_000_000_000.0, signed: None });
        }
        node
    }

    /// Every part, following the cursors from the start.
    fn all_parts(node: &Node, limits: PartLimits) -> Vec<NodePart> {
        let mut parts = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let part = node_part("room", Some(node), after.as_deref(), limits);
            let next = part.next.clone();
            parts.push(part);
            match next {
                Some(key) => after = Some(key),
                None => return parts,
            }
            assert!(parts.len() < 1_000_000, "cursor does not advance");
        }
    }

    fn decoded(part: &NodePart) -> Vec<Update> {
        codec::decode(&part.frame, &Config::default()).unwrap()
    }

    const MIB: usize = 1024 * 1024;
    const LIMITS: PartLimits = PartLimits { part_bytes: MIB, max_bytes: 4 * MIB - 1100, max_updates: 1000 };

    #[test]
    fn fifty_thousand_properties_come_in_parts_of_at_most_1000() {
        let n = node((0..50_000).map(|i| (format!("junk{i:06}"), Value::Text(format!("value {i}")))));
        let parts = all_parts(&n, LIMITS);
        assert_eq!(parts.len(), 50);
        let mut keys = Vec::new();
        for part in &parts {
            let updates = decoded(part);
            assert!(updates.len() <= 1000);
            assert!(part.frame.len() <= MIB);
            assert!(part.skipped.is_empty());
            keys.extend(updates.into_iter().map(|u| u.key));
        }
        let expected: Vec<String> = n.props.keys().cloned().collect();
        assert_eq!(keys, expected, "every property once, in key order");
    }

    #[test]
    fn each_1_mib_value_travels_in_its_own_part() {
        let mut props: Vec<(String, Value)> = (0..5).map(|i| (format!("pad{i}"), Value::Text("x".repeat(MIB)))).collect();
        props.push(("title".into(), Value::Text("Hello".into())));
        props.push(("a".into(), Value::Number(1.0)));
        let n = node(props);
        let parts = all_parts(&n, LIMITS);
        let counts: Vec<usize> = parts.iter().map(|p| decoded(p).len()).collect();
        // "a" starts the first part and a 1 MiB value fills it; then one value per part;
        // "title" rides with nothing larger than the soft target.
        assert_eq!(counts, vec![1, 1, 1, 1, 1, 1, 1]);
        for part in &parts {
            assert!(part.frame.len() <= LIMITS.max_bytes);
        }
        let keys: Vec<String> = parts.iter().flat_map(|p| decoded(p)).map(|u| u.key).collect();
        assert_eq!(keys, vec!["a", "pad0", "pad1", "pad2", "pad3", "pad4", "title"]);
    }

    #[test]
    fn small_properties_share_a_part_up_to_the_soft_target() {
        let n = node((0..10).map(|i| (format!("k{i}"), Value::Text("y".repeat(300_000)))));
        let parts = all_parts(&n, LIMITS);
        let counts: Vec<usize> = parts.iter().map(|p| decoded(p).len()).collect();
        assert_eq!(counts, vec![3, 3, 3, 1]);
    }

    #[test]
    fn a_property_larger_than_a_message_is_skipped_not_blocking() {
        let mut props: Vec<(String, Value)> = vec![("big".into(), Value::Text("z".repeat(MIB)))];
        props.extend((0..5).map(|i| (format!("small{i}"), Value::Bool(true))));
        let n = node(props);
        let limits = PartLimits { part_bytes: 64 * 1024, max_bytes: 512 * 1024, max_updates: 1000 };
        let parts = all_parts(&n, limits);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].skipped, vec!["big".to_string()]);
        assert_eq!(decoded(&parts[0]).len(), 5);
        // Only skipped properties: each part still advances.
        let only_big = node((0..3).map(|i| (format!("b{i}"), Value::Text("z".repeat(2048)))));
        let tiny = PartLimits { part_bytes: 100, max_bytes: 1030, max_updates: 1000 };
        let parts = all_parts(&only_big, tiny);
        let skipped: Vec<String> = parts.iter().flat_map(|p| p.skipped.clone()).collect();
        assert_eq!(skipped, vec!["b0", "b1", "b2"]);
        assert!(parts.iter().all(|p| decoded(p).is_empty()));
    }

    #[test]
    fn signatures_and_the_cursor_round_trip() {
        let mut n = node((0..3).map(|i| (format!("k{i}"), Value::Null)));
        let signed = Signed { signer: [7; 32], signature: [9; 64] };
        n.props.get_mut("k1").unwrap().signed = Some(Box::new(signed.clone()));
        let limits = PartLimits { part_bytes: MIB, max_bytes: MIB, max_updates: 2 };
        let first = node_part("room", Some(&n), None, limits);
        assert_eq!(first.next.as_deref(), Some("k1"));
        assert_eq!(decoded(&first)[1].signed, Some(signed));
        let second = node_part("room", Some(&n), Some("k1"), limits);
        assert_eq!(second.next, None);
        assert_eq!(decoded(&second).iter().map(|u| u.key.as_str()).collect::<Vec<_>>(), vec!["k2"]);
        // A cursor that is not a key of the node starts after where it would be.
        let between = node_part("room", Some(&n), Some("k0x"), limits);
        assert_eq!(decoded(&between).iter().map(|u| u.key.as_str()).collect::<Vec<_>>(), vec!["k1", "k2"]);
        // Unknown node, or nothing after the cursor: an empty frame and no cursor.
        let unknown = node_part("room", None, None, limits);
        assert_eq!((decoded(&unknown).len(), unknown.next), (0, None));
        let past = node_part("room", Some(&n), Some("z"), limits);
        assert_eq!((decoded(&past).len(), past.next), (0, None));
    }

    #[test]
    fn a_part_never_exceeds_max_bytes_whatever_the_sizes() {
        // Sizes around every boundary: parts stay under the hard limit and nothing is lost.
        let n = node((0..400).map(|i| (format!("k{i:03}"), Value::Text("w".repeat((i * 37) % 5000)))));
        for max_bytes in [1100, 3000, 5100, 20_000] {
            let limits = PartLimits { part_bytes: max_bytes / 2, max_bytes, max_updates: 50 };
            let parts = all_parts(&n, limits);
            let mut seen = 0;
            for part in &parts {
                let cost: usize = part.skipped.iter().map(|k| skipped_key_cost(k)).sum();
                assert!(part.frame.len() + cost <= max_bytes, "{} + {cost} > {max_bytes}", part.frame.len());
                seen += decoded(part).len() + part.skipped.len();
                assert!(decoded(part).len() + part.skipped.len() <= 50);
            }
            assert_eq!(seen, 400);
        }
    }
}
