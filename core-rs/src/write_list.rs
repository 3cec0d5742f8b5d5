//! The text form of a list of local writes, as the SDK hands it over: the JSON of
//! `[soul, key, value, soul, key, value, …]`, made by V8's native `JSON.stringify`.
//! One string crosses the boundary instead of one value per element, which was a
//! quarter of a local write's cost.
//!
//! JSON cannot carry two things exactly, so they are handled explicitly:
//! - `-0`: `JSON.stringify(-0)` is `"0"`; the SDK writes `{"-0":1}` instead.
//! - lone surrogates: `JSON.stringify` escapes them (`"\ud800"`); here any escaped
//!   surrogate that is not part of a pair is refused, never replaced.
//! Non-finite numbers never get here: `JSON.stringify` would turn them into `null`,
//! so the SDK refuses them before serialising.

use crate::engine::LocalWrite;
use crate::error::{EngineError, WriteError};
use crate::value::Value;

pub fn parse(text: &str) -> Result<Vec<LocalWrite>, WriteError> {
    let mut p = Parser { bytes: text.as_bytes(), text, at: 0 };
    let shape = |what: &str| WriteError::from(EngineError::ValueType(format!("a write list that is not {what}")));
    p.skip_ws();
    if !p.eat(b'[') {
        return Err(shape("a JSON array"));
    }
    let mut writes = Vec::new();
    p.skip_ws();
    if p.eat(b']') {
        return Ok(writes);
    }
    loop {
        let index = writes.len();
        let at = WriteError::at(index);
        let soul = p.string("soul").map_err(at)?;
        p.comma().map_err(WriteError::at(index))?;
        let key = p.string("key").map_err(WriteError::at(index))?;
        p.comma().map_err(WriteError::at(index))?;
        let value = p.value().map_err(WriteError::at(index))?;
        writes.push(LocalWrite { soul, key, value });
        p.skip_ws();
        if p.eat(b']') {
            break;
        }
        p.comma().map_err(WriteError::at(index + 1))?;
    }
    p.skip_ws();
    if p.at != p.bytes.len() {
        return Err(shape("a single JSON array"));
    }
    Ok(writes)
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

fn malformed(what: &str) -> EngineError {
    EngineError::ValueType(format!("malformed write list ({what})"))
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn comma(&mut self) -> Result<(), EngineError> {
        self.skip_ws();
        if self.eat(b',') {
            self.skip_ws();
            Ok(())
        } else {
            Err(malformed("expected ','"))
        }
    }

    fn literal(&mut self, word: &str) -> bool {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, EngineError> {
        match self.bytes.get(self.at) {
            Some(b'"') => Ok(Value::Text(self.string("string value")?)),
            Some(b'n') if self.literal("null") => Ok(Value::Null),
            Some(b't') if self.literal("true") => Ok(Value::Bool(true)),
            Some(b'f') if self.literal("false") => Ok(Value::Bool(false)),
            Some(b'{') => self.object(),
            Some(b'[') => Err(EngineError::ValueType("an array".into())),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(malformed("expected a value")),
        }
    }

    /// `{"#": soul}` (a link) or `{"-0": …}` (negative zero).
    fn object(&mut self) -> Result<Value, EngineError> {
        self.at += 1;
        self.skip_ws();
        let name = self.string("member name")?;
        self.skip_ws();
        if !self.eat(b':') {
            return Err(malformed("expected ':'"));
        }
        self.skip_ws();
        let value = match name.as_str() {
            "#" => {
                let soul = self.string("link")?;
                if soul.is_empty() {
                    return Err(EngineError::EmptySoul);
                }
                Value::Link(soul)
            }
            "-0" => {
                self.value()?;
                Value::Number(-0.0)
            }
            _ => return Err(EngineError::ValueType("an object (only {\"#\": soul} links are values)".into())),
        };
        self.skip_ws();
        if !self.eat(b'}') {
            return Err(EngineError::ValueType("an object with more than one member".into()));
        }
        Ok(value)
    }

    fn number(&mut self) -> Result<Value, EngineError> {
        let start = self.at;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        // Only JSON number characters reach `parse`, so "inf"/"nan" cannot sneak in;
        // Rust's float parsing is correctly rounded, and V8 printed the shortest
        // round-trip digits, so the double is exactly the one JavaScript held.
        let x: f64 = self.text[start..self.at].parse().map_err(|_| malformed("bad number"))?;
        Value::number(x)
    }

    fn string(&mut self, field: &'static str) -> Result<String, EngineError> {
        if !self.eat(b'"') {
            return Err(EngineError::ValueType(format!("the {field} (not a string)")));
        }
        let mut out = String::new();
        let mut run = self.at;
        loop {
            let Some(&b) = self.bytes.get(self.at) else { return Err(malformed("unterminated string")) };
            match b {
                b'"' => {
                    out.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    self.escape(&mut out, field)?;
                    run = self.at;
                }
                _ => self.at += 1,
            }
        }
    }

    fn escape(&mut self, out: &mut String, field: &'static str) -> Result<(), EngineError> {
        let Some(&b) = self.bytes.get(self.at) else { return Err(malformed("unterminated escape")) };
        self.at += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    if !(self.literal("\\u")) {
                        return Err(EngineError::IllFormedString(field));
                    }
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(EngineError::IllFormedString(field));
                    }
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).ok_or(EngineError::IllFormedString(field))?
                } else {
                    char::from_u32(unit).ok_or(EngineError::IllFormedString(field))?
                }
            }
            _ => return Err(malformed("unknown escape")),
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, EngineError> {
        let digits = self.text.get(self.at..self.at + 4).ok_or(malformed("short \\u escape"))?;
        let unit = u32::from_str_radix(digits, 16).map_err(|_| malformed("bad \\u escape"))?;
        self.at += 4;
        Ok(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<Value> {
        parse(text).unwrap().into_iter().map(|w| w.value).collect()
    }

    #[test]
    fn parses_every_kind_of_value() {
        let got = values(r##"["s","a",null,"s","b",true,"s","c",false,"s","d",-1.5e-7,"s","e","x\"\\\n\u00e9😀","s","f",{"#":"t"},"s","g",{"-0":1}]"##);
        assert_eq!(got[..6].to_vec(), vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Number(-1.5e-7),
            Value::Text("x\"\\\né😀".into()),
            Value::Link("t".into()),
        ]);
        assert!(matches!(got[6], Value::Number(z) if z == 0.0 && z.is_sign_negative()));
        assert!(parse("[]").unwrap().is_empty());
    }

    #[test]
    fn numbers_keep_their_exact_double() {
        for x in [0.1 + 0.2, 5e-324, f64::MAX, 1e21, 123456789.123456789, 1076130272744132.2] {
            let text = format!("[\"s\",\"k\",{}]", crate::js_json::value_text(&Value::Number(x)));
            assert_eq!(values(&text), vec![Value::Number(x)], "{text}");
        }
    }

    #[test]
    fn escaped_surrogate_pairs_decode_and_lone_ones_are_refused() {
        assert_eq!(values(r#"["s","k","\ud83d\ude00"]"#), vec![Value::Text("😀".into())]);
        for lone in [r#"["s","k","\ud800"]"#, r#"["s","k","\udc00x"]"#, r#"["s","k","\ud800\u0041"]"#] {
            let err = parse(lone).unwrap_err();
            assert_eq!(err, WriteError { index: Some(0), error: EngineError::IllFormedString("string value") });
        }
        let in_key = parse(r#"["s","a",1,"s","\ud800",2]"#).unwrap_err();
        assert_eq!(in_key, WriteError { index: Some(1), error: EngineError::IllFormedString("key") });
    }

    #[test]
    fn malformed_lists_are_typed_errors() {
        for bad in ["", "{}", "[1,2,3]", r#"["s","k"]"#, r#"["s","k",[1]]"#, r#"["s","k",{"a":1}]"#, r#"["s","k",nan]"#,
            r#"["s","k",1"#, r#"["s","k",1] x"#, r##"["s","k",{"#":""}]"##, r#"["s","k","\q"]"#] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }
}
