//! Artifact and config fingerprints (docs/protocol.md §3, §4).
//!
//! The Node inspector sends `JSON.stringify(config)`; [`config_hash_from_wire`] re-serialises
//! that text the way the reference's `hashJobConfig` serialises the live value (keys sorted by
//! UTF-16 code units at every level, JavaScript number and string formatting) and hashes it.
//! Strings are kept as UTF-16 code units end to end so lone surrogates survive and key order
//! matches JavaScript's default sort.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::core::events::ConfigChange;

/// Hex characters kept from the sha256 digests (docs/protocol.md §4).
const HASH_HEX_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("config JSON is malformed at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: &'static str },
}

/// docs/protocol.md §4 configHash of the text `JSON.stringify(config)` produced in Node.
pub fn config_hash_from_wire(wire: &str) -> Result<String, HashError> {
    let canonical = canonical_json_from_wire(wire)?;
    Ok(truncated_sha256(canonical.as_bytes()))
}

/// The canonical text that is hashed: keys sorted at every level, JavaScript formatting.
pub fn canonical_json_from_wire(wire: &str) -> Result<String, HashError> {
    let value = JsonParser::new(wire).parse_document()?;
    let mut out = String::with_capacity(wire.len());
    write_canonical(&value, &mut out);
    Ok(out)
}

/// The config as a `serde_json::Value` (for diffs and display). Lone surrogates become U+FFFD
/// and every number is a JavaScript double (integers within 2^53 stay integers).
pub fn config_value_from_wire(wire: &str) -> Result<Value, HashError> {
    Ok(JsonParser::new(wire).parse_document()?.into_serde())
}

/// First 16 hex chars of sha256 of the artifact bytes (`contentHash`).
pub fn content_hash(bytes: &[u8]) -> String {
    truncated_sha256(bytes)
}

/// [`content_hash`] of a file's current bytes, or `None` when it cannot be read (e.g. the
/// artifact a run is about to load; no artifact yet → `None`, the conservative value).
pub fn file_content_hash(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| content_hash(&bytes))
}

/// `"<mtimeMs>-<ctimeMs>-<size>"` as Node's `fs.statSync` reports it, or `None` when the file
/// cannot be stat'ed. Node computes `sec * 1e3 + nsec / 1e6` in doubles and prints the result
/// with `Number#toString`; this does the same arithmetic.
pub fn artifact_fingerprint(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime_ms = timespec_ms(meta.mtime(), meta.mtime_nsec());
    let ctime_ms = timespec_ms(meta.ctime(), meta.ctime_nsec());
    Some(format!(
        "{}-{}-{}",
        format_js_number(mtime_ms),
        format_js_number(ctime_ms),
        format_js_number(meta.size() as f64)
    ))
}

fn timespec_ms(sec: i64, nsec: i64) -> f64 {
    sec as f64 * 1_000.0 + nsec as f64 / 1_000_000.0
}

fn truncated_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(HASH_HEX_LEN);
    for byte in digest.iter().take(HASH_HEX_LEN / 2) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// `Number.prototype.toString()` for a double: shortest round-trip digits, plain notation for
/// decimal exponents in [-6, 21), exponential (`1e+21`, `5e-324`) otherwise, `-0` → `0`.
pub fn format_js_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    // `{:e}` yields the shortest digits that round-trip, e.g. "1.2345e-7" or "5e-324".
    let sci = format!("{:e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    // ECMAScript's n: the decimal point sits after the n-th digit.
    let n = exponent + 1;
    let mut out = String::with_capacity(digits.len() + 8);
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e >= 0 { '+' } else { '-' }, e.abs());
    }
    out
}

/// The keys whose values differ between two configs, as dotted paths in sorted order.
/// Objects are descended into; arrays and scalars are compared whole.
pub fn config_changes(old: &Value, new: &Value) -> Vec<ConfigChange> {
    let mut old_leaves = BTreeMap::new();
    let mut new_leaves = BTreeMap::new();
    flatten_leaves(old, String::new(), &mut old_leaves);
    flatten_leaves(new, String::new(), &mut new_leaves);
    let mut keys: Vec<&String> = old_leaves.keys().chain(new_leaves.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let old = old_leaves.get(key);
            let new = new_leaves.get(key);
            (old != new).then(|| ConfigChange {
                key: key.clone(),
                old: old.cloned(),
                new: new.cloned(),
            })
        })
        .collect()
}

fn flatten_leaves(value: &Value, prefix: String, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_leaves(child, path, out);
            }
        }
        leaf => {
            let mut text = String::new();
            write_canonical(&JsValue::from_serde(leaf), &mut text);
            out.insert(prefix, text);
        }
    }
}

/// A JSON value as JavaScript sees it: numbers are doubles, strings are UTF-16 code units.
#[derive(Debug, Clone, PartialEq)]
enum JsValue {
    Null,
    Bool(bool),
    Number(f64),
    String(Vec<u16>),
    Array(Vec<JsValue>),
    Object(Vec<(Vec<u16>, JsValue)>),
}

impl JsValue {
    fn into_serde(self) -> Value {
        match self {
            JsValue::Null => Value::Null,
            JsValue::Bool(b) => Value::Bool(b),
            JsValue::Number(n) => number_to_serde(n),
            JsValue::String(s) => Value::String(String::from_utf16_lossy(&s)),
            JsValue::Array(items) => {
                Value::Array(items.into_iter().map(JsValue::into_serde).collect())
            }
            JsValue::Object(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (String::from_utf16_lossy(&k), v.into_serde()))
                    .collect(),
            ),
        }
    }

    fn from_serde(value: &Value) -> JsValue {
        match value {
            Value::Null => JsValue::Null,
            Value::Bool(b) => JsValue::Bool(*b),
            Value::Number(n) => JsValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => JsValue::String(s.encode_utf16().collect()),
            Value::Array(items) => JsValue::Array(items.iter().map(JsValue::from_serde).collect()),
            Value::Object(map) => JsValue::Object(
                map.iter()
                    .map(|(k, v)| (k.encode_utf16().collect(), JsValue::from_serde(v)))
                    .collect(),
            ),
        }
    }
}

/// Largest integer a double represents exactly along with all smaller ones (2^53).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

fn number_to_serde(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
        // Exact: the check above keeps it within i64 and integral.
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn write_canonical(value: &JsValue, out: &mut String) {
    match value {
        JsValue::Null => out.push_str("null"),
        JsValue::Bool(true) => out.push_str("true"),
        JsValue::Bool(false) => out.push_str("false"),
        // JSON.stringify writes non-finite numbers as null.
        JsValue::Number(n) if !n.is_finite() => out.push_str("null"),
        JsValue::Number(n) => out.push_str(&format_js_number(*n)),
        JsValue::String(units) => write_js_string(units, out),
        JsValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        JsValue::Object(entries) => {
            let mut sorted: Vec<&(Vec<u16>, JsValue)> = entries.iter().collect();
            // Vec<u16> orders lexicographically by code unit: JavaScript's default sort.
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            sorted.dedup_by(|a, b| a.0.cmp(&b.0) == Ordering::Equal);
            out.push('{');
            for (i, (key, child)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_js_string(key, out);
                out.push(':');
                write_canonical(child, out);
            }
            out.push('}');
        }
    }
}

/// `JSON.stringify` string quoting (QuoteJSONString): short escapes, other controls and lone
/// surrogates as lowercase `\uXXXX`, everything else literal.
fn write_js_string(units: &[u16], out: &mut String) {
    out.push('"');
    for item in char::decode_utf16(units.iter().copied()) {
        match item {
            Ok('"') => out.push_str("\\\""),
            Ok('\\') => out.push_str("\\\\"),
            Ok('\u{8}') => out.push_str("\\b"),
            Ok('\u{c}') => out.push_str("\\f"),
            Ok('\n') => out.push_str("\\n"),
            Ok('\r') => out.push_str("\\r"),
            Ok('\t') => out.push_str("\\t"),
            Ok(c) if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            Ok(c) => out.push(c),
            Err(lone) => {
                let _ = write!(out, "\\u{:04x}", lone.unpaired_surrogate());
            }
        }
    }
    out.push('"');
}

/// A small JSON parser that keeps what `serde_json` cannot: lone-surrogate escapes and
/// JavaScript number semantics (every number is a double).
struct JsonParser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

/// Nesting limit so a hostile document cannot overflow the stack.
const MAX_DEPTH: usize = 512;

impl<'a> JsonParser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            text,
            pos: 0,
        }
    }

    fn fail<T>(&self, reason: &'static str) -> Result<T, HashError> {
        Err(HashError::Malformed {
            offset: self.pos,
            reason,
        })
    }

    fn parse_document(mut self) -> Result<JsValue, HashError> {
        let value = self.parse_value(0)?;
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return self.fail("trailing characters");
        }
        Ok(value)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect_literal(&mut self, literal: &str, value: JsValue) -> Result<JsValue, HashError> {
        if self.text[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            Ok(value)
        } else {
            self.fail("unknown literal")
        }
    }

    fn parse_value(&mut self, depth: usize) -> Result<JsValue, HashError> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.skip_ws();
        match self.peek() {
            Some(b'n') => self.expect_literal("null", JsValue::Null),
            Some(b't') => self.expect_literal("true", JsValue::Bool(true)),
            Some(b'f') => self.expect_literal("false", JsValue::Bool(false)),
            Some(b'"') => Ok(JsValue::String(self.parse_string()?)),
            Some(b'[') => self.parse_array(depth),
            Some(b'{') => self.parse_object(depth),
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(_) => self.fail("unexpected character"),
            None => self.fail("unexpected end of input"),
        }
    }

    fn parse_array(&mut self, depth: usize) -> Result<JsValue, HashError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(JsValue::Array(items));
        }
        loop {
            items.push(self.parse_value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(JsValue::Array(items));
                }
                _ => return self.fail("expected ',' or ']'"),
            }
        }
    }

    fn parse_object(&mut self, depth: usize) -> Result<JsValue, HashError> {
        self.pos += 1;
        let mut entries: Vec<(Vec<u16>, JsValue)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(JsValue::Object(entries));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return self.fail("expected a key");
            }
            let key = self.parse_string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return self.fail("expected ':'");
            }
            self.pos += 1;
            let value = self.parse_value(depth + 1)?;
            // JSON.parse semantics: a repeated key keeps its first position, last value.
            match entries.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(JsValue::Object(entries));
                }
                _ => return self.fail("expected ',' or '}'"),
            }
        }
    }

    fn parse_number(&mut self) -> Result<JsValue, HashError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return self.fail("invalid number"),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.fail("invalid number");
            }
            self.skip_digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.fail("invalid number");
            }
            self.skip_digits();
        }
        // Rust's parser rounds correctly, as JavaScript's does; huge exponents give ±inf/0.
        match self.text[start..self.pos].parse::<f64>() {
            Ok(n) => Ok(JsValue::Number(n)),
            Err(_) => self.fail("invalid number"),
        }
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn parse_string(&mut self) -> Result<Vec<u16>, HashError> {
        self.pos += 1;
        let mut units = Vec::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The run ends on an ASCII byte, so it is a whole number of UTF-8 characters.
            units.extend(self.text[run_start..self.pos].encode_utf16());
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(units);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let unit = match self.peek() {
                        Some(b'"') => u16::from(b'"'),
                        Some(b'\\') => u16::from(b'\\'),
                        Some(b'/') => u16::from(b'/'),
                        Some(b'b') => 0x08,
                        Some(b'f') => 0x0c,
                        Some(b'n') => u16::from(b'\n'),
                        Some(b'r') => u16::from(b'\r'),
                        Some(b't') => u16::from(b'\t'),
                        Some(b'u') => {
                            let hex = self
                                .text
                                .get(self.pos + 1..self.pos + 5)
                                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                            let Some(hex) = hex else {
                                return self.fail("invalid \\u escape");
                            };
                            let unit = u16::from_str_radix(hex, 16).unwrap_or(0);
                            self.pos += 4;
                            unit
                        }
                        _ => return self.fail("invalid escape"),
                    };
                    self.pos += 1;
                    units.push(unit);
                }
                Some(_) => return self.fail("control character in string"),
                None => return self.fail("unterminated string"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        wire: String,
        #[serde(rename = "configHash")]
        config_hash: String,
    }

    #[test]
    fn every_reference_vector_hashes_like_the_reference() {
        let vectors: Vec<Vector> =
            serde_json::from_str(include_str!("../../tests/fixtures/confighash-vectors.json"))
                .expect("fixture is valid JSON");
        assert!(vectors.len() >= 17, "fixture lost vectors");
        for v in &vectors {
            let got = config_hash_from_wire(&v.wire)
                .unwrap_or_else(|e| panic!("vector {} failed to parse: {e}", v.name));
            assert_eq!(got, v.config_hash, "vector {}", v.name);
        }
    }

    #[test]
    fn spec_examples() {
        assert_eq!(
            config_hash_from_wire(
                r#"{"model":"m","datasetSource":{"type":"huggingface","name":"x"}}"#
            )
            .unwrap(),
            "996c886df5bc8d78"
        );
        assert_eq!(config_hash_from_wire("{}").unwrap(), "44136fa355b3678a");
    }

    #[test]
    fn canonical_text_sorts_keys_by_utf16_units() {
        // U+1F600 is a surrogate pair (0xD83D…) and sorts before U+FFFF in UTF-16 order,
        // although it sorts after it by code point / UTF-8 bytes.
        let canonical =
            canonical_json_from_wire("{\"\u{FFFF}\":2,\"\u{1F600}\":1,\"10\":0,\"2\":0,\"1\":0}")
                .unwrap();
        assert_eq!(
            canonical,
            "{\"1\":0,\"10\":0,\"2\":0,\"\u{1F600}\":1,\"\u{FFFF}\":2}"
        );
    }

    #[test]
    fn lone_surrogates_round_trip_as_lowercase_escapes() {
        assert_eq!(
            canonical_json_from_wire(r#"{"a":"\uD800x\uDFFF","b":"\ud83d\ude00"}"#).unwrap(),
            "{\"a\":\"\\ud800x\\udfff\",\"b\":\"\u{1F600}\"}"
        );
    }

    #[test]
    fn string_escapes_follow_json_stringify() {
        assert_eq!(
            canonical_json_from_wire(r#"["\u0001\u001f\u007f\b\f\n\r\t\"\\\/é"]"#).unwrap(),
            "[\"\\u0001\\u001f\u{7f}\\b\\f\\n\\r\\t\\\"\\\\/é\"]"
        );
    }

    #[test]
    fn numbers_format_like_javascript() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-2.5e-10, "-2.5e-10"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (0.1, "0.1"),
            (0.0002, "0.0002"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9007199254740993.0, "9007199254740992"),
            (1732547123456.789, "1732547123456.789"),
            (1.5, "1.5"),
            (123.456e5, "12345600"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_js_number(*value), *expected, "{value:e}");
        }
    }

    #[test]
    fn big_integers_are_read_as_doubles() {
        assert_eq!(
            canonical_json_from_wire("[9007199254740993,18446744073709551617,-0,1E2]").unwrap(),
            "[9007199254740992,18446744073709552000,0,100]"
        );
    }

    #[test]
    fn malformed_wire_is_an_error_not_a_panic() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "[1,]",
            "\"\\uZZZZ\"",
            "01x",
            "{\"a\":1}x",
            "\"\u{1}\"",
            "-",
            "1.",
            "1e",
            "nul",
            "\"abc",
        ] {
            assert!(config_hash_from_wire(bad).is_err(), "{bad:?} should fail");
        }
        let deep = "[".repeat(10_000);
        assert!(config_hash_from_wire(&deep).is_err());
    }

    #[test]
    fn config_value_keeps_integers_and_replaces_lone_surrogates() {
        let value = config_value_from_wire(r#"{"n":3,"f":0.5,"s":"\ud800"}"#).unwrap();
        assert_eq!(value, json!({"n": 3, "f": 0.5, "s": "\u{FFFD}"}));
    }

    #[test]
    fn content_hash_is_sha256_prefix() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(content_hash(b""), "e3b0c44298fc1c14");
    }

    #[test]
    fn fingerprint_of_missing_file_is_none() {
        assert_eq!(
            artifact_fingerprint(Path::new("/nonexistent/arkor/x.mjs")),
            None
        );
    }

    #[test]
    fn config_changes_lists_dotted_keys() {
        let old = json!({"model": "m", "learningRate": 0.0002, "lora": {"r": 16, "alpha": 16},
                         "steps": [1, 2], "gone": true});
        let new = json!({"model": "m", "learningRate": 0.0001, "lora": {"r": 8, "alpha": 16},
                         "steps": [1, 3], "added": {"x": "y"}});
        let changes = config_changes(&old, &new);
        let summary: Vec<(&str, Option<&str>, Option<&str>)> = changes
            .iter()
            .map(|c| (c.key.as_str(), c.old.as_deref(), c.new.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("added.x", None, Some("\"y\"")),
                ("gone", Some("true"), None),
                ("learningRate", Some("0.0002"), Some("0.0001")),
                ("lora.r", Some("16"), Some("8")),
                ("steps", Some("[1,2]"), Some("[1,3]")),
            ]
        );
        assert!(config_changes(&old, &old).is_empty());
        // Key order is not a change.
        assert!(
            config_changes(
                &json!({"a": 1, "b": {"c": 2, "d": 3}}),
                &json!({"b": {"d": 3, "c": 2}, "a": 1})
            )
            .is_empty()
        );
    }
}
