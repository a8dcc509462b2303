//! The order-independent checksum of a set of records: each record's canonical JSON (keys
//! sorted, no whitespace, numbers by value — `2`, `2.0` and `2e0` are one number, as in
//! JavaScript) hashed to 64 bits (the first 8 bytes of MD5, as `canon.rs` does for rows), and
//! the hashes summed with wrapping, so the order records are read in does not matter.

use serde_json::Value;

/// The canonical JSON text of `value`.
pub fn canonical(value: &Value) -> String {
    let mut out = Vec::new();
    write(value, &mut out);
    // Only JSON text (valid UTF-8) was written.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Appends the canonical text of `value` to `out`: strings (and keys) escaped as serde_json
/// writes them, written in place rather than through a `String` each.
fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(key, out);
                out.push(b':');
                write(v, out);
            }
            out.push(b'}');
        }
    }
}

/// A JSON string literal, as `serde_json` writes it.
fn string(s: &str, out: &mut Vec<u8>) {
    // Serializing a `str` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A number by value: integers in decimal, integral doubles within ±2^53 as integers, other
/// doubles in Rust's shortest round-trip form.
fn number(n: &serde_json::Number, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing to a Vec cannot fail.
    let _ = if let Some(i) = n.as_i64() {
        write!(out, "{i}")
    } else if let Some(u) = n.as_u64() {
        write!(out, "{u}")
    } else {
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
                write!(out, "{}", f as i64)
            }
            Some(f) => write!(out, "{f:e}"),
            None => write!(out, "{n}"),
        }
    };
}

/// The 64-bit hash of one record.
pub fn record_hash(value: &Value) -> u64 {
    let mut out = Vec::with_capacity(512);
    write(value, &mut out);
    crate::canon::hash64(&out) as u64
}

/// A running checksum: the wrapping sum of record hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum(pub u64);

impl Checksum {
    /// Adds one record.
    pub fn add(&mut self, value: &Value) {
        self.0 = self.0.wrapping_add(record_hash(value));
    }

    /// 16 lower-case hex digits.
    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Parses [`Checksum::hex`].
    pub fn parse(hex: &str) -> Option<Checksum> {
        u64::from_str_radix(hex, 16).ok().map(Checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order_and_number_spelling() {
        let a: Value =
            serde_json::from_str(r#"{"b": 2.0, "a": [1, {"y": 1e0, "x": "é"}]}"#).expect("json");
        let b = json!({"a": [1, {"x": "é", "y": 1}], "b": 2});
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(canonical(&b), r#"{"a":[1,{"x":"é","y":1}],"b":2}"#);
        assert_ne!(
            canonical(&json!({"a": 0.5})),
            canonical(&json!({"a": 0.25}))
        );
    }

    #[test]
    fn strings_and_keys_are_escaped_as_serde_json_writes_them() {
        for text in [
            "plain",
            "q\"b\\s",
            "tab\tnl\nnul\u{0}\u{1f}",
            "ünï ✓ 🚀",
            "</script>",
        ] {
            let expected = format!(
                "{{{}:{}}}",
                Value::String(text.into()),
                Value::String(text.into())
            );
            let mut map = serde_json::Map::new();
            map.insert(text.into(), Value::String(text.into()));
            assert_eq!(canonical(&Value::Object(map)), expected);
        }
        assert_eq!(
            canonical(&json!([1.5, -0.0, 1e300, 2.5e-8, u64::MAX, -3])),
            "[1.5e0,0,1e300,2.5e-8,18446744073709551615,-3]"
        );
    }

    #[test]
    fn checksum_is_order_independent() {
        let (r1, r2) = (json!({"id": "1"}), json!({"id": "2"}));
        let (mut x, mut y) = (Checksum::default(), Checksum::default());
        x.add(&r1);
        x.add(&r2);
        y.add(&r2);
        y.add(&r1);
        assert_eq!(x, y);
        assert_eq!(Checksum::parse(&x.hex()), Some(x));
        let mut z = Checksum::default();
        z.add(&r1);
        assert_ne!(x, z);
    }
}
