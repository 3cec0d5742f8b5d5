//! Property tests: any set of updates, applied in any order, any number of times, in
//! any batching, yields the same graph on every peer: the graph a reference model of
//! the HAM rule predicts.

use proptest::prelude::*;
use rustdht_core::codec::encode;
use rustdht_core::config::Config;
use rustdht_core::crypto::{KeyPair, Signed};
use rustdht_core::js_json::{compare_utf16, value_text};
use rustdht_core::update::Update;
use rustdht_core::{Engine, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

const NOW: f64 = 1_000.0;
/// Far enough for every deferred update to come due, within the skew.
const LATER: f64 = 2_000.0;

fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![0.0, -0.0, 1.0, -1.0, 10.0, 9.0, 1e21, 1e20, 0.1 + 0.2, 0.3, 5e-324, 1e-7])
            .prop_map(Value::Number),
        prop::sample::select(vec!["", "a", "b", "ab", "\u{E000}", "\u{1F600}", "\u{FFFF}", "\"", "\n", "1", "null"])
            .prop_map(|s| Value::Text(s.to_owned())),
        prop::sample::select(vec!["a", "b"]).prop_map(|s| Value::Link(s.to_owned())),
    ]
}

/// Few souls, keys and states so that collisions (equal states) are common; some
/// states lie in the future (deferred at NOW, due by LATER).
fn update_strategy() -> impl Strategy<Value = Update> {
    (
        prop::sample::select(vec!["a", "b"]),
        prop::sample::select(vec!["x", "y"]),
        value_strategy(),
        prop::sample::select(vec![1.0, 2.0, 3.0, NOW + 10.0]),
        prop::option::weighted(0.2, prop::sample::select(vec![1u8, 2])),
    )
        .prop_map(|(soul, key, value, state, signer)| {
            let mut u = Update { soul: soul.into(), key: key.into(), value, state, signed: None };
            if let Some(seed) = signer {
                let pair = KeyPair::from_seed(&[seed; 32]);
                u.signed = Some(Signed { signer: *pair.public_key(), signature: pair.sign(&u.message()) });
            }
            u
        })
}

/// (soul, key) → (state bits, JSON-ish text with -0 distinguished, signer)
type Dump = BTreeMap<(String, String), (u64, String, Option<[u8; 32]>)>;

fn dump(e: &Engine) -> Dump {
    let mut out = Dump::new();
    for soul in e.graph().souls() {
        for (key, p) in &e.node(soul).unwrap().props {
            let text = match &p.value {
                Value::Number(x) => format!("{}/{}", value_text(&p.value), x.to_bits()),
                other => value_text(other),
            };
            out.insert((soul.to_owned(), key.clone()), (p.state.to_bits(), text, p.signed.as_ref().map(|s| s.signer)));
        }
    }
    out
}

/// The reference model: per property, the greatest version by state, then JSON text
/// (UTF-16 order), then 0 over -0, then signature bytes (unsigned lowest).
fn model(updates: &[Update]) -> Dump {
    let mut best: BTreeMap<(String, String), &Update> = BTreeMap::new();
    for u in updates {
        let slot = best.entry((u.soul.clone(), u.key.clone())).or_insert(u);
        if greater(u, slot) {
            *slot = u;
        }
    }
    let mut e = Engine::new(Config::default()).unwrap();
    let winners: Vec<Update> = best.values().map(|u| (*u).clone()).collect();
    e.ingest(&encode(&winners), LATER).unwrap();
    dump(&e)
}

fn greater(a: &Update, b: &Update) -> bool {
    let ord = a
        .state
        .partial_cmp(&b.state)
        .unwrap()
        .then_with(|| compare_utf16(&value_text(&a.value), &value_text(&b.value)))
        .then_with(|| positive_zero(&a.value).cmp(&positive_zero(&b.value)))
        .then_with(|| {
            let meta = |u: &Update| u.signed.as_ref().map(|s| (s.signer, s.signature));
            meta(a).cmp(&meta(b))
        });
    ord == Ordering::Greater
}

fn positive_zero(v: &Value) -> bool {
    matches!(v, Value::Number(x) if x.is_sign_positive())
}

/// Delivers `order` (indices into `updates`) split at `cuts`, then lets time pass.
fn replay(updates: &[Update], order: &[usize], cuts: &[usize]) -> Dump {
    let mut e = Engine::new(Config::default()).unwrap();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (order.len() + 1)).collect();
    bounds.push(order.len());
    bounds.sort_unstable();
    for end in bounds {
        if end > start {
            let batch: Vec<Update> = order[start..end].iter().map(|i| updates[*i].clone()).collect();
            e.ingest(&encode(&batch), NOW).unwrap();
            start = end;
        }
    }
    e.tick(LATER);
    dump(&e)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_order_duplication_and_batching_converges_to_the_model(
        updates in prop::collection::vec(update_strategy(), 1..24),
        shuffle_a in any::<u64>(),
        shuffle_b in any::<u64>(),
        duplicates in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        cuts_a in prop::collection::vec(any::<usize>(), 0..6),
        cuts_b in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut order: Vec<usize> = (0..updates.len()).collect();
        order.extend(duplicates.iter().map(|d| d.index(updates.len())));
        let a = permute(&order, shuffle_a);
        let b = permute(&order, shuffle_b);
        let expected = model(&updates);
        prop_assert_eq!(replay(&updates, &a, &cuts_a), expected.clone());
        prop_assert_eq!(replay(&updates, &b, &cuts_b), expected);
    }
}

/// Versions that collide on purpose: one property, one state, values whose JSON texts
/// are equal or nearly so, signed by different keys or not at all. Every equal-state
/// tie-break is exercised in nearly every case.
fn colliding_update_strategy() -> impl Strategy<Value = Update> {
    (
        prop::sample::select(vec![
            Value::Number(0.0),
            Value::Number(-0.0),
            Value::Text("0".into()),
            Value::Text("\u{E000}".into()),
            Value::Text("\u{1F600}".into()),
            Value::Null,
        ]),
        prop::option::of(prop::sample::select(vec![1u8, 2, 3])),
    )
        .prop_map(|(value, signer)| {
            let mut u = Update { soul: "s".into(), key: "k".into(), value, state: 5.0, signed: None };
            if let Some(seed) = signer {
                let pair = KeyPair::from_seed(&[seed; 32]);
                u.signed = Some(Signed { signer: *pair.public_key(), signature: pair.sign(&u.message()) });
            }
            u
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn equal_state_collisions_converge_to_the_model(
        updates in prop::collection::vec(colliding_update_strategy(), 2..10),
        shuffle_a in any::<u64>(),
        shuffle_b in any::<u64>(),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let order: Vec<usize> = (0..updates.len()).collect();
        let expected = model(&updates);
        prop_assert_eq!(replay(&updates, &permute(&order, shuffle_a), &cuts), expected.clone());
        prop_assert_eq!(replay(&updates, &permute(&order, shuffle_b), &[]), expected);
    }
}

/// A deterministic Fisher–Yates shuffle driven by a seed (xorshift).
fn permute(items: &[usize], mut seed: u64) -> Vec<usize> {
    let mut v = items.to_vec();
    seed |= 1;
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    v
}
