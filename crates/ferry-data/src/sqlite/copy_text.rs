//! Postgres text-format COPY output (Postgres docs, "COPY — Text Format"): rows end with
//! `\n`, fields are separated by `\t`, `\N` is NULL, and a backslash escapes `\\`, `\b`,
//! `\f`, `\n`, `\r`, `\t`, `\v`, `\NNN` (octal) and `\xHH` (hex); any other escaped
//! character stands for itself. A raw tab or newline is therefore always a separator.

use crate::canon::SqliteStorage;

/// Cuts a byte stream split anywhere into complete lines, keeping the partial last line.
#[derive(Debug, Default)]
pub(super) struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// Calls `line` for every complete line (without its `\n`) of what was kept plus `data`;
    /// keeps the rest. Stops at the first error (the stream is then unusable).
    pub(super) fn feed<E>(
        &mut self,
        data: &[u8],
        mut line: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rest = data;
        if !self.pending.is_empty() {
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                self.pending.extend_from_slice(rest);
                return Ok(());
            };
            self.pending.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let joined = std::mem::take(&mut self.pending);
            let result = line(&joined);
            self.pending = joined;
            self.pending.clear();
            result?;
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            line(&rest[..end])?;
            rest = &rest[end + 1..];
        }
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    /// Bytes of an unfinished line.
    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Whether a line is the end-of-data marker `\.` (not sent by `COPY TO STDOUT` over the v3
/// protocol, accepted anyway).
pub(super) fn is_end_marker(line: &[u8]) -> bool {
    line == b"\\."
}

/// The value of one field, ready to bind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Reusable buffers for decoding fields.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    unescaped: Vec<u8>,
    blob: Vec<u8>,
}

impl Scratch {
    /// Decodes one raw field (between tabs) into the value of `storage`. The error says what
    /// is wrong with the field, without the table (the caller adds it).
    pub(super) fn decode<'a>(
        &'a mut self,
        raw: &'a [u8],
        storage: SqliteStorage,
    ) -> Result<Value<'a>, String> {
        if raw == b"\\N" {
            return Ok(Value::Null);
        }
        let bytes: &[u8] = if raw.contains(&b'\\') {
            unescape(raw, &mut self.unescaped);
            &self.unescaped
        } else {
            raw
        };
        match storage {
            SqliteStorage::Integer => {
                let text = utf8(bytes)?;
                text.parse::<i64>()
                    .map(Value::Integer)
                    .map_err(|_| format!("`{}` is not an integer", clip(text)))
            }
            SqliteStorage::Real => {
                let text = utf8(bytes)?;
                parse_f64(text)
                    .map(Value::Real)
                    .ok_or_else(|| format!("`{}` is not a float", clip(text)))
            }
            SqliteStorage::Blob => {
                let hex = bytes.strip_prefix(b"\\x").ok_or_else(|| {
                    "a bytea value is not in hex form (`\\x…`); set bytea_output = 'hex'"
                        .to_string()
                })?;
                decode_hex(hex, &mut self.blob)?;
                Ok(Value::Blob(&self.blob))
            }
            SqliteStorage::Text => utf8(bytes).map(Value::Text),
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 ({e}); the session must use client_encoding UTF8"))
}

/// At most 40 characters of a value, for messages.
fn clip(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Undoes COPY text escapes of one field into `out` (cleared first).
pub(super) fn unescape(field: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        i += 1;
        if b != b'\\' || i == field.len() {
            out.push(b);
            continue;
        }
        let c = field[i];
        i += 1;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match field.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' => match field.get(i).and_then(|&d| hex_digit(d)) {
                Some(first) => {
                    i += 1;
                    let mut value = first;
                    if let Some(second) = field.get(i).and_then(|&d| hex_digit(d)) {
                        value = value * 16 + second;
                        i += 1;
                    }
                    out.push(value);
                }
                // `\x` without a hex digit is an `x`, as Postgres reads it.
                None => out.push(b'x'),
            },
            other => out.push(other),
        }
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes the digits of Postgres' bytea hex output (after `\x`) into `out` (cleared first).
pub(crate) fn decode_hex(hex: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    if !hex.len().is_multiple_of(2) {
        return Err("a bytea value has an odd number of hex digits".into());
    }
    out.reserve(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(high), Some(low)) => out.push(high * 16 + low),
            _ => return Err("a bytea value holds a character that is not a hex digit".into()),
        }
    }
    Ok(())
}

/// Parses Postgres' float8 output: `Infinity`, `-Infinity`, `NaN`, or decimal digits (the
/// shortest text that round-trips, which Rust parses back to the same bits, correctly
/// rounded).
pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    match text {
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse::<f64>().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(buffer: &mut LineBuffer, data: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        buffer
            .feed::<()>(data, |l| {
                lines.push(l.to_vec());
                Ok(())
            })
            .expect("feed");
        lines
    }

    fn text_of(raw: &[u8]) -> Option<String> {
        let mut scratch = Scratch::default();
        match scratch.decode(raw, SqliteStorage::Text).expect("decodes") {
            Value::Null => None,
            Value::Text(t) => Some(t.to_string()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn sqlite_copy_unescapes_every_escape() {
        assert_eq!(text_of(b"\\N"), None);
        assert_eq!(text_of(b""), Some(String::new()));
        assert_eq!(text_of(b"\\\\N"), Some("\\N".into()));
        assert_eq!(text_of(b"a\\tb\\nc\\rd\\\\e"), Some("a\tb\nc\rd\\e".into()));
        assert_eq!(text_of(b"\\b\\f\\v"), Some("\u{8}\u{c}\u{b}".into()));
        assert_eq!(text_of(b"\\101\\7\\0x"), Some("A\u{7}\u{0}x".into()));
        assert_eq!(text_of(b"\\x41\\x4g\\xz"), Some("A\u{4}gxz".into()));
        assert_eq!(text_of(b"\\303\\251t\\303\\251"), Some("été".into()));
        assert_eq!(text_of(b"caf\xc3\xa9 \\."), Some("café .".into()));
        assert_eq!(text_of(b"trailing\\"), Some("trailing\\".into()));
        let mut scratch = Scratch::default();
        assert!(
            scratch.decode(b"\\377", SqliteStorage::Text).is_err(),
            "invalid UTF-8 is refused"
        );
    }

    #[test]
    fn sqlite_copy_binds_by_storage() {
        let mut s = Scratch::default();
        assert_eq!(
            s.decode(b"-9223372036854775808", SqliteStorage::Integer),
            Ok(Value::Integer(i64::MIN))
        );
        assert_eq!(
            s.decode(b"1", SqliteStorage::Integer),
            Ok(Value::Integer(1))
        );
        assert!(s.decode(b"1.5", SqliteStorage::Integer).is_err());
        assert!(s.decode(b"", SqliteStorage::Integer).is_err());
        assert_eq!(s.decode(b"\\N", SqliteStorage::Integer), Ok(Value::Null));
        assert_eq!(
            s.decode(b"-Infinity", SqliteStorage::Real),
            Ok(Value::Real(f64::NEG_INFINITY))
        );
        assert_eq!(
            s.decode(b"\\\\x0aff", SqliteStorage::Blob),
            Ok(Value::Blob(&[0x0a, 0xff]))
        );
        assert_eq!(
            s.decode(b"\\\\x", SqliteStorage::Blob),
            Ok(Value::Blob(&[]))
        );
        assert!(
            s.decode(b"\\\\000", SqliteStorage::Blob).is_err(),
            "escape-format bytea is refused"
        );
    }

    #[test]
    fn sqlite_copy_bytea_hex_decodes() {
        let mut out = Vec::new();
        decode_hex(b"00ff7F80deadBEEF", &mut out).expect("hex");
        assert_eq!(out, [0x00, 0xff, 0x7f, 0x80, 0xde, 0xad, 0xbe, 0xef]);
        decode_hex(b"", &mut out).expect("empty");
        assert!(out.is_empty());
        assert!(decode_hex(b"abc", &mut out).is_err());
        assert!(decode_hex(b"zz", &mut out).is_err());
    }

    #[test]
    fn sqlite_copy_floats_round_trip_exactly() {
        let values = [
            0.1,
            1e308,
            5e-324,
            -0.0,
            0.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            1.0 / 3.0,
            -2.5e-310,
            9007199254740993.0,
            1e21,
        ];
        for v in values {
            for text in [format!("{v:?}"), format!("{v:e}"), format!("{v}")] {
                let parsed = parse_f64(&text).expect("parses");
                assert_eq!(parsed.to_bits(), v.to_bits(), "{text}");
            }
        }
        // Postgres' own spellings (extra_float_digits > 0: shortest round-trip text).
        let pg = [
            ("0.1", 0.1),
            ("1e+308", 1e308),
            ("5e-324", 5e-324),
            ("1.7976931348623157e+308", f64::MAX),
            ("-0", -0.0),
            ("2.2250738585072014e-308", f64::MIN_POSITIVE),
            ("Infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
        ];
        for (text, v) in pg {
            assert_eq!(
                parse_f64(text).map(f64::to_bits),
                Some(v.to_bits()),
                "{text}"
            );
        }
        assert!(parse_f64("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_f64("1,5"), None);
    }

    #[test]
    fn sqlite_copy_lines_survive_any_split() {
        let sample: &[u8] = b"1\ta\\tb\\nc\t\\N\n2\t\t\\\\N\n3\t\\303\\251\t\\\\x00ff\n";
        let mut whole = LineBuffer::default();
        let expected = lines_of(&mut whole, sample);
        assert_eq!(expected.len(), 3);
        assert_eq!(whole.pending(), 0);
        for cut in 0..=sample.len() {
            let mut buffer = LineBuffer::default();
            let mut got = lines_of(&mut buffer, &sample[..cut]);
            got.extend(lines_of(&mut buffer, &sample[cut..]));
            assert_eq!(got, expected, "cut at {cut}");
            assert_eq!(buffer.pending(), 0);
        }
        // One byte at a time.
        let mut buffer = LineBuffer::default();
        let mut got = Vec::new();
        for b in sample {
            got.extend(lines_of(&mut buffer, std::slice::from_ref(b)));
        }
        assert_eq!(got, expected);
        let mut partial = LineBuffer::default();
        assert!(lines_of(&mut partial, b"1\tx").is_empty());
        assert_eq!(partial.pending(), 3);
        assert!(is_end_marker(b"\\."));
    }
}
