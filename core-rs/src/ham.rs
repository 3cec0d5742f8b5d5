//! The HAM conflict rule for one property, exactly as GunDB resolves it (DESIGN.md §3),
//! plus a maximum clock skew beyond which an update is refused instead of parked.
//!
//! Properties are last-writer-wins registers ordered by state. Other CRDTs (counters,
//! sets) would get their own rule beside this one, chosen per node by its metadata in
//! `Engine::merge`, the one place where updates enter the graph.

use crate::crypto::Signed;
use crate::js_json::{compare_utf16, value_text};
use crate::value::Value;
use core::cmp::Ordering;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `stateIn > now + maxSkew`: refused, so no peer can park data in the far future.
    TooFarAhead,
    /// `now < stateIn`: keep it aside, decide again when its time comes.
    Defer,
    /// `stateIn < stateCur`: older than what we have.
    Historical,
    /// Equal states and the incoming JSON text is not greater: the current value stays.
    /// Covers exact re-application (nothing changes, nothing is announced).
    KeepCurrent,
    /// The incoming value replaces the current one.
    Incoming,
}

/// One side of a decision: a property's state, value and signature, if signed.
#[derive(Clone, Copy, Debug)]
pub struct Version<'a> {
    pub state: f64,
    pub value: &'a Value,
    pub signed: Option<&'a Signed>,
}

/// Whether `state` lies in the future of `now`. States are milliseconds; wall clocks
/// (`Date.now()`) resolve whole milliseconds and hybrid clocks order the writes within
/// one by tiny fractions, so a state inside the current millisecond is not the future:
/// deferring it would only delay a peer's burst of writes for no ordering benefit.
pub fn is_future(state: f64, now: f64) -> bool {
    state.floor() > now.floor()
}

/// Decides an incoming version against the current property, if any (a missing
/// property has state −∞). Pure function of its arguments.
pub fn decide(now: f64, max_skew: f64, incoming: Version<'_>, current: Option<Version<'_>>) -> Decision {
    if is_future(incoming.state, now) {
        return if incoming.state - now > max_skew { Decision::TooFarAhead } else { Decision::Defer };
    }
    let Some(current) = current else {
        return Decision::Incoming;
    };
    if incoming.state < current.state {
        return Decision::Historical;
    }
    if incoming.state > current.state {
        return Decision::Incoming;
    }
    match equal_state(incoming, current) {
        Ordering::Greater => Decision::Incoming,
        Ordering::Less | Ordering::Equal => Decision::KeepCurrent,
    }
}

/// Rule 3: compare `JSON.stringify` texts by UTF-16 code unit; the incoming value wins
/// only when its text is greater.
///
/// GunDB stops there, and so do we whenever the texts differ. Equal texts with
/// different contents would otherwise let arrival order pick the winner and break
/// convergence, so they get a deterministic tie-break GunDB never needs (its JSON wire
/// cannot carry either case): `0` beats `-0` (both print "0"), then a signed version
/// beats an unsigned one, then the greater (signer, signature) bytes win. Identical
/// versions compare Equal: an exact re-application changes nothing.
fn equal_state(incoming: Version<'_>, current: Version<'_>) -> Ordering {
    if !incoming.value.same_as(current.value) {
        let by_text = compare_utf16(&value_text(incoming.value), &value_text(current.value));
        if by_text != Ordering::Equal {
            return by_text;
        }
        return positive_zero(incoming.value).cmp(&positive_zero(current.value));
    }
    let meta = |s: Option<&Signed>| s.map(|s| (s.signer, s.signature));
    meta(incoming.signed).cmp(&meta(current.signed))
}

fn positive_zero(v: &Value) -> bool {
    matches!(v, Value::Number(x) if x.is_sign_positive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    const NOW: f64 = 10_000.0;
    const SKEW: f64 = 1_000.0;

    fn v(state: f64, value: &Value) -> Version<'_> {
        Version { state, value, signed: None }
    }
    fn at(state_in: f64, incoming: &Value, current: Option<(f64, &Value)>) -> Decision {
        decide(NOW, SKEW, v(state_in, incoming), current.map(|(s, c)| v(s, c)))
    }
    fn at_equal(incoming: Value, current: Value) -> Decision {
        at(5.0, &incoming, Some((5.0, &current)))
    }
    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn deferral_and_skew() {
        assert_eq!(at(NOW + 1.0, &Value::Null, None), Defer);
        assert_eq!(at(NOW + SKEW, &Value::Null, None), Defer);
        assert_eq!(at(NOW + SKEW + 0.5, &Value::Null, None), TooFarAhead);
        // state == now, and any state inside the current millisecond, is not the future
        assert_eq!(at(NOW, &Value::Null, None), Incoming);
        assert_eq!(at(NOW + 0.999, &Value::Null, None), Incoming);
        assert_eq!(decide(NOW + 0.25, SKEW, v(NOW + 0.75, &Value::Null), None), Incoming);
        // deferral is checked before anything else, even against a newer current
        assert_eq!(at(NOW + 1.0, &Value::Null, Some((NOW + 5.0, &Value::Null))), Defer);
    }

    #[test]
    fn state_order() {
        let cur = Value::Number(1.0);
        assert_eq!(at(4.0, &Value::Number(9.0), Some((5.0, &cur))), Historical);
        assert_eq!(at(6.0, &Value::Number(0.0), Some((5.0, &cur))), Incoming);
        assert_eq!(at(-1e300, &Value::Null, None), Incoming, "missing is −∞");
    }

    #[test]
    fn equal_state_identical_value_keeps_current() {
        assert_eq!(at_equal(text("a"), text("a")), KeepCurrent);
        assert_eq!(at_equal(Value::Null, Value::Null), KeepCurrent);
    }

    #[test]
    fn equal_state_strings_compare_as_json_text() {
        assert_eq!(at_equal(text("b"), text("a")), Incoming);
        assert_eq!(at_equal(text("a"), text("b")), KeepCurrent);
        // '"' (0x22) closes the shorter string: "ab" vs "abc" → `"ab"` < `"abc`
        assert_eq!(at_equal(text("abc"), text("ab")), Incoming);
        // escapes count: "\n" is `"\\n"` (0x5C after the quote) vs "A" `"A"` (0x41)
        assert_eq!(at_equal(text("\n"), text("A")), Incoming);
    }

    #[test]
    fn equal_state_across_types() {
        // JSON texts: null < true? 'n'(0x6E) < 't'(0x74); numbers start with digits or '-'
        // (0x2D..0x39) below '"' (0x22)? No: '"' is 0x22, '-' 0x2D, digits 0x30+.
        assert_eq!(at_equal(Value::Number(1.0), text("1")), Incoming, "`1` > `\"1\"`");
        assert_eq!(at_equal(text("1"), Value::Number(1.0)), KeepCurrent);
        assert_eq!(at_equal(Value::Bool(true), Value::Null), Incoming, "`true` > `null`");
        assert_eq!(at_equal(Value::Bool(false), Value::Bool(true)), KeepCurrent, "`false` < `true`");
        assert_eq!(at_equal(Value::Null, Value::Bool(false)), Incoming, "`null` > `false`");
        // a link's text starts with '{' (0x7B), above every other kind
        assert_eq!(at_equal(Value::Link("a".into()), Value::Bool(true)), Incoming);
        assert_eq!(at_equal(text("zzz"), Value::Link("a".into())), KeepCurrent);
        assert_eq!(at_equal(Value::Link("b".into()), Value::Link("a".into())), Incoming);
    }

    #[test]
    fn equal_state_numbers_compare_as_text_not_magnitude() {
        assert_eq!(at_equal(Value::Number(9.0), Value::Number(10.0)), Incoming, "`9` > `10`");
        // -0 and 0 have the same text "0": the tie-break picks 0 whatever the order
        assert_eq!(at_equal(Value::Number(-0.0), Value::Number(0.0)), KeepCurrent);
        assert_eq!(at_equal(Value::Number(0.0), Value::Number(-0.0)), Incoming);
        assert_eq!(at_equal(Value::Number(-0.0), Value::Number(-0.0)), KeepCurrent);
        // 1e21 is "1e+21", 1e20 is "100000000000000000000": '1' then 'e' (0x65) > '0'
        assert_eq!(at_equal(Value::Number(1e21), Value::Number(1e20)), Incoming);
        // 0.1+0.2 is "0.30000000000000004" > "0.3"
        assert_eq!(at_equal(Value::Number(0.1 + 0.2), Value::Number(0.3)), Incoming);
        assert_eq!(at_equal(Value::Number(-1.0), Value::Number(1.0)), KeepCurrent, "'-' < '1'");
    }

    #[test]
    fn equal_state_same_value_breaks_ties_on_signature_bytes() {
        let value = Value::Text("x".into());
        let a = Signed { signer: [1; 32], signature: [9; 64] };
        let b = Signed { signer: [2; 32], signature: [0; 64] };
        let with = |signed| Version { state: 5.0, value: &value, signed };
        assert_eq!(decide(NOW, SKEW, with(Some(&b)), Some(with(Some(&a)))), Incoming);
        assert_eq!(decide(NOW, SKEW, with(Some(&a)), Some(with(Some(&b)))), KeepCurrent);
        assert_eq!(decide(NOW, SKEW, with(Some(&a)), Some(with(None))), Incoming);
        assert_eq!(decide(NOW, SKEW, with(None), Some(with(Some(&a)))), KeepCurrent);
        assert_eq!(decide(NOW, SKEW, with(Some(&a)), Some(with(Some(&a)))), KeepCurrent, "re-application");
    }

    #[test]
    fn equal_state_astral_characters_sort_below_private_use_area() {
        // By code point U+1F600 > U+E000, but JavaScript sees D83D < E000.
        assert_eq!(at_equal(text("\u{1F600}"), text("\u{E000}")), KeepCurrent);
        assert_eq!(at_equal(text("\u{E000}"), text("\u{1F600}")), Incoming);
        assert_eq!(at_equal(text("\u{FFFD}"), text("\u{10FFFF}")), Incoming);
    }
}
