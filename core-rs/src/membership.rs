//! Signed member records: how a server announces itself to the others (DESIGN.md §5:
//! a full, signed membership list spread by gossip lets every server compute owners
//! locally).
//!
//! A record is signed with the server's libp2p Ed25519 peer key, and the peer id is
//! derived from the public key in the record, never read from it: whoever can sign a
//! record for a peer id holds that peer's key, so a record cannot place another
//! server, or invent one under a chosen id.
//!
//! ```text
//! record    = "RDM" version:u8(=1) role:u8 issued_at:u64 capacity:u64 public_key:32
//!             addr_count:u8 addr*addr_count signature:64          integers big-endian
//! role      = 1 server | 2 leaving
//! addr      = len:u16 utf8-bytes (a multiaddr's text form, 1..=256 bytes)
//! signature = Ed25519 over "rustdht/member/1\0" ‖ every byte before the signature
//! ```
//!
//! `issued_at` is milliseconds since the epoch and `capacity` bytes; both are integers a
//! JavaScript number holds exactly (≤ 2⁵³ − 1), so they cross the boundary unchanged.
//! Ordering records of one peer (keeping the newest `issued_at`) is the shell's job;
//! the engine checks that a record is well-formed, genuine and fresh.

use crate::crypto::{KeyPair, Signed, Verifier, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::error::{EngineError, MemberError};

const MAGIC: &[u8; 3] = b"RDM";
pub const VERSION: u8 = 1;
/// Signed bytes start with this, so a member record's signature can never be taken for
/// an update's (crypto::update_message starts with "rustdht/update/v1\0") or anything
/// else the key signs.
const DOMAIN: &[u8] = b"rustdht/member/1\0";
/// Far above what the limits below allow (about 4.2 KiB): a larger record is refused
/// before it is parsed.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;
pub const MAX_ADDRS: usize = 16;
pub const MAX_ADDR_BYTES: usize = 256;
/// The largest integer every JavaScript number up to it holds exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Bytes before the addresses: magic, version, role, issued_at, capacity, key, count.
const FIXED_LEN: usize = 3 + 1 + 1 + 8 + 8 + PUBLIC_KEY_LEN + 1;

/// What a server says of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Serving: it owns the souls closest to it.
    Server,
    /// Leaving: others take over its souls before it goes.
    Leaving,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Role::Server => 1,
            Role::Leaving => 2,
        }
    }

    fn from_byte(byte: u8) -> Option<Role> {
        match byte {
            1 => Some(Role::Server),
            2 => Some(Role::Leaving),
            _ => None,
        }
    }

    /// Its name in JSON: `server` or `leaving`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Leaving => "leaving",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "server" => Some(Role::Server),
            "leaving" => Some(Role::Leaving),
            _ => None,
        }
    }
}

/// The fields a server signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberFields {
    pub role: Role,
    /// Milliseconds since the epoch.
    pub issued_at: u64,
    /// Bytes of storage it offers.
    pub capacity: u64,
    /// Its multiaddrs, as text.
    pub addrs: Vec<String>,
}

/// A record that opened: well-formed, genuinely signed and fresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub fields: MemberFields,
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// The signer's libp2p peer id as multihash bytes (what `Placement` takes), derived
    /// from `public_key`.
    pub peer_id: [u8; PEER_ID_LEN],
    /// The same peer id as text (base58btc, "12D3KooW…"), as libp2p prints it.
    pub peer_id_text: String,
}

impl MemberRecord {
    /// `{"peerId", "role", "issuedAt", "capacity", "addrs"}` (the `MemberRecord` type the
    /// engine declares to TypeScript, src/wasm.rs).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128 + self.fields.addrs.iter().map(|a| a.len() + 3).sum::<usize>());
        out.push_str("{\"peerId\":");
        crate::js_json::write_string(&mut out, &self.peer_id_text);
        out.push_str(",\"role\":\"");
        out.push_str(self.fields.role.name());
        out.push_str(&format!("\",\"issuedAt\":{},\"capacity\":{},\"addrs\":[", self.fields.issued_at, self.fields.capacity));
        for (i, addr) in self.fields.addrs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::js_json::write_string(&mut out, addr);
        }
        out.push_str("]}");
        out
    }
}

/// Bytes of an Ed25519 peer id's multihash.
pub const PEER_ID_LEN: usize = 6 + PUBLIC_KEY_LEN;

/// The libp2p peer id of an Ed25519 public key, as multihash bytes. libp2p wraps the key
/// in its protobuf `PublicKey { Type = Ed25519 (1), Data = key }` (`08 01 12 20 ‖ key`,
/// 36 bytes) and, since that is short, uses the identity multihash (code `00`, length
/// `24`) of it rather than a SHA-256 digest.
pub fn ed25519_peer_id(public_key: &[u8; PUBLIC_KEY_LEN]) -> [u8; PEER_ID_LEN] {
    let mut id = [0u8; PEER_ID_LEN];
    id[..6].copy_from_slice(&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
    id[6..].copy_from_slice(public_key);
    id
}

const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Base58btc (Bitcoin's alphabet), the text form of libp2p peer ids: the bytes read as
/// one big-endian number written in base 58, each leading zero byte kept as a `1`.
/// Quadratic in the length, which is fine for 38-byte ids.
pub fn base58btc(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    // Base-58 digits of the number, least significant first.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in &bytes[zeros..] {
        // digits = digits * 256 + byte
        let mut carry = u32::from(byte);
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut text = String::with_capacity(zeros + digits.len());
    text.extend(std::iter::repeat_n('1', zeros));
    text.extend(digits.iter().rev().map(|d| BASE58_ALPHABET[*d as usize] as char));
    text
}

fn malformed(why: impl Into<String>) -> EngineError {
    EngineError::Member(MemberError::Malformed(why.into()))
}

fn too_large(why: impl Into<String>) -> EngineError {
    EngineError::Member(MemberError::TooLarge(why.into()))
}

/// The limits a record's fields must keep, for signing and opening alike.
fn check_addr(addr: &str) -> Result<(), EngineError> {
    if addr.is_empty() {
        return Err(malformed("an empty address"));
    }
    if addr.len() > MAX_ADDR_BYTES {
        return Err(too_large(format!("an address of {} bytes, the limit is {MAX_ADDR_BYTES}", addr.len())));
    }
    Ok(())
}

fn check_integer(name: &str, x: u64) -> Result<(), EngineError> {
    if x > MAX_SAFE_INTEGER {
        return Err(malformed(format!("{name} {x} is beyond 2^53 - 1, where JavaScript numbers stop being exact")));
    }
    Ok(())
}

fn check_fields(fields: &MemberFields) -> Result<(), EngineError> {
    check_integer("issuedAt", fields.issued_at)?;
    check_integer("capacity", fields.capacity)?;
    if fields.addrs.len() > MAX_ADDRS {
        return Err(too_large(format!("{} addresses, the limit is {MAX_ADDRS}", fields.addrs.len())));
    }
    fields.addrs.iter().try_for_each(|a| check_addr(a))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EngineError> {
        let slice = self.bytes.get(self.at..self.at + n).ok_or_else(|| malformed("it ends inside a field"))?;
        self.at += n;
        Ok(slice)
    }
}

fn signed_message(unsigned: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + unsigned.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(unsigned);
    message
}

/// A record of `fields` signed by the Ed25519 key of `seed` (the 32-byte secret seed:
/// the first half of libp2p's 64-byte raw Ed25519 private key).
pub fn sign_member_record(seed: &[u8; 32], fields: &MemberFields) -> Result<Vec<u8>, EngineError> {
    check_fields(fields)?;
    let pair = KeyPair::from_seed(seed);
    let mut out = Vec::with_capacity(FIXED_LEN + fields.addrs.iter().map(|a| 2 + a.len()).sum::<usize>() + SIGNATURE_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(fields.role.byte());
    out.extend_from_slice(&fields.issued_at.to_be_bytes());
    out.extend_from_slice(&fields.capacity.to_be_bytes());
    out.extend_from_slice(pair.public_key());
    out.push(fields.addrs.len() as u8);
    for addr in &fields.addrs {
        out.extend_from_slice(&(addr.len() as u16).to_be_bytes());
        out.extend_from_slice(addr.as_bytes());
    }
    let signature = pair.sign(&signed_message(&out));
    out.extend_from_slice(&signature);
    Ok(out)
}

/// Checks a record and returns what it says: well-formed (strictly: no byte too many or
/// too few, strict UTF-8, the limits above), signed by the key it carries (the engine's
/// one, cofactored, verification), issued at most `max_age_ms` before `now_ms` and at
/// most `max_skew_ms` after it. The time checks fail closed: a NaN anywhere refuses the
/// record, while an infinite bound means no bound.
pub fn open_member_record(bytes: &[u8], now_ms: f64, max_age_ms: f64, max_skew_ms: f64) -> Result<MemberRecord, EngineError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(too_large(format!("{} bytes, the limit is {MAX_RECORD_BYTES}", bytes.len())));
    }
    let (fields, public_key, signed_len) = parse(bytes)?;
    let signature: [u8; SIGNATURE_LEN] = bytes[signed_len..].try_into().expect("parse leaves exactly the signature");
    let genuine = Verifier::default().verify(&signed_message(&bytes[..signed_len]), &Signed { signer: public_key, signature });
    if !genuine {
        return Err(EngineError::Member(MemberError::BadSignature));
    }
    let issued_at = fields.issued_at as f64; // exact: at most 2^53 - 1
    if !at_most(now_ms - issued_at, max_age_ms) {
        return Err(EngineError::Member(MemberError::Stale));
    }
    if !at_most(issued_at - now_ms, max_skew_ms) {
        return Err(EngineError::Member(MemberError::Future));
    }
    let peer_id = ed25519_peer_id(&public_key);
    Ok(MemberRecord { fields, public_key, peer_id, peer_id_text: base58btc(&peer_id) })
}

/// `x ≤ bound`, and false when either is NaN, so a NaN time refuses the record.
fn at_most(x: f64, bound: f64) -> bool {
    matches!(x.partial_cmp(&bound), Some(core::cmp::Ordering::Less | core::cmp::Ordering::Equal))
}

/// The fields, the public key, and where the signature starts (exactly 64 bytes before
/// the end).
fn parse(bytes: &[u8]) -> Result<(MemberFields, [u8; PUBLIC_KEY_LEN], usize), EngineError> {
    let mut r = Cursor { bytes, at: 0 };
    if r.take(3)? != MAGIC {
        return Err(malformed("not a member record (magic bytes)"));
    }
    let version = r.take(1)?[0];
    if version != VERSION {
        return Err(malformed(format!("version {version}; this engine speaks version {VERSION}")));
    }
    let role_byte = r.take(1)?[0];
    let role = Role::from_byte(role_byte).ok_or_else(|| malformed(format!("unknown role {role_byte}")))?;
    let u64_field = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
    let issued_at = u64_field(r.take(8)?);
    let capacity = u64_field(r.take(8)?);
    let public_key: [u8; PUBLIC_KEY_LEN] = r.take(PUBLIC_KEY_LEN)?.try_into().expect("32 bytes");
    let count = r.take(1)?[0] as usize;
    if count > MAX_ADDRS {
        return Err(too_large(format!("{count} addresses, the limit is {MAX_ADDRS}")));
    }
    let mut addrs = Vec::with_capacity(count);
    for _ in 0..count {
        let len = u16::from_be_bytes(r.take(2)?.try_into().expect("2 bytes")) as usize;
        if len > MAX_ADDR_BYTES {
            return Err(too_large(format!("an address of {len} bytes, the limit is {MAX_ADDR_BYTES}")));
        }
        let text = core::str::from_utf8(r.take(len)?).map_err(|_| malformed("an address is not valid UTF-8"))?;
        addrs.push(text.to_owned());
    }
    // Exactly a signature must remain: fewer bytes is a cut record, more is not this record.
    let signed_len = bytes.len().saturating_sub(SIGNATURE_LEN);
    if r.at + SIGNATURE_LEN > bytes.len() {
        return Err(malformed("it ends inside the signature"));
    }
    if r.at != signed_len {
        return Err(malformed("bytes after the signature"));
    }
    let fields = MemberFields { role, issued_at, capacity, addrs };
    check_fields(&fields)?;
    Ok((fields, public_key, signed_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58_keeps_leading_zeros_and_matches_known_values() {
        assert_eq!(base58btc(&[]), "");
        assert_eq!(base58btc(&[0]), "1");
        assert_eq!(base58btc(&[0, 0, 1]), "112");
        assert_eq!(base58btc(&[57]), "z");
        assert_eq!(base58btc(&[58]), "21");
        assert_eq!(base58btc(b"hello world"), "StV1DL6CwTryKyV");
    }
}
