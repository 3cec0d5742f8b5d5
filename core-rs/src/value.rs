//! The values a property can hold, and the checks every value passes before it enters
//! the graph. Invariant: a `Value` that exists is valid (finite number; strings are Rust
//! `String`s and therefore well-formed Unicode), so later stages never re-check.

use crate::error::EngineError;

/// A property value. Arrays and nested objects are not values: the SDK turns a nested
/// object into a linked child node before anything reaches the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Always finite (checked by [`Value::number`]); `-0.0` is kept as written.
    Number(f64),
    Text(String),
    /// A link to another node, written `{"#": soul}` in JSON.
    Link(String),
}

impl Value {
    /// The only way to make a number value: refuses NaN and the infinities, which have
    /// no JSON form and would make peers disagree.
    pub fn number(x: f64) -> Result<Value, EngineError> {
        if x.is_finite() {
            Ok(Value::Number(x))
        } else {
            Err(EngineError::NonFiniteNumber)
        }
    }

    /// Bytes the value occupies, as counted against `maxValueBytes`.
    pub fn payload_len(&self) -> usize {
        match self {
            Value::Null | Value::Bool(_) => 1,
            Value::Number(_) => 8,
            Value::Text(s) | Value::Link(s) => s.len(),
        }
    }

    /// Bitwise identity: `-0` differs from `0`, unlike `==` on floats. Used to decide
    /// whether a re-application changed anything.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}
