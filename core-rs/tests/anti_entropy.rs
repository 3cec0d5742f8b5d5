//! Anti-entropy digests and reconciliation (src/digest.rs): a soul's digest depends on
//! its stored records and on nothing else (not their order, not which peer wrote them),
//! changes with any of them, and two sets of soul digests reconcile to exactly their
//! difference, from symbols only; no bytes a peer sends make it panic or loop.

use proptest::prelude::*;
use rustdht_core::codec::encode;
use rustdht_core::config::Config;
use rustdht_core::crypto::{KeyPair, Signed};
use rustdht_core::digest::{
    content_digest, encode_symbols, members_digest, soul_digest, DigestError, Range, Reconciliation, ITEM_LEN, MAX_SYMBOLS,
    MAX_SYMBOLS_PER_CALL,
};
use rustdht_core::update::Update;
use rustdht_core::{Engine, LocalWrite, Value};
use std::collections::BTreeSet;

const NOW: f64 = 1_700_000_000_000.0;
const SALT: [u8; 8] = *b"saltsalt";

/// What a store keeps of the last call's changes: one single-update frame per property.
fn records_of(changes: &[Update]) -> Vec<Vec<u8>> {
    changes.iter().map(|u| encode(std::slice::from_ref(u))).collect()
}

fn digest_of(records: &[Vec<u8>]) -> [u8; 16] {
    content_digest(records.iter().map(Vec::as_slice))
}

fn write(soul: &str, key: &str, value: Value) -> LocalWrite {
    LocalWrite { soul: soul.into(), key: key.into(), value }
}

#[test]
fn the_same_state_is_stored_as_the_same_bytes_by_every_peer() {
    // A writes (unsigned and signed); B takes A's changes from the wire; C takes them one
    // by one in reverse order. Each stores the records its own changes report.
    let mut a = Engine::new(Config::default()).unwrap();
    let pair = KeyPair::from_seed(&[9; 32]);
    let space = format!("~{}", rustdht_core::crypto::encode_public_key(pair.public_key()));
    a.write(vec![write("room", "title", Value::Text("hi".into())), write("room", "n", Value::Number(-0.0))], NOW, None).unwrap();
    let mut unsigned = records_of(a.last_changes());
    a.write(vec![write(&space, "name", Value::Text("ann".into()))], NOW, Some(&pair)).unwrap();
    let signed = records_of(a.last_changes());
    let mut all = unsigned.clone();
    all.extend(signed.iter().cloned());

    let mut b = Engine::new(Config::default()).unwrap();
    let frame: Vec<u8> = {
        let mut updates = a.node_updates("room", None);
        updates.extend(a.node_updates(&space, None));
        encode(&updates)
    };
    b.ingest(&frame, NOW).unwrap();
    let mut from_b = records_of(b.last_changes());

    let mut c = Engine::new(Config::default()).unwrap();
    let mut from_c = Vec::new();
    for record in all.iter().rev() {
        c.ingest(record, NOW).unwrap();
        from_c.extend(records_of(c.last_changes()));
    }
    all.sort();
    from_b.sort();
    from_c.sort();
    assert_eq!(from_b, all);
    assert_eq!(from_c, all);
    unsigned.reverse();
    assert_eq!(digest_of(&unsigned), content_digest(records_of(&a.node_updates("room", None)).iter().map(Vec::as_slice)));
}

#[test]
fn a_digest_from_memory_equals_the_digest_of_the_stored_records() {
    // What a store keeps of a soul is every change's record; the engine holding the same
    // node computes the same digest from memory, for unsigned and signed properties, and
    // after a property was overwritten (the store then keeps only the new record).
    let mut a = Engine::new(Config::default()).unwrap();
    let pair = KeyPair::from_seed(&[7; 32]);
    let space = format!("~{}", rustdht_core::crypto::encode_public_key(pair.public_key()));
    let mut stored: std::collections::BTreeMap<(String, String), Vec<u8>> = Default::default();
    let mut keep = |e: &Engine| {
        for u in e.last_changes() {
            stored.insert((u.soul.clone(), u.key.clone()), encode(std::slice::from_ref(u)));
        }
    };
    a.write(vec![write("room", "title", Value::Text("hi".into())), write("room", "n", Value::Number(1.0))], NOW, None).unwrap();
    keep(&a);
    a.write(vec![write(&space, "name", Value::Text("ann".into()))], NOW, Some(&pair)).unwrap();
    keep(&a);
    a.write(vec![write("room", "n", Value::Number(2.0))], NOW + 1.0, None).unwrap();
    keep(&a);
    let records = |soul: &str| stored.iter().filter(|((s, _), _)| s == soul).map(|(_, r)| r.clone()).collect::<Vec<_>>();
    let souls = vec!["room".to_string(), space.clone(), "nobody".to_string()];
    let from_memory = a.resident_digests(&souls);
    assert_eq!(from_memory[0], Some(soul_digest("room", records("room").iter().map(Vec::as_slice))));
    assert_eq!(from_memory[1], Some(soul_digest(&space, records(&space).iter().map(Vec::as_slice))));
    assert_eq!(from_memory[2], None);
    assert_eq!(records("room").len(), 2);
}

#[test]
fn conflicting_versions_leave_the_same_winner_on_every_peer() {
    // Equal states, different values and signers: the tie-break (ham.rs) picks one winner
    // whatever the order, so both peers store the same record and the same digest.
    let one = KeyPair::from_seed(&[1; 32]);
    let two = KeyPair::from_seed(&[2; 32]);
    let version = |pair: &KeyPair, text: &str| {
        let mut u = Update { soul: "s".into(), key: "k".into(), value: Value::Text(text.into()), state: NOW - 5.0, signed: None };
        u.signed = Some(Signed { signer: *pair.public_key(), signature: pair.sign(&u.message()) });
        encode(&[u])
    };
    let (x, y, z) = (version(&one, "same"), version(&two, "same"), version(&two, "other"));
    let mut stored = Vec::new();
    for order in [[&x, &y, &z], [&z, &y, &x], [&y, &x, &z]] {
        let mut e = Engine::new(Config::default()).unwrap();
        for frame in order {
            e.ingest(frame, NOW).unwrap();
        }
        stored.push(digest_of(&records_of(&e.node_updates("s", None))));
    }
    assert!(stored.windows(2).all(|w| w[0] == w[1]));
}

fn records_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::btree_set(prop::collection::vec(any::<u8>(), 1..40), 1..30).prop_map(|set| set.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_digest_does_not_depend_on_the_order_of_the_records(records in records_strategy(), seed in any::<u64>()) {
        let mut shuffled = records.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(digest_of(&records), digest_of(&shuffled));
        prop_assert_eq!(soul_digest("s", records.iter().map(Vec::as_slice)), soul_digest("s", shuffled.iter().map(Vec::as_slice)));
    }

    #[test]
    fn any_change_to_the_records_changes_the_digest(records in records_strategy(), which in any::<prop::sample::Index>(), byte in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let before = digest_of(&records);
        let i = which.index(records.len());
        // One byte altered.
        let mut altered = records.clone();
        let j = byte.index(altered[i].len());
        altered[i][j] ^= flip;
        prop_assert_ne!(digest_of(&altered), before);
        // One record missing.
        let mut fewer = records.clone();
        fewer.remove(i);
        prop_assert_ne!(digest_of(&fewer), before);
        // One record more.
        let mut more = records.clone();
        more.push(b"another record".to_vec());
        prop_assert_ne!(digest_of(&more), before);
    }

    #[test]
    fn a_soul_digest_is_the_souls_position_then_its_content(soul in "\\PC{1,20}", records in records_strategy()) {
        let item = soul_digest(&soul, records.iter().map(Vec::as_slice));
        prop_assert_eq!(&item[..4], &rustdht_core::placement::soul_position(&soul)[..4]);
        prop_assert_eq!(&item[4..], &digest_of(&records)[..8]);
    }
}

fn item(n: u64) -> [u8; ITEM_LEN] {
    // Soul digests of distinct souls: SHA-256 output in practice; a hash of n here.
    use sha2::{Digest, Sha256};
    Sha256::digest(n.to_be_bytes())[..ITEM_LEN].try_into().unwrap()
}

fn flat(items: &[[u8; ITEM_LEN]]) -> Vec<u8> {
    items.concat()
}

/// Runs a reconciliation as the SDK does: batches of symbols (first 16, then growing by
/// half) until decoded. Returns the reconciliation and the symbols it took.
fn reconcile(local: &[[u8; ITEM_LEN]], remote: &[[u8; ITEM_LEN]], range: Range) -> (Reconciliation, usize) {
    let remote = flat(remote);
    let mut r = Reconciliation::new(&flat(local), &SALT, range).unwrap();
    let mut end = 16;
    loop {
        let start = r.received();
        let bytes = encode_symbols(&remote, &SALT, range, start, end).unwrap();
        if r.add(&bytes, end - start).unwrap() {
            return (r, end);
        }
        end = (end + end / 2).min(start + MAX_SYMBOLS_PER_CALL);
        assert!(end <= MAX_SYMBOLS, "no decode within the limit");
    }
}

fn split(shared: u64, only_local: u64, only_remote: u64) -> (Vec<[u8; ITEM_LEN]>, Vec<[u8; ITEM_LEN]>) {
    let mut local: Vec<_> = (0..shared).map(item).collect();
    let mut remote = local.clone();
    local.extend((1_000_000..1_000_000 + only_local).map(item));
    remote.extend((2_000_000..2_000_000 + only_remote).map(item));
    (local, remote)
}

#[test]
fn sets_in_sync_settle_with_one_symbol() {
    let (local, remote) = split(5000, 0, 0);
    let mut r = Reconciliation::new(&flat(&local), &SALT, Range::ALL).unwrap();
    let bytes = encode_symbols(&flat(&remote), &SALT, Range::ALL, 0, 1).unwrap();
    assert!(bytes.len() <= 12 + 4 + 2);
    assert!(r.add(&bytes, 1).unwrap());
    assert!(r.local_only().is_empty() && r.remote_only().is_empty());
    assert_eq!(r.remote_size(), Some(5000));
}

#[test]
fn one_percent_of_ten_thousand_differs_costs_about_a_symbol_and_a_half_per_item() {
    // 50 souls only here, 50 only there: 100 differing items of 10,000.
    let (local, remote) = split(9_950, 50, 50);
    let (r, symbols) = reconcile(&local, &remote, Range::ALL);
    let want_local: BTreeSet<u32> = (9_950..10_000).collect();
    assert_eq!(r.local_only().iter().copied().collect::<BTreeSet<_>>(), want_local);
    let want_remote: BTreeSet<_> = (2_000_000..2_000_050).map(item).collect();
    assert_eq!(r.remote_only().iter().copied().collect::<BTreeSet<_>>(), want_remote);
    let bytes = encode_symbols(&flat(&remote), &SALT, Range::ALL, 0, symbols).unwrap().len();
    println!("100 differing items of 10,000: {symbols} symbols, {bytes} bytes ({:.1} per item)", bytes as f64 / 100.0);
    assert!(symbols <= 300, "{symbols} symbols for 100 items");
}

#[test]
fn a_range_reconciles_its_slice_only() {
    let (local, remote) = split(3000, 40, 40);
    let mut found_local = BTreeSet::new();
    let mut found_remote = BTreeSet::new();
    for prefix in 0..4 {
        let range = Range::new(2, prefix).unwrap();
        let (r, _) = reconcile(&local, &remote, range);
        for &i in r.local_only() {
            assert!(range.contains(&local[i as usize]));
            assert!(found_local.insert(i));
        }
        for item in r.remote_only() {
            assert!(range.contains(item));
            assert!(found_remote.insert(*item));
        }
    }
    assert_eq!(found_local.len(), 40);
    assert_eq!(found_remote.len(), 40);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn reconciliation_finds_exactly_the_difference(shared in 0u64..3000, only_local in 0u64..60, only_remote in 0u64..60) {
        let (local, remote) = split(shared, only_local, only_remote);
        let (r, _) = reconcile(&local, &remote, Range::ALL);
        let want_local: BTreeSet<u32> = (shared as u32..(shared + only_local) as u32).collect();
        prop_assert_eq!(r.local_only().iter().copied().collect::<BTreeSet<_>>(), want_local);
        prop_assert_eq!(r.remote_only().len() as u64, only_remote);
        let want_remote: BTreeSet<_> = (2_000_000..2_000_000 + only_remote).map(item).collect();
        prop_assert_eq!(r.remote_only().iter().copied().collect::<BTreeSet<_>>(), want_remote);
    }

    #[test]
    fn no_bytes_make_a_reconciliation_panic_or_loop(batches in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..400), 0usize..20), 1..6)) {
        let (local, _) = split(200, 0, 0);
        let mut r = Reconciliation::new(&flat(&local), &SALT, Range::ALL).unwrap();
        for (bytes, count) in batches {
            match r.add(&bytes, count) {
                Ok(_) => {}
                Err(DigestError::Malformed(_) | DigestError::Undecodable(_)) => {}
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn symbols_of_a_real_set_with_a_garbled_byte_never_panic(index in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (local, remote) = split(500, 5, 5);
        let mut bytes = encode_symbols(&flat(&remote), &SALT, Range::ALL, 0, 64).unwrap();
        let i = index.index(bytes.len());
        bytes[i] ^= flip;
        let mut r = Reconciliation::new(&flat(&local), &SALT, Range::ALL).unwrap();
        let _ = r.add(&bytes, 64);
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    let items = flat(&[item(1), item(2)]);
    let code = |e: DigestError| e.code();
    assert_eq!(code(encode_symbols(&items[..13], &SALT, Range::ALL, 0, 1).unwrap_err()), "digest/invalid");
    assert_eq!(code(encode_symbols(&items, &SALT[..7], Range::ALL, 0, 1).unwrap_err()), "digest/invalid");
    assert_eq!(code(encode_symbols(&items, &SALT, Range::ALL, 5, 4).unwrap_err()), "digest/invalid");
    assert_eq!(code(encode_symbols(&items, &SALT, Range::ALL, 0, MAX_SYMBOLS_PER_CALL + 1).unwrap_err()), "digest/too-large");
    assert_eq!(code(encode_symbols(&items, &SALT, Range::ALL, MAX_SYMBOLS, MAX_SYMBOLS + 1).unwrap_err()), "digest/too-large");
    assert_eq!(code(Range::new(25, 0).unwrap_err()), "digest/invalid");
    assert_eq!(code(Range::new(3, 8).unwrap_err()), "digest/invalid");
    assert_eq!(code(Reconciliation::new(&flat(&[item(1), item(1)]), &SALT, Range::ALL).err().unwrap()), "digest/invalid");

    let mut r = Reconciliation::new(&items, &SALT, Range::ALL).unwrap();
    let good = encode_symbols(&items, &SALT, Range::ALL, 0, 4).unwrap();
    assert_eq!(code(r.add(&good[..good.len() - 1], 4).unwrap_err()), "digest/malformed");
    let mut long = good.clone();
    long.push(0);
    assert_eq!(code(r.add(&long, 4).unwrap_err()), "digest/malformed");
    // A count of 2^53 (JavaScript cannot count it exactly), and one of 9 bytes.
    let mut huge = vec![0u8; 16];
    huge.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    assert_eq!(code(r.add(&huge, 1).unwrap_err()), "digest/malformed");
    let mut endless = vec![0u8; 16];
    endless.extend_from_slice(&[0xff; 9]);
    endless.push(0);
    assert_eq!(code(r.add(&endless, 1).unwrap_err()), "digest/malformed");
    assert_eq!(r.received(), 0, "nothing is taken from a refused batch");
    assert!(r.add(&good, 4).unwrap());
}

#[test]
fn members_digests_ignore_order_and_see_every_member_and_the_replica_count() {
    let a = vec![vec![1u8; 38], vec![2u8; 38], vec![3u8; 38]];
    let mut b = a.clone();
    b.reverse();
    assert_eq!(members_digest(&a, 3), members_digest(&b, 3));
    assert_ne!(members_digest(&a, 3), members_digest(&a, 2));
    assert_ne!(members_digest(&a, 3), members_digest(&a[..2], 3));
}
