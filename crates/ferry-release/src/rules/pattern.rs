//! The path patterns and target templates shared by every rule source.
//!
//! A pattern is `/`-separated segments, each one of:
//!
//! - a literal (`blog`, `c%C3%A9line`: percent-escapes are decoded before comparing),
//! - `:name`, one whole non-empty segment,
//! - as the last segment only: `*` (zero or more segments, captured as `splat`), `*suffix`
//!   (the rest of the path ending with `suffix`, e.g. `*.css`), `:name*` (zero or more
//!   segments) or `:name+` (one or more).
//!
//! Empty segments are ignored on both sides, so `/blog` and `/blog/` match alike. Matching
//! walks the pattern and the path once, without backtracking: its cost is linear in the
//! pattern's length plus the part of the path it looks at.

use std::borrow::Cow;

/// Longest pattern or target, in bytes.
pub(crate) const MAX_PATTERN_BYTES: usize = 2048;
/// Longest location or rewrite path a rule may produce, in bytes; longer results make the
/// rule not apply.
pub(crate) const MAX_OUTPUT_BYTES: usize = 8192;
/// Most placeholders in one pattern.
pub(crate) const MAX_PLACEHOLDERS: usize = 16;

/// What a match captured: placeholder name → slice of the request path, in pattern order.
pub(crate) type Captures<'p, 'a> = Vec<(&'p str, &'a str)>;

/// One segment of a pattern.
enum Seg<'p> {
    Lit(&'p str),
    Param(&'p str),
    Rest {
        name: &'p str,
        min: usize,
        suffix: &'p str,
    },
    Invalid(&'static str),
}

fn segments(s: &str) -> impl Iterator<Item = &str> {
    s.split('/').filter(|s| !s.is_empty())
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `name` is a placeholder name: a letter or `_`, then letters, digits or `_`.
pub(crate) fn is_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.first().is_some_and(|&c| is_name_start(c)) && b.iter().all(|&c| is_name_byte(c))
}

fn classify(seg: &str) -> Seg<'_> {
    if let Some(suffix) = seg.strip_prefix('*') {
        if suffix.contains('*') {
            return Seg::Invalid("only one `*` is supported, at the end of the pattern");
        }
        return Seg::Rest {
            name: "splat",
            min: 0,
            suffix,
        };
    }
    if let Some(body) = seg.strip_prefix(':') {
        let (name, min) = if let Some(n) = body.strip_suffix('*') {
            (n, Some(0))
        } else if let Some(n) = body.strip_suffix('+') {
            (n, Some(1))
        } else {
            (body, None)
        };
        if !is_name(name) {
            return Seg::Invalid("`:` must start a placeholder name (letters, digits, `_`)");
        }
        return match min {
            None => Seg::Param(name),
            Some(min) => Seg::Rest {
                name,
                min,
                suffix: "",
            },
        };
    }
    if seg.contains('*') {
        return Seg::Invalid("`*` is supported only at the start of the last segment");
    }
    Seg::Lit(seg)
}

/// Checks a pattern; the error says why it cannot be used.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    if !pattern.starts_with('/') {
        return Err("it does not start with `/`");
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err("it is longer than 2048 bytes");
    }
    if pattern.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("it contains a space or a control character");
    }
    if pattern.contains(['?', '#']) {
        return Err("it contains `?` or `#` (query strings and fragments are not matched)");
    }
    let mut placeholders = 0;
    let mut after_rest = false;
    for seg in segments(pattern) {
        if after_rest {
            return Err("`*`, `:name*` and `:name+` may only end a pattern");
        }
        match classify(seg) {
            Seg::Invalid(reason) => return Err(reason),
            Seg::Lit(_) => {}
            Seg::Param(_) => placeholders += 1,
            Seg::Rest { .. } => {
                placeholders += 1;
                after_rest = true;
            }
        }
    }
    if placeholders > MAX_PLACEHOLDERS {
        return Err("it has more than 16 placeholders");
    }
    Ok(())
}

/// Matches `path` (starting with `/`) against `pattern`; `None` when it does not match or
/// the pattern is invalid.
pub(crate) fn match_path<'p, 'a>(pattern: &'p str, path: &'a str) -> Option<Captures<'p, 'a>> {
    if !pattern.starts_with('/') || pattern.len() > MAX_PATTERN_BYTES {
        return None;
    }
    let mut caps = Vec::new();
    let mut rest = path;
    let mut pat = segments(pattern).peekable();
    while let Some(pseg) = pat.next() {
        match classify(pseg) {
            Seg::Lit(lit) => {
                let seg = next_segment(&mut rest)?;
                if !literal_eq(lit, seg) {
                    return None;
                }
            }
            Seg::Param(name) => {
                if caps.len() == MAX_PLACEHOLDERS {
                    return None;
                }
                caps.push((name, next_segment(&mut rest)?));
            }
            Seg::Rest { name, min, suffix } => {
                if pat.peek().is_some() {
                    return None;
                }
                let remaining = rest.trim_matches('/');
                if min > 0 && remaining.is_empty() {
                    return None;
                }
                let value = remaining.strip_suffix(suffix)?;
                caps.push((name, value));
                return Some(caps);
            }
            Seg::Invalid(_) => return None,
        }
    }
    next_segment(&mut rest).is_none().then_some(caps)
}

/// Takes the next non-empty segment off `rest`.
fn next_segment<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let trimmed = rest.trim_start_matches('/');
    if trimmed.is_empty() {
        *rest = trimmed;
        return None;
    }
    let end = trimmed.find('/').unwrap_or(trimmed.len());
    let (seg, tail) = trimmed.split_at(end);
    *rest = tail;
    Some(seg)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte a `%XX` escape at `b[i]` stands for.
fn escape_at(b: &[u8], i: usize) -> Option<u8> {
    if b.get(i) != Some(&b'%') {
        return None;
    }
    Some(hex(*b.get(i + 1)?)? << 4 | hex(*b.get(i + 2)?)?)
}

/// Whether a literal pattern segment, percent-decoded, equals a (decoded) path segment.
fn literal_eq(lit: &str, seg: &str) -> bool {
    if !lit.contains('%') {
        return lit == seg;
    }
    let (l, s) = (lit.as_bytes(), seg.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < l.len() {
        let (byte, width) = escape_at(l, i).map_or((l[i], 1), |b| (b, 3));
        if s.get(j) != Some(&byte) {
            return false;
        }
        i += width;
        j += 1;
    }
    j == s.len()
}

/// `text` with `%XX` escapes decoded, or unchanged when that is not valid UTF-8.
pub(crate) fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if let Some(byte) = escape_at(b, i) {
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_or(Cow::Borrowed(text), Cow::Owned)
}

/// Appends `text` percent-encoding what cannot appear in a header value: controls, space,
/// DEL and non-ASCII. For the text of a rule, which its author wrote as a URL.
pub(crate) fn push_loose(out: &mut String, text: &str) {
    for &b in text.as_bytes() {
        if b <= b' ' || b >= 0x7f {
            push_escape(out, b);
        } else {
            out.push(char::from(b));
        }
    }
}

/// Appends a decoded path fragment as URL text: everything but unreserved characters,
/// sub-delimiters, `:`, `@` and `/` percent-encoded (so `%`, `?` and `#` cannot change the
/// meaning of the URL).
pub(crate) fn push_strict(out: &mut String, text: &str) {
    for &b in text.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        if keep {
            out.push(char::from(b));
        } else {
            push_escape(out, b);
        }
    }
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 15)]));
}

/// How a target template is expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A `Location`: literal text kept (escaping only what a header cannot hold), captured
    /// values percent-encoded.
    Location,
    /// A path inside the release: literal text percent-decoded, captured values as they are.
    Path,
}

/// Replaces each `:name` of `template` that names a capture with its value. `None` when
/// the result would exceed [`MAX_OUTPUT_BYTES`].
pub(crate) fn expand(template: &str, caps: &Captures<'_, '_>, mode: Mode) -> Option<String> {
    let push_literal = |out: &mut String, text: &str| match mode {
        Mode::Location => push_loose(out, text),
        Mode::Path => out.push_str(&percent_decode(text)),
    };
    let b = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let (mut i, mut literal_from) = (0, 0);
    while i < b.len() {
        if b[i] == b':' && b.get(i + 1).is_some_and(|&c| is_name_start(c)) {
            let mut end = i + 1;
            while b.get(end).is_some_and(|&c| is_name_byte(c)) {
                end += 1;
            }
            let name = &template[i + 1..end];
            if let Some((_, value)) = caps.iter().find(|(n, _)| *n == name) {
                push_literal(&mut out, &template[literal_from..i]);
                match mode {
                    Mode::Location => push_strict(&mut out, value),
                    Mode::Path => out.push_str(value),
                }
                literal_from = end;
                if out.len() > MAX_OUTPUT_BYTES {
                    return None;
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }
    push_literal(&mut out, &template[literal_from..]);
    (out.len() <= MAX_OUTPUT_BYTES).then_some(out)
}

/// `text` with any run of leading `/` and `\` replaced by one `/`, so that a location can
/// never become protocol-relative (`//evil.example`).
pub(crate) fn single_leading_slash(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim_start_matches(['/', '\\']);
    if trimmed.len() + 1 == text.len() && text.starts_with('/') {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("/{trimmed}"))
    }
}

/// Whether `text` starts with `http://` or `https://` (any case).
pub(crate) fn is_absolute_url(text: &str) -> bool {
    let lower = |n: usize| text.get(..n).map(str::to_ascii_lowercase);
    lower(7).as_deref() == Some("http://") || lower(8).as_deref() == Some("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
        match_path(pattern, path).map(|c| {
            c.into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
    }

    #[test]
    fn literals_params_and_rests() {
        assert_eq!(caps("/", "/"), Some(vec![]));
        assert_eq!(caps("/", "/a"), None);
        assert_eq!(caps("/a", "/a/"), Some(vec![]));
        assert_eq!(caps("/a/", "/a"), Some(vec![]));
        assert_eq!(caps("/a", "/b"), None);
        assert_eq!(caps("/a", "/a/b"), None);
        assert_eq!(
            caps("/u/:id", "/u/7"),
            Some(vec![("id".into(), "7".into())])
        );
        assert_eq!(caps("/u/:id", "/u"), None);
        assert_eq!(caps("/b/*", "/b"), Some(vec![("splat".into(), "".into())]));
        assert_eq!(
            caps("/b/*", "/b/x/y/"),
            Some(vec![("splat".into(), "x/y".into())])
        );
        assert_eq!(caps("/b/:p+", "/b"), None);
        assert_eq!(caps("/b/:p+", "/b/x"), Some(vec![("p".into(), "x".into())]));
        assert_eq!(
            caps("/*.css", "/a/b.css"),
            Some(vec![("splat".into(), "a/b".into())])
        );
        assert_eq!(caps("/*.css", "/a/b.js"), None);
        assert_eq!(caps("/caf%C3%A9", "/café"), Some(vec![]));
        assert_eq!(caps("/100%", "/100%"), Some(vec![]));
        assert_eq!(caps("/*/x", "/a/x"), None);
    }

    #[test]
    fn pattern_checks() {
        for good in ["/", "/a/:b/*", "/:a*", "/x/:y+", "/*.js", "/a:b"] {
            check_pattern(good).expect(good);
        }
        for bad in [
            "a", "/*/x", "/:a*/b", "/**", "/a*b", "/:", "/:1", "/a?b", "/a b",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expansion_encodes_for_locations_and_decodes_for_paths() {
        let c = vec![("splat", "a b/%?#é")];
        assert_eq!(
            expand("https://x.example:8080/:splat", &c, Mode::Location).as_deref(),
            Some("https://x.example:8080/a%20b/%25%3F%23%C3%A9")
        );
        assert_eq!(
            expand("/caf%C3%A9/:splat", &c, Mode::Path).as_deref(),
            Some("/café/a b/%?#é")
        );
        assert_eq!(
            expand("/:unknown/:splat_", &c, Mode::Path).as_deref(),
            Some("/:unknown/:splat_")
        );
        let long = [("s", "x".repeat(5000))];
        let long: Captures = long.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(expand("/:s/:s", &long, Mode::Path), None);
    }

    #[test]
    fn leading_slashes_collapse() {
        assert_eq!(single_leading_slash("/a"), "/a");
        assert_eq!(single_leading_slash("//evil"), "/evil");
        assert_eq!(single_leading_slash("/\\evil"), "/evil");
        assert!(is_absolute_url("HTTPS://x"));
        assert!(!is_absolute_url("/https://x"));
    }
}
