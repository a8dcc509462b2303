//! JSON with comments and trailing commas (Base44's `*.jsonc`, tsconfig-style files).

/// Removes `//` and `/* */` comments and trailing commas, keeping line structure so that the
/// JSON parser's line and column numbers still point into the original text.
pub fn strip(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match (b, bytes.get(i + 1)) {
            (b'"', _) => {
                in_string = true;
                out.push(b);
                i += 1;
            }
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out.push(b' ');
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                let start = out.len();
                out.extend_from_slice(b"  ");
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    out.push(if bytes[i] == b'\n' { b'\n' } else { b' ' });
                    i += 1;
                }
                if i < bytes.len() {
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else {
                    // An unterminated comment: leave a marker the JSON parser rejects, where
                    // the comment began (so that lines and columns stay put).
                    out[start] = b'/';
                }
            }
            (b',', _) => {
                let mut j = i + 1;
                loop {
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if bytes.get(j) == Some(&b'/') && bytes.get(j + 1) == Some(&b'/') {
                        while j < bytes.len() && bytes[j] != b'\n' {
                            j += 1;
                        }
                        continue;
                    }
                    if bytes.get(j) == Some(&b'/') && bytes.get(j + 1) == Some(&b'*') {
                        j += 2;
                        while j < bytes.len()
                            && !(bytes[j] == b'*' && bytes.get(j + 1) == Some(&b'/'))
                        {
                            j += 1;
                        }
                        j += 2;
                        continue;
                    }
                    break;
                }
                let trailing = matches!(bytes.get(j), Some(b'}') | Some(b']'));
                out.push(if trailing { b' ' } else { b',' });
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes, so the result is still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Parses JSONC text into a JSON value.
pub fn parse(input: &str) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_str(&strip(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_comments_and_trailing_commas() {
        let text =
            "{\n  // the name\n  \"name\": \"a//b\", /* inline */\n  \"list\": [1, 2,],\n}\n";
        let value = parse(text).expect("valid jsonc");
        assert_eq!(value["name"], "a//b");
        assert_eq!(value["list"], serde_json::json!([1, 2]));
    }

    #[test]
    fn keeps_escaped_quotes_in_strings() {
        let value = parse(r#"{"a": "say \"hi\" // not a comment"}"#).expect("valid");
        assert_eq!(value["a"], "say \"hi\" // not a comment");
    }

    #[test]
    fn error_lines_point_into_the_original() {
        let text = "{\n /* one\n two */\n \"a\": 1\n \"b\": 2\n}";
        let err = parse(text).expect_err("missing comma");
        assert_eq!(err.line(), 5);
    }

    #[test]
    fn unterminated_comment_is_an_error() {
        assert!(parse("{\"a\": 1 /* never closed").is_err());
        // Found by fuzzing: the marker must not add a line after a final newline.
        let text = "{\n /* open\n";
        assert_eq!(strip(text).lines().count(), text.lines().count());
    }
}
