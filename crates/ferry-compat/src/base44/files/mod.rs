//! Files uploaded through the SDK's `Core.UploadFile` / `Core.UploadPrivateFile`, kept on disk
//! under a root the server gives ([`FileStore::open`]) and served back on the app's origin
//! ([`router`]).
//!
//! Layout: `<root>/{public,private}/<id>/{data,meta.json}` with `<id>` 32 random hex digits
//! made here; uploads are written to `<root>/tmp/` and renamed into place once complete, so
//! a half-written file is never served. No client text ever becomes a path: the file name
//! the client sent is only kept (sanitised, [`sanitize_name`]) in `meta.json` and in URLs.
//!
//! Public files are served at `/_ferry/base44/files/public/<id>/<name>` to anyone. Private
//! files are served only through a URL made by [`FileStore::signed_url_path`]: it carries an
//! expiry (Unix seconds) and an HMAC-SHA256 over the app id, the file id and the expiry, keyed
//! by the app's signing key; an expired or tampered URL is a 403.

mod serve;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base44::auth::token::SigningKey;
use crate::base44::auth::{b64url, random_bytes, unix_now};

pub use serve::router;

/// The path prefix every file URL starts with (on the app's origin).
pub const FILES_PREFIX: &str = "/_ferry/base44/files";
/// The largest file accepted: 50 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 50 << 20;
/// `CreateFileSignedUrl`'s default lifetime (seconds), as Base44's.
pub const DEFAULT_SIGNED_TTL_SECS: u64 = 300;
/// The longest lifetime a signed URL may have: 7 days.
pub const MAX_SIGNED_TTL_SECS: u64 = 7 * 24 * 60 * 60;
/// The longest file name kept (bytes, after sanitising).
pub const MAX_NAME_BYTES: usize = 100;

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Anyone with its URL.
    Public,
    /// Only holders of a signed, unexpired URL.
    Private,
}

impl Visibility {
    /// The directory and URL segment: `public` or `private`.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// Why a file could not be stored, found or served.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The upload is larger than the store's limit.
    #[error("the file is larger than {max} bytes")]
    TooLarge {
        /// The limit in bytes.
        max: u64,
    },
    /// No file has this id (or the id cannot be one).
    #[error("no such file")]
    NotFound,
    /// A `file_uri` that is not `private/<id>/<name>`.
    #[error("`{0}` is not a file_uri of this app (private/<id>/<name>)")]
    BadUri(String),
    /// The signed URL's expiry has passed.
    #[error("this link has expired")]
    Expired,
    /// The signed URL's signature does not match (or is missing).
    #[error("this link is not valid")]
    BadSignature,
    /// A disk operation failed.
    #[error("file storage at `{path}`: {detail}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        detail: String,
    },
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
}

impl FileError {
    /// A stable code for the API's error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::TooLarge { .. } => "too-large",
            FileError::NotFound => "not-found",
            FileError::BadUri(_) => "bad-file-uri",
            FileError::Expired => "link-expired",
            FileError::BadSignature => "bad-signature",
            FileError::Io { .. } => "io",
            FileError::Random => "random",
        }
    }

    fn io(path: &Path, e: &std::io::Error) -> FileError {
        FileError::Io {
            path: path.to_owned(),
            detail: e.to_string(),
        }
    }
}

/// What `meta.json` holds about a stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The file's id (32 hex digits).
    pub id: String,
    /// The sanitised name the client gave.
    pub name: String,
    /// The content type it is served with.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was stored (Unix seconds).
    pub created_at: u64,
}

/// One app's files on disk.
pub struct FileStore {
    root: PathBuf,
    app_id: String,
    key: SigningKey,
    max_bytes: u64,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("root", &self.root)
            .field("app_id", &self.app_id)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Whether `id` is one this store could have made: exactly 32 lower-case hex digits.
pub fn is_file_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A file name safe in a URL path segment and a `Content-Disposition` header: the last
/// component of `name` (after `/` or `\`), each character outside `A-Z a-z 0-9 . _ -` made
/// `_`, leading dots dropped, at most [`MAX_NAME_BYTES`]; `file` when nothing is left.
pub fn sanitize_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    out = out.trim_start_matches('.').to_string();
    if out.len() > MAX_NAME_BYTES {
        // Keep the extension when there is a short one.
        let ext = out
            .rfind('.')
            .map(|i| out[i..].to_string())
            .filter(|e| e.len() <= 16)
            .unwrap_or_default();
        out.truncate(MAX_NAME_BYTES - ext.len());
        out.push_str(&ext);
    }
    if out.is_empty() || out.chars().all(|c| c == '_') {
        "file".into()
    } else {
        out
    }
}

/// Whether `value` is a plausible `type/subtype[; params]` content type (printable ASCII, at
/// most 127 bytes).
fn valid_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    value.len() <= 127
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && essence.split_once('/').is_some_and(|(t, s)| {
            let token = |x: &str| {
                !x.is_empty()
                    && x.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
            };
            token(t) && token(s)
        })
}

/// The content type of well-known formats from their first bytes.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"PK\x03\x04") {
        Some("application/zip")
    } else {
        None
    }
}

/// The content type a file is stored with: the part's own when it names one (other than the
/// generic `application/octet-stream`), else what its first bytes say, else its extension's,
/// else `application/octet-stream`.
pub fn content_type_for(declared: Option<&str>, name: &str, head: &[u8]) -> String {
    if let Some(declared) = declared.map(str::trim)
        && valid_content_type(declared)
        && !declared.eq_ignore_ascii_case("application/octet-stream")
    {
        return declared.to_string();
    }
    if let Some(sniffed) = sniff(head) {
        return sniffed.into();
    }
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .into()
}

/// An upload being written to the store's `tmp/` directory; [`Upload::finish`] puts it in
/// place, dropping it unfinished removes the partial file.
pub struct Upload<'a> {
    store: &'a FileStore,
    visibility: Visibility,
    tmp: PathBuf,
    file: Option<tokio::fs::File>,
    size: u64,
    head: Vec<u8>,
}

impl Upload<'_> {
    /// Appends `chunk`; [`FileError::TooLarge`] past the store's limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), FileError> {
        use tokio::io::AsyncWriteExt as _;
        self.size += chunk.len() as u64;
        if self.size > self.store.max_bytes {
            return Err(FileError::TooLarge {
                max: self.store.max_bytes,
            });
        }
        if self.head.len() < 512 {
            let take = (512 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(FileError::Io {
                path: self.tmp.clone(),
                detail: "the upload is already finished".into(),
            });
        };
        file.write_all(chunk)
            .await
            .map_err(|e| FileError::io(&self.tmp, &e))
    }

    /// Stores the upload under a new id with `name` (sanitised) and a content type from
    /// `declared`, its first bytes or its name ([`content_type_for`]).
    pub async fn finish(
        mut self,
        name: &str,
        declared: Option<&str>,
    ) -> Result<FileMeta, FileError> {
        use tokio::io::AsyncWriteExt as _;
        if let Some(mut file) = self.file.take() {
            file.flush()
                .await
                .map_err(|e| FileError::io(&self.tmp, &e))?;
            file.sync_all()
                .await
                .map_err(|e| FileError::io(&self.tmp, &e))?;
        }
        let name = sanitize_name(name);
        let meta = FileMeta {
            id: new_id()?,
            content_type: content_type_for(declared, &name, &self.head),
            name,
            size: self.size,
            created_at: unix_now(),
        };
        let dir = self.store.dir(self.visibility, &meta.id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| FileError::io(&dir, &e))?;
        let meta_path = dir.join("meta.json");
        let text = serde_json::to_vec(&meta).map_err(|e| FileError::Io {
            path: meta_path.clone(),
            detail: e.to_string(),
        })?;
        tokio::fs::write(&meta_path, text)
            .await
            .map_err(|e| FileError::io(&meta_path, &e))?;
        let data = dir.join("data");
        tokio::fs::rename(&self.tmp, &data)
            .await
            .map_err(|e| FileError::io(&data, &e))?;
        Ok(meta)
    }
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        // Finished uploads were renamed away; this removes only an abandoned partial file.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn new_id() -> Result<String, FileError> {
    let bytes: [u8; 16] = random_bytes().map_err(|_| FileError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn create_private_dir(path: &Path) -> Result<(), FileError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| FileError::io(path, &e))
}

impl FileStore {
    /// The store of `app_id` under `root` (created, owner-only), signing private links with
    /// `key` and refusing files over `max_bytes`. Leftover partial uploads are removed.
    pub fn open(
        root: impl Into<PathBuf>,
        app_id: impl Into<String>,
        key: SigningKey,
        max_bytes: u64,
    ) -> Result<FileStore, FileError> {
        let root = root.into();
        for sub in ["public", "private", "tmp"] {
            create_private_dir(&root.join(sub))?;
        }
        if let Ok(entries) = std::fs::read_dir(root.join("tmp")) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(FileStore {
            root,
            app_id: app_id.into(),
            key,
            max_bytes,
        })
    }

    /// The app id its links are signed for.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The largest file accepted, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn dir(&self, visibility: Visibility, id: &str) -> PathBuf {
        self.root.join(visibility.as_str()).join(id)
    }

    /// Starts an upload of a `visibility` file.
    pub async fn begin(&self, visibility: Visibility) -> Result<Upload<'_>, FileError> {
        let tmp = self.root.join("tmp").join(format!("{}.part", new_id()?));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| FileError::io(&tmp, &e))?;
        Ok(Upload {
            store: self,
            visibility,
            tmp,
            file: Some(file),
            size: 0,
            head: Vec::new(),
        })
    }

    /// Stores `bytes` at once (a generated image, a test fixture).
    pub async fn put(
        &self,
        visibility: Visibility,
        name: &str,
        declared: Option<&str>,
        bytes: &[u8],
    ) -> Result<FileMeta, FileError> {
        let mut upload = self.begin(visibility).await?;
        upload.write(bytes).await?;
        upload.finish(name, declared).await
    }

    /// The metadata and data path of the file `id`; [`FileError::NotFound`] for an id that
    /// is not one ([`is_file_id`]) or not stored.
    pub async fn find(
        &self,
        visibility: Visibility,
        id: &str,
    ) -> Result<(FileMeta, PathBuf), FileError> {
        if !is_file_id(id) {
            return Err(FileError::NotFound);
        }
        let dir = self.dir(visibility, id);
        let text = match tokio::fs::read(dir.join("meta.json")).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FileError::NotFound);
            }
            Err(e) => return Err(FileError::io(&dir, &e)),
        };
        let meta: FileMeta = serde_json::from_slice(&text).map_err(|e| FileError::Io {
            path: dir.join("meta.json"),
            detail: e.to_string(),
        })?;
        if meta.id != id {
            return Err(FileError::NotFound);
        }
        Ok((meta, dir.join("data")))
    }

    /// The path (on the app's origin) of a public file.
    pub fn public_path(&self, meta: &FileMeta) -> String {
        format!("{FILES_PREFIX}/public/{}/{}", meta.id, meta.name)
    }

    /// The `file_uri` `UploadPrivateFile` answers: `private/<id>/<name>` (not a URL: only
    /// [`Self::signed_url_path`] makes it readable).
    pub fn private_uri(&self, meta: &FileMeta) -> String {
        format!("private/{}/{}", meta.id, meta.name)
    }

    /// The file id a `file_uri` names (`private/<id>/<name>`, a leading `/` allowed).
    pub fn parse_private_uri(uri: &str) -> Result<String, FileError> {
        let bad = || FileError::BadUri(uri.chars().take(200).collect());
        let mut parts = uri.trim_start_matches('/').splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("private"), Some(id), Some(name)) if is_file_id(id) && !name.is_empty() => {
                Ok(id.to_string())
            }
            _ => Err(bad()),
        }
    }

    fn signature(&self, id: &str, expires: u64) -> hmac::Hmac<sha2::Sha256> {
        self.key.mac_parts(&[
            b"ferry-base44-file",
            self.app_id.as_bytes(),
            id.as_bytes(),
            expires.to_string().as_bytes(),
        ])
    }

    /// A path (on the app's origin) reading the private file `meta` until `now + ttl_secs`
    /// (`ttl_secs` clamped to 1..=[`MAX_SIGNED_TTL_SECS`]):
    /// `/_ferry/base44/files/private/<id>/<name>?expires=<unix>&signature=<hmac>`.
    pub fn signed_url_path(&self, meta: &FileMeta, ttl_secs: u64, now: u64) -> String {
        use hmac::Mac as _;
        let expires = now.saturating_add(ttl_secs.clamp(1, MAX_SIGNED_TTL_SECS));
        let sig = b64url(&self.signature(&meta.id, expires).finalize().into_bytes());
        format!(
            "{FILES_PREFIX}/private/{}/{}?expires={expires}&signature={sig}",
            meta.id, meta.name
        )
    }

    /// Checks a private link's `expires` and `signature` for file `id` at `now`: the
    /// signature first (in constant time), then the expiry.
    pub fn check_signature(
        &self,
        id: &str,
        expires: Option<&str>,
        signature: Option<&str>,
        now: u64,
    ) -> Result<(), FileError> {
        use base64::Engine as _;
        use hmac::Mac as _;
        let (Some(expires_text), Some(signature)) = (expires, signature) else {
            return Err(FileError::BadSignature);
        };
        // Only the canonical decimal form was signed.
        let expires: u64 = expires_text.parse().map_err(|_| FileError::BadSignature)?;
        if expires.to_string() != expires_text {
            return Err(FileError::BadSignature);
        }
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| FileError::BadSignature)?;
        self.signature(id, expires)
            .verify_slice(&sig)
            .map_err(|_| FileError::BadSignature)?;
        if now >= expires {
            return Err(FileError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> FileStore {
        let key = SigningKey::from_bytes(&[7u8; 32]).expect("key");
        FileStore::open(dir, "app1", key, 1024).expect("store")
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitize_name(".hidden"), "hidden");
        assert_eq!(sanitize_name("a b?c#d.png"), "a_b_c_d.png");
        assert_eq!(sanitize_name(""), "file");
        assert_eq!(sanitize_name(".."), "file");
        assert_eq!(sanitize_name("日本"), "file");
        let long = format!("{}.jpeg", "x".repeat(300));
        let cut = sanitize_name(&long);
        assert_eq!(cut.len(), MAX_NAME_BYTES);
        assert!(cut.ends_with(".jpeg"));
    }

    #[test]
    fn ids_and_uris_are_checked() {
        assert!(is_file_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_file_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_file_id("../../../../../../../../etc/pass"));
        assert!(!is_file_id(""));
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            FileStore::parse_private_uri(&format!("private/{id}/a.txt")).expect("uri"),
            id
        );
        for bad in [
            format!("public/{id}/a.txt"),
            format!("private/{id}"),
            "private/../x/a".into(),
            "https://example.com/x".into(),
        ] {
            assert!(FileStore::parse_private_uri(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type_for(Some("image/png"), "a", b""), "image/png");
        assert_eq!(
            content_type_for(
                Some("application/octet-stream"),
                "a",
                b"\x89PNG\r\n\x1a\nxx"
            ),
            "image/png"
        );
        assert_eq!(content_type_for(None, "a.csv", b"a,b"), "text/csv");
        assert_eq!(
            content_type_for(Some("bad\ntype"), "x", b""),
            "application/octet-stream"
        );
        assert_eq!(
            content_type_for(Some("text/plain; charset=utf-8"), "x", b""),
            "text/plain; charset=utf-8"
        );
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn store_find_and_sign() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = store(tmp.path());
        runtime().block_on(async {
            let meta = store
                .put(Visibility::Private, "../secret.txt", None, b"hello")
                .await
                .expect("put");
            assert_eq!(meta.name, "secret.txt");
            assert_eq!(meta.size, 5);
            let (found, path) = store
                .find(Visibility::Private, &meta.id)
                .await
                .expect("find");
            assert_eq!(found, meta);
            assert!(path.starts_with(tmp.path()));
            assert_eq!(std::fs::read(&path).expect("read"), b"hello");
            // Not public, and no partial files left.
            assert!(matches!(
                store.find(Visibility::Public, &meta.id).await,
                Err(FileError::NotFound)
            ));
            assert_eq!(
                std::fs::read_dir(tmp.path().join("tmp"))
                    .expect("tmp")
                    .count(),
                0
            );

            let now = 1_000_000;
            let url = store.signed_url_path(&meta, 60, now);
            let query = url.split_once('?').expect("query").1;
            let mut expires = None;
            let mut sig = None;
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("expires", v)) => expires = Some(v.to_string()),
                    Some(("signature", v)) => sig = Some(v.to_string()),
                    _ => {}
                }
            }
            let (expires, sig) = (expires.expect("expires"), sig.expect("sig"));
            assert_eq!(expires, "1000060");
            let check = |id: &str, e: &str, s: &str, at: u64| {
                store.check_signature(id, Some(e), Some(s), at)
            };
            check(&meta.id, &expires, &sig, now).expect("valid");
            check(&meta.id, &expires, &sig, now + 59).expect("still valid");
            assert!(matches!(
                check(&meta.id, &expires, &sig, now + 60),
                Err(FileError::Expired)
            ));
            // Tampered expiry, id, signature; non-canonical numbers; missing parts.
            assert!(matches!(
                check(&meta.id, "1000061", &sig, now),
                Err(FileError::BadSignature)
            ));
            assert!(matches!(
                check(&meta.id, "01000060", &sig, now),
                Err(FileError::BadSignature)
            ));
            let other = "0123456789abcdef0123456789abcdef";
            assert!(matches!(
                check(other, &expires, &sig, now),
                Err(FileError::BadSignature)
            ));
            let mut flipped = sig.clone().into_bytes();
            flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
            let flipped = String::from_utf8(flipped).expect("utf8");
            assert!(matches!(
                check(&meta.id, &expires, &flipped, now),
                Err(FileError::BadSignature)
            ));
            assert!(matches!(
                store.check_signature(&meta.id, None, Some(&sig), now),
                Err(FileError::BadSignature)
            ));
            // Another app's key does not verify.
            let key = SigningKey::from_bytes(&[8u8; 32]).expect("key");
            let other_store = FileStore::open(tmp.path(), "app1", key, 1024).expect("store");
            assert!(matches!(
                other_store.check_signature(&meta.id, Some(&expires), Some(&sig), now),
                Err(FileError::BadSignature)
            ));
            // The lifetime is clamped.
            let long = store.signed_url_path(&meta, u64::MAX, now);
            assert!(long.contains(&format!("expires={}", now + MAX_SIGNED_TTL_SECS)));
        });
    }

    #[test]
    fn size_cap() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = store(tmp.path());
        runtime().block_on(async {
            let mut upload = store.begin(Visibility::Public).await.expect("begin");
            upload.write(&[0u8; 1000]).await.expect("fits");
            assert!(matches!(
                upload.write(&[0u8; 100]).await,
                Err(FileError::TooLarge { max: 1024 })
            ));
            drop(upload);
            assert_eq!(
                std::fs::read_dir(tmp.path().join("tmp"))
                    .expect("tmp")
                    .count(),
                0
            );
            assert_eq!(
                std::fs::read_dir(tmp.path().join("public"))
                    .expect("p")
                    .count(),
                0
            );
        });
    }

    #[test]
    fn bad_ids_are_not_found() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = store(tmp.path());
        runtime().block_on(async {
            for id in ["..", "../tmp", "", "0123456789abcdef0123456789abcdef"] {
                assert!(matches!(
                    store.find(Visibility::Public, id).await,
                    Err(FileError::NotFound)
                ));
            }
        });
    }
}
