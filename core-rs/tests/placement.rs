//! Placement (src/placement.rs) against a brute-force model written here from the
//! definition alone (DESIGN.md §5): positions are SHA-256 digests (a soul's UTF-8 bytes,
//! a peer id's multihash bytes), distance is XOR read as a 256-bit big-endian integer,
//! and a soul's owners are the `replicas` closest members. Routing splits a frame by
//! owner without altering a single update byte.

use proptest::prelude::*;
use rustdht_core::codec::{decode, encode, update_len};
use rustdht_core::config::Config;
use rustdht_core::crypto::{KeyPair, Signed};
use rustdht_core::placement::{peer_position, soul_position, Placement};
use rustdht_core::update::Update;
use rustdht_core::{Engine, Outcome, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

const NOW: f64 = 1_700_000_000_000.0;

/// The owners by definition: every member's distance computed and all of them sorted.
/// `[u8; 32]` arrays compare lexicographically, which is big-endian integer order.
fn brute_force_owners(members: &[Vec<u8>], replicas: usize, soul: &str) -> Vec<u32> {
    let target: [u8; 32] = Sha256::digest(soul.as_bytes()).into();
    let mut by_distance: Vec<([u8; 32], u32)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let position: [u8; 32] = Sha256::digest(m).into();
            let mut d = [0u8; 32];
            for j in 0..32 {
                d[j] = position[j] ^ target[j];
            }
            (d, i as u32)
        })
        .collect();
    by_distance.sort();
    by_distance.into_iter().take(replicas).map(|(_, i)| i).collect()
}

/// 1 to 60 distinct 38-byte member ids (the length of an Ed25519 peer id's multihash).
fn members_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 38), 1..=60).prop_map(|ids| {
        let mut seen = HashSet::new();
        ids.into_iter().filter(|id| seen.insert(id.clone())).collect()
    })
}

fn soul_strategy() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z]{1,8}", "\\PC{1,12}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn owners_are_the_closest_members(
        members in members_strategy(),
        replicas in 1usize..=5,
        souls in prop::collection::vec(soul_strategy(), 1..20),
    ) {
        let placement = Placement::new(members.clone(), replicas).unwrap();
        let k = replicas.min(members.len());
        prop_assert_eq!(placement.replicas(), k);
        prop_assert_eq!(placement.size(), members.len());
        let mut flat = Vec::new();
        for soul in &souls {
            let owners = placement.owners(soul);
            prop_assert_eq!(&owners, &brute_force_owners(&members, replicas, soul), "soul {:?}", soul);
            flat.extend(owners);
        }
        prop_assert_eq!(placement.owners_of(&souls), flat);
    }
}

/// The routing-table neighbours by definition: every other member's XOR distance and its
/// bucket (shared prefix length, counted bit by bit), the `per_bucket` closest of each
/// bucket, buckets from the shortest shared prefix to the longest.
fn brute_force_neighbours(members: &[Vec<u8>], member: usize, per_bucket: usize) -> Vec<u32> {
    let position = |m: &Vec<u8>| -> [u8; 32] { Sha256::digest(m).into() };
    let own = position(&members[member]);
    let mut all: Vec<(u32, [u8; 32], u32)> = Vec::new();
    for (i, m) in members.iter().enumerate() {
        if i == member {
            continue;
        }
        let p = position(m);
        let mut d = [0u8; 32];
        for j in 0..32 {
            d[j] = own[j] ^ p[j];
        }
        let shared = (0..256).take_while(|bit| d[bit / 8] & (0x80 >> (bit % 8)) == 0).count() as u32;
        all.push((shared, d, i as u32));
    }
    all.sort();
    let mut out = Vec::new();
    let mut taken: Vec<(u32, usize)> = Vec::new();
    for (bucket, _, i) in all {
        let count = match taken.last_mut() {
            Some((b, n)) if *b == bucket => n,
            _ => {
                taken.push((bucket, 0));
                &mut taken.last_mut().unwrap().1
            }
        };
        if *count < per_bucket {
            *count += 1;
            out.push(i);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn neighbours_are_the_closest_of_each_bucket(members in members_strategy(), per_bucket in 0usize..=4, pick in any::<prop::sample::Index>()) {
        let placement = Placement::new(members.clone(), 3).unwrap();
        let member = pick.index(members.len());
        let neighbours = placement.neighbours(member, per_bucket);
        prop_assert_eq!(&neighbours, &brute_force_neighbours(&members, member, per_bucket));
        prop_assert!(!neighbours.contains(&(member as u32)));
        prop_assert!(placement.neighbours(members.len(), per_bucket).is_empty());
    }
}

/// With one member per bucket already, the kept links join every member: gossip over
/// them reaches the whole network (the reason `neighbours` keeps farther buckets too).
#[test]
fn neighbour_links_connect_every_member() {
    for n in [2usize, 10, 100, 300] {
        let members: Vec<Vec<u8>> = (0..n).map(|i| Sha256::digest(format!("member {i}")).to_vec()).collect();
        let placement = Placement::new(members, 3).unwrap();
        let mut reached = vec![false; n];
        let mut stack = vec![0usize];
        reached[0] = true;
        while let Some(m) = stack.pop() {
            for next in placement.neighbours(m, 1) {
                let next = next as usize;
                if !reached[next] {
                    reached[next] = true;
                    stack.push(next);
                }
            }
        }
        assert!(reached.iter().all(|r| *r), "{n} members: not all reached");
        let most = (0..n).map(|m| placement.neighbours(m, 2).len()).max().unwrap();
        assert!(most <= 2 * 20, "{n} members: a member keeps {most} links");
    }
}

/// Few souls, so that updates of one soul come in runs (encoded with "same soul as the
/// previous update") and also recur after others; some signed.
fn update_strategy() -> impl Strategy<Value = Update> {
    (
        prop::sample::select(vec!["a", "b", "c", "room/1", "é😀", "x/y"]),
        prop::sample::select(vec!["k", "title", "ключ"]),
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-1e6f64..1e6).prop_map(Value::Number),
            "\\PC{0,30}".prop_map(Value::Text),
            Just(Value::Link("a".into())),
        ],
        1.0f64..1e12,
        prop::option::weighted(0.3, prop::sample::select(vec![1u8, 2])),
    )
        .prop_map(|(soul, key, value, state, signer)| {
            let mut u = Update { soul: soul.into(), key: key.into(), value, state, signed: None };
            if let Some(seed) = signer {
                let pair = KeyPair::from_seed(&[seed; 32]);
                u.signed = Some(Signed { signer: *pair.public_key(), signature: pair.sign(&u.message()) });
            }
            u
        })
}

fn put_varint(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn routing_puts_each_update_in_exactly_its_owners_frames(
        members in members_strategy(),
        replicas in 1usize..=5,
        updates in prop::collection::vec(update_strategy(), 0..40),
    ) {
        let frame = encode(&updates);
        // Where each update's bytes lie in the frame, from the documented layout alone.
        let mut at = 3 + { let mut v = Vec::new(); put_varint(&mut v, updates.len() as u32); v.len() };
        let mut slices: Vec<&[u8]> = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            let same = i > 0 && updates[i - 1].soul == u.soul;
            let len = update_len(&u.soul, &u.key, &u.value, u.signed.is_some(), same);
            slices.push(&frame[at..at + len]);
            at += len;
        }
        prop_assert_eq!(at, frame.len());

        let placement = Placement::new(members.clone(), replicas).unwrap();
        let routed = placement.route_frame(&frame).unwrap();
        prop_assert_eq!(routed.frames.len(), members.len());
        let owners_of_update: Vec<Vec<u32>> = updates.iter().map(|u| brute_force_owners(&members, replicas, &u.soul)).collect();
        for (m, routed_frame) in routed.frames.iter().enumerate() {
            let mine: Vec<usize> = (0..updates.len()).filter(|&i| owners_of_update[i].contains(&(m as u32))).collect();
            match routed_frame {
                None => prop_assert!(mine.is_empty(), "member {} owns updates but got no frame", m),
                Some(bytes) => {
                    prop_assert!(!mine.is_empty(), "member {} owns nothing but got a frame", m);
                    // The header, then the owned updates' original bytes, in order.
                    let mut expected = b"RD\x01".to_vec();
                    put_varint(&mut expected, mine.len() as u32);
                    for &i in &mine {
                        expected.extend_from_slice(slices[i]);
                    }
                    prop_assert_eq!(bytes, &expected);
                    let wanted: Vec<Update> = mine.iter().map(|&i| updates[i].clone()).collect();
                    prop_assert_eq!(decode(bytes, &Config::default()).unwrap(), wanted);
                    // A fresh engine takes it without complaint (signatures still verify).
                    let mut engine = Engine::new(Config::default()).unwrap();
                    let outcomes = engine.ingest(bytes, NOW).unwrap();
                    prop_assert_eq!(outcomes.len(), mine.len());
                    prop_assert!(outcomes.iter().all(|o| !matches!(o, Outcome::Rejected(_))), "{:?}", outcomes);
                }
            }
        }
        let mut seen = HashSet::new();
        let souls: Vec<String> = updates.iter().filter(|u| seen.insert(u.soul.clone())).map(|u| u.soul.clone()).collect();
        prop_assert_eq!(&routed.souls, &souls);
        prop_assert_eq!(routed.owners, placement.owners_of(&souls));
    }
}

#[test]
fn routing_refuses_what_ingest_refuses() {
    let pair = KeyPair::from_seed(&[3; 32]);
    let mut signed = Update { soul: "b".into(), key: "k".into(), value: Value::Text("v".into()), state: 5.0, signed: None };
    signed.signed = Some(Signed { signer: *pair.public_key(), signature: pair.sign(&signed.message()) });
    let updates = vec![
        Update { soul: "a".into(), key: "k".into(), value: Value::Number(1.5), state: 5.0, signed: None },
        Update { soul: "a".into(), key: "j".into(), value: Value::Null, state: 5.0, signed: None },
        signed,
    ];
    let frame = encode(&updates);
    let members: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 38]).collect();
    let placement = Placement::new(members.clone(), 2).unwrap();
    let mut bad_frames: Vec<Vec<u8>> = (0..frame.len()).map(|cut| frame[..cut].to_vec()).collect();
    bad_frames.push([frame.as_slice(), &[0]].concat());
    let mut bad_flags = frame.clone();
    bad_flags[4] = 0x80;
    bad_frames.push(bad_flags);
    for bad in &bad_frames {
        let mut engine = Engine::new(Config::default()).unwrap();
        let expected = engine.ingest(bad, NOW).unwrap_err();
        assert_eq!(placement.route_frame(bad).unwrap_err(), expected, "frame {bad:?}");
    }
    // Under the limits of the engine that will ingest the routed frames.
    let strict = Config { max_batch_updates: 2, ..Config::default() };
    let placement = Placement::with_limits(members, 2, strict.clone()).unwrap();
    let expected = Engine::new(strict).unwrap().ingest(&frame, NOW).unwrap_err();
    assert_eq!(placement.route_frame(&frame).unwrap_err(), expected);
    assert_eq!(expected.code(), "limit/batch");
}

#[test]
fn an_empty_frame_routes_to_no_one_and_no_members_route_nothing() {
    let members: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 38]).collect();
    let routed = Placement::new(members, 3).unwrap().route_frame(&encode(&[])).unwrap();
    assert_eq!(routed.frames, vec![None; 4]);
    assert!(routed.souls.is_empty() && routed.owners.is_empty());

    let nobody = Placement::new(Vec::new(), 3).unwrap();
    assert_eq!((nobody.size(), nobody.replicas()), (0, 0));
    assert!(nobody.owners("a").is_empty());
    let frame = encode(&[Update { soul: "a".into(), key: "k".into(), value: Value::Null, state: 1.0, signed: None }]);
    let routed = nobody.route_frame(&frame).unwrap();
    assert!(routed.frames.is_empty() && routed.owners.is_empty());
    assert_eq!(routed.souls, vec!["a"]);
}

#[test]
fn duplicate_members_and_zero_replicas_are_refused() {
    let a = vec![1u8; 38];
    let b = vec![2u8; 38];
    let err = Placement::new(vec![a.clone(), b, a], 2).unwrap_err();
    assert_eq!(err.code(), "placement/duplicate-member");
    assert!(err.to_string().contains("member 2"), "{err}");
    assert_eq!(Placement::new(vec![vec![1u8; 38]], 0).unwrap_err().code(), "placement/invalid");
}

/// base58btc decoding, written here independently of the engine's encoder.
fn base58_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut number: Vec<u8> = Vec::new(); // big-endian bytes
    for c in text.chars() {
        let mut carry = ALPHABET.find(c).expect("a base58 character") as u32;
        for byte in number.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            number.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    let zeros = text.chars().take_while(|c| *c == '1').count();
    [vec![0; zeros], number].concat()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// kad-dht places a peer at SHA-256 of its peer id's multihash bytes (`convertPeerId`)
/// and a key at SHA-256 of its bytes; ours must be the same points. The peer id is the
/// one libp2p gives the Ed25519 key of seed [7; 32]; the digest was computed with
/// node:crypto's sha256 over the multihash bytes.
#[test]
fn positions_are_kad_dht_positions() {
    let peer_id = "12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7";
    let multihash = base58_decode(peer_id);
    assert_eq!(hex(&multihash), "002408011220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c");
    let position = peer_position(&multihash);
    assert_eq!(position, <[u8; 32]>::from(Sha256::digest(&multihash)));
    assert_eq!(hex(&position), "f88ff96e561cd45e0f266f269a5e4c79e40e7567bb2752a11294cd0438055a0b");
    assert_ne!(position, <[u8; 32]>::from(Sha256::digest(peer_id.as_bytes())), "the bytes, not the text");
    assert_eq!(hex(&soul_position("hello")), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

/// Placement's stated workload: 10,000 souls × 100 members. Checked against the brute
/// force on a sample here; `cargo test --release --test placement -- --ignored
/// --nocapture` prints how long the batch takes.
#[test]
fn ten_thousand_souls_and_a_hundred_members() {
    let members: Vec<Vec<u8>> = (0..100u32).map(|i| Sha256::digest(i.to_be_bytes()).to_vec()).collect();
    let souls: Vec<String> = (0..10_000).map(|i| format!("soul/{i}")).collect();
    let placement = Placement::new(members.clone(), 3).unwrap();
    let flat = placement.owners_of(&souls);
    assert_eq!(flat.len(), 30_000);
    for i in (0..souls.len()).step_by(97) {
        assert_eq!(&flat[i * 3..i * 3 + 3], brute_force_owners(&members, 3, &souls[i]).as_slice());
    }
    // Every member owns some souls: positions spread over the whole space.
    let owned: HashSet<u32> = flat.iter().copied().collect();
    assert_eq!(owned.len(), 100);
}

#[test]
#[ignore = "timing: run with --release --ignored --nocapture"]
fn time_owners_and_routing() {
    use std::time::Instant;
    let members: Vec<Vec<u8>> = (0..100u32).map(|i| Sha256::digest(i.to_be_bytes()).to_vec()).collect();
    let souls: Vec<String> = (0..10_000).map(|i| format!("soul/{i}")).collect();
    for replicas in [3, 5] {
        let placement = Placement::new(members.clone(), replicas).unwrap();
        let _ = placement.owners_of(&souls);
        let start = Instant::now();
        let rounds = 20;
        for _ in 0..rounds {
            std::hint::black_box(placement.owners_of(std::hint::black_box(&souls)));
        }
        println!("owners_of: 10,000 souls x 100 members, replicas {replicas}: {:?} per call", start.elapsed() / rounds);
    }
    let updates: Vec<Update> = (0..10_000)
        .map(|i| Update { soul: format!("soul/{}", i / 2), key: format!("k{i}"), value: Value::Number(i as f64), state: 1.0, signed: None })
        .collect();
    let frame = encode(&updates);
    let placement = Placement::new(members, 3).unwrap();
    let start = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        std::hint::black_box(placement.route_frame(std::hint::black_box(&frame)).unwrap());
    }
    println!("route_frame: 10,000 updates over 5,000 souls, 100 members, replicas 3 ({} bytes): {:?} per call", frame.len(), start.elapsed() / rounds);
}
