//! Which servers own a soul (DESIGN.md §5), computed locally from the member list.
//!
//! Positions live in kad-dht's 256-bit key space, derived exactly as kad-dht derives
//! them, so a soul's owners here are the servers a kad-dht lookup of the same key would
//! converge on: a soul's position is SHA-256 of its UTF-8 bytes, a server's is SHA-256 of
//! its libp2p peer id's multihash bytes. The distance between two positions is their XOR
//! read as a 256-bit big-endian unsigned integer (Kademlia), and a soul's owners are the
//! `replicas` members closest to it.
//!
//! Pure and deterministic: every server holding the same member list computes the same
//! owners, in zero hops. Routing a frame decodes it once and copies each update's bytes,
//! signatures included, into the frames of its soul's owners.

use crate::codec;
use crate::config::Config;
use crate::error::{EngineError, PlacementError};
use sha2::{Digest, Sha256};
use std::collections::btree_map::{BTreeMap, Entry};
use std::collections::HashSet;

/// A point of the 256-bit key space (a SHA-256 digest).
pub type Position = [u8; 32];

/// A soul's position: SHA-256 of its UTF-8 bytes (kad-dht hashes a key's bytes the same way).
pub fn soul_position(soul: &str) -> Position {
    Sha256::digest(soul.as_bytes()).into()
}

/// A server's position: SHA-256 of its peer id's multihash bytes (kad-dht's
/// `convertPeerId`), not of the peer id's text.
pub fn peer_position(multihash: &[u8]) -> Position {
    Sha256::digest(multihash).into()
}

/// A position as four big-endian 64-bit words. Arrays compare lexicographically, so
/// comparing these compares the 256-bit big-endian integers, in at most four steps
/// instead of 32 byte comparisons.
type Words = [u64; 4];

fn words(position: &Position) -> Words {
    let word = |i: usize| u64::from_be_bytes(position[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    [word(0), word(1), word(2), word(3)]
}

/// The number of leading zero bits of a 256-bit word array (256 for zero).
fn leading_zeros(w: &Words) -> u32 {
    let mut n = 0;
    for word in w {
        if *word != 0 {
            return n + word.leading_zeros();
        }
        n += 64;
    }
    n
}

fn xor(a: &Words, b: &Words) -> Words {
    [a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]]
}

/// The members of a network and how many of them own each soul.
#[derive(Clone, Debug)]
pub struct Placement {
    members: Vec<Words>,
    /// Owners per soul: `min(replicas, members)`.
    k: usize,
    /// Limits a routed frame is decoded with: those of the engine that would ingest it,
    /// so routing refuses exactly what ingest refuses.
    limits: Config,
}

/// A frame split by owner (see `Placement::route_frame`).
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    /// Per member index: a frame of exactly the updates whose soul that member owns, in
    /// their order in the frame and byte for byte; `None` when it owns none of them.
    pub frames: Vec<Option<Vec<u8>>>,
    /// The distinct souls of the frame, in first-seen order.
    pub souls: Vec<String>,
    /// The owners of `souls[i]` at `owners[i * k..(i + 1) * k]`, closest first: what a
    /// coordinator counts acknowledgements against, without decoding the frame again.
    pub owners: Vec<u32>,
}

impl Placement {
    /// `members`: each server's peer id as multihash bytes (not its text form), in an
    /// order every server agrees on only for the indices it reports (owners do not
    /// depend on the order). `replicas`: how many servers own each soul (≥ 1).
    pub fn new(members: Vec<Vec<u8>>, replicas: usize) -> Result<Placement, EngineError> {
        Placement::with_limits(members, replicas, Config::default())
    }

    /// As `new`, routing frames under the given engine limits (its hash seed is unused).
    pub fn with_limits(members: Vec<Vec<u8>>, replicas: usize, limits: Config) -> Result<Placement, EngineError> {
        if replicas == 0 {
            return Err(EngineError::Placement(PlacementError::Invalid("replicas must be at least 1".into())));
        }
        let mut seen = HashSet::with_capacity(members.len());
        for (i, member) in members.iter().enumerate() {
            if !seen.insert(member.as_slice()) {
                return Err(EngineError::Placement(PlacementError::DuplicateMember(i)));
            }
        }
        let k = replicas.min(members.len());
        let members = members.iter().map(|m| words(&peer_position(m))).collect();
        Ok(Placement { members, k, limits: limits.validated()? })
    }

    /// How many members there are.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// How many owners each soul has: the replicas asked for, or every member when
    /// there are fewer.
    pub fn replicas(&self) -> usize {
        self.k
    }

    /// The indices of the members owning `soul`, closest first.
    pub fn owners(&self, soul: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.k);
        self.owners_at(&soul_position(soul), &mut Vec::with_capacity(self.k), &mut out);
        out
    }

    /// `owners` of each soul, flat: the owners of `souls[i]` at `[i * k..(i + 1) * k]`.
    pub fn owners_of<S: AsRef<str>>(&self, souls: &[S]) -> Vec<u32> {
        let mut out = Vec::with_capacity(souls.len() * self.k);
        let mut best = Vec::with_capacity(self.k);
        for soul in souls {
            self.owners_at(&soul_position(soul.as_ref()), &mut best, &mut out);
        }
        out
    }

    /// Appends the k members closest to `position` to `out`, closest first. `best` is
    /// scratch space (kept between calls so a batch allocates it once).
    ///
    /// One pass keeping the k best so far, sorted: a member farther than the current
    /// k-th is dismissed by one comparison, which is almost every member once the first
    /// few are seen, so a soul costs about one XOR and one comparison per member rather
    /// than a sort of all of them. Equal distances cannot happen between distinct
    /// positions (XOR with the target is a bijection); should they, the lower index
    /// comes first, so the answer is still deterministic.
    fn owners_at(&self, position: &Position, best: &mut Vec<(Words, u32)>, out: &mut Vec<u32>) {
        let k = self.k;
        if k == 0 {
            return;
        }
        let target = words(position);
        best.clear();
        for (i, member) in self.members.iter().enumerate() {
            let d = xor(member, &target);
            if best.len() == k {
                if d >= best[k - 1].0 {
                    continue;
                }
                best.pop();
            }
            // After any equal distance: the earlier index stays first.
            let at = best.partition_point(|(e, _)| *e <= d);
            best.insert(at, (d, i as u32));
        }
        out.extend(best.iter().map(|(_, i)| *i));
    }

    /// The members `member` keeps a connection to in a network too large for every server
    /// to keep one to every other: Kademlia's routing table over the member list. Members
    /// fall into buckets by the length of the prefix their position shares with
    /// `member`'s (the leading zero bits of the XOR); from each bucket the `per_bucket`
    /// closest are kept, closest first within a bucket, buckets from the farthest half
    /// of the key space to the nearest. Two properties matter: every member keeps its
    /// nearest neighbours (the deepest buckets, where the soul ranges it shares with
    /// other owners lie), and links into every farther region, so the graph of kept
    /// connections is connected and gossip reaches every member in O(log N) rounds.
    /// Empty for an index out of range.
    pub fn neighbours(&self, member: usize, per_bucket: usize) -> Vec<u32> {
        let Some(own) = self.members.get(member) else { return Vec::new() };
        let mut buckets: BTreeMap<u32, Vec<(Words, u32)>> = BTreeMap::new();
        for (i, other) in self.members.iter().enumerate() {
            if i == member {
                continue;
            }
            let d = xor(own, other);
            let bucket = leading_zeros(&d);
            let kept = buckets.entry(bucket).or_default();
            if kept.len() == per_bucket {
                if per_bucket == 0 || d >= kept[per_bucket - 1].0 {
                    continue;
                }
                kept.pop();
            }
            let at = kept.partition_point(|(e, _)| *e <= d);
            kept.insert(at, (d, i as u32));
        }
        buckets.into_values().flat_map(|kept| kept.into_iter().map(|(_, i)| i)).collect()
    }

    /// Splits a frame by owner, decoding it once: per member, a frame holding exactly the
    /// updates whose soul it owns (their bytes copied unchanged, signatures included),
    /// and the frame's distinct souls with their owners. Malformed frames fail with the
    /// errors `Engine::ingest` gives under the same limits. With no members every frame
    /// list is empty (the frame is still checked).
    ///
    /// Copying update bytes is sound: an update that omits its soul ("same soul as the
    /// previous update") follows an update of that soul, which has the same owners and
    /// so precedes it in every routed frame too; the first update of a routed frame is
    /// therefore never one that omits its soul.
    pub fn route_frame(&self, frame: &[u8]) -> Result<Routed, EngineError> {
        let (mut updates, spans) = codec::decode_spans(frame, &self.limits)?;
        let k = self.k;
        // Distinct souls by position in an ordered map, not a hash table: a table keyed
        // with a known seed lets whoever writes the frame aim colliding souls at it, and
        // an ordered map's cost does not depend on what the souls are. Updates of one soul
        // usually come together, so only the first of each run is hashed and looked up.
        // Souls are told apart by position: two souls sharing one would need a SHA-256
        // collision (and would have the same owners anyway).
        let mut index: BTreeMap<Position, u32> = BTreeMap::new();
        let mut first_update: Vec<usize> = Vec::new(); // per distinct soul
        let mut owners: Vec<u32> = Vec::new();
        let mut best = Vec::with_capacity(k);
        let mut soul_of: Vec<u32> = Vec::with_capacity(updates.len());
        for (i, update) in updates.iter().enumerate() {
            if i > 0 && updates[i - 1].soul == update.soul {
                soul_of.push(soul_of[i - 1]);
                continue;
            }
            let position = soul_position(&update.soul);
            let soul = match index.entry(position) {
                Entry::Occupied(known) => *known.get(),
                Entry::Vacant(new) => {
                    first_update.push(i);
                    self.owners_at(&position, &mut best, &mut owners);
                    *new.insert((first_update.len() - 1) as u32)
                }
            };
            soul_of.push(soul);
        }
        let n = self.members.len();
        let mut counts = vec![0u32; n];
        let mut sizes = vec![0usize; n];
        for (soul, span) in soul_of.iter().zip(&spans) {
            let soul = *soul as usize;
            for &m in &owners[soul * k..(soul + 1) * k] {
                counts[m as usize] += 1;
                sizes[m as usize] += span.len();
            }
        }
        let mut frames: Vec<Option<Vec<u8>>> = counts
            .iter()
            .zip(&sizes)
            .map(|(&count, &size)| {
                (count > 0).then(|| {
                    let mut out = Vec::with_capacity(codec::MAX_HEADER_LEN + size);
                    codec::put_header(&mut out, count);
                    out
                })
            })
            .collect();
        for (soul, span) in soul_of.iter().zip(spans) {
            let soul = *soul as usize;
            for &m in &owners[soul * k..(soul + 1) * k] {
                frames[m as usize].as_mut().expect("counted above").extend_from_slice(&frame[span.clone()]);
            }
        }
        let souls = first_update.into_iter().map(|i| std::mem::take(&mut updates[i].soul)).collect();
        Ok(Routed { frames, souls, owners })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_compare_as_big_endian_integers() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[31] = 0xff; // small
        b[0] = 0x01; // large
        assert!(words(&a) < words(&b));
        a[7] = 1;
        b[0] = 0;
        b[8] = 0xff;
        assert!(words(&a) > words(&b), "a higher word outweighs any lower one");
    }

    #[test]
    fn members_are_checked() {
        assert_eq!(Placement::new(vec![vec![1], vec![2], vec![1]], 2).unwrap_err().code(), "placement/duplicate-member");
        assert_eq!(Placement::new(vec![vec![1]], 0).unwrap_err().code(), "placement/invalid");
        let p = Placement::new(vec![vec![1], vec![2]], 5).unwrap();
        assert_eq!((p.size(), p.replicas()), (2, 2));
        let mut both = p.owners("soul");
        both.sort();
        assert_eq!(both, vec![0, 1]);
    }

    #[test]
    fn no_members_own_nothing() {
        let p = Placement::new(Vec::new(), 3).unwrap();
        assert_eq!(p.replicas(), 0);
        assert!(p.owners("s").is_empty());
        assert!(p.owners_of(&["a", "b"]).is_empty());
        let frame = codec::encode(&[]);
        let routed = p.route_frame(&frame).unwrap();
        assert!(routed.frames.is_empty() && routed.owners.is_empty());
        assert!(p.route_frame(b"RD").is_err(), "a malformed frame is refused even with no one to send it to");
    }
}
