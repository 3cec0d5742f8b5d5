//! The engine's JSON contracts, checked against what report.rs and membership.rs really
//! write.
//!
//! The TypeScript types of the engine's JSON (BatchReport, EngineOutcome, EngineChange,
//! EngineNode, MemberRecord, …) are declared once, in src/wasm.rs (`ENGINE_JSON_TYPES`),
//! and reach the SDK through the glue's `.d.ts`. This test runs the real engine through
//! every kind of JSON it returns (the reports of ingest, tick, restoreRecords and
//! restoreDeferred; node reads, whole, by keys and unknown; opened member records, of
//! each role) and writes those texts, verbatim, as typed
//! literals into sdk-ts/test/unit/engine-json.fixture.ts: `tsc` then checks each one
//! against the declared types (`satisfies`: a missing, extra or mistyped field fails),
//! and sdk-ts/test/unit/engine-json.test.ts (placement-engine.test.ts for member
//! records) checks that each text parses to it.
//!
//! The test fails when the fixture differs from what the engine writes now; rerun it
//! with RUSTDHT_UPDATE_FIXTURES=1 to rewrite the fixture, then type-check the SDK.

use rustdht_core::codec::encode;
use rustdht_core::config::Config;
use rustdht_core::crypto::{encode_public_key, KeyPair, Signed};
use rustdht_core::js_json::write_string;
use rustdht_core::membership::{open_member_record, sign_member_record, MemberFields, Role};
use rustdht_core::report::{batch_report, node_json};
use rustdht_core::update::Update;
use rustdht_core::{Engine, Outcome, Rejection, Value};
use std::path::PathBuf;

const NOW: f64 = 1_700_000_000_000.0;

fn update(soul: &str, key: &str, value: Value, state: f64) -> Update {
    Update { soul: soul.into(), key: key.into(), value, state, signed: None }
}

fn signed_by(pair: &KeyPair, mut u: Update) -> Update {
    let signature = pair.sign(&u.message());
    u.signed = Some(Signed { signer: *pair.public_key(), signature });
    u
}

/// Which outcome kinds a report shows. The match has no wildcard: a new kind of outcome
/// does not compile until this test gives an example of it.
fn outcome_kind(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Applied => 0,
        Outcome::Ignored => 1,
        Outcome::Historical => 2,
        Outcome::Deferred => 3,
        Outcome::Rejected(_) => 4,
    }
}

/// Likewise for the kinds of value a change or a property can carry.
fn value_kind(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::Text(_) => 3,
        Value::Link(_) => 4,
    }
}

struct Example {
    name: &'static str,
    json: String,
}

/// Every kind of JSON the engine hands to the shell, from real engine calls.
fn examples() -> (Vec<Example>, Vec<Example>) {
    let owner = KeyPair::from_seed(&[7; 32]);
    let intruder = KeyPair::from_seed(&[8; 32]);
    let profile = format!("~{}/profile", encode_public_key(owner.public_key()));
    let config = Config { max_clock_skew_ms: 60_000.0, ..Config::default() };
    let mut e = Engine::new(config.clone()).unwrap();

    let text = "quote \" backslash \\ newline \n control \u{1} é 😀";
    let mut forged = signed_by(&owner, update(&profile, "bio", Value::Text("mine".into()), 11.0));
    forged.value = Value::Text("tampered".into());
    let frame = encode(&[
        update("a", "null", Value::Null, 10.0),
        update("a", "bool", Value::Bool(true), 10.0),
        update("a", "zero", Value::Number(-0.0), 10.0),
        update("a", "big", Value::Number(1e21), 10.0),
        update("a", "fraction", Value::Number(0.1 + 0.2), 10.0),
        update("a", "text", Value::Text(text.into()), 10.0),
        update("a", "link", Value::Link("b".into()), 10.0),
        signed_by(&owner, update(&profile, "name", Value::Text("Ada".into()), 10.0)),
        update("a", "null", Value::Null, 10.0),
        update("a", "bool", Value::Bool(false), 5.0),
        update("a", "later", Value::Number(42.0), NOW + 50.0),
        update("a", "far", Value::Null, NOW + 3_600_000.0),
        signed_by(&intruder, update(&profile, "name", Value::Text("Mallory".into()), 12.0)),
        forged,
        update(&profile, "anon", Value::Null, 12.0),
    ]);
    let outcomes = e.ingest(&frame, NOW).unwrap();
    let mut kinds = [false; 5];
    outcomes.iter().for_each(|o| kinds[outcome_kind(o)] = true);
    assert_eq!(kinds, [true; 5], "every kind of outcome has an example: {outcomes:?}");
    assert!(outcomes.contains(&Outcome::Rejected(Rejection::NotOwner)));
    let mut values = [false; 5];
    e.last_changes().iter().for_each(|u| values[value_kind(&u.value)] = true);
    assert_eq!(values, [true; 5], "every kind of value has an example");
    assert!(e.last_changes().iter().any(|u| u.signed.is_some()) && e.last_changes().iter().any(|u| u.signed.is_none()));
    let mut reports = vec![Example { name: "ingest", json: batch_report(&outcomes, e.last_changes()) }];
    let records: Vec<Vec<u8>> = e.last_changes().iter().map(|u| encode(std::slice::from_ref(u))).collect();
    let deferred = encode(&e.deferred_updates().cloned().collect::<Vec<_>>());

    e.tick(NOW + 100.0);
    assert_eq!(e.last_changes().len(), 1, "the deferred update came due");
    reports.push(Example { name: "tick", json: batch_report(&[], e.last_changes()) });
    e.tick(NOW + 200.0);
    reports.push(Example { name: "tick, nothing due", json: batch_report(&[], e.last_changes()) });

    let mut reopened = Engine::new(config).unwrap();
    let frames: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    reopened.restore_frames(&frames).unwrap();
    reports.push(Example { name: "restoreRecords", json: batch_report(&[], reopened.last_changes()) });
    reopened.restore_deferred(&deferred, NOW).unwrap();
    assert!(reopened.last_changes().is_empty(), "still deferred");
    reports.push(Example { name: "restoreDeferred, still deferred", json: batch_report(&[], reopened.last_changes()) });
    reopened.restore_deferred(&deferred, NOW + 100.0).unwrap();
    reports.push(Example { name: "restoreDeferred, due", json: batch_report(&[], reopened.last_changes()) });

    let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    let nodes = vec![
        Example { name: "read: unsigned node", json: node_json("a", e.node("a"), None) },
        Example { name: "read: signed node", json: node_json(&profile, e.node(&profile), None) },
        Example { name: "read: some keys", json: node_json("a", e.node("a"), Some(&keys(&["zero", "link", "missing"]))) },
        Example { name: "read: no such keys", json: node_json("a", e.node("a"), Some(&keys(&["missing"]))) },
        Example { name: "read: unknown node", json: node_json("nobody", e.node("nobody"), None) },
    ];
    (reports, nodes)
}

/// Opened member records: one of each role, with and without addresses, an address
/// needing escapes and one beyond ASCII. The match has no wildcard: a new role does not
/// compile until it has an example here.
fn member_examples() -> Vec<Example> {
    let role_kind = |role: Role| match role {
        Role::Server => 0,
        Role::Leaving => 1,
    };
    let fields = [
        MemberFields {
            role: Role::Server,
            issued_at: NOW as u64,
            capacity: 500 * 1024 * 1024 * 1024,
            addrs: vec!["/ip4/10.0.0.7/tcp/4001/ws".into(), "/dns4/\"odd\".example/tcp/443/wss".into(), "/dns4/é.example/tcp/1".into()],
        },
        MemberFields { role: Role::Leaving, issued_at: NOW as u64 - 1, capacity: 0, addrs: Vec::new() },
    ];
    let mut roles = [false; 2];
    fields.iter().for_each(|f| roles[role_kind(f.role)] = true);
    assert_eq!(roles, [true; 2], "every role has an example");
    let json = |f: &MemberFields| open_member_record(&sign_member_record(&[7; 32], f).unwrap(), NOW, 60_000.0, 60_000.0).unwrap().to_json();
    vec![
        Example { name: "openMemberRecord: server", json: json(&fields[0]) },
        Example { name: "openMemberRecord: leaving, no addresses", json: json(&fields[1]) },
    ]
}

fn js_string(text: &str) -> String {
    let mut out = String::new();
    write_string(&mut out, text);
    out
}

fn fixture() -> String {
    let (reports, nodes) = examples();
    let mut out = String::from(
        "// Generated by core-rs/tests/engine_json.rs from what core-rs/src/report.rs and\n\
         // core-rs/src/membership.rs write: do not edit. `cargo test -p rustdht-core --test\n\
         // engine_json` fails when this file is out of date; RUSTDHT_UPDATE_FIXTURES=1 rewrites it.\n\
         // Each `json` is the engine's text verbatim as a literal, so `tsc` checks it against the\n\
         // declared types (satisfies), and engine-json.test.ts (placement-engine.test.ts for\n\
         // member records) checks that `text` parses to it.\n\
         import type { MemberRecord } from '../../src/engine/core-types.js';\n\
         import type { BatchReport, EngineNode } from '../../src/engine/reports.js';\n\n\
         export interface Example<T> {\n  readonly text: string;\n  readonly json: T;\n}\n",
    );
    let section = |out: &mut String, name: &str, ty: &str, examples: &[Example]| {
        out.push_str(&format!("\nexport const {name}: Readonly<Record<string, Example<{ty}>>> = {{\n"));
        for example in examples {
            out.push_str(&format!(
                "  {}: {{\n    text: {},\n    json: {} satisfies {ty},\n  }},\n",
                js_string(example.name),
                js_string(&example.json),
                example.json
            ));
        }
        out.push_str("};\n");
    };
    section(&mut out, "batchReports", "BatchReport", &reports);
    section(&mut out, "nodeReads", "EngineNode | null", &nodes);
    section(&mut out, "memberRecords", "MemberRecord", &member_examples());
    out
}

#[test]
fn the_sdk_fixture_holds_what_the_engine_writes() {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "sdk-ts", "test", "unit", "engine-json.fixture.ts"].iter().collect();
    let expected = fixture();
    if std::env::var_os("RUSTDHT_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is not what the engine writes now: rerun with RUSTDHT_UPDATE_FIXTURES=1, then type-check the SDK \
         (tsc -p sdk-ts/tsconfig.json) to see whether the declared types in core-rs/src/wasm.rs still hold",
        path.display()
    );
}
