//! The deferred queue: bounded in count and bytes, one record per parked update for a
//! store, restored from those records without applying anything before its souls load.

use rustdht_core::codec::encode;
use rustdht_core::config::Config;
use rustdht_core::update::Update;
use rustdht_core::{Engine, Outcome, Rejection, Value};

const NOW: f64 = 1_700_000_000_000.0;
const MIB: usize = 1024 * 1024;

fn update(soul: &str, key: &str, value: Value, state: f64) -> Update {
    Update { soul: soul.into(), key: key.into(), value, state, signed: None }
}

fn big(soul: &str, key: &str, state: f64) -> Update {
    update(soul, key, Value::Text("x".repeat(MIB - 64)), state)
}

#[test]
fn the_queue_is_bounded_in_bytes_and_refuses_what_does_not_fit() {
    let mut e = Engine::new(Config { max_deferred_bytes: 8 * MIB, ..Config::default() }).unwrap();
    let mut outcomes = Vec::new();
    for i in 0..20 {
        outcomes.extend(e.ingest(&encode(&[big("s", &format!("k{i}"), NOW + 60_000.0 + i as f64)]), NOW).unwrap());
    }
    let deferred = outcomes.iter().filter(|o| **o == Outcome::Deferred).count();
    assert_eq!(deferred, 8, "8 updates of just under 1 MiB fit in 8 MiB");
    assert!(outcomes[8..].iter().all(|o| *o == Outcome::Rejected(Rejection::DeferredQueueFull)));
    assert_eq!(e.deferred_count(), 8);
    assert!(e.deferred_bytes() <= 8 * MIB && e.deferred_bytes() > 7 * MIB, "{}", e.deferred_bytes());
    // A small update still fits; once some come due, room is made again.
    assert_eq!(e.ingest(&encode(&[update("s", "small", Value::Null, NOW + 1.0)]), NOW).unwrap(), vec![Outcome::Deferred]);
    assert_eq!(e.tick(NOW + 60_003.0), 5);
    assert_eq!(e.ingest(&encode(&[big("s", "again", NOW + 70_000.0)]), NOW).unwrap(), vec![Outcome::Deferred]);
}

#[test]
fn the_same_update_is_parked_once_and_reported_for_storing_each_time() {
    let mut e = Engine::new(Config::default()).unwrap();
    let frame = encode(&[update("s", "k", Value::Number(1.0), NOW + 10.0)]);
    assert_eq!(e.ingest(&frame, NOW).unwrap(), vec![Outcome::Deferred]);
    let first = e.last_deferred_records();
    assert_eq!(e.ingest(&frame, NOW).unwrap(), vec![Outcome::Deferred]);
    let again = e.last_deferred_records();
    assert_eq!(e.deferred_count(), 1);
    assert_eq!(first.len(), 1);
    assert_eq!(again.len(), 1);
    assert_eq!(first[0].id, again[0].id);
    assert_eq!(first[0].frame, Some(frame.clone()), "the record is the single-update frame");
    assert_eq!(&first[0].id[..8], &(NOW + 10.0).to_be_bytes(), "ids start with the state, big-endian");
    // Coming due, it leaves: a record without a frame.
    assert_eq!(e.tick(NOW + 10.0), 1);
    let left = e.last_deferred_records();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, first[0].id);
    assert!(left[0].frame.is_none());
}

#[test]
fn records_restore_the_queue_over_the_bounds_and_name_the_souls_due() {
    let config = Config { max_deferred: 3, ..Config::default() };
    let mut e = Engine::new(config.clone()).unwrap();
    let updates = [
        update("a", "1", Value::Null, NOW + 5.0),
        update("b", "1", Value::Null, NOW + 50.0),
        update("a", "2", Value::Null, NOW + 6.0),
    ];
    e.ingest(&encode(&updates), NOW).unwrap();
    let records: Vec<Vec<u8>> = e.last_deferred_records().into_iter().map(|r| r.frame.unwrap()).collect();
    // A smaller bound after the restart does not drop what was accepted.
    let mut restarted = Engine::new(Config { max_deferred: 1, ..config }).unwrap();
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    assert_eq!(restarted.restore_deferred_records(&refs).unwrap(), 3);
    assert_eq!(restarted.restore_deferred_records(&refs).unwrap(), 0, "restoring twice parks nothing twice");
    assert_eq!(restarted.deferred_count(), 3);
    assert!(restarted.last_changes().is_empty(), "nothing is applied before its souls are loaded");
    assert_eq!(restarted.souls_due(NOW + 10.0), vec!["a".to_string()]);
    assert_eq!(restarted.souls_due(NOW + 60.0), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(restarted.tick(NOW + 10.0), 2);
    assert_eq!(restarted.deferred_count(), 1);
    // New updates are refused until the queue is back under its bound.
    let late = encode(&[update("c", "1", Value::Null, NOW + 70.0)]);
    assert_eq!(restarted.ingest(&late, NOW).unwrap(), vec![Outcome::Rejected(Rejection::DeferredQueueFull)]);
}

#[test]
fn a_saved_queue_frame_restores_over_the_bounds_and_reports_records() {
    let mut e = Engine::new(Config::default()).unwrap();
    let updates: Vec<Update> = (0..4).map(|i| update("a", &i.to_string(), Value::Null, NOW + 5.0 + i as f64)).collect();
    e.ingest(&encode(&updates), NOW).unwrap();
    let saved = encode(&e.deferred_updates().cloned().collect::<Vec<_>>());
    let mut restarted = Engine::new(Config { max_deferred: 1, ..Config::default() }).unwrap();
    assert_eq!(restarted.restore_deferred(&saved, NOW + 6.0).unwrap(), 2, "two came due");
    assert_eq!(restarted.deferred_count(), 2);
    let joined = restarted.last_deferred_records();
    assert_eq!(joined.len(), 2);
    assert!(joined.iter().all(|r| r.frame.is_some()));
    assert_eq!(restarted.deferred_records().len(), 2);
}

#[test]
fn max_deferred_bytes_is_validated() {
    assert!(Engine::new(Config { max_deferred_bytes: 0, ..Config::default() }).is_err());
    assert_eq!(Config::default().max_deferred_bytes, 64 * MIB);
}
