//! Listing a source tree (with the folders a build never reads skipped) and copying it.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{BuildError, io};

/// Folders skipped besides ferry-inspect's [`SKIPPED_DIRS`](ferry_inspect::tree::SKIPPED_DIRS).
const EXTRA_SKIPPED: &[&str] = &[".ferry"];

/// What one entry of a listing is.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A folder, with its permission bits.
    Dir {
        /// `st_mode & 0o7777`.
        mode: u32,
    },
    /// A regular file, with its permission bits.
    File {
        /// `st_mode & 0o7777`.
        mode: u32,
    },
    /// A symbolic link that stays inside the tree.
    Link {
        /// The target, as written.
        target: PathBuf,
    },
}

/// One entry, relative to the listed root.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Path relative to the root.
    pub rel: PathBuf,
    /// Its kind.
    pub kind: Kind,
}

/// Every entry of a tree a build sees, sorted by path bytes (a folder before its contents).
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// The entries.
    pub entries: Vec<Entry>,
    /// Symbolic links left out because they point outside the tree.
    pub escaping_links: Vec<String>,
}

/// Whether a folder named `name` inside `parent` is never part of a build's input.
fn skipped_dir(parent: &Path, name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    if ferry_inspect::tree::SKIPPED_DIRS.contains(&name) || EXTRA_SKIPPED.contains(&name) {
        return true;
    }
    name == "cache" && parent.file_name().is_some_and(|p| p == ".next")
}

/// Lists `root`, skipping `exclude` (a path relative to the root) and, when `skip_ignored`,
/// the folders a build never reads (`.git`, `node_modules`, `.ferry`…).
pub(crate) fn list(
    root: &Path,
    exclude: Option<&Path>,
    skip_ignored: bool,
) -> Result<Listing, BuildError> {
    let meta = fs::metadata(root).map_err(io(root))?;
    if !meta.is_dir() {
        return Err(BuildError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
        });
    }
    let mut listing = Listing::default();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel_dir) = stack.pop() {
        let dir = if rel_dir.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel_dir)
        };
        let read = fs::read_dir(&dir).map_err(io(&dir))?;
        for entry in read {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name();
            let rel = rel_dir.join(&name);
            if exclude == Some(rel.as_path()) {
                continue;
            }
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_dir() {
                if skip_ignored && skipped_dir(&rel_dir, &name) {
                    continue;
                }
                let mode = entry
                    .metadata()
                    .map_err(io(&entry.path()))?
                    .permissions()
                    .mode();
                listing.entries.push(Entry {
                    rel: rel.clone(),
                    kind: Kind::Dir {
                        mode: mode & 0o7777,
                    },
                });
                stack.push(rel);
            } else if kind.is_symlink() {
                if skip_ignored && skipped_dir(&rel_dir, &name) {
                    continue;
                }
                let target = fs::read_link(entry.path()).map_err(io(&entry.path()))?;
                let rel_text = rel.to_string_lossy();
                if ferry_inspect::tree::link_escapes(&rel_text, &target.to_string_lossy()) {
                    listing.escaping_links.push(rel_text.into_owned());
                    continue;
                }
                listing.entries.push(Entry {
                    rel,
                    kind: Kind::Link { target },
                });
            } else if kind.is_file() {
                let mode = entry
                    .metadata()
                    .map_err(io(&entry.path()))?
                    .permissions()
                    .mode();
                listing.entries.push(Entry {
                    rel,
                    kind: Kind::File {
                        mode: mode & 0o7777,
                    },
                });
            }
            // Sockets, FIFOs and devices are never build input.
        }
    }
    listing.entries.sort_by(|a, b| {
        a.rel
            .as_os_str()
            .as_bytes()
            .cmp(b.rel.as_os_str().as_bytes())
    });
    listing.escaping_links.sort();
    Ok(listing)
}

/// Copies the listed entries from `src` into `dst` (created), keeping modes and links.
pub(crate) fn copy_listing(src: &Path, dst: &Path, listing: &Listing) -> Result<(), BuildError> {
    fs::create_dir_all(dst).map_err(io(dst))?;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in &listing.entries {
        let to = dst.join(&entry.rel);
        match &entry.kind {
            Kind::Dir { mode } => {
                fs::create_dir(&to).map_err(io(&to))?;
                dirs.push((to, *mode));
            }
            Kind::File { .. } => files.push(entry.rel.as_path()),
            Kind::Link { target } => {
                std::os::unix::fs::symlink(target, &to).map_err(io(&to))?;
            }
        }
    }
    let results = parallel(&files, |rel| {
        let from = src.join(rel);
        fs::copy(&from, dst.join(rel))
            .map_err(io(&from))
            .map(|_| ())
    });
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    // Folder modes last (deepest first), always keeping them writable by the owner so the
    // build can write and the temporary copy can be removed.
    for (dir, mode) in dirs.iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700)).map_err(io(dir))?;
    }
    Ok(())
}

/// Runs `f` over `items` on a few threads; results come back in input order.
pub(crate) fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
        .min(items.len().div_ceil(32))
        .max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(done) => {
                    for (i, r) in done {
                        if let Some(slot) = slots.get_mut(i) {
                            *slot = Some(r);
                        }
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    slots.into_iter().flatten().collect()
}

/// Normalises a plan path (relative to the source root): `None` for the root itself.
/// Absolute paths and `..` are refused.
pub(crate) fn relative(what: &str, path: &str) -> Result<Option<PathBuf>, BuildError> {
    let mut out = PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(BuildError::InvalidPlan {
                    detail: format!("{what} `{path}` leaves the source folder"),
                });
            }
        }
    }
    if path.contains('\0') {
        return Err(BuildError::InvalidPlan {
            detail: format!("{what} contains a NUL byte"),
        });
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative("output", ".").ok(), Some(None));
        assert_eq!(relative("output", "").ok(), Some(None));
        assert_eq!(
            relative("output", "./frontend/build/").ok(),
            Some(Some(PathBuf::from("frontend/build")))
        );
        assert!(relative("output", "../x").is_err());
        assert!(relative("output", "a/../../x").is_err());
        assert!(relative("output", "/etc").is_err());
    }

    #[test]
    fn parallel_keeps_order() {
        let items: Vec<usize> = (0..1000).collect();
        let out = parallel(&items, |i| i * 2);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }
}
