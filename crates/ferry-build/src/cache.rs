//! Cache entries: built in a staging folder, marked complete last, then renamed into place.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::{BuildError, io};

/// The file whose presence says an entry is complete. Written last.
pub(crate) const DONE: &str = "done";

/// Staging and leftover folders older than this are removed on the next build.
const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other build (in this or another process) uses at the same time.
pub(crate) fn unique(stem: &str, tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{stem}.{tag}-{}-{n}", std::process::id())
}

/// Whether `entry` holds a complete cache entry.
pub(crate) fn complete(entry: &Path) -> bool {
    entry.join(DONE).is_file()
}

/// A cache entry being built; removed on drop unless committed.
#[derive(Debug)]
pub(crate) struct Staging {
    path: PathBuf,
    committed: bool,
}

/// What committing found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Committed {
    /// The staged entry is now in place.
    Fresh,
    /// A complete entry was already there (a concurrent build); it was kept.
    Existing,
}

impl Staging {
    /// A fresh staging folder for `key` inside `parent`.
    pub(crate) fn new(parent: &Path, key: &str) -> Result<Self, BuildError> {
        let path = parent.join(unique(key, "tmp"));
        fs::create_dir_all(&path).map_err(io(&path))?;
        Ok(Self {
            path,
            committed: false,
        })
    }

    /// The staging folder.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the marker, then renames the staging folder to `entry`. An existing complete
    /// entry is kept unless `replace`; an incomplete one is always replaced.
    pub(crate) fn commit(mut self, entry: &Path, replace: bool) -> Result<Committed, BuildError> {
        let marker = self.path.join(DONE);
        fs::write(&marker, b"ferry-build cache entry\n").map_err(io(&marker))?;
        match fs::rename(&self.path, entry) {
            Ok(()) => {
                self.committed = true;
                return Ok(Committed::Fresh);
            }
            Err(e) if !entry.exists() => {
                return Err(BuildError::Io {
                    path: entry.to_path_buf(),
                    source: e,
                });
            }
            Err(_) => {}
        }
        if complete(entry) && !replace {
            return Ok(Committed::Existing);
        }
        // Move the old entry aside first so the new one lands whole, then drop the old one.
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = entry.with_file_name(unique(&name, "old"));
        fs::rename(entry, &aside).map_err(io(entry))?;
        fs::rename(&self.path, entry).map_err(io(entry))?;
        self.committed = true;
        let _ = fs::remove_dir_all(&aside);
        Ok(Committed::Fresh)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes leftovers of crashed builds: temporary copies in `tmp`, staging and moved-aside
/// entries in `builds` and `deps`, once they are a day old. Best effort.
pub(crate) fn sweep(cache_dir: &Path) {
    let now = SystemTime::now();
    let old = |path: &Path| {
        fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_AFTER)
    };
    for (dir, all) in [("tmp", true), ("builds", false), ("deps", false)] {
        let Ok(read) = fs::read_dir(cache_dir.join(dir)) else {
            continue;
        };
        for entry in read.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let leftover = all || name.contains(".tmp-") || name.contains(".old-");
            if leftover && old(&entry.path()) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}
