//! Files hosted by Base44 that records point to: downloaded into the target app's file store
//! and the record's value rewritten to the URL ferry serves (`/_ferry/base44/files/public/…`,
//! on the app's origin). A URL that cannot be fetched is reported and kept as it is.
//!
//! Hosted by Base44 means: `base44.app` and its subdomains, Supabase storage buckets named
//! `base44-*` (`*.supabase.co/storage/v1/object/public/base44-…`), and the live source's own
//! host. A value is rewritten only when the whole string is such a URL; strings are looked for
//! at any depth (arrays of image URLs, objects holding a `url`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use ferry_compat::base44::files::{DEFAULT_MAX_FILE_BYTES, FileStore, Visibility};
use ferry_compat::base44::integrations::http as client;
use serde::Serialize;
use serde_json::Value;

use super::Base44Error;
use super::source::Record;

/// The time one download may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// A file that could not be moved.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileFailure {
    /// The entity.
    pub entity: String,
    /// The record's id.
    pub id: String,
    /// The top-level property holding the URL.
    pub field: String,
    /// The URL (query left out).
    pub url: String,
    /// Why.
    pub cause: String,
}

/// Whether `url` is a file hosted by Base44 (or by `own_host`, the live source's host).
pub fn is_hosted_file(url: &str, own_host: Option<&str>) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') || path.is_empty() {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    }
    .to_ascii_lowercase();
    if host == "base44.app" || host.ends_with(".base44.app") {
        return true;
    }
    if host.ends_with(".supabase.co") && path.starts_with("storage/v1/object/public/base44-") {
        return true;
    }
    own_host.is_some_and(|own| own.eq_ignore_ascii_case(&host))
}

/// The store files go to, and what happened to each URL seen.
pub struct Files {
    store: Option<FileStore>,
    own_host: Option<String>,
    /// URL → the rewritten path, or the failure's cause.
    seen: HashMap<String, Result<String, String>>,
    /// Downloads made by this run.
    pub downloaded: u64,
    /// Values rewritten by this run.
    pub rewritten: u64,
    /// URLs that could not be moved (kept as they were).
    pub failures: Vec<FileFailure>,
    /// Hosted URLs left alone because no file store was given (no `--app`).
    pub left: u64,
}

impl Files {
    /// Files go to `root` (`$FERRY_HOME/data/<app>/files`) when given; otherwise hosted URLs
    /// are only counted.
    pub fn new(root: Option<PathBuf>, own_host: Option<String>) -> Result<Files, Base44Error> {
        let store = match root {
            Some(root) => {
                // Public files need no signature; the store still wants a key.
                let key = ferry_compat::base44::auth::token::generate_key()
                    .ok()
                    .and_then(|k| {
                        ferry_compat::base44::auth::token::SigningKey::from_bytes(&k).ok()
                    })
                    .ok_or_else(|| Base44Error::Io {
                        path: root.clone(),
                        detail: "the system random source failed".into(),
                    })?;
                Some(
                    FileStore::open(&root, "import", key, DEFAULT_MAX_FILE_BYTES).map_err(|e| {
                        Base44Error::Io {
                            path: root.clone(),
                            detail: e.to_string(),
                        }
                    })?,
                )
            }
            None => None,
        };
        Ok(Files {
            store,
            own_host,
            seen: HashMap::new(),
            downloaded: 0,
            rewritten: 0,
            failures: Vec::new(),
            left: 0,
        })
    }

    /// Whether files are moved (a store was given).
    pub fn active(&self) -> bool {
        self.store.is_some()
    }

    /// Rewrites the hosted file URLs of `record` (every string at any depth).
    pub async fn rewrite(&mut self, entity: &str, record: &mut Record) {
        let id = record
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let keys: Vec<String> = record.keys().cloned().collect();
        for key in keys {
            if ferry_compat::base44::model::BUILTIN_FIELDS.contains(&key.as_str()) {
                continue;
            }
            let mut urls = Vec::new();
            if let Some(value) = record.get(&key) {
                collect(value, self.own_host.as_deref(), &mut urls);
            }
            if urls.is_empty() {
                continue;
            }
            let mut map: HashMap<String, String> = HashMap::new();
            for url in urls {
                match self.fetch(&url).await {
                    Ok(path) => {
                        map.insert(url, path);
                    }
                    Err(cause) => {
                        if self.store.is_some() {
                            self.failures.push(FileFailure {
                                entity: entity.to_string(),
                                id: id.clone(),
                                field: key.clone(),
                                url: client::redact(&url),
                                cause,
                            });
                        } else {
                            self.left += 1;
                        }
                    }
                }
            }
            if !map.is_empty()
                && let Some(value) = record.get_mut(&key)
            {
                self.rewritten += replace(value, &map);
            }
        }
    }

    /// The served path of `url`'s file, downloading it the first time.
    async fn fetch(&mut self, url: &str) -> Result<String, String> {
        if let Some(done) = self.seen.get(url) {
            return done.clone();
        }
        let Some(store) = &self.store else {
            return Err("no --app: files are not moved".into());
        };
        let result = match client::send(
            http::Method::GET,
            url,
            &[],
            None,
            TIMEOUT,
            usize::try_from(store.max_bytes()).unwrap_or(usize::MAX),
        )
        .await
        {
            Err(e) => Err(e.to_string()),
            Ok(answer) if answer.status != 200 => Err(format!("HTTP {}", answer.status)),
            Ok(answer) => {
                let name = file_name(url);
                match store
                    .put(Visibility::Public, &name, None, &answer.body)
                    .await
                {
                    Ok(meta) => {
                        self.downloaded += 1;
                        Ok(store.public_path(&meta))
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        self.seen.insert(url.to_string(), result.clone());
        result
    }
}

/// The last path segment of a URL (percent-decoded where it is plain UTF-8), else `file`.
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    let decoded = percent_decode(last);
    if decoded.is_empty() {
        "file".into()
    } else {
        decoded
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

fn collect(value: &Value, own: Option<&str>, out: &mut Vec<String>) {
    match value {
        Value::String(s) if is_hosted_file(s, own) && !out.contains(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect(v, own, out)),
        Value::Object(map) => map.values().for_each(|v| collect(v, own, out)),
        _ => {}
    }
}

fn replace(value: &mut Value, map: &HashMap<String, String>) -> u64 {
    match value {
        Value::String(s) => match map.get(s.as_str()) {
            Some(new) => {
                *s = new.clone();
                1
            }
            None => 0,
        },
        Value::Array(items) => items.iter_mut().map(|v| replace(v, map)).sum(),
        Value::Object(m) => m.values_mut().map(|v| replace(v, map)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_urls() {
        assert!(is_hosted_file(
            "https://base44.app/api/apps/x/files/a.png",
            None
        ));
        assert!(is_hosted_file(
            "https://media.base44.app/images/a.png",
            None
        ));
        assert!(is_hosted_file(
            "https://qtrypzzcjebvfcihiynt.supabase.co/storage/v1/object/public/base44-prod/public/a.png",
            None
        ));
        assert!(!is_hosted_file(
            "https://x.supabase.co/storage/v1/object/public/avatars/a.png",
            None
        ));
        assert!(!is_hosted_file("https://notbase44.app/a.png", None));
        assert!(!is_hosted_file("https://example.com/a.png", None));
        assert!(!is_hosted_file("base44.app/a.png", None));
        assert!(is_hosted_file(
            "http://127.0.0.1:9/x.png",
            Some("127.0.0.1")
        ));
        assert!(!is_hosted_file("http://127.0.0.1:9/x.png", None));
    }

    #[test]
    fn names_and_replacement() {
        assert_eq!(
            file_name("https://h/a/b/photo%20one.png?x=1"),
            "photo one.png"
        );
        assert_eq!(file_name("https://h/"), "file");
        let mut v = serde_json::json!({"a": ["u1", "u2"], "b": "u1"});
        let map = HashMap::from([("u1".to_string(), "/f/1".to_string())]);
        assert_eq!(replace(&mut v, &map), 2);
        assert_eq!(v, serde_json::json!({"a": ["/f/1", "u2"], "b": "/f/1"}));
    }
}
