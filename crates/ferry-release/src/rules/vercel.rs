//! `vercel.json`: `redirects`, `rewrites`, `headers`, `cleanUrls`, `trailingSlash`.
//!
//! Vercel's `source` is a path-to-regexp pattern. The forms ferry supports are translated
//! into the common pattern syntax: `:name`, `:name*`, `:name+`, `:name(.*)` (= `:name*`) and
//! `(.*)` (= `*`), the last three only at the end. Other regular expressions, `has` /
//! `missing` conditions and `$1` references skip the rule with a note.

use serde::Deserialize;
use serde_json::Value;

use super::pattern::{check_pattern, is_absolute_url, is_name};
use super::{
    HeaderRule, MAX_RULES, REDIRECT_STATUSES, Redirect, Rewrite, Rules, check_header, check_size,
    check_target,
};
use crate::error::{ReleaseError, preview};

const FILE: &str = "vercel.json";

/// The keys of `vercel.json` ferry reads; every other key is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VercelJson {
    #[serde(default)]
    redirects: Option<Vec<VercelRedirect>>,
    #[serde(default)]
    rewrites: Option<Vec<VercelRewrite>>,
    #[serde(default)]
    headers: Option<Vec<VercelHeaders>>,
    #[serde(default)]
    clean_urls: Option<bool>,
    #[serde(default)]
    trailing_slash: Option<bool>,
    #[serde(default)]
    routes: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VercelRedirect {
    source: String,
    destination: String,
    #[serde(default)]
    permanent: Option<bool>,
    #[serde(default)]
    status_code: Option<u16>,
    #[serde(default)]
    has: Option<Value>,
    #[serde(default)]
    missing: Option<Value>,
}

#[derive(Deserialize)]
struct VercelRewrite {
    source: String,
    destination: String,
    #[serde(default)]
    has: Option<Value>,
    #[serde(default)]
    missing: Option<Value>,
}

#[derive(Deserialize)]
struct VercelHeaders {
    source: String,
    headers: Vec<VercelHeader>,
    #[serde(default)]
    has: Option<Value>,
    #[serde(default)]
    missing: Option<Value>,
}

#[derive(Deserialize)]
struct VercelHeader {
    key: String,
    value: String,
}

fn at(what: &str, i: usize) -> String {
    format!("`{FILE}` {what}[{i}]")
}

fn conditional(has: &Option<Value>, missing: &Option<Value>) -> bool {
    let set = |v: &Option<Value>| match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    set(has) || set(missing)
}

/// Parses `vercel.json`; unsupported rules are skipped with a line in `notes`.
pub(crate) fn parse(text: &str, notes: &mut Vec<String>) -> Result<Rules, ReleaseError> {
    check_size(FILE, text)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let json: VercelJson = serde_json::from_str(text).map_err(|e| {
        ReleaseError::rules(
            format!("`{FILE}` line {} column {}", e.line(), e.column()),
            format!("not valid vercel.json: {}", preview(&e.to_string())),
        )
    })?;
    // serde would also accept an array for the struct.
    if !text.trim_start().starts_with('{') {
        return Err(ReleaseError::rules(
            format!("`{FILE}`"),
            "not valid vercel.json: the top level must be an object",
        ));
    }
    let redirects = json.redirects.unwrap_or_default();
    let rewrites = json.rewrites.unwrap_or_default();
    let headers = json.headers.unwrap_or_default();
    if redirects.len() + rewrites.len() > MAX_RULES || headers.len() > MAX_RULES {
        return Err(ReleaseError::rules(
            format!("`{FILE}`"),
            format!("more than {MAX_RULES} rules"),
        ));
    }
    if json.routes.is_some_and(|r| !r.is_null()) {
        notes.push(format!(
            "`{FILE}`: the legacy `routes` key is not supported (use `redirects`, `rewrites`, `headers`)"
        ));
    }
    let mut rules = Rules {
        clean_urls: json.clean_urls.unwrap_or(false),
        trailing_slash: json.trailing_slash,
        ..Rules::default()
    };

    for (i, r) in redirects.into_iter().enumerate() {
        let what = at("redirects", i);
        let mut skip = |why: String| notes.push(format!("{what}: rule skipped: {why}"));
        if conditional(&r.has, &r.missing) {
            skip("`has` / `missing` conditions are not supported".into());
            continue;
        }
        let status = match r.status_code {
            Some(code) if REDIRECT_STATUSES.contains(&code) => code,
            Some(code) => {
                skip(format!(
                    "status {code} is not a redirect status ferry supports"
                ));
                continue;
            }
            None if r.permanent.unwrap_or(true) => 308,
            None => 307,
        };
        let (from, to) = match translate(&r.source, &r.destination, true) {
            Ok(pair) => pair,
            Err(why) => {
                skip(why);
                continue;
            }
        };
        rules.redirects.push(Redirect {
            from,
            to,
            status,
            // Vercel applies redirects before looking at files.
            force: true,
        });
    }

    for (i, r) in rewrites.into_iter().enumerate() {
        let what = at("rewrites", i);
        let mut skip = |why: String| notes.push(format!("{what}: rule skipped: {why}"));
        if conditional(&r.has, &r.missing) {
            skip("`has` / `missing` conditions are not supported".into());
            continue;
        }
        if is_absolute_url(&r.destination) {
            skip("rewrites to another site (proxying) are not supported".into());
            continue;
        }
        match translate(&r.source, &r.destination, false) {
            Ok((from, to)) => rules.rewrites.push(Rewrite {
                from,
                to,
                status: 200,
                // Vercel serves a file that exists before applying rewrites.
                force: false,
            }),
            Err(why) => skip(why),
        }
    }

    for (i, h) in headers.into_iter().enumerate() {
        let what = at("headers", i);
        if conditional(&h.has, &h.missing) {
            notes.push(format!(
                "{what}: rule skipped: `has` / `missing` conditions are not supported"
            ));
            continue;
        }
        let pattern = match source_pattern(&h.source) {
            Ok(p) => p.pattern,
            Err(why) => {
                notes.push(format!("{what}: rule skipped: {why}"));
                continue;
            }
        };
        let mut pairs = Vec::with_capacity(h.headers.len());
        for header in h.headers {
            if let Err(reason) = check_header(&header.key, &header.value) {
                return Err(ReleaseError::rules(
                    what,
                    format!("`{}`: {reason}", preview(&header.key)),
                ));
            }
            pairs.push((header.key, header.value));
        }
        if !pairs.is_empty() {
            rules.headers.push(HeaderRule {
                pattern,
                headers: pairs,
            });
        }
    }
    Ok(rules)
}

/// A translated `source`: the pattern and the placeholder names it captures.
struct Source {
    pattern: String,
    names: Vec<String>,
}

/// Translates a path-to-regexp `source` into the common pattern syntax.
fn source_pattern(source: &str) -> Result<Source, String> {
    let unsupported = || {
        format!(
            "the source `{}` uses a regular expression ferry does not support",
            preview(source)
        )
    };
    if !source.starts_with('/') {
        return Err(format!(
            "the source `{}` does not start with `/`",
            preview(source)
        ));
    }
    let segments: Vec<&str> = source.split('/').skip(1).collect();
    let mut out = String::with_capacity(source.len());
    let mut names = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        out.push('/');
        let translated = if *seg == "(.*)" && last {
            names.push("splat".to_string());
            "*".to_string()
        } else if let Some(body) = seg.strip_prefix(':') {
            let (name, suffix) = if let Some(n) = body.strip_suffix("(.*)") {
                (n, "*")
            } else if let Some(n) = body.strip_suffix('*') {
                (n, "*")
            } else if let Some(n) = body.strip_suffix('+') {
                (n, "+")
            } else {
                (body, "")
            };
            if !is_name(name) || (!suffix.is_empty() && !last) {
                return Err(unsupported());
            }
            names.push(name.to_string());
            format!(":{name}{suffix}")
        } else if seg.contains([
            '(', ')', '[', ']', '{', '}', '?', '*', '+', '|', '\\', '^', '$', ':',
        ]) {
            return Err(unsupported());
        } else {
            (*seg).to_string()
        };
        out.push_str(&translated);
    }
    check_pattern(&out).map_err(|reason| {
        format!(
            "the source `{}` is not supported: {reason}",
            preview(source)
        )
    })?;
    Ok(Source {
        pattern: out,
        names,
    })
}

/// Translates a rule's source and destination; the error says why the rule is skipped.
fn translate(source: &str, destination: &str, redirect: bool) -> Result<(String, String), String> {
    let source = source_pattern(source)?;
    let b = destination.as_bytes();
    if b.windows(2).any(|w| w[0] == b'$' && w[1].is_ascii_digit()) {
        return Err("`$1`-style references are not supported (use named parameters)".into());
    }
    // `:path*` / `:path+` in a destination stand for the captured value.
    let mut to = String::with_capacity(destination.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b':' {
            let mut end = i + 1;
            while b
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                end += 1;
            }
            let name = &destination[i + 1..end];
            to.push_str(&destination[i..end]);
            if source.names.iter().any(|n| n == name)
                && matches!(b.get(end), Some(b'*' | b'+' | b'?'))
            {
                end += 1;
            }
            i = end;
        } else {
            // `b[i]` is not `:`, so this finds the next `:` at a character boundary.
            let next = destination[i..].find(':').map_or(b.len(), |p| p + i);
            to.push_str(&destination[i..next]);
            i = next;
        }
    }
    check_target(&to, redirect)
        .map_err(|reason| format!("the destination `{}`: {reason}", preview(destination)))?;
    Ok((source.pattern, to))
}
