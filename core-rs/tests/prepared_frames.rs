//! A frame decoded once per hop: `Engine::prepare` gives its souls (for the shell to load
//! them, or to refuse a frame touching souls it did not ask for) and `ingest_prepared`
//! merges the same decoded updates — with the same outcomes and changes as `ingest`.

use rustdht_core::codec::encode;
use rustdht_core::config::Config;
use rustdht_core::engine::Engine;
use rustdht_core::update::Update;
use rustdht_core::Value;

const NOW: f64 = 1_700_000_000_000.0;

fn update(soul: &str, key: &str, value: &str, state: f64) -> Update {
    Update { soul: soul.into(), key: key.into(), value: Value::Text(value.into()), state, signed: None }
}

#[test]
fn prepare_lists_distinct_souls_in_first_seen_order() {
    let engine = Engine::new(Config::default()).unwrap();
    let frame = encode(&[update("b", "x", "1", NOW), update("a", "x", "2", NOW), update("b", "y", "3", NOW), update("c", "x", "4", NOW), update("a", "z", "5", NOW)]);
    let prepared = engine.prepare(&frame).unwrap();
    assert_eq!(prepared.souls(), ["b", "a", "c"]);
    assert_eq!(engine.souls_of(&frame).unwrap(), vec!["b", "a", "c"]);
}

#[test]
fn ingest_prepared_gives_what_ingest_gives() {
    let updates = vec![update("room", "title", "Hello", NOW - 10.0), update("room", "title", "older", NOW - 20.0), update("room", "body", "text", NOW + 60_000.0), update("room", "far", "x", NOW + 1e12)];
    let frame = encode(&updates);
    let mut by_frame = Engine::new(Config::default()).unwrap();
    let mut by_prepared = Engine::new(Config::default()).unwrap();
    let outcomes = by_frame.ingest(&frame, NOW).unwrap();
    let prepared = by_prepared.prepare(&frame).unwrap();
    let prepared_outcomes = by_prepared.ingest_prepared(prepared, NOW);
    assert_eq!(format!("{outcomes:?}"), format!("{prepared_outcomes:?}"));
    assert_eq!(by_frame.last_changes().len(), by_prepared.last_changes().len());
    assert_eq!(format!("{:?}", by_frame.node_updates("room", None)), format!("{:?}", by_prepared.node_updates("room", None)));
    assert_eq!(by_frame.deferred_count(), 1);
    assert_eq!(by_prepared.deferred_count(), 1);
}

#[test]
fn prepare_refuses_what_ingest_refuses() {
    let engine = Engine::new(Config::default()).unwrap();
    let frame = encode(&[update("s", "k", "v", NOW)]);
    for cut in 0..frame.len() {
        assert!(engine.prepare(&frame[..cut]).is_err(), "a frame cut at {cut} must be refused");
    }
    let over = Config { max_batch_updates: 2, ..Config::default() };
    let engine = Engine::new(over).unwrap();
    let three = encode(&[update("a", "k", "v", NOW), update("b", "k", "v", NOW), update("c", "k", "v", NOW)]);
    assert!(engine.prepare(&three).is_err());
}

#[test]
fn ten_thousand_distinct_souls_are_listed_once_each() {
    let engine = Engine::new(Config::default()).unwrap();
    let updates: Vec<Update> = (0..10_000).map(|i| update(&format!("soul-{i}"), "k", "v", NOW)).collect();
    let frame = encode(&updates);
    let souls = engine.prepare(&frame).unwrap().souls().to_vec();
    assert_eq!(souls.len(), 10_000);
    assert_eq!(souls[9_999], "soul-9999");
}
