//! From (host, path) to the file to serve: app by Host, exact files, `index.html` for folders,
//! skew protection for old assets, SPA fallback for client routes but never for asset paths.

use std::sync::Arc;

use ferry_release::{FileEntry, ReleaseManifest};

use crate::Routing;

/// The outcome of resolving a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// Answer with a redirect (from the release's rules).
    Redirect {
        /// `Location`.
        location: String,
        /// 301, 302, 303, 307 or 308.
        status: u16,
        /// The release whose rule it is.
        release: String,
    },
    /// Serve this file of this release.
    File {
        /// The release the file belongs to.
        release: Arc<ReleaseManifest>,
        /// Its path in the release.
        path: String,
        /// Its entry.
        entry: FileEntry,
        /// Served from a previous release (skew protection).
        skew: bool,
        /// Served as the SPA fallback.
        fallback: bool,
        /// Status to answer with (200, or a rule's rewrite status such as 404).
        status: u16,
    },
    /// The path is unsafe (`..`, NUL, bad escapes).
    BadRequest,
    /// No app answers this host.
    NoApp,
    /// Nothing at this path (the live release id, for the header).
    NotFound(String),
}

/// The app a `Host` header names: `<app>.localhost[:port]`, an exact app name, else the
/// default app.
pub fn app_for_host<'a>(routing: &'a Routing, host: Option<&str>) -> Option<&'a str> {
    let host = host.unwrap_or("");
    let name = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let candidate = name.strip_suffix(".localhost").unwrap_or(&name);
    if let Some((key, _)) = routing.apps.get_key_value(candidate) {
        return Some(key.as_str());
    }
    routing
        .default_app
        .as_deref()
        .filter(|d| routing.apps.contains_key(*d))
}

/// Decodes and normalises a URL path into a release path (no leading `/`).
/// `None` when it is unsafe.
pub fn normalize(path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut parts = Vec::new();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    let mut out = parts.join("/");
    if decoded.ends_with('/') && !out.is_empty() {
        out.push('/');
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether the last segment has a file extension (an asset, never an SPA route).
pub fn is_asset_path(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or(path);
    last.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && !ext.is_empty()
            && ext.len() <= 8
            && ext.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Resolves a request against one routing snapshot (no query string).
pub fn resolve(routing: &Routing, host: Option<&str>, url_path: &str) -> Resolved {
    resolve_query(routing, host, url_path, None)
}

/// Resolves a request against one routing snapshot; `query` is kept on rule redirects.
pub fn resolve_query(
    routing: &Routing,
    host: Option<&str>,
    url_path: &str,
    query: Option<&str>,
) -> Resolved {
    let Some(app) = app_for_host(routing, host) else {
        return Resolved::NoApp;
    };
    let Some(route) = routing.apps.get(app) else {
        return Resolved::NoApp;
    };
    let Some(path) = normalize(url_path) else {
        return Resolved::BadRequest;
    };
    let live = &route.live;
    // `_ferry/` holds ferry's own parts of a release (server units' trees): never a file, nor
    // a client route.
    let private = |p: &str| p.starts_with(ferry_release::PRIVATE_DIR);
    if private(&path) {
        return Resolved::NotFound(live.id.clone());
    }
    // `resolve` follows links inside the release (file and folder links).
    let file = |release: &Arc<ReleaseManifest>, p: &str, skew: bool, fallback: bool| {
        if private(p) {
            return None;
        }
        let found = release.resolve(p).filter(|(path, _)| !private(path));
        found.map(|(path, entry)| Resolved::File {
            release: release.clone(),
            path,
            entry: entry.clone(),
            skew,
            fallback,
            status: 200,
        })
    };
    let rules = &live.routes.rules;
    if !rules.is_empty() {
        let slash_path = format!("/{path}");
        let exists = |p: &str| live.resolve(p.trim_start_matches('/')).is_some();
        match rules.route(&slash_path, query, &exists) {
            Some(ferry_release::rules::Action::Redirect { location, status }) => {
                return Resolved::Redirect {
                    location,
                    status,
                    release: live.id.clone(),
                };
            }
            Some(ferry_release::rules::Action::Rewrite {
                path: target,
                status,
            }) => {
                let target = target.trim_start_matches('/');
                let found = file(live, target, false, false).or_else(|| {
                    let index = if target.is_empty() || target.ends_with('/') {
                        format!("{target}index.html")
                    } else {
                        format!("{target}/index.html")
                    };
                    file(live, &index, false, false)
                });
                return match found {
                    Some(Resolved::File {
                        release,
                        path,
                        entry,
                        skew,
                        ..
                    }) => Resolved::File {
                        release,
                        path,
                        entry,
                        skew,
                        fallback: true,
                        status,
                    },
                    _ => Resolved::NotFound(live.id.clone()),
                };
            }
            None => {}
        }
    }
    let is_dir = path.is_empty() || path.ends_with('/');
    if !is_dir && let Some(found) = file(live, &path, false, false) {
        return found;
    }
    let index = format!(
        "{}index.html",
        if is_dir {
            path.clone()
        } else {
            format!("{path}/")
        }
    );
    if let Some(found) = file(live, &index, false, false) {
        return found;
    }
    let trimmed = path.trim_end_matches('/');
    if is_asset_path(trimmed) {
        for old in &route.previous {
            if let Some(found) = file(old, trimmed, true, false) {
                return found;
            }
        }
        return Resolved::NotFound(live.id.clone());
    }
    if live.routes.spa {
        let fallback = live.routes.fallback.as_deref().unwrap_or("index.html");
        if let Some(found) = file(live, fallback, false, true) {
            return found;
        }
    }
    Resolved::NotFound(live.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_unsafe_ones_refused() {
        assert_eq!(normalize("/").as_deref(), Some(""));
        assert_eq!(
            normalize("/assets/a.js?v=1").as_deref(),
            Some("assets/a.js")
        );
        assert_eq!(normalize("/a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(normalize("/docs/").as_deref(), Some("docs/"));
        assert_eq!(normalize("/caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(normalize("/../etc/passwd"), None);
        assert_eq!(normalize("/a/%2e%2e/b"), None);
        assert_eq!(normalize("/a%00b"), None);
        assert_eq!(normalize("/%zz"), None);
        assert_eq!(normalize("/a\\b"), None);
    }

    #[test]
    fn assets_have_extensions() {
        assert!(is_asset_path("assets/index-abc123.js"));
        assert!(is_asset_path("favicon.ico"));
        assert!(!is_asset_path("dashboard/settings"));
        assert!(!is_asset_path("users/42"));
        assert!(!is_asset_path(".well-known"));
    }
}
