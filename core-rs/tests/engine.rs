//! The batch entry point end to end: frames in, outcomes and changes out.

use rustdht_core::codec::{decode, encode};
use rustdht_core::config::Config;
use rustdht_core::crypto::{content_key, encode_public_key, KeyPair, Signed};
use rustdht_core::update::Update;
use rustdht_core::error::WriteError;
use rustdht_core::{Engine, EngineError, LocalWrite, Outcome, Rejection, Value};

const NOW: f64 = 1_700_000_000_000.0;

fn engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

fn update(soul: &str, key: &str, value: Value, state: f64) -> Update {
    Update { soul: soul.into(), key: key.into(), value, state, signed: None }
}

fn signed_by(pair: &KeyPair, mut u: Update) -> Update {
    let signature = pair.sign(&u.message());
    u.signed = Some(Signed { signer: *pair.public_key(), signature });
    u
}

fn write(soul: &str, key: &str, value: Value) -> LocalWrite {
    LocalWrite { soul: soul.into(), key: key.into(), value }
}

fn value_of(e: &Engine, soul: &str, key: &str) -> Option<Value> {
    e.node(soul)?.props.get(key).map(|p| p.value.clone())
}

#[test]
fn ingest_applies_and_reapplication_changes_nothing() {
    let mut e = engine();
    let frame = encode(&[update("a", "x", Value::Number(1.0), 10.0), update("a", "y", Value::Null, 10.0)]);
    assert_eq!(e.ingest(&frame, NOW).unwrap(), vec![Outcome::Applied, Outcome::Applied]);
    assert_eq!(e.last_changes().len(), 2);
    assert_eq!(e.ingest(&frame, NOW).unwrap(), vec![Outcome::Ignored, Outcome::Ignored]);
    assert!(e.last_changes().is_empty(), "an idempotent re-application is not a change");
}

#[test]
fn malformed_frame_changes_nothing() {
    let mut e = engine();
    let mut frame = encode(&[update("a", "x", Value::Number(1.0), 10.0)]);
    frame.truncate(frame.len() - 1);
    assert_eq!(e.ingest(&frame, NOW), Err(EngineError::Truncated));
    assert!(e.node("a").is_none());
    assert_eq!(e.ingest(b"garbage", NOW).unwrap_err().code(), "decode/version");
}

#[test]
fn bad_signature_is_rejected_alone() {
    let mut e = engine();
    let pair = KeyPair::from_seed(&[5; 32]);
    let good = signed_by(&pair, update("pub", "a", Value::Text("ok".into()), 10.0));
    let mut forged = signed_by(&pair, update("pub", "b", Value::Text("ok".into()), 10.0));
    forged.value = Value::Text("tampered".into());
    let frame = encode(&[good, forged, update("pub", "c", Value::Bool(true), 10.0)]);
    let outcomes = e.ingest(&frame, NOW).unwrap();
    assert_eq!(outcomes, vec![Outcome::Applied, Outcome::Rejected(Rejection::SignatureInvalid), Outcome::Applied]);
    let node = e.node("pub").unwrap();
    assert_eq!(node.props["a"].signed.as_ref().unwrap().signer, *pair.public_key(), "signer recorded");
    assert!(!node.props.contains_key("b"));
}

#[test]
fn a_signed_update_held_exactly_is_ignored_and_any_difference_is_checked_again() {
    let mut e = engine();
    let pair = KeyPair::from_seed(&[9; 32]);
    let good = signed_by(&pair, update("pub", "a", Value::Number(0.0), 10.0));
    assert_eq!(e.ingest(&encode(&[good.clone()]), NOW).unwrap(), vec![Outcome::Applied]);
    // The same update again (another owner's feed, a repair push): nothing changes.
    assert_eq!(e.ingest(&encode(&[good.clone()]), NOW).unwrap(), vec![Outcome::Ignored]);
    // Same state and value, another signature: not what is held, so checked, and refused.
    let mut other_signature = good.clone();
    other_signature.signed.as_mut().unwrap().signature[0] ^= 1;
    assert_eq!(e.ingest(&encode(&[other_signature]), NOW).unwrap(), vec![Outcome::Rejected(Rejection::SignatureInvalid)]);
    // Same state, -0 instead of 0 under the original signature: not held (bit for bit), refused.
    let mut negative_zero = good.clone();
    negative_zero.value = Value::Number(-0.0);
    assert_eq!(e.ingest(&encode(&[negative_zero]), NOW).unwrap(), vec![Outcome::Rejected(Rejection::SignatureInvalid)]);
    // Another signer's valid signature over the same update is not the one held: checked (it verifies), and HAM decides.
    let stranger = KeyPair::from_seed(&[10; 32]);
    let restamped = signed_by(&stranger, update("pub", "a", Value::Number(0.0), 10.0));
    assert_ne!(e.ingest(&encode(&[restamped]), NOW).unwrap()[0], Outcome::Rejected(Rejection::SignatureInvalid));
    assert_eq!(e.node("pub").unwrap().props["a"].value, Value::Number(0.0));
}

#[test]
fn protected_space_accepts_only_its_owner() {
    let mut e = engine();
    let owner = KeyPair::from_seed(&[1; 32]);
    let intruder = KeyPair::from_seed(&[2; 32]);
    let soul = format!("~{}", encode_public_key(owner.public_key()));
    let frame = encode(&[
        signed_by(&owner, update(&soul, "name", Value::Text("alice".into()), 10.0)),
        signed_by(&intruder, update(&soul, "name", Value::Text("mallory".into()), 11.0)),
        update(&soul, "name", Value::Text("anon".into()), 12.0),
    ]);
    assert_eq!(
        e.ingest(&frame, NOW).unwrap(),
        vec![
            Outcome::Applied,
            Outcome::Rejected(Rejection::NotOwner),
            Outcome::Rejected(Rejection::SignatureMissing)
        ]
    );
    assert_eq!(value_of(&e, &soul, "name"), Some(Value::Text("alice".into())));
}

#[test]
fn content_space_is_hash_checked_and_immutable() {
    let mut e = engine();
    let v = Value::Text("immutable".into());
    let key = content_key(&v);
    let frame = encode(&[
        update("#", &key, v.clone(), 10.0),
        update("#", "not-the-hash", v.clone(), 10.0),
        update("#", &key, v.clone(), 20.0),
    ]);
    assert_eq!(
        e.ingest(&frame, NOW).unwrap(),
        vec![Outcome::Applied, Outcome::Rejected(Rejection::HashMismatch), Outcome::Ignored]
    );
    assert_eq!(e.node("#").unwrap().props[&key].state, 10.0);
}

#[test]
fn deferred_update_waits_for_its_time_and_far_future_is_refused() {
    let config = Config { max_clock_skew_ms: 1000.0, ..Config::default() };
    let mut e = Engine::new(config).unwrap();
    let frame = encode(&[update("a", "x", Value::Number(1.0), NOW + 500.0), update("a", "y", Value::Null, NOW + 5000.0)]);
    assert_eq!(
        e.ingest(&frame, NOW).unwrap(),
        vec![Outcome::Deferred, Outcome::Rejected(Rejection::TooFarAhead)]
    );
    assert_eq!(e.next_deferred_at(), Some(NOW + 500.0));
    assert_eq!(e.tick(NOW + 499.0), 0);
    assert!(value_of(&e, "a", "x").is_none());
    assert_eq!(e.tick(NOW + 500.0), 1);
    assert_eq!(value_of(&e, "a", "x"), Some(Value::Number(1.0)));
    assert_eq!(e.last_changes()[0].state, NOW + 500.0);
    assert_eq!(e.next_deferred_at(), None);
}

#[test]
fn deferred_queue_is_bounded() {
    let mut e = Engine::new(Config { max_deferred: 2, ..Config::default() }).unwrap();
    let frame = encode(&[
        update("a", "1", Value::Null, NOW + 1.0),
        update("a", "2", Value::Null, NOW + 1.0),
        update("a", "3", Value::Null, NOW + 1.0),
    ]);
    let outcomes = e.ingest(&frame, NOW).unwrap();
    assert_eq!(outcomes[2], Outcome::Rejected(Rejection::DeferredQueueFull));
    assert_eq!(e.deferred_count(), 2);
}

#[test]
fn local_writes_are_stamped_signed_and_all_or_nothing() {
    let mut e = engine();
    let me = KeyPair::from_seed(&[3; 32]);
    let other = KeyPair::from_seed(&[4; 32]);
    let mine = format!("~{}", encode_public_key(me.public_key()));
    let theirs = format!("~{}", encode_public_key(other.public_key()));
    let outcomes = e
        .write(vec![write(&mine, "a", Value::Number(1.0)), write(&mine, "b", Value::Number(2.0))], NOW, Some(&me))
        .unwrap();
    assert_eq!(outcomes, vec![Outcome::Applied, Outcome::Applied]);
    let changes = e.last_changes().to_vec();
    assert!(changes[0].state < changes[1].state, "states strictly increase");
    // A peer accepts what we signed, even in the same millisecond: the second state is
    // the float just above NOW, inside the current millisecond, so not deferred.
    let mut peer = engine();
    assert_eq!(peer.ingest(&encode(&changes), NOW).unwrap(), vec![Outcome::Applied, Outcome::Applied]);
    assert_eq!(e.ingest(&encode(&changes), NOW).unwrap(), vec![Outcome::Ignored, Outcome::Ignored], "own frame back");

    let refused = e.write(vec![write(&mine, "c", Value::Null), write(&theirs, "x", Value::Null)], NOW, Some(&me));
    assert_eq!(refused, Err(WriteError { index: Some(1), error: EngineError::Rejected(Rejection::NotOwner) }));
    assert!(value_of(&e, &mine, "c").is_none(), "nothing of a refused batch is applied");
    let too_long = e.write(vec![write("s", &"k".repeat(2000), Value::Null)], NOW, None);
    assert!(matches!(too_long, Err(WriteError { index: Some(0), error: EngineError::LimitExceeded { .. } })));
}

#[test]
fn clock_moves_past_observed_states() {
    let mut e = engine();
    let remote_state = NOW - 10.0 + 0.123;
    e.ingest(&encode(&[update("a", "x", Value::Number(1.0), remote_state)]), NOW).unwrap();
    // Our wall clock is behind the remote writer's, yet our write orders after it.
    e.write(vec![write("a", "x", Value::Number(2.0))], NOW - 1000.0, None).unwrap();
    assert!(e.last_changes()[0].state > remote_state);
    assert_eq!(value_of(&e, "a", "x"), Some(Value::Number(2.0)));
}

#[test]
fn changes_frame_round_trips_through_the_codec() {
    let mut e = engine();
    let pair = KeyPair::from_seed(&[8; 32]);
    e.write(vec![write("s", "k", Value::Link("t".into())), write("s", "n", Value::Number(-0.0))], NOW, Some(&pair))
        .unwrap();
    let frame = encode(e.last_changes());
    assert_eq!(decode(&frame, &Config::default()).unwrap(), e.last_changes());
}

#[test]
fn restore_loads_own_records_without_reverifying_and_merges() {
    let pair = KeyPair::from_seed(&[6; 32]);
    let mut writer = engine();
    writer.write(vec![write("s", "a", Value::Number(1.0)), write("s", "b", Value::Number(2.0))], NOW, Some(&pair)).unwrap();
    // What a store keeps: one single-update frame per property (lastChangeRecords).
    let records: Vec<Vec<u8>> = writer.last_changes().iter().map(|u| encode(std::slice::from_ref(u))).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(writer.node_updates("s", None).len(), 2);

    let mut e = engine();
    // A newer value already in memory must survive restoring an older record.
    e.ingest(&encode(&[update("s", "b", Value::Text("newer".into()), NOW + 0.5)]), NOW + 1.0).unwrap();
    let frames: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    assert_eq!(e.restore_frames(&frames).unwrap(), 1);
    assert_eq!(e.last_changes().len(), 1, "only what changed is reported");
    assert_eq!(e.last_changes()[0].key, "a");
    assert_eq!(value_of(&e, "s", "a"), Some(Value::Number(1.0)));
    assert_eq!(value_of(&e, "s", "b"), Some(Value::Text("newer".into())));
    assert!(e.node("s").unwrap().props["a"].signed.is_some(), "signature kept");
    assert_eq!(e.node_updates("s", Some(&["a".to_string(), "zz".to_string()])).len(), 1);

    assert!(e.evict("s"));
    assert!(e.node("s").is_none());
    assert_eq!(e.graph().property_count(), 0);
}

#[test]
fn souls_of_lists_each_soul_once_and_restored_clock_never_goes_back() {
    let e = engine();
    let frame = encode(&[
        update("b", "x", Value::Null, 1.0),
        update("a", "x", Value::Null, 1.0),
        update("b", "y", Value::Null, 1.0),
    ]);
    assert_eq!(e.souls_of(&frame).unwrap(), vec!["b".to_string(), "a".to_string()]);
    assert!(e.souls_of(b"nope").is_err());

    let mut restarted = engine();
    restarted.restore_clock(NOW + 5000.0);
    restarted.write(vec![write("s", "k", Value::Null)], NOW, None).unwrap();
    assert!(restarted.last_changes()[0].state > NOW + 5000.0);
}

#[test]
fn deferred_updates_can_be_saved_and_deferred_again_after_a_restart() {
    let mut e = engine();
    let frame = encode(&[update("a", "x", Value::Number(1.0), NOW + 50.0), update("a", "y", Value::Null, NOW + 20.0)]);
    e.ingest(&frame, NOW).unwrap();
    let saved: Vec<Update> = e.deferred_updates().cloned().collect();
    assert_eq!(saved.iter().map(|u| u.key.as_str()).collect::<Vec<_>>(), vec!["y", "x"], "due order");
    let mut restarted = engine();
    assert_eq!(restarted.ingest(&encode(&saved), NOW).unwrap(), vec![Outcome::Deferred, Outcome::Deferred]);
    assert_eq!(restarted.tick(NOW + 50.0), 2);
}

#[test]
fn saved_deferred_queue_larger_than_a_batch_is_restored_in_one_call() {
    let config = Config { max_batch_updates: 10, max_deferred: 100, ..Config::default() };
    let mut e = Engine::new(config.clone()).unwrap();
    for chunk in 0..3 {
        let frame: Vec<Update> = (0..10).map(|i| update("a", &format!("{chunk}-{i}"), Value::Null, NOW + 5.0 + i as f64)).collect();
        e.ingest(&encode(&frame), NOW).unwrap();
    }
    let saved = encode(&e.deferred_updates().cloned().collect::<Vec<_>>());
    assert!(e.ingest(&saved, NOW).is_err(), "30 updates exceed one batch");
    assert_eq!(e.souls_of(&saved).unwrap(), vec!["a".to_string()]);
    let mut restarted = Engine::new(config).unwrap();
    // 9 ms later, the first five of each chunk (due at +5..+9 ms) have come due.
    assert_eq!(restarted.restore_deferred(&saved, NOW + 9.0).unwrap(), 15);
    assert_eq!(restarted.deferred_count(), 15);
    let records: Vec<Vec<u8>> = restarted.last_changes().iter().map(|u| encode(std::slice::from_ref(u))).collect();
    let mut other = engine();
    let frames: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    assert_eq!(other.restore_frames(&frames).unwrap(), 15);
}

#[test]
fn the_hash_seed_changes_nothing_observable() {
    let frame = encode(&(0..50).map(|i| update(&format!("s{}", i % 7), &format!("k{i}"), Value::Number(i as f64), 10.0)).collect::<Vec<_>>());
    let mut a = Engine::new(Config { hash_seed: [1, 2, 3, 4], ..Config::default() }).unwrap();
    let mut b = Engine::new(Config { hash_seed: [9, 8, 7, 6], ..Config::default() }).unwrap();
    assert_eq!(a.ingest(&frame, NOW).unwrap(), b.ingest(&frame, NOW).unwrap());
    for i in 0..7 {
        let soul = format!("s{i}");
        assert_eq!(a.node_updates(&soul, None), b.node_updates(&soul, None));
    }
}

#[test]
fn check_prepared_gives_ingests_outcomes_against_nothing_held_and_changes_nothing() {
    let pair = KeyPair::from_seed(&[12; 32]);
    let good = signed_by(&pair, update("pub", "a", Value::Text("ok".into()), NOW - 10.0));
    let mut forged = signed_by(&pair, update("pub", "b", Value::Text("ok".into()), NOW - 10.0));
    forged.value = Value::Text("tampered".into());
    let soon = update("pub", "c", Value::Bool(true), NOW + 60_000.0);
    let far = update("pub", "d", Value::Bool(true), NOW + 1e12);
    let frame = encode(&[good, forged, soon, far]);
    let mut checker = engine();
    let prepared = checker.prepare(&frame).unwrap();
    let checked = checker.check_prepared(&prepared, NOW);
    assert_eq!(checked, vec![Outcome::Applied, Outcome::Rejected(Rejection::SignatureInvalid), Outcome::Deferred, Outcome::Rejected(Rejection::TooFarAhead)]);
    // Nothing held, nothing parked, no change reported.
    assert!(checker.node("pub").is_none());
    assert_eq!(checker.deferred_count(), 0);
    assert!(checker.last_changes().is_empty());
    // An engine holding nothing ingests the same frame with the same outcomes.
    let mut owner = engine();
    assert_eq!(owner.ingest(&frame, NOW).unwrap(), checked);
    // The prepared frame is still whole: it can be ingested after the check.
    assert_eq!(checker.ingest_prepared(prepared, NOW), checked);
}
