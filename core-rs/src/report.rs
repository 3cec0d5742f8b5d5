//! JSON texts the engine hands to the shell: batch reports and node reads. One
//! `JSON.parse` on the JavaScript side beats building objects property by property
//! across the WASM boundary. Numbers keep `-0` (see `NegativeZero::Preserve`).
//!
//! Their TypeScript types (BatchReport, EngineOutcome, EngineChange, EngineNode) are
//! declared once, in wasm.rs (`ENGINE_JSON_TYPES`); a change of shape here goes there
//! too, and tests/engine_json.rs fails until its SDK fixture is regenerated and
//! type-checks against them.

use crate::crypto::{encode_public_key, encode_signature};
use crate::engine::Outcome;
use crate::graph::Node;
use crate::js_json::{write_number, write_string, write_value, NegativeZero};
use crate::update::Update;

/// `{"outcomes":[…],"changes":[[soul,key,value,state,signer|null],…]}`
pub fn batch_report(outcomes: &[Outcome], changes: &[Update]) -> String {
    let mut out = String::with_capacity(32 + outcomes.len() * 16 + changes.len() * 48);
    out.push_str("{\"outcomes\":[");
    for (i, outcome) in outcomes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"o\":\"");
        out.push_str(outcome.name());
        out.push('"');
        if let Outcome::Rejected(r) = outcome {
            out.push_str(",\"code\":");
            write_string(&mut out, r.code());
            out.push_str(",\"msg\":");
            write_string(&mut out, r.message());
        }
        out.push('}');
    }
    out.push_str("],\"changes\":[");
    for (i, u) in changes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        write_string(&mut out, &u.soul);
        out.push(',');
        write_string(&mut out, &u.key);
        out.push(',');
        write_value(&mut out, &u.value, NegativeZero::Preserve);
        out.push(',');
        write_number(&mut out, u.state);
        out.push(',');
        match &u.signed {
            Some(s) => write_string(&mut out, &encode_public_key(&s.signer)),
            None => out.push_str("null"),
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}

/// `null`, or `{"soul":s,"props":{key:{"v":value,"s":state,"by"?:pk,"sig"?:sig}}}`;
/// with `keys`, only those of its properties (the ones the node has): a subscriber that
/// needs the few properties a batch changed does not pay for the whole node.
pub fn node_json(soul: &str, node: Option<&Node>, keys: Option<&[String]>) -> String {
    let Some(node) = node else { return "null".to_owned() };
    let mut out = String::with_capacity(32 + keys.map_or(node.props.len(), <[String]>::len) * 48);
    out.push_str("{\"soul\":");
    write_string(&mut out, soul);
    out.push_str(",\"props\":{");
    let selected: Box<dyn Iterator<Item = (&String, &_)>> = match keys {
        None => Box::new(node.props.iter()),
        Some(keys) => Box::new(keys.iter().filter_map(|k| node.props.get_key_value(k))),
    };
    for (i, (key, p)) in selected.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, key);
        out.push_str(":{\"v\":");
        write_value(&mut out, &p.value, NegativeZero::Preserve);
        out.push_str(",\"s\":");
        write_number(&mut out, p.state);
        if let Some(s) = &p.signed {
            out.push_str(",\"by\":");
            write_string(&mut out, &encode_public_key(&s.signer));
            out.push_str(",\"sig\":");
            write_string(&mut out, &encode_signature(&s.signature));
        }
        out.push('}');
    }
    out.push_str("}}");
    out
}
