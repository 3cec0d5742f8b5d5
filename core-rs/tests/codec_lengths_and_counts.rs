//! The frame codec with what a real peer sends beyond the toy sizes: strings and batches
//! whose lengths take more than one varint byte, strings exactly at a configured limit,
//! and lengths or counts that lie about what follows (refused from the header, before
//! anything after it is read or allocated).

use rustdht_core::codec::{decode, encode, join};
use rustdht_core::config::Config;
use rustdht_core::error::Limit;
use rustdht_core::update::Update;
use rustdht_core::{EngineError, Value};

fn update(soul: &str, key: &str, value: Value) -> Update {
    Update { soul: soul.into(), key: key.into(), value, state: 1_700_000_000_000.0, signed: None }
}

/// Unsigned LEB128, as the frame format documents it (codec.rs header comment).
fn leb128(mut n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}

#[test]
fn strings_whose_length_takes_several_varint_bytes_round_trip() {
    // 127: one byte; 128 and 200 (bit 7 of the low byte set): two; 300 and 16_383: two;
    // 16_384 and 70_000: three.
    let config = Config::default();
    for len in [127usize, 128, 200, 255, 256, 300, 16_383, 16_384, 70_000] {
        let text = "v".repeat(len);
        let key = "k".repeat(len.min(config.max_key_bytes));
        let soul = "s".repeat(len.min(config.max_soul_bytes));
        let updates = vec![update(&soul, &key, Value::Text(text.clone())), update(&soul, "link", Value::Link(soul.clone()))];
        let bytes = encode(&updates);
        assert_eq!(decode(&bytes, &config).unwrap(), updates, "length {len}");
    }
}

#[test]
fn a_long_value_is_written_with_its_leb128_length() {
    // The layout other implementations read: "RD" 1 count flags soul key tag len bytes state.
    for len in [128u32, 200, 300, 70_000] {
        let text = "x".repeat(len as usize);
        let bytes = encode(&[update("s", "k", Value::Text(text.clone()))]);
        let mut expected = vec![b'R', b'D', 1, 1, 0, 1, b's', 1, b'k', 4];
        expected.extend(leb128(len));
        expected.extend_from_slice(text.as_bytes());
        expected.extend_from_slice(&1_700_000_000_000.0f64.to_le_bytes());
        assert_eq!(bytes, expected, "length {len}");
    }
}

#[test]
fn batches_of_more_than_127_updates_round_trip_and_join() {
    let config = Config::default();
    let updates: Vec<Update> = (0..300).map(|i| update(&format!("soul{}", i / 3), &format!("k{i}"), Value::Number(i as f64))).collect();
    let bytes = encode(&updates);
    assert_eq!(&bytes[..5], &[b'R', b'D', 1, 0xac, 0x02], "300 as LEB128");
    assert_eq!(decode(&bytes, &config).unwrap(), updates);

    // Joining two frames whose counts add up past one varint byte (split where the soul
    // changes, so the joined frame is byte for byte the one frame).
    let (first, rest) = updates.split_at(99);
    let (joined, taken) = join(&[&encode(first), &encode(rest)], u32::MAX).unwrap();
    assert_eq!(taken, 2);
    assert_eq!(&joined[..5], &[b'R', b'D', 1, 0xac, 0x02]);
    assert!(joined == bytes, "joined frame differs from the frame of all 300 updates");
    assert_eq!(decode(&joined, &config).unwrap(), updates);
}

#[test]
fn strings_exactly_at_the_limit_are_taken_and_one_byte_over_is_refused() {
    let config = Config { max_soul_bytes: 6, max_key_bytes: 5, max_value_bytes: 7, ..Config::default() };
    let at_limit = vec![update("soul-6", "key-5", Value::Text("value-7".into())), update("soul-6", "l", Value::Link("link-6".into()))];
    assert_eq!(decode(&encode(&at_limit), &config).unwrap(), at_limit);

    let cases: [(Update, Limit, usize); 4] = [
        (update("soul-67", "k", Value::Null), Limit::SoulBytes, 6),
        (update("s", "key-56", Value::Null), Limit::KeyBytes, 5),
        (update("s", "k", Value::Text("value-78".into())), Limit::ValueBytes, 7),
        (update("s", "k", Value::Link("link-67".into())), Limit::SoulBytes, 6),
    ];
    for (u, limit, max) in cases {
        assert_eq!(
            decode(&encode(&[u.clone()]), &config),
            Err(EngineError::LimitExceeded { limit, max, actual: max + 1 }),
            "{u:?}"
        );
    }
}

#[test]
fn a_string_length_over_the_limit_is_refused_before_its_bytes_are_read() {
    // A peer claims a 1 GB key and sends nothing after the length: the claim alone is
    // refused for the limit (not read, not allocated, not reported as a short frame).
    let config = Config::default();
    let mut frame = vec![b'R', b'D', 1, 1, 0, 1, b's'];
    frame.extend(leb128(1_000_000_000));
    frame.extend_from_slice(&[0; 11]); // enough bytes for the count check, far from 1 GB
    assert_eq!(
        decode(&frame, &config),
        Err(EngineError::LimitExceeded { limit: Limit::KeyBytes, max: config.max_key_bytes, actual: 1_000_000_000 })
    );
}

#[test]
fn a_count_the_bytes_cannot_hold_is_refused_before_any_update_is_read() {
    // Five updates claimed, one byte sent (and that byte an unknown flag): the frame is a
    // lie about its length, whatever its first update would have been.
    let config = Config::default();
    assert_eq!(decode(&[b'R', b'D', 1, 5, 0xff], &config), Err(EngineError::Truncated));
    // Two claimed, one well-formed update (14 bytes) and then garbage: still too short.
    let mut frame = encode(&[update("s", "k", Value::Null)]);
    frame[3] = 2;
    frame.extend_from_slice(&[0xff; 9]);
    assert_eq!(decode(&frame, &config), Err(EngineError::Truncated));
}
