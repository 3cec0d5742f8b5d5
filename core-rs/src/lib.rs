//! RustDHT engine: the graph model, binary codec, HAM merge, Ed25519 signatures and
//! validation rules. Pure: no I/O, no clock, no randomness; the shell passes `now` and
//! key seeds in. See docs/ARCHITECTURE.md for the layers and invariants.

pub mod clock;
pub mod codec;
pub mod config;
pub mod crypto;
pub mod digest;
pub mod engine;
pub mod error;
pub mod graph;
pub mod ham;
pub mod js_json;
pub mod membership;
pub mod namespace;
pub mod node_parts;
pub mod placement;
pub mod report;
pub mod update;
pub mod value;
pub mod write_list;

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
mod wasm_memory;

pub use engine::{Engine, LocalWrite, Outcome};
pub use error::{EngineError, Rejection};
pub use value::Value;
