//! Typed errors. Invalid external input returns one of these; internal corruption
//! panics (and aborts the WASM instance) instead of limping on.
//!
//! `EngineError` fails a whole call (a malformed frame, a bad local value, a bad
//! config): nothing is applied. `Rejection` fails one update of a batch and is reported
//! in that update's outcome while the rest of the batch proceeds.

use core::fmt;

/// Which hard limit was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    SoulBytes,
    KeyBytes,
    ValueBytes,
    BatchUpdates,
}

impl Limit {
    fn code(self) -> &'static str {
        match self {
            Limit::SoulBytes => "limit/soul",
            Limit::KeyBytes => "limit/key",
            Limit::ValueBytes => "limit/value",
            Limit::BatchUpdates => "limit/batch",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum EngineError {
    /// The frame ended inside a field.
    Truncated,
    /// A frame whose magic bytes or version this engine does not speak.
    UnsupportedVersion(u8),
    /// An unknown value tag, flag bit, or an over-long varint.
    BadTag(u8),
    InvalidUtf8,
    /// NaN or an infinity, as a value or a state.
    NonFiniteNumber,
    /// Bytes after the last update the header announced.
    TrailingBytes,
    LimitExceeded { limit: Limit, max: usize, actual: usize },
    /// A value of a type that is not a RustDHT value (array, object without `#`, …).
    ValueType(String),
    /// A string that is not well-formed Unicode (a lone surrogate).
    IllFormedString(&'static str),
    /// Keys may not be empty.
    EmptyKey,
    /// A soul may not be empty.
    EmptySoul,
    InvalidConfig(String),
    /// A local write that the namespace rules or the signer refuse.
    Rejected(Rejection),
    /// A member list or replica count a `Placement` cannot be built from (placement.rs).
    Placement(PlacementError),
    /// A signed member record that is refused, or fields that cannot make one (membership.rs).
    Member(MemberError),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// The same peer twice (its index in the list, second occurrence): it would count
    /// as two of a soul's replicas while holding one copy.
    DuplicateMember(usize),
    /// Not a usable placement (e.g. zero replicas).
    Invalid(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberError {
    /// Not a member record of a format this engine speaks (what is wrong with it).
    Malformed(String),
    /// The signature does not verify against the record's own public key.
    BadSignature,
    /// Issued longer ago than the allowed age.
    Stale,
    /// Issued further in the future than the allowed clock skew.
    Future,
    /// Over a size limit (the record, the address count or an address).
    TooLarge(String),
}

/// A refused local write: the error, and which update of the call caused it (`None`
/// when the call as a whole is at fault, e.g. too many updates).
#[derive(Clone, Debug, PartialEq)]
pub struct WriteError {
    pub index: Option<usize>,
    pub error: EngineError,
}

impl WriteError {
    pub fn at(index: usize) -> impl FnOnce(EngineError) -> WriteError {
        move |error| WriteError { index: Some(index), error }
    }
}

impl From<EngineError> for WriteError {
    fn from(error: EngineError) -> Self {
        WriteError { index: None, error }
    }
}

/// Why one update of a batch was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    SignatureInvalid,
    SignatureMissing,
    NotOwner,
    BadOwnerKey,
    HashMismatch,
    TooFarAhead,
    DeferredQueueFull,
}

impl Rejection {
    pub fn code(self) -> &'static str {
        match self {
            Rejection::SignatureInvalid => "signature/invalid",
            Rejection::SignatureMissing => "signature/missing",
            Rejection::NotOwner => "namespace/not-owner",
            Rejection::BadOwnerKey => "namespace/bad-key",
            Rejection::HashMismatch => "content/hash-mismatch",
            Rejection::TooFarAhead => "clock/too-far-ahead",
            Rejection::DeferredQueueFull => "limit/deferred",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Rejection::SignatureInvalid => "the signature does not verify against the signer's public key",
            Rejection::SignatureMissing => "writes into a ~<publicKey> soul must be signed by that key",
            Rejection::NotOwner => "the soul belongs to another public key: only its owner may write here",
            Rejection::BadOwnerKey => "a soul starting with ~ must name a 32-byte Ed25519 public key in base64url",
            Rejection::HashMismatch => "in #-space the key must be the SHA-256 (base64url) of the value's JSON text",
            Rejection::TooFarAhead => "the state is further in the future than the allowed clock skew",
            Rejection::DeferredQueueFull => "the deferred queue is full (maxDeferred updates or maxDeferredBytes bytes already wait for their time); send it again later",
        }
    }
}

impl EngineError {
    /// Stable machine-readable code; the SDK maps these onto its error classes.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Truncated => "decode/truncated",
            EngineError::UnsupportedVersion(_) => "decode/version",
            EngineError::BadTag(_) => "decode/tag",
            EngineError::InvalidUtf8 => "decode/utf8",
            EngineError::NonFiniteNumber => "value/non-finite",
            EngineError::TrailingBytes => "decode/trailing",
            EngineError::LimitExceeded { limit, .. } => limit.code(),
            EngineError::ValueType(_) => "value/type",
            EngineError::IllFormedString(_) => "value/ill-formed-string",
            EngineError::EmptyKey => "key/invalid",
            EngineError::EmptySoul => "soul/invalid",
            EngineError::InvalidConfig(_) => "config/invalid",
            EngineError::Rejected(r) => r.code(),
            EngineError::Placement(PlacementError::DuplicateMember(_)) => "placement/duplicate-member",
            EngineError::Placement(PlacementError::Invalid(_)) => "placement/invalid",
            EngineError::Member(MemberError::Malformed(_)) => "member/malformed",
            EngineError::Member(MemberError::BadSignature) => "member/bad-signature",
            EngineError::Member(MemberError::Stale) => "member/stale",
            EngineError::Member(MemberError::Future) => "member/future",
            EngineError::Member(MemberError::TooLarge(_)) => "member/too-large",
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Truncated => write!(f, "malformed frame: it ends inside a field"),
            EngineError::UnsupportedVersion(v) => {
                write!(f, "unsupported frame format (version byte {v}); this engine speaks version 1")
            }
            EngineError::BadTag(t) => write!(f, "malformed frame: unknown tag or flags 0x{t:02x}"),
            EngineError::InvalidUtf8 => write!(f, "malformed frame: a string is not valid UTF-8"),
            EngineError::NonFiniteNumber => {
                write!(f, "numbers must be finite: NaN and Infinity have no JSON form")
            }
            EngineError::TrailingBytes => write!(f, "malformed frame: bytes after the last update"),
            EngineError::LimitExceeded { limit, max, actual } => {
                let what = match limit {
                    Limit::SoulBytes => "soul",
                    Limit::KeyBytes => "key",
                    Limit::ValueBytes => "value",
                    Limit::BatchUpdates => "batch",
                };
                let unit = if *limit == Limit::BatchUpdates { "updates" } else { "bytes" };
                write!(f, "{what} too large: {actual} {unit}, the limit is {max}")
            }
            EngineError::ValueType(what) => write!(
                f,
                "{what} is not a value: use null, a boolean, a finite number, a string or a link {{\"#\": soul}}"
            ),
            EngineError::IllFormedString(field) => write!(
                f,
                "the {field} is not well-formed Unicode (it holds a lone surrogate); it would be altered on the way, so it is refused"
            ),
            EngineError::EmptyKey => write!(f, "keys must be non-empty strings"),
            EngineError::EmptySoul => write!(f, "souls must be non-empty strings"),
            EngineError::InvalidConfig(why) => write!(f, "invalid engine config: {why}"),
            EngineError::Rejected(r) => write!(f, "{}", r.message()),
            EngineError::Placement(PlacementError::DuplicateMember(i)) => {
                write!(f, "member {i} is listed twice: each server owns a replica once")
            }
            EngineError::Placement(PlacementError::Invalid(why)) => write!(f, "invalid placement: {why}"),
            EngineError::Member(MemberError::Malformed(why)) => write!(f, "malformed member record: {why}"),
            EngineError::Member(MemberError::BadSignature) => {
                write!(f, "the member record's signature does not verify against its public key")
            }
            EngineError::Member(MemberError::Stale) => write!(f, "the member record was issued longer ago than allowed"),
            EngineError::Member(MemberError::Future) => {
                write!(f, "the member record was issued further in the future than the allowed clock skew")
            }
            EngineError::Member(MemberError::TooLarge(why)) => write!(f, "member record too large: {why}"),
        }
    }
}
