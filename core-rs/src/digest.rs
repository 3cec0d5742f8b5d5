//! Anti-entropy between the owners of a soul (DESIGN.md §5, "Churn"): what a server
//! holds of each soul in a few bytes two servers can compare, and a set reconciliation
//! that finds the souls two owners hold differently for a cost in proportion to how many
//! differ, not to how many they hold.
//!
//! **Content digest.** A soul's content digest is the sum, modulo 2¹²⁸, of the first 16
//! bytes (read little-endian) of SHA-256("rustdht/soul-digest/1\0" ‖ record) over its
//! stored property records: the store's `"P"` values, each the single-update frame of one
//! property's winning version (`Engine.lastChangeRecords`). The merge rule picks one
//! winner down to signature bytes (ham.rs) and the codec writes an update one way, so
//! two replicas holding the same state hold the same records byte for byte; a sum does
//! not depend on the order the records are read in. Every record names its soul and
//! key, so the digest is bound to the soul.
//!
//! **Soul digest (an item).** 12 bytes: the first 4 of the soul's position (SHA-256 of
//! the soul, as placement.rs), then the first 8 of its content digest. Two versions of a
//! soul share their first 4 bytes, so a range of positions (`Range`) is a range of items,
//! and a large set can be reconciled in slices of bounded size.
//!
//! **Reconciliation.** Rateless coded symbols (Yang et al., "Practical Rateless Set
//! Reconciliation", SIGCOMM 2024; this is an implementation of the idea, not of their
//! code): symbol `i` of a set is the XOR of the items mapped to it, the XOR of their
//! checksums and their count. Each item is mapped to index `i` with probability
//! `2 / (i + 2)` (every item to symbol 0), drawn along a walk seeded by a salted hash of
//! the item, so both sides map an item alike without exchanging anything but the salt.
//! One side sends the symbols of its set, any prefix of the stream and then more; the
//! other subtracts its own and peels: a symbol left with one item (count ±1 and a
//! matching checksum) names it, and removing it from every symbol it maps to frees more.
//! About 1.35 symbols per differing item decode it for large differences, more for a few;
//! two sets that agree leave symbol 0 empty, so a prefix of a few symbols settles them.
//!
//! The checksums are salted per round (a salt the asker picks): a pair of items whose
//! checksums collide under one salt does not under the next. Pure functions of their
//! arguments, deterministic on every platform (integer arithmetic and IEEE-754 square
//! roots, which are correctly rounded everywhere).

use core::fmt;
use sha2::{Digest, Sha256};

/// Bytes of a soul digest (an item of a reconciliation).
pub const ITEM_LEN: usize = 12;
/// Bytes of a content digest.
pub const CONTENT_DIGEST_LEN: usize = 16;
/// Bytes of a round's salt.
pub const SALT_LEN: usize = 8;
/// Bytes of an item's checksum in a symbol.
const CHECK_LEN: usize = 4;
/// The most symbols one reconciliation takes in all (bounds the receiver's memory: about
/// 24 bytes each, 6 MiB), and the highest index a sender is asked to encode.
pub const MAX_SYMBOLS: usize = 1 << 18;
/// The most symbols one call encodes or takes (bounds one message and one call's work).
pub const MAX_SYMBOLS_PER_CALL: usize = 8192;
/// The most position bits a range may fix (2²⁴ slices is far beyond any store).
pub const MAX_RANGE_BITS: u32 = 24;

const CONTENT_DOMAIN: &[u8] = b"rustdht/soul-digest/1\0";
const SYMBOL_DOMAIN: &[u8] = b"rustdht/symbol/1\0";
const MEMBERS_DOMAIN: &[u8] = b"rustdht/members/1\0";

/// Why a digest call refused its input; `code()` is the stable code the SDK sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DigestError {
    /// Arguments of the wrong size or out of range (this side's own mistake, or a
    /// request asking for more than a call may do).
    Invalid(String),
    /// Symbol bytes that are not what was asked for (cut short, trailing, a count out of range).
    Malformed(String),
    /// More symbols than a reconciliation takes in all.
    TooLarge(String),
    /// The symbols contradict this side's own set (a peer's garbage, or an astronomically
    /// unlikely checksum collision): the round is abandoned; the next uses another salt.
    Undecodable(String),
}

impl DigestError {
    pub fn code(&self) -> &'static str {
        match self {
            DigestError::Invalid(_) => "digest/invalid",
            DigestError::Malformed(_) => "digest/malformed",
            DigestError::TooLarge(_) => "digest/too-large",
            DigestError::Undecodable(_) => "digest/undecodable",
        }
    }
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::Invalid(why) | DigestError::Malformed(why) | DigestError::TooLarge(why) | DigestError::Undecodable(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for DigestError {}

/// The content digest of a soul's stored property records, in any order (see the module
/// header). No records: all zeros.
pub fn content_digest<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> [u8; CONTENT_DIGEST_LEN] {
    let mut sum: u128 = 0;
    for record in records {
        let hash = Sha256::new().chain_update(CONTENT_DOMAIN).chain_update(record).finalize();
        sum = sum.wrapping_add(u128::from_le_bytes(hash[..16].try_into().expect("16 bytes")));
    }
    sum.to_le_bytes()
}

/// A soul's digest: 4 bytes of its position, then 8 of its content digest.
pub fn soul_digest<'a>(soul: &str, records: impl IntoIterator<Item = &'a [u8]>) -> [u8; ITEM_LEN] {
    let position = crate::placement::soul_position(soul);
    let content = content_digest(records);
    let mut item = [0u8; ITEM_LEN];
    item[..4].copy_from_slice(&position[..4]);
    item[4..].copy_from_slice(&content[..8]);
    item
}

/// 8 bytes that differ when two servers' member lists or replica counts do: owners
/// compare views before comparing souls, so a soul is not taken for missing when the two
/// only disagree about who owns it. Order of `members` does not matter.
pub fn members_digest(members: &[Vec<u8>], replicas: u32) -> [u8; 8] {
    let mut sorted: Vec<&Vec<u8>> = members.iter().collect();
    sorted.sort();
    let mut hash = Sha256::new().chain_update(MEMBERS_DOMAIN).chain_update(replicas.to_be_bytes());
    for member in sorted {
        hash.update((member.len() as u32).to_be_bytes());
        hash.update(member);
    }
    hash.finalize()[..8].try_into().expect("8 bytes")
}

/// The slice of items a reconciliation covers: those whose first `bits` position bits
/// equal `prefix` (`bits` 0: every item).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    bits: u32,
    prefix: u32,
}

impl Range {
    pub const ALL: Range = Range { bits: 0, prefix: 0 };

    pub fn new(bits: u32, prefix: u32) -> Result<Range, DigestError> {
        if bits > MAX_RANGE_BITS {
            return Err(DigestError::Invalid(format!("a range fixes at most {MAX_RANGE_BITS} position bits, not {bits}")));
        }
        if bits < 32 && u64::from(prefix) >= 1u64 << bits {
            return Err(DigestError::Invalid(format!("prefix {prefix} does not fit in {bits} bits")));
        }
        Ok(Range { bits, prefix })
    }

    pub fn contains(&self, item: &[u8]) -> bool {
        if self.bits == 0 {
            return true;
        }
        let head = u32::from_be_bytes(item[..4].try_into().expect("an item is 12 bytes"));
        head >> (32 - self.bits) == self.prefix
    }
}

fn salt_of(salt: &[u8]) -> Result<[u8; SALT_LEN], DigestError> {
    salt.try_into().map_err(|_| DigestError::Invalid(format!("a salt is {SALT_LEN} bytes, not {}", salt.len())))
}

fn items_of(items: &[u8]) -> Result<core::slice::ChunksExact<'_, u8>, DigestError> {
    if !items.len().is_multiple_of(ITEM_LEN) {
        return Err(DigestError::Invalid(format!("items are {ITEM_LEN} bytes each; {} bytes is not a whole number of them", items.len())));
    }
    Ok(items.chunks_exact(ITEM_LEN))
}

/// An item with what the salt derives from it: its checksum and the seed of its walk.
#[derive(Clone, Copy, Debug)]
struct Keyed {
    item: [u8; ITEM_LEN],
    check: u32,
    seed: u64,
}

fn keyed(item: &[u8], salt: &[u8; SALT_LEN]) -> Keyed {
    let hash = Sha256::new().chain_update(SYMBOL_DOMAIN).chain_update(salt).chain_update(item).finalize();
    Keyed {
        item: item.try_into().expect("an item is 12 bytes"),
        check: u32::from_be_bytes(hash[..4].try_into().expect("4 bytes")),
        seed: u64::from_be_bytes(hash[4..12].try_into().expect("8 bytes")),
    }
}

/// The indices an item is mapped to, in increasing order: 0, then each next one drawn so
/// that every index `i` is included independently with probability ρ(i) = 2 / (i + 2).
/// From index `j`, no index in (j, k] is included with probability
/// Π (1 − ρ(i)) = Π i / (i + 2) = (j + 1)(j + 2) / ((k + 1)(k + 2)), a telescoping
/// product, so the next index is the least `k` with (k + 1)(k + 2) > (j + 1)(j + 2) / u
/// for `u` uniform in (0, 1]: one draw per index, O(log n) of them below n.
#[derive(Clone, Copy, Debug)]
struct Walk {
    next: u64,
    rng: u64,
}

impl Walk {
    fn new(seed: u64) -> Walk {
        Walk { next: 0, rng: seed }
    }

    fn advance(&mut self) {
        // splitmix64: a 64-bit generator whose every output is a bijective mix of its state.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = ((z >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let j = self.next as f64;
        let t = (j + 1.0) * (j + 2.0) / u;
        let k = ((t + 0.25).sqrt() - 1.5).floor() + 1.0;
        // Far past any index anyone asks for: saturate rather than wrap.
        let k = if k >= 1.8e19 { u64::MAX } else { k as u64 };
        self.next = k.max(self.next.saturating_add(1));
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Symbol {
    sum: [u8; ITEM_LEN],
    check: u32,
    count: i64,
}

impl Symbol {
    fn toggle(&mut self, keyed: &Keyed, count: i64) {
        for (a, b) in self.sum.iter_mut().zip(keyed.item.iter()) {
            *a ^= b;
        }
        self.check ^= keyed.check;
        self.count += count;
    }

    fn is_empty(&self) -> bool {
        self.count == 0 && self.check == 0 && self.sum == [0; ITEM_LEN]
    }
}

fn check_span(start: usize, end: usize) -> Result<(), DigestError> {
    if start > end {
        return Err(DigestError::Invalid(format!("symbols from {start} to {end}: the start is past the end")));
    }
    if end - start > MAX_SYMBOLS_PER_CALL {
        return Err(DigestError::TooLarge(format!("{} symbols in one call; the limit is {MAX_SYMBOLS_PER_CALL}", end - start)));
    }
    if end > MAX_SYMBOLS {
        return Err(DigestError::TooLarge(format!("symbols up to index {end}; a reconciliation takes at most {MAX_SYMBOLS}")));
    }
    Ok(())
}

/// Symbols `start..end` of the set of `items` (12 bytes each, concatenated) within
/// `range`, under `salt`, as bytes: per symbol its XOR of items (12 bytes), XOR of
/// checksums (4 bytes, big-endian) and count (unsigned LEB128). Work: one hash per item
/// in range and O(log end) steps of its walk.
pub fn encode_symbols(items: &[u8], salt: &[u8], range: Range, start: usize, end: usize) -> Result<Vec<u8>, DigestError> {
    let salt = salt_of(salt)?;
    check_span(start, end)?;
    let mut symbols = vec![Symbol::default(); end - start];
    for item in items_of(items)? {
        if !range.contains(item) {
            continue;
        }
        let keyed = keyed(item, &salt);
        let mut walk = Walk::new(keyed.seed);
        while walk.next < end as u64 {
            if walk.next as usize >= start {
                symbols[walk.next as usize - start].toggle(&keyed, 1);
            }
            walk.advance();
        }
    }
    let mut out = Vec::with_capacity(symbols.len() * (ITEM_LEN + CHECK_LEN + 2));
    for symbol in &symbols {
        out.extend_from_slice(&symbol.sum);
        out.extend_from_slice(&symbol.check.to_be_bytes());
        let mut count = symbol.count as u64;
        loop {
            let byte = (count & 0x7f) as u8;
            count >>= 7;
            if count == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    Ok(out)
}

/// `count` symbols as `encode_symbols` writes them; anything else is Malformed.
fn decode_symbols(bytes: &[u8], count: usize) -> Result<Vec<Symbol>, DigestError> {
    // A symbol takes at least 17 bytes: refuse a count the bytes cannot hold before allocating.
    if bytes.len() < count * (ITEM_LEN + CHECK_LEN + 1) {
        return Err(DigestError::Malformed(format!("{} bytes cannot hold {count} symbols", bytes.len())));
    }
    let mut symbols = Vec::with_capacity(count);
    let mut at = 0;
    for _ in 0..count {
        let sum: [u8; ITEM_LEN] = bytes.get(at..at + ITEM_LEN).ok_or_else(|| truncated(at))?.try_into().expect("12 bytes");
        at += ITEM_LEN;
        let check = u32::from_be_bytes(bytes.get(at..at + CHECK_LEN).ok_or_else(|| truncated(at))?.try_into().expect("4 bytes"));
        at += CHECK_LEN;
        // Counts are at most 2^53 − 1 (what JavaScript counts exactly): 8 bytes of LEB128.
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *bytes.get(at).ok_or_else(|| truncated(at))?;
            at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift >= 56 {
                return Err(DigestError::Malformed("a symbol count longer than 8 bytes".into()));
            }
        }
        if value > (1u64 << 53) - 1 {
            return Err(DigestError::Malformed(format!("a symbol count of {value}")));
        }
        symbols.push(Symbol { sum, check, count: value as i64 });
    }
    if at != bytes.len() {
        return Err(DigestError::Malformed(format!("{} bytes after {count} symbols", bytes.len() - at)));
    }
    Ok(symbols)
}

fn truncated(at: usize) -> DigestError {
    DigestError::Malformed(format!("the symbols end in the middle of one, at byte {at}"))
}

/// The receiving side of a reconciliation: this side's items, and the difference
/// (the other side's symbols minus ours) peeled as symbols arrive.
pub struct Reconciliation {
    salt: [u8; SALT_LEN],
    /// This side's items in range, each with its walk at its first index not yet received.
    local: Vec<(Keyed, Walk)>,
    /// Their positions in the caller's list.
    local_index: Vec<u32>,
    /// (item, position in `local`), sorted by item: finds the items a symbol says are ours alone.
    sorted: Vec<([u8; ITEM_LEN], u32)>,
    /// Items peeled so far and their side (+1 the other's alone, −1 ours alone), walks as `local`'s.
    recovered: Vec<(Keyed, Walk, i64)>,
    difference: Vec<Symbol>,
    local_only: Vec<u32>,
    remote_only: Vec<[u8; ITEM_LEN]>,
    remote_size: Option<u64>,
}

impl Reconciliation {
    /// `items`: this side's soul digests, 12 bytes each, concatenated (those outside
    /// `range` are left out; a soul appears once).
    pub fn new(items: &[u8], salt: &[u8], range: Range) -> Result<Reconciliation, DigestError> {
        let salt = salt_of(salt)?;
        let mut local = Vec::new();
        let mut local_index = Vec::new();
        for (i, item) in items_of(items)?.enumerate() {
            if range.contains(item) {
                let keyed = keyed(item, &salt);
                local.push((keyed, Walk::new(keyed.seed)));
                local_index.push(i as u32);
            }
        }
        let mut sorted: Vec<([u8; ITEM_LEN], u32)> = local.iter().enumerate().map(|(i, (k, _))| (k.item, i as u32)).collect();
        sorted.sort_unstable();
        if sorted.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(DigestError::Invalid("the same item twice in one set".into()));
        }
        Ok(Reconciliation {
            salt,
            local,
            local_index,
            sorted,
            recovered: Vec::new(),
            difference: Vec::new(),
            local_only: Vec::new(),
            remote_only: Vec::new(),
            remote_size: None,
        })
    }

    /// Symbols received so far (the next `add` starts at this index).
    pub fn received(&self) -> usize {
        self.difference.len()
    }

    /// Whether the difference is fully known: every symbol peeled empty.
    pub fn decoded(&self) -> bool {
        self.difference.first().is_some_and(Symbol::is_empty)
    }

    /// How many items the other side has in range (symbol 0's count), once known.
    pub fn remote_size(&self) -> Option<u64> {
        self.remote_size
    }

    /// Positions (in the caller's list) of the items only this side has.
    pub fn local_only(&self) -> &[u32] {
        &self.local_only
    }

    /// The items only the other side has.
    pub fn remote_only(&self) -> &[[u8; ITEM_LEN]] {
        &self.remote_only
    }

    /// Takes the other side's next `count` symbols (as `encode_symbols` wrote them, from
    /// index `received()`), peels what it can; true once decoded. Work: O(count + items in
    /// range · log) plus O(log) per peeled item; peels are capped by the symbols received,
    /// so no input makes it loop.
    pub fn add(&mut self, bytes: &[u8], count: usize) -> Result<bool, DigestError> {
        let start = self.difference.len();
        let end = start + count;
        check_span(start, end)?;
        let mut symbols = decode_symbols(bytes, count)?;
        if start == 0 && count != 0 {
            self.remote_size = Some(symbols[0].count as u64);
        }
        for (keyed, walk) in &mut self.local {
            while walk.next < end as u64 {
                symbols[walk.next as usize - start].toggle(keyed, -1);
                walk.advance();
            }
        }
        for (keyed, walk, side) in &mut self.recovered {
            while walk.next < end as u64 {
                symbols[walk.next as usize - start].toggle(keyed, -*side);
                walk.advance();
            }
        }
        self.difference.extend_from_slice(&symbols);
        self.peel((start..end).collect())?;
        Ok(self.decoded())
    }

    fn peel(&mut self, mut candidates: Vec<usize>) -> Result<(), DigestError> {
        // Each honest peel removes one differing item, and the difference has fewer items
        // than there are symbols once it decodes: more peels than that is a peer's garbage.
        let limit = self.difference.len() + 64;
        while let Some(i) = candidates.pop() {
            let symbol = self.difference[i];
            if symbol.count != 1 && symbol.count != -1 {
                continue;
            }
            let keyed = keyed(&symbol.sum, &self.salt);
            if keyed.check != symbol.check {
                continue;
            }
            if self.recovered.len() >= limit {
                return Err(DigestError::Undecodable("more items peeled than symbols received".into()));
            }
            let side = symbol.count;
            if side < 0 {
                let Ok(at) = self.sorted.binary_search_by(|(item, _)| item.cmp(&keyed.item)) else {
                    return Err(DigestError::Undecodable("a symbol names an item this side does not hold as this side's alone".into()));
                };
                self.local_only.push(self.local_index[self.sorted[at].1 as usize]);
            } else {
                self.remote_only.push(keyed.item);
            }
            let mut walk = Walk::new(keyed.seed);
            while walk.next < self.difference.len() as u64 {
                let at = walk.next as usize;
                self.difference[at].toggle(&keyed, -side);
                candidates.push(at);
                walk.advance();
            }
            self.recovered.push((keyed, walk, side));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_include_each_index_at_about_its_probability() {
        // Over many items, index i is hit by about 2/(i+2) of them.
        let trials = 20_000u64;
        let mut hits = [0u32; 64];
        for seed in 0..trials {
            let mut walk = Walk::new(seed.wrapping_mul(0x1234_5678_9abc_def1));
            while walk.next < 64 {
                hits[walk.next as usize] += 1;
                walk.advance();
            }
        }
        for (i, &h) in hits.iter().enumerate() {
            let expected = trials as f64 * 2.0 / (i as f64 + 2.0);
            let tolerance = 5.0 * expected.sqrt() + 1.0;
            assert!((h as f64 - expected).abs() < tolerance, "index {i}: {h} hits, expected about {expected}");
        }
    }
}
