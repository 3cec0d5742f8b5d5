//! Engine settings: hard limits on what enters the graph and how far ahead of local
//! time a state may be. Defaults are sane for browsers and servers alike.

use crate::error::{EngineError, Limit};
use crate::value::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// States further than this ahead of `now` are rejected rather than deferred.
    pub max_clock_skew_ms: f64,
    pub max_soul_bytes: usize,
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    pub max_batch_updates: usize,
    /// Bound on updates waiting for their time, so a peer cannot fill our memory.
    pub max_deferred: usize,
    /// Bound on the bytes of those updates (each counted as its single-update frame, the
    /// record a store keeps of it): many large values parked just inside the skew must
    /// not fill memory either.
    pub max_deferred_bytes: usize,
    /// Random keys for the engine's hash tables (see `graph::HashSeed`). The default is
    /// fixed, for tests; the SDK always passes fresh random bytes.
    pub hash_seed: crate::graph::HashSeed,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_clock_skew_ms: 10.0 * 60.0 * 1000.0,
            max_soul_bytes: 1024,
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_batch_updates: 10_000,
            max_deferred: 100_000,
            max_deferred_bytes: 64 * 1024 * 1024,
            hash_seed: [0x5241_4e44_4f4d_0001, 0x5241_4e44_4f4d_0002, 0x5241_4e44_4f4d_0003, 0x5241_4e44_4f4d_0004],
        }
    }
}

/// Hard ceilings no config may raise: they keep a frame's length fields meaningful.
const CEILING_BYTES: usize = 64 * 1024 * 1024;
const CEILING_BATCH: usize = 1_000_000;
/// The deferred queue's bytes live in the 4 GiB of WebAssembly memory.
const CEILING_DEFERRED_BYTES: usize = u32::MAX as usize;

impl Config {
    pub fn validated(self) -> Result<Config, EngineError> {
        let bad = |why: String| Err(EngineError::InvalidConfig(why));
        if !(self.max_clock_skew_ms.is_finite() && self.max_clock_skew_ms >= 0.0) {
            return bad(format!("maxClockSkewMs must be a finite number ≥ 0, got {}", self.max_clock_skew_ms));
        }
        for (name, v, ceiling) in [
            ("maxSoulBytes", self.max_soul_bytes, CEILING_BYTES),
            ("maxKeyBytes", self.max_key_bytes, CEILING_BYTES),
            ("maxValueBytes", self.max_value_bytes, CEILING_BYTES),
            ("maxBatchUpdates", self.max_batch_updates, CEILING_BATCH),
            ("maxDeferred", self.max_deferred, CEILING_BATCH),
            ("maxDeferredBytes", self.max_deferred_bytes, CEILING_DEFERRED_BYTES),
        ] {
            if v == 0 || v > ceiling {
                return bad(format!("{name} must be between 1 and {ceiling}, got {v}"));
            }
        }
        Ok(self)
    }

    /// Checks soul, key and value sizes (the batch size is checked by the caller).
    pub fn check_sizes(&self, soul: &str, key: &str, value: &Value) -> Result<(), EngineError> {
        if soul.is_empty() {
            return Err(EngineError::EmptySoul);
        }
        if key.is_empty() {
            return Err(EngineError::EmptyKey);
        }
        check(Limit::SoulBytes, self.max_soul_bytes, soul.len())?;
        check(Limit::KeyBytes, self.max_key_bytes, key.len())?;
        check(Limit::ValueBytes, self.max_value_bytes, value.payload_len())
    }

    pub fn check_batch(&self, updates: usize) -> Result<(), EngineError> {
        check(Limit::BatchUpdates, self.max_batch_updates, updates)
    }
}

fn check(limit: Limit, max: usize, actual: usize) -> Result<(), EngineError> {
    if actual > max {
        Err(EngineError::LimitExceeded { limit, max, actual })
    } else {
        Ok(())
    }
}
