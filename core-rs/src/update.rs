//! One property write as it travels: decoded from a frame, made by a local write, held
//! while deferred, applied, and re-encoded to persist or announce.

use crate::crypto::Signed;
use crate::value::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub soul: String,
    pub key: String,
    pub value: Value,
    /// Milliseconds since the epoch with a fractional part; always finite.
    pub state: f64,
    pub signed: Option<Signed>,
}

impl Update {
    /// The bytes its signature covers.
    pub fn message(&self) -> Vec<u8> {
        crate::crypto::update_message(&self.soul, &self.key, &self.value, self.state)
    }
}
