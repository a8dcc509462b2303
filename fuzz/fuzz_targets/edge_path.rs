//! The edge's path normalisation never panics, never yields `..`, NUL or backslashes, and
//! resolution of any path against a small release never panics.
#![no_main]
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use ferry_edge::{AppRoute, Routing};
use ferry_release::{BlobHash, BuildInfo, FileEntry, ReleaseManifest, Routes, SourceRef};

fn routing() -> &'static Routing {
    static R: OnceLock<Routing> = OnceLock::new();
    R.get_or_init(|| {
        let entry = |c: &str| FileEntry {
            hash: BlobHash::of_bytes(c.as_bytes()),
            size: c.len() as u64,
            mode: 0o644,
            content_type: "text/html; charset=utf-8".into(),
            link: None,
        };
        let mut files = BTreeMap::new();
        files.insert("index.html".to_string(), entry("home"));
        files.insert("docs/index.html".to_string(), entry("docs"));
        files.insert("assets/app.js".to_string(), entry("js"));
        let live = Arc::new(ReleaseManifest {
            schema: "ferry.release".into(),
            version: 1,
            id: "r000000000000".into(),
            app: "app".into(),
            created_at: 0,
            source: SourceRef { commit: None, path: None },
            files,
            routes: Routes { spa: true, fallback: Some("index.html".into()), ..Default::default() },
            env: Vec::new(),
            build: BuildInfo { framework: None, unit: "web".into(), duration_ms: 0 },
        });
        let mut r = Routing::default();
        r.apps.insert("app".into(), AppRoute { live, previous: Vec::new(), variants: Default::default() });
        r.default_app = Some("app".into());
        r
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(path) = ferry_edge::normalize(text) {
        assert!(!path.split('/').any(|p| p == ".."), "{path}");
        assert!(!path.contains('\0') && !path.contains('\\'), "{path}");
        assert!(!path.starts_with('/'), "{path}");
    }
    let _ = ferry_edge::resolve(routing(), Some("app.localhost"), text);
});
