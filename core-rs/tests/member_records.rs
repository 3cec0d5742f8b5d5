//! Signed member records (src/membership.rs): what a server signs opens to the same
//! fields and to the peer id libp2p gives its key; anything altered, cut, extended,
//! signed by another key, too old or too far ahead is refused with its code, and no
//! bytes at all make the engine panic.

use proptest::prelude::*;
use rustdht_core::crypto::KeyPair;
use rustdht_core::membership::{
    base58btc, ed25519_peer_id, open_member_record, sign_member_record, MemberFields, Role, MAX_RECORD_BYTES,
};
use rustdht_core::placement::{peer_position, Placement};

const NOW: f64 = 1_700_000_000_000.0;
const HOUR: f64 = 3_600_000.0;
const MINUTE: f64 = 60_000.0;

/// The peer id libp2p gives the Ed25519 key whose seed is 32 bytes of 7, computed once
/// with the libp2p in node_modules (@libp2p/crypto 5.1.23, @libp2p/peer-id 6.0.15):
/// `peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()`,
/// and its `.toMultihash().bytes` in hex.
const SEED_7_PEER_ID: &str = "12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7";
const SEED_7_MULTIHASH: &str = "002408011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
/// The same for a seed of 32 bytes of 42.
const SEED_42_PEER_ID: &str = "12D3KooWBXu3uGPMkjjxViK6autSnFH5QaKJgTwW8CaSxYSD6yYL";

fn fields() -> MemberFields {
    MemberFields {
        role: Role::Server,
        issued_at: NOW as u64,
        capacity: 500 * 1024 * 1024 * 1024,
        addrs: vec!["/ip4/10.0.0.7/tcp/4001".into(), "/dns4/a.example/tcp/443/wss".into(), "/ip6/::1/udp/9/quic-v1".into()],
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn open(bytes: &[u8]) -> Result<rustdht_core::membership::MemberRecord, rustdht_core::EngineError> {
    open_member_record(bytes, NOW, HOUR, MINUTE)
}

fn code(bytes: &[u8]) -> &'static str {
    open(bytes).unwrap_err().code()
}

#[test]
fn a_signed_record_opens_to_its_fields_and_libp2ps_peer_id() {
    let bytes = sign_member_record(&[7; 32], &fields()).unwrap();
    let record = open(&bytes).unwrap();
    assert_eq!(record.fields, fields());
    assert_eq!(record.peer_id_text, SEED_7_PEER_ID);
    assert_eq!(hex(&record.peer_id), SEED_7_MULTIHASH);
    assert_eq!(record.public_key, *KeyPair::from_seed(&[7; 32]).public_key());
    assert_eq!(ed25519_peer_id(&record.public_key), record.peer_id);
    assert_eq!(base58btc(&record.peer_id), SEED_7_PEER_ID);

    let leaving = MemberFields { role: Role::Leaving, addrs: Vec::new(), capacity: 0, ..fields() };
    let record = open(&sign_member_record(&[42; 32], &leaving).unwrap()).unwrap();
    assert_eq!(record.fields, leaving);
    assert_eq!(record.peer_id_text, SEED_42_PEER_ID);
    // The multihash bytes are what a Placement takes as a member.
    let placement = Placement::new(vec![record.peer_id.to_vec()], 1).unwrap();
    assert_eq!(placement.owners("any soul"), vec![0]);
    assert_eq!(peer_position(&record.peer_id).len(), 32);
}

#[test]
fn the_record_is_the_documented_layout() {
    // Built by hand from the format in membership.rs and signed over the domain prefix:
    // the engine's own signer must produce these very bytes (Ed25519 is deterministic).
    let pair = KeyPair::from_seed(&[7; 32]);
    let f = fields();
    let mut bytes = b"RDM\x01\x01".to_vec();
    bytes.extend_from_slice(&f.issued_at.to_be_bytes());
    bytes.extend_from_slice(&f.capacity.to_be_bytes());
    bytes.extend_from_slice(pair.public_key());
    bytes.push(f.addrs.len() as u8);
    for a in &f.addrs {
        bytes.extend_from_slice(&(a.len() as u16).to_be_bytes());
        bytes.extend_from_slice(a.as_bytes());
    }
    let signature = pair.sign(&[b"rustdht/member/1\0".as_slice(), &bytes].concat());
    bytes.extend_from_slice(&signature);
    assert_eq!(sign_member_record(&[7; 32], &f).unwrap(), bytes);
    // A signature over the bare bytes (no domain prefix) is not a member record's.
    let mut undomained = bytes[..bytes.len() - 64].to_vec();
    undomained.extend_from_slice(&pair.sign(&bytes[..bytes.len() - 64]));
    assert_eq!(code(&undomained), "member/bad-signature");
}

/// A record made by hand (fields the signer would refuse), signed properly.
fn craft(seed: u8, body: impl FnOnce(&mut Vec<u8>, &[u8; 32])) -> Vec<u8> {
    let pair = KeyPair::from_seed(&[seed; 32]);
    let mut bytes = Vec::new();
    body(&mut bytes, pair.public_key());
    let signature = pair.sign(&[b"rustdht/member/1\0".as_slice(), &bytes].concat());
    bytes.extend_from_slice(&signature);
    bytes
}

fn header(out: &mut Vec<u8>, key: &[u8; 32], role: u8, issued_at: u64, capacity: u64) {
    out.extend_from_slice(b"RDM\x01");
    out.push(role);
    out.extend_from_slice(&issued_at.to_be_bytes());
    out.extend_from_slice(&capacity.to_be_bytes());
    out.extend_from_slice(key);
}

#[test]
fn every_field_tampered_breaks_the_signature() {
    let bytes = sign_member_record(&[7; 32], &fields()).unwrap();
    let tampered = |at: usize, byte: u8| {
        let mut b = bytes.clone();
        b[at] = byte;
        b
    };
    assert_eq!(code(&tampered(4, 2)), "member/bad-signature", "role server → leaving");
    assert_eq!(code(&tampered(12, bytes[12] ^ 1)), "member/bad-signature", "issued_at (last byte)");
    assert_eq!(code(&tampered(20, bytes[20] ^ 0x10)), "member/bad-signature", "capacity (last byte)");
    for at in [21, 30, 52] {
        assert_eq!(code(&tampered(at, bytes[at] ^ 1)), "member/bad-signature", "public key byte {at}");
    }
    let first_addr = 21 + 32 + 1 + 2;
    assert_eq!(code(&tampered(first_addr + 5, b'9')), "member/bad-signature", "an address character");
    let last = bytes.len() - 1;
    assert_eq!(code(&tampered(last - 40, bytes[last - 40] ^ 1)), "member/bad-signature", "signature R");
    assert_eq!(code(&tampered(last - 10, bytes[last - 10] ^ 1)), "member/bad-signature", "signature s");
    // Every single-bit change anywhere is refused, whatever the code.
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[at] ^= 1 << bit;
            assert!(open(&b).is_err(), "bit {bit} of byte {at} flipped");
        }
    }
}

#[test]
fn a_signature_of_another_key_is_refused() {
    let a = sign_member_record(&[7; 32], &fields()).unwrap();
    let b = sign_member_record(&[42; 32], &fields()).unwrap();
    let split = a.len() - 64;
    // A's record with B's signature, and B's key claiming A's signature.
    assert_eq!(code(&[&a[..split], &b[split..]].concat()), "member/bad-signature");
    let mut b_key_a_sig = a.clone();
    b_key_a_sig[21..53].copy_from_slice(&b[21..53]);
    assert_eq!(code(&b_key_a_sig), "member/bad-signature");
    // A key of small order (the identity point) never verifies, whatever the signature.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut weak = a.clone();
    weak[21..53].copy_from_slice(&identity);
    assert_eq!(code(&weak), "member/bad-signature");
}

#[test]
fn cut_extended_and_foreign_bytes_are_malformed() {
    let bytes = sign_member_record(&[7; 32], &fields()).unwrap();
    for cut in 0..bytes.len() {
        assert_eq!(code(&bytes[..cut]), "member/malformed", "cut at {cut}");
    }
    assert_eq!(code(&[bytes.as_slice(), &[0]].concat()), "member/malformed", "a byte after the signature");
    let mut other_magic = bytes.clone();
    other_magic[0] = b'X';
    assert_eq!(code(&other_magic), "member/malformed");
    let mut v2 = bytes.clone();
    v2[3] = 2;
    assert!(open(&v2).unwrap_err().to_string().contains("version 2"));
    // Frames are not member records.
    assert_eq!(code(b"RD\x01\x00"), "member/malformed");
}

#[test]
fn fields_the_format_forbids_are_refused_even_when_signed() {
    let signed_body = |role: u8, issued_at: u64, capacity: u64, addrs: &[&[u8]]| {
        craft(9, |out, key| {
            header(out, key, role, issued_at, capacity);
            out.push(addrs.len() as u8);
            for a in addrs {
                out.extend_from_slice(&(a.len() as u16).to_be_bytes());
                out.extend_from_slice(a);
            }
        })
    };
    let ok = signed_body(1, NOW as u64, 1, &[b"/ip4/1.2.3.4/tcp/1"]);
    assert!(open(&ok).is_ok(), "the crafting itself is right");
    assert_eq!(code(&signed_body(3, NOW as u64, 1, &[])), "member/malformed", "unknown role");
    assert_eq!(code(&signed_body(0, NOW as u64, 1, &[])), "member/malformed", "role 0");
    assert_eq!(code(&signed_body(1, NOW as u64, 1, &[b"\xff\xfe"])), "member/malformed", "invalid UTF-8");
    assert_eq!(code(&signed_body(1, NOW as u64, 1, &[b"\xed\xa0\x80"])), "member/malformed", "an encoded surrogate");
    assert_eq!(code(&signed_body(1, NOW as u64, 1, &[b""])), "member/malformed", "an empty address");
    assert_eq!(code(&signed_body(1, NOW as u64, 1 << 53, &[])), "member/malformed", "capacity beyond 2^53 - 1");
    assert_eq!(code(&signed_body(1, 1 << 60, 1, &[])), "member/malformed", "issued_at beyond 2^53 - 1");
    let long = vec![b'a'; 257];
    assert_eq!(code(&signed_body(1, NOW as u64, 1, &[&long])), "member/too-large", "an address of 257 bytes");
    let seventeen: Vec<&[u8]> = vec![b"/a"; 17];
    assert_eq!(code(&signed_body(1, NOW as u64, 1, &seventeen)), "member/too-large", "17 addresses");
    let limit = vec![b'a'; 256];
    let sixteen: Vec<&[u8]> = vec![&limit; 16];
    let largest = signed_body(1, NOW as u64, 1, &sixteen);
    assert!(largest.len() < MAX_RECORD_BYTES);
    assert_eq!(open(&largest).unwrap().fields.addrs.len(), 16, "the limits themselves are allowed");
    assert_eq!(code(&vec![0u8; MAX_RECORD_BYTES + 1]), "member/too-large");
}

#[test]
fn the_signer_refuses_what_could_not_open() {
    let sign = |f: MemberFields| sign_member_record(&[7; 32], &f).map_err(|e| e.code());
    assert_eq!(sign(MemberFields { addrs: vec!["/a".into(); 17], ..fields() }), Err("member/too-large"));
    assert_eq!(sign(MemberFields { addrs: vec!["a".repeat(257)], ..fields() }), Err("member/too-large"));
    assert_eq!(sign(MemberFields { addrs: vec![String::new()], ..fields() }), Err("member/malformed"));
    assert_eq!(sign(MemberFields { capacity: 1 << 53, ..fields() }), Err("member/malformed"));
    assert_eq!(sign(MemberFields { issued_at: u64::MAX, ..fields() }), Err("member/malformed"));
    assert!(sign(MemberFields { addrs: vec!["é".repeat(128)], ..fields() }).is_ok(), "256 bytes of UTF-8");
}

#[test]
fn age_and_skew_are_checked_at_their_edges() {
    let at = |issued_at: u64| sign_member_record(&[7; 32], &MemberFields { issued_at, ..fields() }).unwrap();
    let t = NOW as u64;
    let max_age = HOUR as u64;
    let max_skew = MINUTE as u64;
    let check = |bytes: &[u8]| open_member_record(bytes, NOW, HOUR, MINUTE).map(|_| ()).map_err(|e| e.code());
    assert_eq!(check(&at(t - max_age)), Ok(()), "exactly max age old");
    assert_eq!(check(&at(t - max_age - 1)), Err("member/stale"));
    assert_eq!(check(&at(t + max_skew)), Ok(()), "exactly max skew ahead");
    assert_eq!(check(&at(t + max_skew + 1)), Err("member/future"));
    assert_eq!(check(&at(0)), Err("member/stale"));
    // NaN fails closed; an infinite bound is no bound.
    let old = at(0);
    assert_eq!(open_member_record(&old, f64::NAN, HOUR, MINUTE).unwrap_err().code(), "member/stale");
    assert_eq!(open_member_record(&at(t), NOW, f64::NAN, MINUTE).unwrap_err().code(), "member/stale");
    assert_eq!(open_member_record(&at(t), NOW, HOUR, f64::NAN).unwrap_err().code(), "member/future");
    assert!(open_member_record(&old, NOW, f64::INFINITY, MINUTE).is_ok());
    // A forged record is refused as forged even when it is also stale.
    let mut forged = at(0);
    forged[30] ^= 1;
    assert_eq!(check(&forged), Err("member/bad-signature"));
}

#[test]
fn the_json_is_the_declared_shape() {
    let f = MemberFields { addrs: vec!["/dns4/\"quoted\"\\/tcp/1".into(), "/dns4/é.example/tcp/2".into()], ..fields() };
    let record = open(&sign_member_record(&[7; 32], &f).unwrap()).unwrap();
    assert_eq!(
        record.to_json(),
        format!(
            "{{\"peerId\":\"{SEED_7_PEER_ID}\",\"role\":\"server\",\"issuedAt\":1700000000000,\"capacity\":536870912000,\
             \"addrs\":[\"/dns4/\\\"quoted\\\"\\\\/tcp/1\",\"/dns4/é.example/tcp/2\"]}}"
        )
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random bytes never open and never panic.
    #[test]
    fn random_bytes_are_an_error(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(open(&bytes).is_err());
    }

    /// Random bytes behind a valid beginning reach the deeper checks (counts, lengths,
    /// UTF-8, the signature) and still never open or panic.
    #[test]
    fn random_tails_after_a_valid_header_are_an_error(
        role in 0u8..4,
        count in 0u8..20,
        tail in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = Vec::new();
        header(&mut bytes, KeyPair::from_seed(&[7; 32]).public_key(), role, NOW as u64, 1);
        bytes.push(count);
        bytes.extend_from_slice(&tail);
        prop_assert!(open(&bytes).is_err());
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any fields within the limits survive signing and opening unchanged.
    #[test]
    fn any_valid_fields_round_trip(
        leaving in any::<bool>(),
        ago in 0u64..3_600_000,
        capacity in 0u64..=(1 << 53) - 1,
        addrs in prop::collection::vec("\\PC{1,60}", 0..=16),
        seed in any::<[u8; 32]>(),
    ) {
        let f = MemberFields { role: if leaving { Role::Leaving } else { Role::Server }, issued_at: NOW as u64 - ago, capacity, addrs };
        let record = open(&sign_member_record(&seed, &f).unwrap()).unwrap();
        prop_assert_eq!(&record.fields, &f);
        prop_assert!(record.peer_id_text.starts_with("12D3KooW"), "{}", record.peer_id_text);
        prop_assert_eq!(record.peer_id_text.len(), 52);
    }
}
