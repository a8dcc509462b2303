//! Routing rules: `_redirects`, `_headers` and `vercel.json` parsing and routing never
//! panic; parsed rules validate and survive a JSON round trip; every redirect has an
//! allowed status, every rewrite path starts with '/', every location is header-safe.
//!
//! Input: `_redirects` NUL `_headers` NUL `vercel.json` NUL request path (later parts
//! optional). The third part is also read as a ferry `Rules` JSON (as in a manifest).
#![no_main]

use ferry_release::Rules;
use ferry_release::rules::{Action, REDIRECT_STATUSES, REWRITE_STATUSES};

fn check(rules: &Rules, path: &str) {
    let file_exists = |p: &str| p.len() % 3 == 0 || p.ends_with(".html") || p.is_empty();
    for query in [None, Some("q=1 2#x")] {
        match rules.route(path, query, &file_exists) {
            Some(Action::Redirect { location, status }) => {
                assert!(REDIRECT_STATUSES.contains(&status), "{status}");
                assert!(
                    location.bytes().all(|b| b.is_ascii_graphic()),
                    "{location:?}"
                );
                assert!(!location.starts_with("//"), "{location:?}");
            }
            Some(Action::Rewrite { path, status }) => {
                assert!(REWRITE_STATUSES.contains(&status), "{status}");
                assert!(path.starts_with('/'), "{path:?}");
                assert!(!path.starts_with("//"), "{path:?}");
            }
            None => {}
        }
    }
    for (name, value) in rules.headers_for(path) {
        assert!(!name.is_empty());
        assert!(!value.chars().any(char::is_control), "{value:?}");
    }
}

fn parsed(rules: &Rules) {
    assert!(
        rules
            .redirects
            .iter()
            .all(|r| REDIRECT_STATUSES.contains(&r.status))
    );
    assert!(
        rules
            .rewrites
            .iter()
            .all(|r| REWRITE_STATUSES.contains(&r.status) && r.to.starts_with('/'))
    );
    if let Err(err) = rules.validate() {
        panic!("parsed rules do not validate: {err}");
    }
    let json = serde_json::to_string(rules).expect("serialise");
    let back: Rules = serde_json::from_str(&json).expect("read back");
    assert_eq!(&back, rules);
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == 0);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (redirects, headers, vercel, path) = (next(), next(), next(), next());
    let path = if path.is_empty() {
        // A path derived from the input when it has none.
        let tail: String = redirects.chars().rev().take(64).collect();
        format!("/{}", tail.trim_start_matches('/'))
    } else if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };

    let mut all = Rules::default();
    if let Ok(rules) = Rules::parse_vercel_json(&vercel) {
        parsed(&rules);
        check(&rules, &path);
        all = rules;
    }
    if let Ok((redirects, rewrites)) = Rules::parse_netlify_redirects(&redirects) {
        let rules = Rules {
            redirects,
            rewrites,
            ..Rules::default()
        };
        parsed(&rules);
        check(&rules, &path);
        all.redirects.extend(rules.redirects);
        all.rewrites.extend(rules.rewrites);
    }
    if let Ok(rules) = Rules::parse_netlify_headers(&headers) {
        let rules = Rules {
            headers: rules,
            ..Rules::default()
        };
        parsed(&rules);
        check(&rules, &path);
        all.headers.extend(rules.headers);
    }
    check(&all, &path);
    // Rules as read from a manifest, not through the parsers: routing must still be safe.
    if let Ok(raw) = serde_json::from_str::<Rules>(&vercel) {
        check(&raw, &path);
    }
});
