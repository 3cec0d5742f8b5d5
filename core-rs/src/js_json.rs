//! JavaScript's `JSON.stringify` reproduced exactly for every [`Value`], and string
//! comparison by UTF-16 code unit as JavaScript's `<` does it.
//!
//! The HAM equal-state rule compares `JSON.stringify(value)` texts, so every peer must
//! produce byte-for-byte the text V8 would: ECMAScript `Number::toString` layout
//! (shortest round-trip digits, exponent only below 1e-6 or from 1e21 up) and
//! JSON.stringify's escapes (only `"`, `\`, and controls below U+0020).

use crate::value::Value;
use core::cmp::Ordering;
use core::fmt::Write;

/// `JSON.stringify(value)`.
pub fn value_text(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, NegativeZero::AsJavaScript);
    out
}

/// How `-0` is written. `JSON.stringify(-0)` is `"0"` (that is what the merge rule
/// compares), but the shell's reports keep `-0` so a value is never silently altered;
/// `JSON.parse("-0")` gives back `-0`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NegativeZero {
    AsJavaScript,
    Preserve,
}

pub fn write_value(out: &mut String, value: &Value, zero: NegativeZero) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(x) => {
            if zero == NegativeZero::Preserve && *x == 0.0 && x.is_sign_negative() {
                out.push_str("-0");
            } else {
                write_number(out, *x);
            }
        }
        Value::Text(s) => write_string(out, s),
        Value::Link(soul) => {
            out.push_str("{\"#\":");
            write_string(out, soul);
            out.push('}');
        }
    }
}

/// ECMAScript `Number::toString(x)` for a finite `x` (radix 10).
///
/// `ryu-js` gives the shortest round-trip digits with ECMAScript's rules, including the
/// one generic shortest-float printers get wrong: when two shortest digit strings are
/// equally close to `x`, the even one wins (1076130272744132.25 prints as
/// "1076130272744132.2"). The equal-state merge rule compares these texts, so a single
/// differing digit would make peers disagree.
pub fn write_number(out: &mut String, x: f64) {
    debug_assert!(x.is_finite(), "values are finite by construction");
    if x == 0.0 {
        out.push('0'); // both zeros: JavaScript prints -0 as "0"
        return;
    }
    let mut buffer = ryu_js::Buffer::new();
    out.push_str(buffer.format_finite(x));
}

/// JSON.stringify of a string. Input is well-formed Unicode, so the ES2019 rule for
/// lone surrogates never applies.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape: Option<&str> = match byte {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match escape {
            Some(text) => out.push_str(text),
            None => {
                let _ = write!(out, "\\u{:04x}", byte);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// `a < b` as JavaScript compares strings: by UTF-16 code unit. This differs from
/// byte or code point order exactly when a character beyond U+FFFF (a surrogate pair,
/// 0xD800–0xDBFF first) meets one in U+E000–U+FFFF.
pub fn compare_utf16(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(x: f64) -> String {
        value_text(&Value::Number(x))
    }

    #[test]
    fn numbers_match_javascript_layout() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (9007199254740992.0, "9007199254740992"),
            (0.000123, "0.000123"),
            (2.5e22, "2.5e+22"),
            (100.0, "100"),
            (1.7e12 + 0.25, "1700000000000.25"),
            // an exact tie between two shortest digit strings: ECMAScript picks the even
            (1076130272744132.25, "1076130272744132.2"),
        ];
        for (x, want) in cases {
            assert_eq!(num(*x), *want, "Number::toString({x:e})");
        }
    }

    #[test]
    fn negative_zero_is_kept_only_when_asked() {
        let mut out = String::new();
        write_value(&mut out, &Value::Number(-0.0), NegativeZero::Preserve);
        assert_eq!(out, "-0");
        assert_eq!(value_text(&Value::Number(-0.0)), "0");
    }

    #[test]
    fn strings_escape_like_json_stringify() {
        let t = |s: &str| value_text(&Value::Text(s.to_string()));
        assert_eq!(t("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(t("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(t("\u{0}\u{1f}"), r#""\u0000\u001f""#);
        // Not escaped by JSON.stringify: DEL, U+2028, U+2029, non-ASCII, astral.
        assert_eq!(t("\u{7f}\u{2028}\u{2029}é😀"), "\"\u{7f}\u{2028}\u{2029}é😀\"");
        assert_eq!(value_text(&Value::Link("a/b".into())), r##"{"#":"a/b"}"##);
        assert_eq!(value_text(&Value::Null), "null");
        assert_eq!(value_text(&Value::Bool(false)), "false");
    }

    #[test]
    fn utf16_order_differs_from_code_point_order() {
        // U+1F600 is D83D DE00 in UTF-16: below U+E000 by code unit, above by code point.
        assert_eq!(compare_utf16("\u{1F600}", "\u{E000}"), Ordering::Less);
        assert!("\u{1F600}" > "\u{E000}", "Rust compares by code point");
        assert_eq!(compare_utf16("\u{FFFF}", "\u{10000}"), Ordering::Greater);
        assert_eq!(compare_utf16("abc", "abd"), Ordering::Less);
        assert_eq!(compare_utf16("ab", "abc"), Ordering::Less);
    }
}
