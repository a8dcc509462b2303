//! `$regex`: patterns are checked once, at parse time, against a portable subset that the Rust
//! `regex` crate (SQLite, through [`register_sqlite_functions`]) and PostgreSQL's ARE engine read
//! the same way, and rendered for each.

use regex::{Regex, RegexBuilder};

use super::MAX_REGEX_LEN;
use super::error::{QueryError, QueryErrorKind, quote};

/// The compiled-size limit of a pattern (and of its lazy DFA), in bytes.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// PostgreSQL refuses repetition counts above this (`RE_DUP_MAX`).
const PG_MAX_REPEAT: u32 = 255;

/// A validated `$regex` pattern with its `$options`, rendered for both engines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    options: String,
    rust: String,
    pg: String,
}

impl Pattern {
    /// Validates `source` with `options` (a subset of `imsx`, as MongoDB's `$options`).
    pub fn new(source: &str, options: &str) -> Result<Pattern, QueryError> {
        let bad = |m: String| QueryError::new(QueryErrorKind::BadRegex, m);
        if source.len() > MAX_REGEX_LEN {
            return Err(bad(format!("$regex is longer than {MAX_REGEX_LEN} bytes")));
        }
        if source.contains('\0') {
            return Err(bad("$regex contains a NUL character".into()));
        }
        let mut flags = Flags::default();
        for c in options.chars() {
            match c {
                'i' => flags.i = true,
                'm' => flags.m = true,
                's' => flags.s = true,
                'x' => flags.x = true,
                _ => {
                    return Err(bad(format!(
                        "unknown $options letter {}",
                        quote(&c.to_string())
                    )));
                }
            }
        }
        let body = translate(source).map_err(bad)?;
        let mut rust_flags = String::new();
        for (on, c) in [
            (flags.i, 'i'),
            (flags.m, 'm'),
            (flags.s, 's'),
            (flags.x, 'x'),
        ] {
            if on {
                rust_flags.push(c);
            }
        }
        let rust = if rust_flags.is_empty() {
            source.to_string()
        } else {
            format!("(?{rust_flags}){source}")
        };
        compile(&rust)
            .map_err(|e| bad(format!("invalid $regex: {}", first_line(&e.to_string()))))?;
        // PostgreSQL embedded options: newline handling as PCRE reads `m` and `s`.
        let mut pg_flags = String::from(match (flags.m, flags.s) {
            (false, false) => "p",
            (true, false) => "n",
            (false, true) => "s",
            (true, true) => "w",
        });
        if flags.i {
            pg_flags.push('i');
        }
        if flags.x {
            pg_flags.push('x');
        }
        let pg = format!("(?{pg_flags}){body}");
        let options = rust_flags;
        Ok(Pattern {
            source: source.to_string(),
            options,
            rust,
            pg,
        })
    }

    /// The pattern as the client sent it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The normalised options (`imsx` order, each at most once).
    pub fn options(&self) -> &str {
        &self.options
    }

    /// The pattern for the `regex` crate, options inlined (what SQLite's `regexp` receives).
    pub fn rust(&self) -> &str {
        &self.rust
    }

    /// The pattern for PostgreSQL's `~`, options as embedded ARE options.
    pub fn postgres(&self) -> &str {
        &self.pg
    }
}

#[derive(Default)]
struct Flags {
    i: bool,
    m: bool,
    s: bool,
    x: bool,
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

/// Compiles a pattern with the size limits used everywhere.
pub(crate) fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// POSIX classes both engines know.
const POSIX_CLASSES: &[&str] = &[
    "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
    "upper", "xdigit",
];

/// What came before the current position, for where a quantifier may go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of the pattern, after `(` or `|`.
    Start,
    /// A character, class, group or `.`.
    Atom,
    /// `^`, `$`, `\b`, `\B` (PostgreSQL refuses quantified constraints).
    Assertion,
    /// A quantifier (a `?` may still make it lazy).
    Quant,
    /// A lazy quantifier.
    Lazy,
}

/// Checks that `source` stays inside the subset both engines read alike and renders it for
/// PostgreSQL (`\b`/`\B` become `\y`/`\Y`): escapes `\d \w \s` (and negations), `\b`,
/// `\n \t \r \f \v`, escaped punctuation; classes with POSIX names; `(…)` and `(?:…)`;
/// quantifiers `* + ? {n} {n,} {n,m}` (counts up to 255), each optionally lazy, only after an
/// atom.
fn translate(source: &str) -> Result<String, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len() + 8);
    let mut i = 0;
    let mut prev = Prev::Start;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let next = *chars
                    .get(i + 1)
                    .ok_or_else(|| "$regex ends with a lone backslash".to_string())?;
                out.push('\\');
                out.push(escape(next, false)?);
                prev = if matches!(next, 'b' | 'B') {
                    Prev::Assertion
                } else {
                    Prev::Atom
                };
                i += 2;
            }
            '[' => {
                i = class(&chars, i, &mut out)?;
                prev = Prev::Atom;
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    if chars.get(i + 2) != Some(&':') {
                        return Err(
                            "$regex: only (?:…) groups are supported; pass flags in $options"
                                .into(),
                        );
                    }
                    out.push_str("(?:");
                    i += 3;
                } else {
                    out.push('(');
                    i += 1;
                }
                prev = Prev::Start;
            }
            '|' => {
                out.push('|');
                prev = Prev::Start;
                i += 1;
            }
            '^' | '$' => {
                out.push(c);
                prev = Prev::Assertion;
                i += 1;
            }
            '*' | '+' | '?' | '{' => {
                prev = match (prev, c) {
                    (Prev::Atom, _) => Prev::Quant,
                    (Prev::Quant, '?') => Prev::Lazy,
                    _ => {
                        return Err(
                            "$regex: a quantifier must follow a character, class or group".into(),
                        );
                    }
                };
                if c == '{' {
                    let close = (i + 1..chars.len())
                        .find(|&j| chars[j] == '}')
                        .ok_or_else(|| "$regex: a literal { must be escaped".to_string())?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    check_counts(&inner)?;
                    out.push('{');
                    out.push_str(&inner);
                    out.push('}');
                    i = close + 1;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            _ => {
                out.push(c);
                prev = Prev::Atom;
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The character after a backslash, as PostgreSQL should see it (`b` → `y`).
fn escape(next: char, in_class: bool) -> Result<char, String> {
    Ok(match next {
        'D' | 'W' | 'S' if in_class => {
            return Err("$regex: \\D, \\W and \\S are not supported inside [...]".into());
        }
        'd' | 'D' | 'w' | 'W' | 's' | 'S' | 'n' | 't' | 'r' | 'f' | 'v' => next,
        'b' if !in_class => 'y',
        'B' if !in_class => 'Y',
        c if c.is_ascii_punctuation() => c,
        other => {
            return Err(format!(
                "$regex escape {} is not supported (portable escapes: \\d \\w \\s \\b, \\n \\t \\r and escaped punctuation)",
                quote(&format!("\\{other}"))
            ));
        }
    })
}

/// `{n}`, `{n,}` or `{n,m}` with counts up to [`PG_MAX_REPEAT`] and no spaces.
fn check_counts(inner: &str) -> Result<(), String> {
    let (low, high) = match inner.split_once(',') {
        Some((low, high)) => (low, Some(high)),
        None => (inner, None),
    };
    let count = |s: &str| -> Result<u32, String> {
        if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("$regex: a literal { must be escaped".into());
        }
        s.parse::<u32>()
            .ok()
            .filter(|n| *n <= PG_MAX_REPEAT)
            .ok_or_else(|| {
                format!("$regex: repetition counts above {PG_MAX_REPEAT} are not supported")
            })
    };
    let low = count(low)?;
    if let Some(high) = high.filter(|h| !h.is_empty())
        && count(high)? < low
    {
        return Err("$regex: a repetition's maximum is below its minimum".into());
    }
    Ok(())
}

/// Copies the bracket expression starting at `chars[start] == '['` into `out`; returns the
/// index after its closing `]`.
fn class(chars: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // A `]` right after `[` or `[^` is a literal in both engines.
    if chars.get(i) == Some(&']') {
        out.push(']');
        i += 1;
    }
    let first = i;
    while let Some(&c) = chars.get(i) {
        match c {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '\\' => {
                let next = *chars
                    .get(i + 1)
                    .ok_or_else(|| "$regex ends with a lone backslash".to_string())?;
                out.push('\\');
                out.push(escape(next, true)?);
                i += 2;
            }
            '[' => {
                // Only POSIX classes nest: Rust's nested sets do not exist in PostgreSQL, and
                // PostgreSQL's `[.x.]`/`[=x=]` do not exist in Rust.
                if chars.get(i + 1) != Some(&':') {
                    return Err("$regex: nested character classes are not supported".into());
                }
                let close = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == ':' && chars[j + 1] == ']')
                    .ok_or_else(|| "$regex: unterminated POSIX class".to_string())?;
                let name: String = chars[i + 2..close].iter().collect();
                if !POSIX_CLASSES.contains(&name.as_str()) {
                    return Err(format!("$regex: unknown POSIX class {}", quote(&name)));
                }
                out.push_str("[:");
                out.push_str(&name);
                out.push_str(":]");
                i = close + 2;
            }
            '&' | '-' | '~' if i > first && chars.get(i + 1) == Some(&c) => {
                return Err("$regex: character class set operations are not supported".into());
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err("$regex: unterminated character class".into())
}

/// Adds the functions SQL from [`super::where_sql`] needs on SQLite: `regexp(pattern, text)`,
/// which `$regex` filters call (SQLite has no regular expressions of its own). Patterns use the
/// `regex` crate's syntax with [`REGEX_SIZE_LIMIT`], are compiled once per statement, and
/// matching is linear-time; a non-text subject gives NULL. Call it on every connection that
/// runs translated queries: without it a `$regex` query fails with "no such function".
pub fn register_sqlite_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::ValueRef;
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let re = ctx.get_or_create_aux(
                0,
                |pattern| -> Result<Regex, Box<dyn std::error::Error + Send + Sync>> {
                    let text = pattern.as_str()?;
                    Ok(compile(text)?)
                },
            )?;
            Ok(match ctx.get_raw(1) {
                ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok().map(|s| re.is_match(s)),
                _ => None,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_the_portable_subset() {
        let p = Pattern::new(r"^ab\b[a-z]+\.x$", "i").expect("valid");
        assert_eq!(p.rust(), r"(?i)^ab\b[a-z]+\.x$");
        assert_eq!(p.postgres(), r"(?pi)^ab\y[a-z]+\.x$");
        let p = Pattern::new(r"[[:alpha:]]{2,3}(?:x|y)", "ms").expect("valid");
        assert_eq!(p.postgres(), r"(?w)[[:alpha:]]{2,3}(?:x|y)");
        assert_eq!(p.options(), "ms");
        let p = Pattern::new(r"[]a]", "").expect("valid");
        assert_eq!(p.postgres(), r"(?p)[]a]");
    }

    #[test]
    fn refuses_what_the_engines_disagree_on() {
        for bad in [
            r"\p{L}",
            r"(?i)x",
            r"(?P<n>x)",
            r"a{300}",
            r"x{",
            r"[a[b]]",
            r"[a&&b]",
            r"\z",
            r"(",
            r"a\",
            r"(?=x)",
            r"\1",
            r"[\D]",
        ] {
            let e = Pattern::new(bad, "").expect_err(bad);
            assert_eq!(e.code(), "bad-regex", "{bad}");
        }
        assert_eq!(Pattern::new("x", "g").expect_err("g").code(), "bad-regex");
        assert_eq!(
            Pattern::new(&"a".repeat(513), "").expect_err("long").code(),
            "bad-regex"
        );
    }
}
