//! Netlify's `_redirects` and `_headers` files.

use super::pattern::{check_pattern, is_absolute_url};
use super::{
    HeaderRule, MAX_RULES, REDIRECT_STATUSES, Redirect, Rewrite, check_header, check_size,
    check_target,
};
use crate::error::{ReleaseError, preview};

const REDIRECTS: &str = "_redirects";
const HEADERS: &str = "_headers";
/// Condition keys Netlify accepts after the status; rules using them are skipped.
const CONDITIONS: [&str; 4] = ["country", "language", "role", "cookie"];

fn at(file: &str, line: usize) -> String {
    format!("`{file}` line {line}")
}

fn is_condition(token: &str) -> bool {
    token
        .split_once('=')
        .is_some_and(|(key, _)| CONDITIONS.iter().any(|c| key.eq_ignore_ascii_case(c)))
}

/// Parses `_redirects`; rules ferry does not support are skipped with a line in `notes`.
pub(crate) fn parse_redirects(
    text: &str,
    notes: &mut Vec<String>,
) -> Result<(Vec<Redirect>, Vec<Rewrite>), ReleaseError> {
    check_size(REDIRECTS, text)?;
    let mut redirects = Vec::new();
    let mut rewrites = Vec::new();
    let mut count = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        count += 1;
        if count > MAX_RULES {
            return Err(ReleaseError::rules(
                at(REDIRECTS, n),
                format!("more than {MAX_RULES} rules"),
            ));
        }
        let err = |detail: String| Err(ReleaseError::rules(at(REDIRECTS, n), detail));
        let mut skip = |why: &str| notes.push(format!("{}: rule skipped: {why}", at(REDIRECTS, n)));
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return err("the line contains a control character".into());
        }
        let tokens: Vec<&str> = line
            .split_whitespace()
            .take_while(|t| !t.starts_with('#'))
            .collect();
        let Some((&from, rest)) = tokens.split_first() else {
            continue;
        };
        if is_absolute_url(from) {
            skip("rules for another domain (`from` with a host) are not supported");
            continue;
        }
        if !from.starts_with('/') {
            return err(format!(
                "`{}` is not a path: a rule is `/from /to [status]`",
                preview(from)
            ));
        }
        if rest.iter().any(|t| is_condition(t)) {
            skip("country, language, role and cookie conditions are not supported");
            continue;
        }
        let target_at = rest
            .iter()
            .position(|t| t.starts_with('/') || is_absolute_url(t));
        match target_at {
            Some(0) => {}
            Some(_) => {
                skip("query-parameter conditions are not supported");
                continue;
            }
            None if rest.first().is_some_and(|t| t.contains('=')) => {
                skip("query-parameter conditions are not supported");
                continue;
            }
            None => {
                return err(match rest.first() {
                    None => "the target is missing: a rule is `/from /to [status]`".into(),
                    Some(t) => format!(
                        "`{}` is not a target: it must start with `/` or be an http(s) URL",
                        preview(t)
                    ),
                });
            }
        }
        let to = rest[0];
        let (status, force) = match rest.get(1) {
            None => (301, false),
            Some(token) => {
                let (digits, force) = match token.strip_suffix('!') {
                    Some(d) => (d, true),
                    None => (*token, false),
                };
                match digits.parse::<u16>() {
                    Ok(s) if (100..=599).contains(&s) => (s, force),
                    _ => {
                        return err(format!(
                            "`{}` is not a status: write a code such as 301, 302 or 200, `!` to force",
                            preview(token)
                        ));
                    }
                }
            }
        };
        if let Some(extra) = rest.get(2) {
            return err(format!(
                "unexpected `{}` after the status: a rule is `/from /to [status]`",
                preview(extra)
            ));
        }
        if let Err(reason) = check_pattern(from) {
            skip(&format!(
                "the pattern `{}` is not supported: {reason}",
                preview(from)
            ));
            continue;
        }
        let rewrite = match status {
            200 | 404 => true,
            s if REDIRECT_STATUSES.contains(&s) => false,
            s => {
                skip(&format!("status {s} is not supported"));
                continue;
            }
        };
        if rewrite && is_absolute_url(to) {
            skip("rewrites to another site (proxying) are not supported");
            continue;
        }
        if let Err(reason) = check_target(to, !rewrite) {
            return err(format!("the target `{}`: {reason}", preview(to)));
        }
        let (from, to) = (from.to_string(), to.to_string());
        if rewrite {
            rewrites.push(Rewrite {
                from,
                to,
                status,
                force,
            });
        } else {
            redirects.push(Redirect {
                from,
                to,
                status,
                force,
            });
        }
    }
    Ok((redirects, rewrites))
}

/// Parses `_headers`: a path line, then `Name: value` lines (indented in practice).
pub(crate) fn parse_headers(
    text: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<HeaderRule>, ReleaseError> {
    check_size(HEADERS, text)?;
    let mut rules: Vec<HeaderRule> = Vec::new();
    // The block being read: `Some(true)` kept, `Some(false)` skipped, `None` before any.
    let mut block: Option<bool> = None;
    let mut count = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |detail: String| Err(ReleaseError::rules(at(HEADERS, n), detail));
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return err("the line contains a control character".into());
        }
        if line.starts_with('/') || is_absolute_url(line) {
            count += 1;
            if count > MAX_RULES {
                return err(format!("more than {MAX_RULES} path blocks"));
            }
            let pattern = line
                .split_whitespace()
                .next()
                .unwrap_or(line)
                .trim_end_matches(':');
            let why = if is_absolute_url(pattern) {
                Some("headers for a host (`https://…`) are not supported".to_string())
            } else {
                check_pattern(pattern).err().map(|reason| {
                    format!(
                        "the pattern `{}` is not supported: {reason}",
                        preview(pattern)
                    )
                })
            };
            if let Some(why) = why {
                notes.push(format!("{}: block skipped: {why}", at(HEADERS, n)));
                block = Some(false);
            } else {
                rules.push(HeaderRule {
                    pattern: pattern.to_string(),
                    headers: Vec::new(),
                });
                block = Some(true);
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return err(format!(
                "`{}` is neither a path (`/…`) nor a header (`Name: value`)",
                preview(line)
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        match block {
            None => {
                return err(
                    "a header before any path: start a block with a path such as `/*`".into(),
                );
            }
            Some(false) => continue,
            Some(true) => {}
        }
        if let Err(reason) = check_header(name, value) {
            return err(format!("`{}`: {reason}", preview(name)));
        }
        if let Some(rule) = rules.last_mut() {
            rule.headers.push((name.to_string(), value.to_string()));
        }
    }
    rules.retain(|rule| !rule.headers.is_empty());
    Ok(rules)
}
