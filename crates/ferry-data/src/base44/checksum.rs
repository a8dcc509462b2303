//! The order-independent checksum of a set of records: each record's canonical JSON (keys
//! sorted, no whitespace, numbers by value — `2`, `2.0` and `2e0` are one number, as in
//! JavaScript) hashed to 64 bits (the first 8 bytes of MD5, as `canon.rs` does for rows), and
//! the hashes summed with wrapping, so the order records are read in does not matter.

use serde_json::Value;

/// The canonical JSON text of `value`.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write(v, out);
                }
            }
            out.push('}');
        }
    }
}

/// A number by value: integers in decimal, integral doubles within ±2^53 as integers, other
/// doubles in Rust's shortest round-trip form.
fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => (f as i64).to_string(),
        Some(f) => format!("{f:e}"),
        None => n.to_string(),
    }
}

/// The 64-bit hash of one record.
pub fn record_hash(value: &Value) -> u64 {
    crate::canon::hash64(canonical(value).as_bytes()) as u64
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
