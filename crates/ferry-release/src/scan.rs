//! Hashing an artifact folder into file entries, and storing them as blobs.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::blob::BlobStore;
use crate::error::{ReleaseError, preview};
use crate::hash::{BUF_SIZE, BlobHash, hash_reader};
use crate::manifest::{FileEntry, validate_path};

/// Mode recorded for regular files.
const MODE_FILE: u32 = 0o644;
/// Mode recorded for files with any executable bit.
const MODE_EXEC: u32 = 0o755;
/// Mode recorded for symbolic links.
const MODE_LINK: u32 = 0o777;
/// Below this many files, hashing stays on the calling thread.
const PARALLEL_MIN_FILES: usize = 64;
/// Most threads used for hashing (CPU and page cache bound).
const MAX_HASH_THREADS: usize = 8;
/// Threads used for storing new blobs: each waits on its own flush to disk, and concurrent
/// flushes share journal commits, so more threads than cores pay off.
const STORE_THREADS: usize = 16;

/// What [`store_files`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Entries in the scan (files and links).
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Blobs this call wrote.
    pub new_blobs: usize,
    /// Bytes this call wrote.
    pub new_bytes: u64,
    /// Bytes not written because the content was stored already or repeated in the scan
    /// (`new_bytes + dedup_bytes == bytes`).
    pub dedup_bytes: u64,
}

/// Hashes every file of an artifact folder (does not store anything): relative path →
/// (absolute path, [`FileEntry`]).
///
/// Folders are walked without following links. A symbolic link is recorded as a link (empty
/// content, mode `0o777`, `link` = the release path it resolves to) when it resolves inside
/// `dir`; one that leaves it is refused (`link-escapes`), one that resolves to nothing is
/// refused (`broken-link`). Devices, sockets and pipes are refused (`special-file`); so are
/// names that are not UTF-8 (`non-utf8-name`) or not safe release paths (`unsafe-path`).
/// Content types come from the extension (see [`content_type`]). Modes are normalised to
/// `0o644` or `0o755`, so the release id does not depend on the umask. Absolute paths are
/// under the canonical form of `dir`.
pub fn scan_dir(dir: &Path) -> Result<BTreeMap<String, (PathBuf, FileEntry)>, ReleaseError> {
    let root = fs::canonicalize(dir).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            ReleaseError::NotFound {
                what: format!("the artifact folder `{}`", dir.display()),
            }
        } else {
            ReleaseError::io(dir, e)
        }
    })?;
    if !root.is_dir() {
        return Err(ReleaseError::io(
            dir,
            io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
        ));
    }

    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.clone(), String::new())];
    while let Some((abs_dir, rel_dir)) = stack.pop() {
        let entries = fs::read_dir(&abs_dir).map_err(|e| ReleaseError::io(&abs_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ReleaseError::io(&abs_dir, e))?;
            let abs = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(ReleaseError::NonUtf8Name { path: abs });
            };
            let rel = if rel_dir.is_empty() {
                name.to_owned()
            } else {
                format!("{rel_dir}/{name}")
            };
            validate_path(&rel)?;
            let kind = entry.file_type().map_err(|e| ReleaseError::io(&abs, e))?;
            if kind.is_dir() {
                stack.push((abs, rel));
            } else if kind.is_file() {
                files.push((rel, abs));
            } else if kind.is_symlink() {
                let target = link_target(&root, &abs, &rel)?;
                let entry = FileEntry {
                    hash: BlobHash::empty(),
                    size: 0,
                    mode: MODE_LINK,
                    content_type: content_type(&rel),
                    link: Some(target),
                };
                out.insert(rel, (abs, entry));
            } else {
                return Err(ReleaseError::SpecialFile {
                    path: preview(&rel),
                });
            }
        }
    }

    for (rel, abs, entry) in hash_all(files)? {
        out.insert(rel, (abs, entry));
    }
    Ok(out)
}

/// The `Content-Type` for a release path: from its extension (`mime_guess`), with
/// `; charset=utf-8` for `text/*`, JavaScript, JSON, SVG and XML types;
/// `application/octet-stream` when unknown.
pub fn content_type(path: &str) -> String {
    let Some(mime) = mime_guess::from_path(path).first() else {
        return "application/octet-stream".into();
    };
    let subtype = mime.subtype().as_str();
    let suffix = mime.suffix().map(|s| s.as_str());
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(subtype, "javascript" | "ecmascript" | "json" | "xml")
        || matches!(suffix, Some("json" | "xml"));
    if textual {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    }
}

/// Stores every file of `scanned` into `store` and reports new vs deduplicated blobs/bytes.
///
/// Content already stored is not read again (its blob's time is refreshed for GC). Links
/// store the empty blob, so every entry's hash names a stored blob. A file whose content
/// changed since the scan is refused (`hash-mismatch`).
pub fn store_files(
    store: &BlobStore,
    scanned: &BTreeMap<String, (PathBuf, FileEntry)>,
) -> Result<StoreStats, ReleaseError> {
    let mut stats = StoreStats {
        files: scanned.len(),
        ..StoreStats::default()
    };
    let mut seen = HashSet::with_capacity(scanned.len());
    let mut to_put: Vec<(&Path, &FileEntry)> = Vec::new();
    for (abs, entry) in scanned.values() {
        stats.bytes += entry.size;
        if !seen.insert(&entry.hash) {
            stats.dedup_bytes += entry.size;
        } else if entry.link.is_some() {
            let put = store.put_bytes(b"", Some(&entry.hash))?;
            stats.new_blobs += usize::from(put.new);
        } else if store.touch(&entry.hash) {
            stats.dedup_bytes += entry.size;
        } else {
            to_put.push((abs, entry));
        }
    }

    // Each new blob is flushed to disk before it is renamed into place; flushes wait on the
    // disk, so several run at once. The folders are flushed once each, at the end.
    let puts = parallel(&to_put, STORE_THREADS, |(abs, entry)| {
        let put = store.put_file_deferred(abs)?;
        if put.hash != entry.hash {
            return Err(ReleaseError::HashMismatch {
                expected: entry.hash.to_string(),
                actual: put.hash.to_string(),
            });
        }
        Ok(put)
    })?;
    let mut shards = BTreeSet::new();
    for put in puts {
        if put.new {
            shards.insert(put.hash.as_str()[..2].to_owned());
            stats.new_blobs += 1;
            stats.new_bytes += put.size;
        } else {
            stats.dedup_bytes += put.size;
        }
    }
    store.sync_shards(&shards)?;
    Ok(stats)
}

/// Hashes the regular files found by the walk.
fn hash_all(
    files: Vec<(String, PathBuf)>,
) -> Result<Vec<(String, PathBuf, FileEntry)>, ReleaseError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(MAX_HASH_THREADS);
    let entries = parallel(&files, threads, |(rel, abs)| hash_file(rel, abs))?;
    Ok(files
        .into_iter()
        .zip(entries)
        .map(|((rel, abs), entry)| (rel, abs, entry))
        .collect())
}

fn hash_file(rel: &str, abs: &Path) -> Result<FileEntry, ReleaseError> {
    BUFFER.with(|buf| {
        let mut buf = buf.borrow_mut();
        let mut file = File::open(abs).map_err(|e| ReleaseError::io(abs, e))?;
        let meta = file.metadata().map_err(|e| ReleaseError::io(abs, e))?;
        let (hash, size) =
            hash_reader(&mut file, &mut buf[..]).map_err(|e| ReleaseError::io(abs, e))?;
        Ok(FileEntry {
            hash,
            size,
            mode: if is_executable(&meta) {
                MODE_EXEC
            } else {
                MODE_FILE
            },
            content_type: content_type(rel),
            link: None,
        })
    })
}

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; BUF_SIZE]);
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// Resolves the link at `abs` (release path `rel`) to a release path inside `root`.
fn link_target(root: &Path, abs: &Path, rel: &str) -> Result<String, ReleaseError> {
    let raw = fs::read_link(abs).map_err(|e| ReleaseError::io(abs, e))?;
    let written = raw.to_string_lossy().into_owned();
    let resolved = match fs::canonicalize(abs) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(ReleaseError::io(abs, e));
        }
        Err(_) => {
            // Dangling or a loop. Say "escapes" when it would leave the folder anyway.
            let parent = abs.parent().unwrap_or(root);
            return Err(if lexically_inside(root, &parent.join(&raw)) {
                ReleaseError::BrokenLink {
                    path: preview(rel),
                    target: preview(&written),
                }
            } else {
                ReleaseError::LinkEscapes {
                    path: preview(rel),
                    target: preview(&written),
                }
            });
        }
    };
    let escapes = || ReleaseError::LinkEscapes {
        path: preview(rel),
        target: preview(&written),
    };
    let inner = resolved.strip_prefix(root).map_err(|_| escapes())?;
    let mut parts = Vec::new();
    for c in inner.components() {
        match c {
            Component::Normal(s) => match s.to_str() {
                Some(s) => parts.push(s),
                None => {
                    return Err(ReleaseError::NonUtf8Name {
                        path: resolved.clone(),
                    });
                }
            },
            _ => return Err(escapes()),
        }
    }
    if parts.is_empty() {
        // The root itself is not a release path.
        return Err(escapes());
    }
    let target = parts.join("/");
    validate_path(&target)?;
    Ok(target)
}

/// Whether `path` stays under `root` once `.` and `..` are applied textually.
fn lexically_inside(root: &Path, path: &Path) -> bool {
    let mut stack: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if stack.pop().is_none() {
                    return false;
                }
            }
            Component::CurDir => {}
            other => stack.push(other),
        }
    }
    let normal: PathBuf = stack.iter().collect();
    normal.starts_with(root) && normal != root
}

/// Runs `f` over `items` on a few threads (inline for short lists); results in input order,
/// the first error wins.
fn parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R, ReleaseError> + Sync,
) -> Result<Vec<R>, ReleaseError> {
    let threads = threads.min(items.len() / PARALLEL_MIN_FILES * 2 + 1);
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(None::<ReleaseError>);
    let mut chunks: Vec<Vec<(usize, R)>> = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        match f(item) {
                            Ok(r) => done.push((i, r)),
                            Err(e) => {
                                // Stop everyone: no item beyond the end remains.
                                next.store(items.len(), Ordering::Relaxed);
                                if let Ok(mut slot) = failed.lock() {
                                    slot.get_or_insert(e);
                                }
                                break;
                            }
                        }
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            // A worker only panics if `f` does; its items are then reported missing below.
            if let Ok(done) = h.join() {
                chunks.push(done);
            }
        }
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    for (i, r) in chunks.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots
        .into_iter()
        .map(|r| {
            r.ok_or_else(|| {
                ReleaseError::io(
                    Path::new("."),
                    io::Error::other("a worker thread stopped unexpectedly"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let cases = [
            ("index.html", "text/html; charset=utf-8"),
            ("a/app.js", "text/javascript; charset=utf-8"),
            ("a/app.mjs", "application/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("logo.svg", "image/svg+xml; charset=utf-8"),
            ("data.json", "application/json; charset=utf-8"),
            (
                "site.webmanifest",
                "application/manifest+json; charset=utf-8",
            ),
            ("feed.xml", "text/xml; charset=utf-8"),
            ("logo.png", "image/png"),
            ("font.woff2", "font/woff2"),
            ("app.wasm", "application/wasm"),
            ("blob.unknownext", "application/octet-stream"),
            ("LICENSE", "application/octet-stream"),
            ("INDEX.HTML", "text/html; charset=utf-8"),
        ];
        for (path, expected) in cases {
            assert_eq!(content_type(path), expected, "{path}");
        }
    }

    #[test]
    fn lexical_containment() {
        let root = Path::new("/r/dist");
        assert!(lexically_inside(root, Path::new("/r/dist/a/../b")));
        assert!(!lexically_inside(root, Path::new("/r/dist/../x")));
        assert!(!lexically_inside(root, Path::new("/r/dist/a/..")));
        assert!(!lexically_inside(root, Path::new("/etc/passwd")));
    }

    #[test]
    fn parallel_keeps_order_and_reports_errors() {
        let items: Vec<usize> = (0..1000).collect();
        let out = parallel(&items, 4, |i| Ok(i * 2)).expect("ok");
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let out = parallel(&items, 1, |i| Ok(i * 2)).expect("ok");
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let err = parallel(&items, 4, |i| {
            if *i == 500 {
                Err(ReleaseError::SpecialFile { path: "x".into() })
            } else {
                Ok(*i)
            }
        })
        .expect_err("fails");
        assert_eq!(err.code(), "special-file");
    }
}
