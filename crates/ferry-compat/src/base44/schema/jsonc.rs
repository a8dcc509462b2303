//! A small JSONC reader: comments and trailing commas removed, nesting bounded, then
//! `serde_json`.
//!
//! Comments (`// …` to the end of the line, `/* … */`) are only recognised outside strings, so
//! a URL such as `"https://example.com"` survives. Each removed byte becomes a space (newlines
//! are kept), so the JSON parser's line and column numbers still point into the file as
//! written. A comma followed (across whitespace and comments) by `}` or `]` is removed the same
//! way. A leading byte-order mark is ignored.

use super::error::SchemaError;

/// Removes comments and trailing commas from `text`, refusing nesting deeper than
/// `max_depth` before any parser recurses into it.
pub(super) fn strip(file: &str, text: &str, max_depth: usize) -> Result<String, SchemaError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut pending_comma: Option<usize> = None;
    let mut depth = 0usize;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                pending_comma = None;
                let end = string_end(bytes, i);
                out.extend_from_slice(bytes.get(i..end).unwrap_or_default());
                i = end;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while let Some(&c) = bytes.get(i) {
                    if c == b'\n' {
                        break;
                    }
                    out.push(b' ');
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = i;
                out.extend_from_slice(b"  ");
                i += 2;
                loop {
                    match bytes.get(i) {
                        None => {
                            let line = 1 + bytes
                                .get(..start)
                                .unwrap_or_default()
                                .iter()
                                .filter(|&&c| c == b'\n')
                                .count();
                            return Err(SchemaError::Malformed {
                                file: file.to_string(),
                                detail: format!("the `/*` comment on line {line} is never closed"),
                            });
                        }
                        Some(b'*') if bytes.get(i + 1) == Some(&b'/') => {
                            out.extend_from_slice(b"  ");
                            i += 2;
                            break;
                        }
                        Some(b'\n') => out.push(b'\n'),
                        Some(_) => out.push(b' '),
                    }
                    i += 1;
                }
                continue;
            }
            b',' => pending_comma = Some(out.len()),
            b'}' | b']' => {
                if let Some(at) = pending_comma.take()
                    && let Some(slot) = out.get_mut(at)
                {
                    *slot = b' ';
                }
                depth = depth.saturating_sub(1);
            }
            b'{' | b'[' => {
                pending_comma = None;
                depth += 1;
                if depth > max_depth {
                    return Err(SchemaError::TooDeep {
                        file: file.to_string(),
                        limit: max_depth,
                    });
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => pending_comma = None,
        }
        out.push(b);
        i += 1;
    }
    // Only ASCII bytes were replaced (by ASCII spaces) and comments were blanked whole, so
    // the result is UTF-8; stay panic-free all the same.
    String::from_utf8(out).map_err(|e| SchemaError::Malformed {
        file: file.to_string(),
        detail: e.to_string(),
    })
}

/// The index just past the string starting with the quote at `start` (or the end of input
/// for an unterminated string, which the JSON parser then reports).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> String {
        strip("t.jsonc", text, 32).expect("strips")
    }

    #[test]
    fn comments_outside_strings_only() {
        let out = s("{\"u\": \"https://x.y/*z*/\", // c\n \"v\": 1 /* d\n e */}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("parses");
        assert_eq!(v["u"], "https://x.y/*z*/");
        assert_eq!(v["v"], 1);
        // Line structure is preserved.
        assert_eq!(out.lines().count(), 3);
    }

    #[test]
    fn trailing_commas() {
        let out = s("{\"a\": [1, 2, /* x */ ], \"b\": {\"c\": 1,\n // y\n },}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("parses");
        assert_eq!(v["a"], serde_json::json!([1, 2]));
        // A comma inside a string is left alone; so is an escaped quote.
        let out = s(r#"{"a": "x,]\",}", }"#);
        let v: serde_json::Value = serde_json::from_str(&out).expect("parses");
        assert_eq!(v["a"], "x,]\",}");
    }

    #[test]
    fn unterminated_comment_and_depth() {
        let err = strip("t.jsonc", "{\n/* open", 32).expect_err("refused");
        assert_eq!(err.code(), "malformed-schema");
        assert!(err.to_string().contains("line 2"), "{err}");
        let deep = "[".repeat(33);
        assert_eq!(
            strip("t.jsonc", &deep, 32).expect_err("refused").code(),
            "too-deep"
        );
        assert!(strip("t.jsonc", &"[".repeat(32), 32).is_ok());
    }
}
