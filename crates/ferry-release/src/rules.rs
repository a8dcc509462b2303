//! Routing rules of a release: redirects, rewrites, response headers, clean URLs, trailing
//! slashes and a custom 404 page, read from the files AI app builders export for Netlify
//! (`_redirects`, `_headers`) and Vercel (`vercel.json`).
//!
//! Parsing is bounded (at most [`MAX_RULES`] rules, [`MAX_FILE_BYTES`] per file) and never
//! panics; rules ferry cannot honour are skipped with a note rather than refused (see
//! [`Rules::collect_with_notes`]). Matching walks each pattern once, without backtracking.
//! The syntax and the precedence are documented in `docs/rules.md`.

mod netlify;
mod pattern;
mod vercel;

use std::fs;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ReleaseError, preview};
use pattern::{Mode, check_pattern, expand, is_absolute_url, match_path, single_leading_slash};

/// Most rules of one kind (redirects and rewrites together; header blocks) in one file or
/// in a release.
pub const MAX_RULES: usize = 1000;
/// Largest rules file read, in bytes (64 KiB).
pub const MAX_FILE_BYTES: usize = 64 * 1024;
/// The statuses a [`Redirect`] may have.
pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];
/// The statuses a [`Rewrite`] may have: 200 (serve another file) and 404 (a custom
/// not-found page for part of the site).
pub const REWRITE_STATUSES: [u16; 2] = [200, 404];

/// Longest header name, in bytes.
const MAX_HEADER_NAME_BYTES: usize = 256;
/// Longest header value, in bytes.
const MAX_HEADER_VALUE_BYTES: usize = 4096;
/// The custom not-found page picked up from an artifact folder.
const NOT_FOUND_PAGE: &str = "404.html";

/// The routing rules of a release. Empty (the default) for most releases; an empty value is
/// left out of the manifest so that it does not change release ids.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Redirects, in precedence order (vercel.json's first, then `_redirects`').
    pub redirects: Vec<Redirect>,
    /// Rewrites (Netlify status 200 or 404, vercel.json `rewrites`), in precedence order.
    pub rewrites: Vec<Rewrite>,
    /// Response header rules; every matching rule adds its headers.
    pub headers: Vec<HeaderRule>,
    /// vercel.json `cleanUrls`: `/about` serves `about.html`; `/about.html` redirects (308)
    /// to `/about`.
    pub clean_urls: bool,
    /// vercel.json `trailingSlash`: `Some(true)` redirects (308) `/about` to `/about/`,
    /// `Some(false)` redirects `/about/` to `/about`, `None` leaves paths alone.
    pub trailing_slash: Option<bool>,
    /// The page served, with status 404, when nothing matches (a release path such as
    /// `404.html`); set when the artifact folder has a `404.html`.
    pub not_found: Option<String>,
}

/// A redirect: requests matching `from` are sent to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// The path pattern matched (`/old`, `/blog/*`, `/u/:id`, `/docs/:path*`).
    pub from: String,
    /// The target: a path or an absolute `http(s)://` URL, with `:name` / `:splat`
    /// replaced by what the pattern captured.
    pub to: String,
    /// One of [`REDIRECT_STATUSES`].
    pub status: u16,
    /// Applies even when the release has a file at the path (Netlify `!`; every vercel.json
    /// redirect). Otherwise the file wins.
    pub force: bool,
}

/// A rewrite: requests matching `from` are answered with the release file at `to`, the URL
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    /// The path pattern matched.
    pub from: String,
    /// The path served, starting with `/`, with placeholders replaced.
    pub to: String,
    /// The response status: 200, or 404 for a custom not-found page (Netlify
    /// `/en/* /en/404.html 404`).
    pub status: u16,
    /// Applies even when the release has a file at the path (Netlify `200!`).
    pub force: bool,
}

/// Response headers for the paths matching a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    /// The path pattern matched.
    pub pattern: String,
    /// `(name, value)` pairs, in file order; a name may repeat (one response header line
    /// each).
    pub headers: Vec<(String, String)>,
}

/// What a request should get instead of (or before looking for) a plain file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer with a redirect.
    Redirect {
        /// The `Location`: printable ASCII only, with the request's query string appended
        /// when the rule's target has none.
        location: String,
        /// One of [`REDIRECT_STATUSES`].
        status: u16,
    },
    /// Serve the release file at `path` (a file or a folder's `index.html`), no further
    /// rules applied.
    Rewrite {
        /// Starts with `/`; percent-decoded like request paths.
        path: String,
        /// One of [`REWRITE_STATUSES`].
        status: u16,
    },
}

impl Rules {
    /// Whether there is no rule at all (then the manifest leaves `rules` out).
    pub fn is_empty(&self) -> bool {
        self.redirects.is_empty()
            && self.rewrites.is_empty()
            && self.headers.is_empty()
            && !self.clean_urls
            && self.trailing_slash.is_none()
            && self.not_found.is_none()
    }

    /// Reads `_redirects` and `_headers` from the artifact folder (Netlify format),
    /// `vercel.json` from the unit's source folder (if present), and `404.html` from the
    /// artifact. Order: vercel first, then Netlify files. Rules that cannot be honoured are
    /// skipped; [`Rules::collect_with_notes`] says which.
    pub fn collect(artifact_dir: &Path, unit_dir: &Path) -> Result<Rules, ReleaseError> {
        Self::collect_with_notes(artifact_dir, unit_dir).map(|(rules, _)| rules)
    }

    /// [`Rules::collect`], also returning one line per rule skipped because ferry does not
    /// support it (conditions, proxies, regular expressions…), to show as warnings.
    pub fn collect_with_notes(
        artifact_dir: &Path,
        unit_dir: &Path,
    ) -> Result<(Rules, Vec<String>), ReleaseError> {
        if !artifact_dir.is_dir() {
            return Err(ReleaseError::NotFound {
                what: format!("artifact folder `{}`", artifact_dir.display()),
            });
        }
        let mut notes = Vec::new();
        let mut rules = Rules::default();
        if let Some(text) = read_rules_file(unit_dir, "vercel.json")? {
            rules = vercel::parse(&text, &mut notes)?;
        }
        if let Some(text) = read_rules_file(artifact_dir, "_redirects")? {
            let (redirects, rewrites) = netlify::parse_redirects(&text, &mut notes)?;
            rules.redirects.extend(redirects);
            rules.rewrites.extend(rewrites);
        }
        if let Some(text) = read_rules_file(artifact_dir, "_headers")? {
            rules
                .headers
                .extend(netlify::parse_headers(&text, &mut notes)?);
        }
        if artifact_dir.join(NOT_FOUND_PAGE).is_file() {
            rules.not_found = Some(NOT_FOUND_PAGE.into());
        }
        if rules.redirects.len() + rules.rewrites.len() > MAX_RULES {
            return Err(ReleaseError::rules(
                "`vercel.json` and `_redirects` together",
                format!("more than {MAX_RULES} redirect and rewrite rules"),
            ));
        }
        if rules.headers.len() > MAX_RULES {
            return Err(ReleaseError::rules(
                "`vercel.json` and `_headers` together",
                format!("more than {MAX_RULES} header rules"),
            ));
        }
        Ok((rules, notes))
    }

    /// Parses a Netlify `_redirects` file: redirects (301, 302, 303, 307, 308) and rewrites
    /// (200, and 404 for custom not-found pages). Malformed lines are errors naming the line;
    /// unsupported rules (conditions, proxies, domain-level rules) are skipped.
    pub fn parse_netlify_redirects(
        text: &str,
    ) -> Result<(Vec<Redirect>, Vec<Rewrite>), ReleaseError> {
        netlify::parse_redirects(text, &mut Vec::new())
    }

    /// Parses a Netlify `_headers` file: a path line, then indented `Name: value` lines.
    pub fn parse_netlify_headers(text: &str) -> Result<Vec<HeaderRule>, ReleaseError> {
        netlify::parse_headers(text, &mut Vec::new())
    }

    /// Parses `vercel.json`: `redirects`, `rewrites`, `headers`, `cleanUrls` and
    /// `trailingSlash`; other keys are ignored, unsupported rules skipped.
    pub fn parse_vercel_json(text: &str) -> Result<Rules, ReleaseError> {
        vercel::parse(text, &mut Vec::new())
    }

    /// What to do with a request path (already normalised and percent-decoded, starting
    /// with '/', no query) that the release may or may not have a file for. `None`: serve
    /// the file as usual (or the SPA fallback, or [`Rules::not_found`]).
    ///
    /// `file_exists` tells whether the release has a file at a given path (without leading
    /// '/'), so that non-forced redirects/rewrites apply only when no file matches (Netlify
    /// shadowing), and clean URLs can find `x.html`.
    ///
    /// Precedence: clean-URL and trailing-slash redirects; forced rules (redirects, then
    /// rewrites, each in order); the file (a folder's `index.html` counts, and `x.html` with
    /// clean URLs); the other rules (redirects, then rewrites). Rules that are invalid (a
    /// manifest edited by hand) are skipped.
    pub fn route(
        &self,
        path: &str,
        query: Option<&str>,
        file_exists: &dyn Fn(&str) -> bool,
    ) -> Option<Action> {
        if !path.starts_with('/') {
            return None;
        }
        if let Some(action) = self.canonical_redirect(path, query, file_exists) {
            return Some(action);
        }
        if let Some(action) = self.first_rule(path, query, true) {
            return Some(action);
        }
        if has_file(path, file_exists) {
            return None;
        }
        if self.clean_urls {
            let stem = path.trim_end_matches('/');
            if stem.len() > 1 && file_exists(&format!("{}.html", &stem[1..])) {
                return Some(Action::Rewrite {
                    path: format!("{stem}.html"),
                    status: 200,
                });
            }
        }
        self.first_rule(path, query, false)
    }

    /// Extra response headers for a path (all matching `_headers`/vercel header rules, in
    /// order).
    pub fn headers_for(&self, path: &str) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|rule| match_path(&rule.pattern, path).is_some())
            .flat_map(|rule| {
                rule.headers
                    .iter()
                    .filter(|(name, value)| check_header(name, value).is_ok())
                    .cloned()
            })
            .collect()
    }

    /// Checks rules that did not come from the parsers (a manifest read from disk): limits,
    /// patterns, statuses, targets, header names and values, the not-found page. [`Rules::route`]
    /// does not rely on it: it skips what is invalid.
    pub fn validate(&self) -> Result<(), ReleaseError> {
        let bad = |what: String, detail: String| Err(ReleaseError::rules(what, detail));
        if self.redirects.len() + self.rewrites.len() > MAX_RULES || self.headers.len() > MAX_RULES
        {
            return bad(
                "the manifest".into(),
                format!("more than {MAX_RULES} rules"),
            );
        }
        for (i, r) in self.redirects.iter().enumerate() {
            let what = format!("redirect {}", i + 1);
            if let Err(reason) = check_pattern(&r.from) {
                return bad(what, format!("`{}`: {reason}", preview(&r.from)));
            }
            if !REDIRECT_STATUSES.contains(&r.status) {
                return bad(what, format!("status {} is not a redirect", r.status));
            }
            if let Err(reason) = check_target(&r.to, true) {
                return bad(what, format!("`{}`: {reason}", preview(&r.to)));
            }
        }
        for (i, r) in self.rewrites.iter().enumerate() {
            let what = format!("rewrite {}", i + 1);
            if let Err(reason) = check_pattern(&r.from) {
                return bad(what, format!("`{}`: {reason}", preview(&r.from)));
            }
            if !REWRITE_STATUSES.contains(&r.status) {
                return bad(what, format!("status {} is not 200 or 404", r.status));
            }
            if let Err(reason) = check_target(&r.to, false) {
                return bad(what, format!("`{}`: {reason}", preview(&r.to)));
            }
        }
        for (i, rule) in self.headers.iter().enumerate() {
            let what = format!("header rule {}", i + 1);
            if let Err(reason) = check_pattern(&rule.pattern) {
                return bad(what, format!("`{}`: {reason}", preview(&rule.pattern)));
            }
            for (name, value) in &rule.headers {
                if let Err(reason) = check_header(name, value) {
                    return bad(what, format!("`{}`: {reason}", preview(name)));
                }
            }
        }
        if let Some(page) = &self.not_found {
            crate::validate_path(page)?;
        }
        Ok(())
    }

    /// The 308 to the canonical form of `path` under `clean_urls` and `trailing_slash`.
    fn canonical_redirect(
        &self,
        path: &str,
        query: Option<&str>,
        file_exists: &dyn Fn(&str) -> bool,
    ) -> Option<Action> {
        if !self.clean_urls && self.trailing_slash.is_none() {
            return None;
        }
        let mut target = path.to_string();
        if self.clean_urls
            && let Some(stem) = path.strip_suffix(".html")
            && stem.len() > 1
            && file_exists(&path[1..])
        {
            // `/about.html` → `/about`, `/docs/index.html` → `/docs/`, `/index.html` → `/`.
            target = match stem.strip_suffix("/index") {
                Some(folder) => format!("{folder}/"),
                None => stem.to_string(),
            };
        }
        match self.trailing_slash {
            Some(true) if !target.ends_with('/') => {
                let last = target.rsplit('/').next().unwrap_or_default();
                let is_file = target == path && file_exists(&target[1..]);
                if !last.contains('.') && !is_file {
                    target.push('/');
                }
            }
            Some(false) if target.len() > 1 && target.ends_with('/') => {
                target.truncate(target.trim_end_matches('/').len().max(1));
            }
            _ => {}
        }
        if target == path {
            return None;
        }
        let mut location = String::with_capacity(target.len());
        pattern::push_strict(&mut location, &single_leading_slash(&target));
        Some(Action::Redirect {
            location: with_query(location, query, ""),
            status: 308,
        })
    }

    /// The first forced (or non-forced) rule matching `path`: redirects, then rewrites.
    fn first_rule(&self, path: &str, query: Option<&str>, forced: bool) -> Option<Action> {
        let redirect = self
            .redirects
            .iter()
            .filter(|r| r.force == forced && REDIRECT_STATUSES.contains(&r.status))
            .find_map(|r| {
                let caps = match_path(&r.from, path)?;
                if !(r.to.starts_with('/') || is_absolute_url(&r.to)) {
                    return None;
                }
                let to = expand(&r.to, &caps, Mode::Location)?;
                let location = if to.starts_with('/') {
                    single_leading_slash(&to).into_owned()
                } else {
                    to
                };
                Some(Action::Redirect {
                    location: with_query(location, query, &r.to),
                    status: r.status,
                })
            });
        redirect.or_else(|| {
            self.rewrites
                .iter()
                .filter(|r| r.force == forced && REWRITE_STATUSES.contains(&r.status))
                .find_map(|r| {
                    let caps = match_path(&r.from, path)?;
                    if !r.to.starts_with('/') {
                        return None;
                    }
                    let to = expand(&r.to, &caps, Mode::Path)?;
                    let to = single_leading_slash(&to).into_owned();
                    is_clean_path(&to).then_some(Action::Rewrite {
                        path: to,
                        status: r.status,
                    })
                })
        })
    }
}

/// Whether the release serves a file at `path` the way the edge resolves it: the file
/// itself, or the folder's `index.html`.
fn has_file(path: &str, file_exists: &dyn Fn(&str) -> bool) -> bool {
    let p = &path[1..];
    let is_dir = p.is_empty() || p.ends_with('/');
    if !is_dir && file_exists(p) {
        return true;
    }
    let index = if is_dir {
        format!("{p}index.html")
    } else {
        format!("{p}/index.html")
    };
    file_exists(&index)
}

/// `location` with the request's query appended, unless the rule's target has its own.
fn with_query(mut location: String, query: Option<&str>, target: &str) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return location;
    };
    if target.contains('?') {
        return location;
    }
    let fragment = location.find('#').map(|i| location.split_off(i));
    location.push('?');
    pattern::push_loose(&mut location, query);
    if let Some(fragment) = fragment {
        location.push_str(&fragment);
    }
    location
}

/// Whether a rewritten path is safe to look up: no `.` or `..` segment, no backslash, no
/// control character.
fn is_clean_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.split('/').all(|s| s != "." && s != "..")
}

/// Checks a redirect (`url_allowed`) or rewrite target.
pub(crate) fn check_target(to: &str, url_allowed: bool) -> Result<(), &'static str> {
    if to.len() > pattern::MAX_PATTERN_BYTES {
        return Err("it is longer than 2048 bytes");
    }
    if to.chars().any(char::is_control) {
        return Err("it contains a control character");
    }
    if is_absolute_url(to) {
        return if url_allowed {
            Ok(())
        } else {
            Err("rewrites to another site (proxying) are not supported")
        };
    }
    if !to.starts_with('/') {
        return Err("it must start with `/` or be an absolute http(s) URL");
    }
    if !url_allowed {
        if to.contains(['?', '#']) {
            return Err("a rewrite target cannot have a query string or a fragment");
        }
        if !is_clean_path(&pattern::percent_decode(to)) {
            return Err("it has a `.` or `..` segment or a backslash");
        }
    }
    Ok(())
}

/// Checks a response header: a token name, a value without control characters.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), &'static str> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_HEADER_NAME_BYTES || !name.bytes().all(tchar) {
        return Err("a header name is letters, digits and `-` (at most 256)");
    }
    if value.len() > MAX_HEADER_VALUE_BYTES {
        return Err("the header value is longer than 4096 bytes");
    }
    if value.chars().any(char::is_control) {
        return Err("the header value contains a control character");
    }
    Ok(())
}

/// Reads `dir/name` when it is a file, at most [`MAX_FILE_BYTES`], as UTF-8 without BOM.
/// A link is followed only when it stays inside `dir`.
fn read_rules_file(dir: &Path, name: &str) -> Result<Option<String>, ReleaseError> {
    let path = dir.join(name);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReleaseError::io(&path, e)),
    };
    if meta.file_type().is_symlink() {
        let target = fs::read_link(&path)
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        let resolved = fs::canonicalize(&path).map_err(|_| ReleaseError::BrokenLink {
            path: name.into(),
            target: preview(&target),
        })?;
        let root = fs::canonicalize(dir).map_err(|e| ReleaseError::io(dir, e))?;
        if !resolved.starts_with(&root) {
            return Err(ReleaseError::LinkEscapes {
                path: name.into(),
                target: preview(&target),
            });
        }
    }
    if !path.is_file() {
        return Ok(None);
    }
    let file = fs::File::open(&path).map_err(|e| ReleaseError::io(&path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReleaseError::io(&path, e))?;
    let location = format!("`{name}`");
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ReleaseError::rules(
            location,
            "the file is larger than 64 KiB",
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ReleaseError::rules(location, "the file is not UTF-8 text"))?;
    Ok(Some(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }))
}

/// Rejects text over [`MAX_FILE_BYTES`] (for the `parse_*` functions given a string).
fn check_size(file: &str, text: &str) -> Result<(), ReleaseError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ReleaseError::rules(
            format!("`{file}`"),
            "the file is larger than 64 KiB",
        ));
    }
    Ok(())
}
