//! The release manifest (`ferry.release`, version 1), its id and its validation.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{ReleaseError, preview};
use crate::hash::BlobHash;
use crate::rules::Rules;

/// The `schema` field of every release manifest.
pub const MANIFEST_SCHEMA: &str = "ferry.release";
/// The manifest version this crate writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// Longest release path accepted, in bytes.
const MAX_PATH_BYTES: usize = 4096;
/// Most links followed by [`ReleaseManifest::resolve`].
const MAX_LINK_HOPS: usize = 16;
/// Longest free-text field (app, content type, env name, header…), in bytes.
const MAX_TEXT_BYTES: usize = 1024;

/// The release manifest (schema "ferry.release", version 1). Immutable once written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    /// Always [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// Always [`MANIFEST_VERSION`].
    pub version: u32,
    /// `r` + 12 hex characters, see [`release_id`].
    pub id: String,
    /// The app this release belongs to.
    pub app: String,
    /// When the release was made, in unix milliseconds.
    pub created_at: u64,
    /// Where its content came from.
    pub source: SourceRef,
    /// Every file, by URL-style relative path (`index.html`, `assets/index-abc.js`).
    pub files: BTreeMap<String, FileEntry>,
    /// How requests map onto the files.
    pub routes: Routes,
    /// Names of the env variables it was built with, sorted (never values).
    pub env: Vec<String>,
    /// How it was built.
    pub build: BuildInfo,
    /// The backend the server runs beside the files (part of the content and of the id);
    /// absent for static sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
}

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The blob holding the content (for a link: the empty content's hash).
    pub hash: BlobHash,
    /// Size in bytes (0 for a link).
    pub size: u64,
    /// Permission bits, normalised: `0o644`, `0o755` when executable, `0o777` for a link.
    pub mode: u32,
    /// The `Content-Type` to serve it with.
    pub content_type: String,
    /// For a symbolic link: the release path it points at (a file or a folder), resolved
    /// relative to the release root. Absent for regular files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Where a release's content came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// The git commit built, when the source is a repository.
    pub commit: Option<String>,
    /// The source folder, archive or URL (redacted), for display.
    pub path: Option<String>,
}

/// Routing rules of a release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    /// Whether unknown non-asset paths are served the fallback (single-page app).
    pub spa: bool,
    /// The file served for client-side routes, e.g. `index.html`; must be a file of the release.
    pub fallback: Option<String>,
    /// Reserved for response headers; may be empty.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Redirects, rewrites, header rules, clean URLs, trailing slashes and the custom 404
    /// page (see `docs/rules.md`); left out of the manifest, and of the id, when empty.
    #[serde(default, skip_serializing_if = "Rules::is_empty")]
    pub rules: Rules,
}

/// How a release was built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildInfo {
    /// The framework detected, e.g. `vite-react`.
    pub framework: Option<String>,
    /// The unit built.
    pub unit: String,
    /// How long the build took, in milliseconds.
    pub duration_ms: u64,
}

/// What a release id is computed over, in this field order.
#[derive(Serialize)]
struct IdInput<'a> {
    app: &'a str,
    files: &'a BTreeMap<String, FileEntry>,
    routes: &'a Routes,
    env: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'a Backend>,
}

/// `r` + first 12 hex of BLAKE3 over the canonical JSON of (app, files, routes, env):
/// identical content → identical id.
///
/// The canonical JSON is `serde_json`'s compact form of `{"app","files","routes","env"}`
/// with `files` and `routes.headers` in key order and `env` sorted and deduplicated, so the
/// order `env` is given in does not matter. `created_at`, `source` and `build` do not count.
pub fn release_id(
    app: &str,
    files: &BTreeMap<String, FileEntry>,
    routes: &Routes,
    env: &[String],
) -> String {
    release_id_with(app, files, routes, env, None)
}

/// [`release_id`] of a release with a backend: the backend's canonical JSON is hashed too
/// (as `"backend"` after `"env"`); without one the id is exactly [`release_id`]'s.
pub fn release_id_with(
    app: &str,
    files: &BTreeMap<String, FileEntry>,
    routes: &Routes,
    env: &[String],
    backend: Option<&Backend>,
) -> String {
    let env = sorted_env(env);
    let mut hasher = blake3::Hasher::new();
    let input = IdInput {
        app,
        files,
        routes,
        env: &env,
        backend,
    };
    // Writing strings, integers and string-keyed maps into a hasher cannot fail.
    let _ = serde_json::to_writer(&mut hasher, &input);
    let hex = hasher.finalize().to_hex();
    format!("r{}", &hex.as_str()[..12])
}

/// Whether `id` looks like a release id: `r` and 12 lowercase hex characters.
pub fn is_release_id(id: &str) -> bool {
    id.len() == 13
        && id.starts_with('r')
        && id
            .bytes()
            .skip(1)
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks that `path` is a clean release path: relative, `/`-separated, no `.`, `..` or
/// empty segments, no backslash or control characters, at most 4096 bytes.
pub fn validate_path(path: &str) -> Result<(), ReleaseError> {
    let fail = |reason| Err(ReleaseError::unsafe_path(path, reason));
    if path.is_empty() {
        return fail("it is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return fail("it is longer than 4096 bytes");
    }
    if path.starts_with('/') {
        return fail("it is absolute");
    }
    if path.contains('\\') {
        return fail("it contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return fail("it contains a control character");
    }
    for segment in path.split('/') {
        match segment {
            "" => return fail("it has an empty segment"),
            "." => return fail("it has a `.` segment"),
            ".." => return fail("it climbs with `..`"),
            _ => {}
        }
    }
    Ok(())
}

impl ReleaseManifest {
    /// A version-1 manifest with its id computed and `env` sorted and deduplicated.
    pub fn new(
        app: &str,
        created_at: u64,
        source: SourceRef,
        files: BTreeMap<String, FileEntry>,
        routes: Routes,
        env: &[String],
        build: BuildInfo,
    ) -> Self {
        let env = sorted_env(env);
        Self {
            schema: MANIFEST_SCHEMA.to_owned(),
            version: MANIFEST_VERSION,
            id: release_id(app, &files, &routes, &env),
            app: app.to_owned(),
            created_at,
            source,
            files,
            routes,
            env,
            build,
            backend: None,
        }
    }

    /// The same release with `backend`, its id recomputed.
    pub fn with_backend(mut self, backend: Option<Backend>) -> Self {
        self.id = release_id_with(
            &self.app,
            &self.files,
            &self.routes,
            &self.env,
            backend.as_ref(),
        );
        self.backend = backend;
        self
    }

    /// The files the edge may serve as files: none under [`crate::PRIVATE_DIR`] (server
    /// units' trees), and none at all when the release's processes answer every path (a server
    /// unit alone).
    pub fn served_files(&self) -> impl Iterator<Item = (&String, &FileEntry)> {
        let proxied_root = self
            .backend
            .as_ref()
            .and_then(|b| b.processes())
            .is_some_and(|p| p.routed().iter().any(|(_, r)| r.iter().any(|x| x == "/")));
        self.files
            .iter()
            .filter(move |(path, _)| !proxied_root && !path.starts_with(crate::PRIVATE_DIR))
    }

    /// The file served for the release path `path`, following links (a link to a file, or a
    /// link to a folder anywhere along the path) for at most 16 hops. Returns the final path
    /// and its entry, or `None` when nothing (or a link loop) is there. Pure map lookups.
    pub fn resolve<'a>(&'a self, path: &str) -> Option<(String, &'a FileEntry)> {
        let mut current = path.to_owned();
        for _ in 0..=MAX_LINK_HOPS {
            if let Some(entry) = self.files.get(&current) {
                match &entry.link {
                    None => return Some((current, entry)),
                    Some(target) => current = target.clone(),
                }
                continue;
            }
            // A link to a folder: `images/logo.png` with `images` → `assets/img`.
            let folder_link = current.match_indices('/').find_map(|(i, _)| {
                let link = self.files.get(&current[..i])?.link.as_ref()?;
                Some(format!("{link}{}", &current[i..]))
            });
            current = folder_link?;
        }
        None
    }

    /// Every blob the release needs (links need the empty blob).
    pub fn blobs(&self) -> BTreeSet<BlobHash> {
        self.files.values().map(|f| f.hash.clone()).collect()
    }

    /// Checks everything a reader relies on: schema and version, the id against the content,
    /// every path and link target safe, no file that is also a folder, the fallback a file of
    /// the release, `env` sorted and unique, no control characters in any text (they would
    /// end up in headers or on a terminal).
    pub fn validate(&self) -> Result<(), ReleaseError> {
        let what = if is_release_id(&self.id) {
            self.id.clone()
        } else {
            preview(&self.id)
        };
        let bad = |detail: String| Err(ReleaseError::manifest(&what, detail));
        if self.schema != MANIFEST_SCHEMA {
            return bad(format!(
                "schema is `{}`, expected `{MANIFEST_SCHEMA}`",
                preview(&self.schema)
            ));
        }
        if self.version != MANIFEST_VERSION {
            return bad(format!(
                "version {} is not supported (this ferry reads version {MANIFEST_VERSION}{})",
                self.version,
                if self.version > MANIFEST_VERSION {
                    "; upgrade ferry"
                } else {
                    ""
                }
            ));
        }
        if !is_release_id(&self.id) {
            return bad("the id is not `r` followed by 12 lowercase hex characters".into());
        }
        if self.app.is_empty() {
            return bad("the app name is empty".into());
        }
        text("app", &self.app).or_else(bad)?;
        optional_text("source.commit", self.source.commit.as_deref()).or_else(bad)?;
        optional_text("source.path", self.source.path.as_deref()).or_else(bad)?;
        optional_text("build.framework", self.build.framework.as_deref()).or_else(bad)?;
        text("build.unit", &self.build.unit).or_else(bad)?;
        for (path, entry) in &self.files {
            validate_path(path)?;
            check_entry(path, entry).or_else(bad)?;
            // A path cannot be a file and a folder at once.
            for (i, _) in path.match_indices('/') {
                if self.files.contains_key(&path[..i]) {
                    return bad(format!(
                        "`{}` is a file and also the folder of `{}`",
                        &path[..i],
                        preview(path)
                    ));
                }
            }
        }
        self.routes.rules.validate()?;
        if let Some(fallback) = &self.routes.fallback {
            validate_path(fallback)?;
            if !self.files.contains_key(fallback) {
                return bad(format!(
                    "the fallback `{}` is not a file of the release",
                    preview(fallback)
                ));
            }
        }
        for (name, value) in &self.routes.headers {
            if name.is_empty() {
                return bad("a header rule has an empty key".into());
            }
            text("a header key", name).or_else(bad)?;
            text("a header value", value).or_else(bad)?;
        }
        for name in &self.env {
            if name.is_empty() || name.contains('=') {
                return bad(format!("`{}` is not an env variable name", preview(name)));
            }
            text("an env name", name).or_else(bad)?;
        }
        if self.env.windows(2).any(|w| w[0] >= w[1]) {
            return bad("env names are not sorted and unique".into());
        }
        if let Some(backend) = &self.backend {
            backend.validate().or_else(bad)?;
        }
        let expected = release_id_with(
            &self.app,
            &self.files,
            &self.routes,
            &self.env,
            self.backend.as_ref(),
        );
        if self.id != expected {
            return bad(format!(
                "the id does not match the content (the content's id is `{expected}`)"
            ));
        }
        Ok(())
    }
}

fn check_entry(path: &str, entry: &FileEntry) -> Result<(), String> {
    if entry.mode & !0o777 != 0 {
        return Err(format!(
            "`{}` has mode {:o}, beyond permission bits",
            preview(path),
            entry.mode
        ));
    }
    if entry.content_type.is_empty()
        || entry.content_type.len() > MAX_TEXT_BYTES
        || !entry
            .content_type
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b))
    {
        return Err(format!(
            "`{}` has an invalid content type `{}`",
            preview(path),
            preview(&entry.content_type)
        ));
    }
    if let Some(target) = &entry.link {
        validate_path(target).map_err(|e| format!("link `{}`: {e}", preview(path)))?;
        if target == path {
            return Err(format!("link `{}` points at itself", preview(path)));
        }
        if entry.size != 0 || entry.hash != BlobHash::empty() {
            return Err(format!(
                "link `{}` must have size 0 and the empty content's hash",
                preview(path)
            ));
        }
    }
    Ok(())
}

fn text(field: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(format!("{field} is longer than {MAX_TEXT_BYTES} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{field} `{}` contains a control character",
            preview(value)
        ));
    }
    Ok(())
}

fn optional_text(field: &str, value: Option<&str>) -> Result<(), String> {
    value.map_or(Ok(()), |v| text(field, v))
}

fn sorted_env(env: &[String]) -> Vec<String> {
    let mut env = env.to_vec();
    env.sort();
    env.dedup();
    env
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn entry(content: &[u8], content_type: &str) -> FileEntry {
        FileEntry {
            hash: BlobHash::of_bytes(content),
            size: content.len() as u64,
            mode: 0o644,
            content_type: content_type.into(),
            link: None,
        }
    }

    pub(crate) fn sample(app: &str, created_at: u64) -> ReleaseManifest {
        let mut files = BTreeMap::new();
        files.insert(
            "index.html".to_string(),
            entry(b"<h1>hi</h1>", "text/html; charset=utf-8"),
        );
        files.insert(
            "assets/app.js".to_string(),
            entry(
                format!("console.log('{app}')").as_bytes(),
                "text/javascript; charset=utf-8",
            ),
        );
        ReleaseManifest::new(
            app,
            created_at,
            SourceRef {
                commit: Some("abc123".into()),
                path: Some("./my-app".into()),
            },
            files,
            Routes {
                spa: true,
                fallback: Some("index.html".into()),
                headers: BTreeMap::new(),
                ..Default::default()
            },
            &["VITE_B".to_string(), "VITE_A".to_string()],
            BuildInfo {
                framework: Some("vite-react".into()),
                unit: "web".into(),
                duration_ms: 1234,
            },
        )
    }

    #[test]
    fn new_manifest_is_valid_and_sorted() {
        let m = sample("shop", 1);
        assert_eq!(m.env, ["VITE_A", "VITE_B"]);
        assert!(is_release_id(&m.id));
        m.validate().expect("valid");
    }

    #[test]
    fn id_ignores_created_at_source_build_and_env_order() {
        let a = sample("shop", 1);
        let mut b = sample("shop", 999_999);
        b.source.commit = Some("def456".into());
        b.build.duration_ms = 1;
        assert_eq!(a.id, b.id);
        let reversed: Vec<String> = a.env.iter().rev().cloned().collect();
        assert_eq!(
            release_id(&a.app, &a.files, &a.routes, &reversed),
            release_id(&a.app, &a.files, &a.routes, &a.env)
        );
    }

    #[test]
    fn id_changes_with_any_content() {
        let base = sample("shop", 1);
        let id = |m: &ReleaseManifest| release_id(&m.app, &m.files, &m.routes, &m.env);
        assert_eq!(id(&base), base.id);

        let mut one_byte = base.clone();
        one_byte.files.insert(
            "index.html".into(),
            entry(b"<h1>hI</h1>", "text/html; charset=utf-8"),
        );
        let mut other_app = base.clone();
        other_app.app = "shop2".into();
        let mut no_spa = base.clone();
        no_spa.routes.spa = false;
        let mut renamed = base.clone();
        let e = renamed.files.remove("index.html").expect("entry");
        renamed.files.insert("index.htm".into(), e);
        let mut more_env = base.clone();
        more_env.env.push("Z".into());
        let mut mode = base.clone();
        if let Some(e) = mode.files.get_mut("assets/app.js") {
            e.mode = 0o755;
        }
        let ids: BTreeSet<String> = [
            &base, &one_byte, &other_app, &no_spa, &renamed, &more_env, &mode,
        ]
        .iter()
        .map(|m| id(m))
        .collect();
        assert_eq!(ids.len(), 7, "every change gives a new id: {ids:?}");
    }

    #[test]
    fn id_is_stable_across_versions_of_this_code() {
        // Pinned: changing the canonical form silently would re-id every stored release.
        let mut files = BTreeMap::new();
        files.insert("index.html".to_string(), entry(b"x", "text/html"));
        let id = release_id("a", &files, &Routes::default(), &[]);
        let json = format!(
            r#"{{"app":"a","files":{{"index.html":{{"hash":"{}","size":1,"mode":420,"content_type":"text/html"}}}},"routes":{{"spa":false,"fallback":null,"headers":{{}}}},"env":[]}}"#,
            BlobHash::of_bytes(b"x")
        );
        let expected = format!("r{}", &blake3::hash(json.as_bytes()).to_hex()[..12]);
        assert_eq!(id, expected);
    }

    #[test]
    fn validate_path_refuses_unsafe_paths() {
        for good in [
            "index.html",
            "assets/index-abc.js",
            "a/b/c.d",
            ".well-known/x",
            "a..b",
        ] {
            validate_path(good).expect(good);
        }
        let long = "a".repeat(5000);
        for bad in [
            "", "../x", "/abs", "a//b", "a/", "./a", "a/./b", "a/../b", "..", "a\\b", "a\u{0}b",
            "a\nb", &long,
        ] {
            let err = validate_path(bad).expect_err(bad);
            assert_eq!(err.code(), "unsafe-path", "{bad:?}");
        }
    }

    #[test]
    fn validate_refuses_inconsistent_manifests() {
        let good = sample("shop", 1);
        let reid = |mut m: ReleaseManifest| {
            m.id = release_id(&m.app, &m.files, &m.routes, &m.env);
            m
        };
        let mut cases: Vec<(&str, ReleaseManifest)> = Vec::new();

        let mut m = good.clone();
        m.schema = "other".into();
        cases.push(("schema", m));
        let mut m = good.clone();
        m.version = 2;
        cases.push(("version", m));
        let mut m = good.clone();
        m.id = "r000000000000".into();
        cases.push(("wrong id", m));
        let mut m = good.clone();
        m.id = "../../etc".into();
        cases.push(("id charset", m));
        let mut m = good.clone();
        m.routes.fallback = Some("missing.html".into());
        cases.push(("fallback missing", reid(m)));
        let mut m = good.clone();
        m.env = vec!["B".into(), "A".into()];
        cases.push(("env unsorted", reid(m)));
        let mut m = good.clone();
        m.env = vec!["A=1".into()];
        cases.push(("env value", reid(m)));
        let mut m = good.clone();
        if let Some(e) = m.files.get_mut("index.html") {
            e.content_type = "text/html\r\nSet-Cookie: x=1".into();
        }
        cases.push(("header injection", reid(m)));
        let mut m = good.clone();
        m.files
            .insert("assets".into(), entry(b"", "application/octet-stream"));
        cases.push(("file and folder", reid(m)));
        let mut m = good.clone();
        if let Some(e) = m.files.get_mut("index.html") {
            e.mode = 0o104_755;
        }
        cases.push(("mode", reid(m)));
        let mut m = good.clone();
        m.files.insert(
            "link".into(),
            FileEntry {
                link: Some("../outside".into()),
                ..entry(b"", "text/plain")
            },
        );
        cases.push(("link escapes", reid(m)));
        let mut m = good.clone();
        m.files.insert(
            "link".into(),
            FileEntry {
                link: Some("index.html".into()),
                ..entry(b"not empty", "text/plain")
            },
        );
        cases.push(("link with content", reid(m)));
        let mut m = good.clone();
        m.app = "evil\u{1b}[31m".into();
        cases.push(("control chars", reid(m)));

        for (name, m) in cases {
            let err = m.validate().expect_err(name);
            assert!(
                matches!(err.code(), "invalid-manifest" | "unsafe-path"),
                "{name}: {err}"
            );
        }
        for bad in ["../x", "/abs", "a//b"] {
            let mut m = good.clone();
            m.files.insert(bad.into(), entry(b"x", "text/plain"));
            let err = reid(m).validate().expect_err(bad);
            assert_eq!(err.code(), "unsafe-path", "{bad}");
        }
    }

    #[test]
    fn resolve_follows_file_and_folder_links() {
        let mut m = sample("shop", 1);
        let link = |target: &str| FileEntry {
            hash: BlobHash::empty(),
            size: 0,
            mode: 0o777,
            content_type: "text/html; charset=utf-8".into(),
            link: Some(target.into()),
        };
        m.files.insert("200.html".into(), link("index.html"));
        m.files.insert("again.html".into(), link("200.html"));
        m.files.insert("js".into(), link("assets"));
        m.files.insert("loop-a".into(), link("loop-b"));
        m.files.insert("loop-b".into(), link("loop-a"));
        m.files.insert("dangling".into(), link("nothing"));

        let resolved = |p: &str| m.resolve(p).map(|(path, _)| path);
        assert_eq!(resolved("index.html").as_deref(), Some("index.html"));
        assert_eq!(resolved("again.html").as_deref(), Some("index.html"));
        assert_eq!(resolved("js/app.js").as_deref(), Some("assets/app.js"));
        assert_eq!(
            m.resolve("200.html").map(|(_, e)| e.hash.clone()),
            Some(m.files["index.html"].hash.clone())
        );
        for none in ["loop-a", "dangling", "js/missing.js", "missing", "assets"] {
            assert_eq!(resolved(none), None, "{none}");
        }
    }

    #[test]
    fn json_round_trip_and_unknown_fields_refused() {
        let m = sample("shop", 42);
        let json = serde_json::to_string_pretty(&m).expect("json");
        assert!(!json.contains("\"link\""), "absent links are omitted");
        let back: ReleaseManifest = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, m);
        let extra = json.replacen("{", "{\n  \"surprise\": 1,", 1);
        assert!(serde_json::from_str::<ReleaseManifest>(&extra).is_err());
        let bad_hash = json.replace(m.files["index.html"].hash.as_str(), "../../etc/passwd");
        assert!(serde_json::from_str::<ReleaseManifest>(&bad_hash).is_err());
    }
}
