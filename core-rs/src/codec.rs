//! The versioned binary frame: how updates travel between peers and rest in storage.
//!
//! ```text
//! frame  = "RD" version:u8(=1) count:varint update*count
//! update = flags:u8 [soul:str] key:str value state:f64le [signer:32 signature:64]
//!          flags bit 0: signed; bit 1: same soul as the previous update (soul omitted)
//! value  = tag:u8 payload   0 null | 1 false | 2 true | 3 f64le | 4 str | 5 link str
//! str    = len:varint utf8-bytes        varint = unsigned LEB128, at most 5 bytes
//! ```
//!
//! Decoding never trusts a length: every size is checked against the config's limits
//! before anything is allocated, and any malformed byte fails the whole frame with a
//! typed error (a frame we cannot parse gives no trustworthy update boundaries).

use crate::config::Config;
use crate::crypto::{Signed, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::error::{EngineError, Limit};
use crate::update::Update;
use crate::value::Value;
use core::ops::Range;

const MAGIC: [u8; 2] = *b"RD";
pub const VERSION: u8 = 1;
const FLAG_SIGNED: u8 = 1;
const FLAG_SAME_SOUL: u8 = 2;
const KNOWN_FLAGS: u8 = FLAG_SIGNED | FLAG_SAME_SOUL;

pub fn encode(updates: &[Update]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + updates.len() * 48);
    put_header(&mut out, updates.len() as u32);
    let mut previous_soul: Option<&str> = None;
    for u in updates {
        let same_soul = previous_soul == Some(u.soul.as_str());
        let mut flags = 0;
        if u.signed.is_some() {
            flags |= FLAG_SIGNED;
        }
        if same_soul {
            flags |= FLAG_SAME_SOUL;
        }
        out.push(flags);
        if !same_soul {
            put_str(&mut out, &u.soul);
        }
        put_str(&mut out, &u.key);
        match &u.value {
            Value::Null => out.push(0),
            Value::Bool(false) => out.push(1),
            Value::Bool(true) => out.push(2),
            Value::Number(x) => {
                out.push(3);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Text(s) => {
                out.push(4);
                put_str(&mut out, s);
            }
            Value::Link(s) => {
                out.push(5);
                put_str(&mut out, s);
            }
        }
        out.extend_from_slice(&u.state.to_le_bytes());
        if let Some(s) = &u.signed {
            out.extend_from_slice(&s.signer);
            out.extend_from_slice(&s.signature);
        }
        previous_soul = Some(&u.soul);
    }
    out
}

pub fn decode(bytes: &[u8], config: &Config) -> Result<Vec<Update>, EngineError> {
    decode_with(bytes, config, |_| {})
}

/// `decode`, and where each update's bytes lie in the frame (`spans[i]` for the i-th
/// update): a router copies updates to other frames unchanged, signatures included,
/// without encoding them again. Same checks and errors as `decode`.
pub fn decode_spans(bytes: &[u8], config: &Config) -> Result<(Vec<Update>, Vec<Range<usize>>), EngineError> {
    let mut spans = Vec::new();
    let updates = decode_with(bytes, config, |span| spans.push(span))?;
    Ok((updates, spans))
}

/// The header of a frame of `count` updates, to which update bytes (see `decode_spans`)
/// are then appended in order.
pub fn put_header(out: &mut Vec<u8>, count: u32) {
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    put_varint(out, count);
}

fn decode_with(bytes: &[u8], config: &Config, mut span: impl FnMut(Range<usize>)) -> Result<Vec<Update>, EngineError> {
    let (count, at) = header(bytes)?;
    let count = count as usize;
    let mut r = Reader { bytes, at };
    config.check_batch(count)?;
    // Each update takes at least 12 bytes; a count the frame cannot hold is a lie.
    if count > r.remaining() / 12 {
        return Err(EngineError::Truncated);
    }
    let mut updates: Vec<Update> = Vec::with_capacity(count);
    for _ in 0..count {
        let start = r.at;
        let flags = r.byte()?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(EngineError::BadTag(flags));
        }
        let soul = if flags & FLAG_SAME_SOUL != 0 {
            match updates.last() {
                Some(prev) => prev.soul.clone(),
                None => return Err(EngineError::BadTag(flags)),
            }
        } else {
            r.str(Limit::SoulBytes, config.max_soul_bytes)?
        };
        let key = r.str(Limit::KeyBytes, config.max_key_bytes)?;
        let value = match r.byte()? {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => Value::number(r.f64()?)?,
            4 => Value::Text(r.str(Limit::ValueBytes, config.max_value_bytes)?),
            5 => Value::Link(r.str(Limit::SoulBytes, config.max_soul_bytes)?),
            tag => return Err(EngineError::BadTag(tag)),
        };
        let state = r.f64()?;
        if !state.is_finite() {
            return Err(EngineError::NonFiniteNumber);
        }
        let signed = if flags & FLAG_SIGNED != 0 {
            let signer: [u8; PUBLIC_KEY_LEN] = r.take(PUBLIC_KEY_LEN)?.try_into().expect("length taken");
            let signature: [u8; SIGNATURE_LEN] = r.take(SIGNATURE_LEN)?.try_into().expect("length taken");
            Some(Signed { signer, signature })
        } else {
            None
        };
        config.check_sizes(&soul, &key, &value)?;
        span(start..r.at);
        updates.push(Update { soul, key, value, state, signed });
    }
    if r.remaining() != 0 {
        return Err(EngineError::TrailingBytes);
    }
    Ok(updates)
}

/// One frame holding the updates of the longest prefix of `frames` that stays within
/// `max_updates` (always at least the first frame), and how many frames that took: what
/// those frames would do applied one after the other, in one batch. Updates are copied
/// as bytes, not decoded: the first update of a frame never refers to a previous soul,
/// so update sequences concatenate. Only the headers are checked; the receiver's decode
/// checks the rest.
pub fn join(frames: &[&[u8]], max_updates: u32) -> Result<(Vec<u8>, usize), EngineError> {
    let mut total: u32 = 0;
    let mut bodies = Vec::with_capacity(frames.len());
    for frame in frames {
        let (count, at) = header(frame)?;
        match total.checked_add(count) {
            Some(sum) if sum <= max_updates || bodies.is_empty() => total = sum,
            _ => break,
        }
        bodies.push(&frame[at..]);
    }
    let taken = bodies.len();
    let mut out = Vec::with_capacity(8 + bodies.iter().map(|b| b.len()).sum::<usize>());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    put_varint(&mut out, total);
    for body in bodies {
        out.extend_from_slice(body);
    }
    Ok((out, taken))
}

/// Bytes of a frame's header at most: magic, version and a count varint at its longest.
pub const MAX_HEADER_LEN: usize = 2 + 1 + 5;

/// The exact bytes `encode` writes for one update (without the frame header): `same_soul`
/// when it follows an update of the same soul, whose soul it then omits.
pub fn update_len(soul: &str, key: &str, value: &Value, signed: bool, same_soul: bool) -> usize {
    let str_len = |s: &str| varint_len(s.len() as u32) + s.len();
    let value_len = match value {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(_) => 1 + 8,
        Value::Text(s) | Value::Link(s) => 1 + str_len(s),
    };
    1 + if same_soul { 0 } else { str_len(soul) }
        + str_len(key)
        + value_len
        + 8
        + if signed { PUBLIC_KEY_LEN + SIGNATURE_LEN } else { 0 }
}

fn varint_len(mut n: u32) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// How many updates a frame says it carries (its header), without decoding them.
pub fn update_count(frame: &[u8]) -> Result<u32, EngineError> {
    header(frame).map(|(count, _)| count)
}

/// A frame's update count and where its first update starts.
fn header(bytes: &[u8]) -> Result<(u32, usize), EngineError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(2)? != MAGIC {
        return Err(EngineError::UnsupportedVersion(bytes.first().copied().unwrap_or(0)));
    }
    let version = r.byte()?;
    if version != VERSION {
        return Err(EngineError::UnsupportedVersion(version));
    }
    let count = r.varint()?;
    Ok((count, r.at))
}

fn put_varint(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], EngineError> {
        if n > self.remaining() {
            return Err(EngineError::Truncated);
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }
    fn byte(&mut self) -> Result<u8, EngineError> {
        Ok(self.take(1)?[0])
    }
    fn f64(&mut self) -> Result<f64, EngineError> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("length taken")))
    }
    fn varint(&mut self) -> Result<u32, EngineError> {
        let mut n: u64 = 0;
        for i in 0..5 {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(n).map_err(|_| EngineError::BadTag(b));
            }
        }
        Err(EngineError::BadTag(0x80))
    }
    fn str(&mut self, limit: Limit, max: usize) -> Result<String, EngineError> {
        let len = self.varint()? as usize;
        if len > max {
            return Err(EngineError::LimitExceeded { limit, max, actual: len });
        }
        let bytes = self.take(len)?;
        core::str::from_utf8(bytes).map(str::to_owned).map_err(|_| EngineError::InvalidUtf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_frames_decode_to_the_updates_in_order() {
        let config = Config::default();
        let updates = sample();
        let (first, rest) = updates.split_at(2);
        let a = encode(first);
        let b = encode(rest);
        let (joined, taken) = join(&[&a, &b, &encode(&[])], u32::MAX).unwrap();
        assert_eq!(taken, 3);
        assert_eq!(header(&joined).unwrap().0 as usize, updates.len());
        assert_eq!(decode(&joined, &config).unwrap(), updates);
        assert_eq!(join(&[&a], u32::MAX).unwrap(), (a.clone(), 1));
        // The limit stops before the frame that would exceed it, but never takes nothing.
        assert_eq!(join(&[&a, &b], first.len() as u32).unwrap(), (a.clone(), 1));
        assert_eq!(join(&[&a, &b], 0).unwrap(), (a.clone(), 1));
        assert!(matches!(join(&[&a, b"XX\x01\x00"], u32::MAX), Err(EngineError::UnsupportedVersion(_))));
        assert!(matches!(join(&[b"RD"], u32::MAX), Err(EngineError::Truncated)));
    }

    fn sample() -> Vec<Update> {
        let u = |soul: &str, key: &str, value: Value, signed: Option<Signed>| Update {
            soul: soul.into(),
            key: key.into(),
            value,
            state: 1_700_000_000_000.5,
            signed,
        };
        vec![
            u("a", "n", Value::Null, None),
            u("a", "t", Value::Bool(true), None),
            u("a", "f", Value::Bool(false), None),
            u("b", "x", Value::Number(-0.0), Some(Signed { signer: [3; 32], signature: [4; 64] })),
            u("b", "s", Value::Text("héllo 😀".into()), None),
            u("c", "l", Value::Link("b".into()), None),
        ]
    }

    #[test]
    fn update_len_is_what_encode_writes() {
        let updates = sample();
        let mut total = 0;
        for (i, u) in updates.iter().enumerate() {
            let same = i > 0 && updates[i - 1].soul == u.soul;
            total += update_len(&u.soul, &u.key, &u.value, u.signed.is_some(), same);
            // Alone in a frame: header (4 bytes for a count below 128) plus the update.
            assert_eq!(encode(std::slice::from_ref(u)).len(), 4 + update_len(&u.soul, &u.key, &u.value, u.signed.is_some(), false));
        }
        assert_eq!(encode(&updates).len(), 4 + total);
        let long = Update { soul: "s".repeat(200), key: "k".repeat(20_000), value: Value::Text("v".repeat(70_000)), state: 1.0, signed: None };
        assert_eq!(encode(std::slice::from_ref(&long)).len(), 4 + update_len(&long.soul, &long.key, &long.value, false, false));
    }

    #[test]
    fn round_trip_keeps_everything() {
        let updates = sample();
        let bytes = encode(&updates);
        let back = decode(&bytes, &Config::default()).unwrap();
        assert_eq!(back, updates);
        match back[3].value {
            Value::Number(x) => assert!(x == 0.0 && x.is_sign_negative()),
            _ => panic!("number expected"),
        }
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            let err = decode(&bytes[..cut], &Config::default()).unwrap_err();
            assert!(
                matches!(err, EngineError::Truncated | EngineError::UnsupportedVersion(_)),
                "cut at {cut}: {err:?}"
            );
        }
    }

    #[test]
    fn malformed_frames_are_refused() {
        let cfg = Config::default();
        let good = encode(&sample());
        let mut bad_version = good.clone();
        bad_version[2] = 9;
        assert_eq!(decode(&bad_version, &cfg), Err(EngineError::UnsupportedVersion(9)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing, &cfg), Err(EngineError::TrailingBytes));
        let mut bad_tag = good.clone();
        bad_tag[9] = 9; // header(4) flags soul-len "a" key-len "n", then the value tag
        assert_eq!(decode(&bad_tag, &cfg), Err(EngineError::BadTag(9)));
        let mut bad_utf8 = good.clone();
        bad_utf8[6] = 0xff; // first soul byte
        assert_eq!(decode(&bad_utf8, &cfg), Err(EngineError::InvalidUtf8));
        // a count far beyond what the bytes can hold
        assert_eq!(decode(&[b'R', b'D', 1, 100, 0, 1, b's'], &cfg), Err(EngineError::Truncated));
        assert!(matches!(
            decode(&[b'R', b'D', 1, 0xff, 0xff, 0x03], &cfg),
            Err(EngineError::LimitExceeded { limit: Limit::BatchUpdates, .. })
        ));
    }

    #[test]
    fn nan_and_infinite_numbers_are_refused() {
        for x in [f64::NAN, f64::INFINITY] {
            let mut bytes = vec![b'R', b'D', 1, 1, 0, 1, b's', 1, b'k', 3];
            bytes.extend_from_slice(&x.to_le_bytes());
            bytes.extend_from_slice(&1.0f64.to_le_bytes());
            assert_eq!(decode(&bytes, &Config::default()), Err(EngineError::NonFiniteNumber));
            let mut state_bytes = vec![b'R', b'D', 1, 1, 0, 1, b's', 1, b'k', 0];
            state_bytes.extend_from_slice(&x.to_le_bytes());
            assert_eq!(decode(&state_bytes, &Config::default()), Err(EngineError::NonFiniteNumber));
        }
    }

    #[test]
    fn limits_are_enforced_before_allocation() {
        let cfg = Config { max_key_bytes: 4, max_batch_updates: 2, ..Config::default() };
        let long_key = vec![Update {
            soul: "s".into(),
            key: "toolong".into(),
            value: Value::Null,
            state: 1.0,
            signed: None,
        }];
        assert!(matches!(
            decode(&encode(&long_key), &cfg),
            Err(EngineError::LimitExceeded { limit: Limit::KeyBytes, max: 4, actual: 7 })
        ));
        assert!(matches!(
            decode(&encode(&sample()), &cfg),
            Err(EngineError::LimitExceeded { limit: Limit::BatchUpdates, .. })
        ));
    }
}
