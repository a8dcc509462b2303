//! Safe extraction of an untrusted `.zip` export into a fresh folder.
//!
//! Two passes: the first checks every entry's metadata (names, encryption, declared sizes,
//! ratios) before anything is written; the second streams the contents with the same caps
//! enforced on the bytes actually produced, because headers can lie. Symbolic links are
//! created last, once every real folder exists, and never through another link.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use zip::ZipArchive;

use crate::error::SourceError;
use crate::limits::Limits;

/// Most bytes a symbolic link's target may have.
const MAX_LINK_TARGET: u64 = 4096;

/// What extraction produced besides the files.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Files skipped for being over the per-file cap.
    pub warnings: Vec<String>,
    /// Number of files written.
    pub files: usize,
}

enum Plan {
    Dir(String),
    File {
        index: usize,
        name: String,
        compressed: u64,
        mode: u32,
    },
    Link {
        index: usize,
        name: String,
    },
    Skip,
}

/// Extracts `archive` into the existing, empty folder `dest`.
pub fn extract(
    archive: &Path,
    dest: &Path,
    limits: &Limits,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Extracted, SourceError> {
    let invalid = |detail: String| SourceError::ZipInvalid {
        archive: archive.to_path_buf(),
        detail,
    };
    let file = File::open(archive).map_err(|source| SourceError::Io {
        path: archive.to_path_buf(),
        source,
    })?;
    let mut zip = ZipArchive::new(file).map_err(|e| invalid(e.to_string()))?;
    if zip.len() > limits.max_entries {
        return Err(SourceError::TooLarge {
            detail: format!("{} entries (at most {})", zip.len(), limits.max_entries),
        });
    }

    // Pass 1: metadata only.
    let mut out = Extracted::default();
    let mut plans = Vec::with_capacity(zip.len());
    let mut declared_total: u64 = 0;
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|e| invalid(e.to_string()))?;
        let name = entry_name(entry.name_raw())?;
        if entry.encrypted() {
            return Err(SourceError::Encrypted { entry: name });
        }
        let size = entry.size();
        let compressed = entry.compressed_size();
        let mode = entry.unix_mode().unwrap_or(0);
        let is_link = mode & 0o170000 == 0o120000;
        if entry.is_dir() {
            plans.push(Plan::Dir(name));
            continue;
        }
        check_ratio(&name, size, compressed, limits)?;
        if is_link {
            if size > MAX_LINK_TARGET {
                return Err(invalid(format!("link `{name}` has a {size}-byte target")));
            }
            plans.push(Plan::Link { index, name });
            continue;
        }
        if size > limits.max_file_bytes {
            out.warnings.push(format!(
                "skipped `{name}`: {size} bytes is over the {} byte limit for one file",
                limits.max_file_bytes
            ));
            plans.push(Plan::Skip);
            continue;
        }
        declared_total = declared_total.saturating_add(size);
        if declared_total > limits.max_total_bytes {
            return Err(SourceError::TooLarge {
                detail: format!("more than {} bytes uncompressed", limits.max_total_bytes),
            });
        }
        plans.push(Plan::File {
            index,
            name,
            compressed,
            mode,
        });
    }

    // Pass 2: folders and files.
    let total = plans.len();
    let mut written: u64 = 0;
    let mut links = Vec::new();
    for (done, plan) in plans.into_iter().enumerate() {
        progress(done, total);
        match plan {
            Plan::Skip => {}
            Plan::Dir(name) => create_dirs(dest, &name)?,
            Plan::Link { index, name } => links.push((index, name)),
            Plan::File {
                index,
                name,
                compressed,
                mode,
            } => {
                let path = dest.join(&name);
                if let Some(parent) = Path::new(&name).parent() {
                    create_dirs(dest, &parent.to_string_lossy())?;
                }
                let mut entry = zip
                    .by_index(index)
                    .map_err(|e| invalid(format!("`{name}`: {e}")))?;
                let budget = limits
                    .max_file_bytes
                    .min(limits.max_total_bytes.saturating_sub(written));
                let mut target = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|source| match source.kind() {
                        io::ErrorKind::AlreadyExists => invalid(format!("`{name}` appears twice")),
                        _ => SourceError::Io {
                            path: path.clone(),
                            source,
                        },
                    })?;
                let n = copy_capped(&mut entry, &mut target, budget, &name, compressed, limits)
                    .map_err(|e| match e {
                        CopyError::Source(err) => err,
                        CopyError::Read(err) => invalid(format!("`{name}`: {err}")),
                        CopyError::Write(source) => SourceError::Io {
                            path: path.clone(),
                            source,
                        },
                    })?;
                written += n;
                set_mode(&path, mode);
                out.files += 1;
            }
        }
    }

    // Pass 3: links, after every real folder exists.
    for (index, name) in links {
        let mut entry = zip
            .by_index(index)
            .map_err(|e| invalid(format!("`{name}`: {e}")))?;
        let mut target = String::new();
        (&mut entry)
            .take(MAX_LINK_TARGET)
            .read_to_string(&mut target)
            .map_err(|e| invalid(format!("link `{name}`: {e}")))?;
        if ferry_inspect::tree::link_escapes(&name, &target) || target.contains('\\') {
            return Err(SourceError::SymlinkEscape {
                entry: name,
                target,
            });
        }
        let path = dest.join(&name);
        if let Some(parent) = Path::new(&name).parent() {
            create_dirs(dest, &parent.to_string_lossy())?;
        }
        if fs::symlink_metadata(&path).is_ok() {
            return Err(invalid(format!(
                "`{name}` appears twice (a link and a file or folder)"
            )));
        }
        make_link(&target, &path).map_err(|source| SourceError::Io { path, source })?;
    }
    progress(total, total);
    Ok(out)
}

/// Validates an entry name: UTF-8, relative, no `..`, no drive letters or NULs.
fn entry_name(raw: &[u8]) -> Result<String, SourceError> {
    let name = std::str::from_utf8(raw).map_err(|_| SourceError::NonUtf8Name {
        entry: String::from_utf8_lossy(raw).into_owned(),
    })?;
    let unsafe_path = || SourceError::UnsafePath {
        entry: name.to_string(),
    };
    let normalized = name.replace('\\', "/");
    if normalized.starts_with('/') || normalized.contains('\0') || normalized.contains(':') {
        return Err(unsafe_path());
    }
    let parts: Vec<&str> = normalized
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return Err(unsafe_path());
    }
    Ok(parts.join("/"))
}

fn check_ratio(name: &str, size: u64, compressed: u64, limits: &Limits) -> Result<(), SourceError> {
    if size <= limits.ratio_floor_bytes {
        return Ok(());
    }
    let ratio = size / compressed.max(1);
    if ratio > limits.max_ratio {
        return Err(SourceError::ZipBomb {
            entry: name.into(),
            size,
            ratio,
        });
    }
    Ok(())
}

/// Creates `rel` under `dest`, refusing to pass through anything that is not a real folder.
fn create_dirs(dest: &Path, rel: &str) -> Result<(), SourceError> {
    let mut path = dest.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(SourceError::UnsafePath {
                    entry: rel.to_string(),
                });
            }
            Err(_) => fs::create_dir(&path).map_err(|source| SourceError::Io {
                path: path.clone(),
                source,
            })?,
        }
    }
    Ok(())
}

enum CopyError {
    Source(SourceError),
    Read(io::Error),
    Write(io::Error),
}

fn copy_capped(
    from: &mut impl Read,
    to: &mut impl Write,
    budget: u64,
    name: &str,
    compressed: u64,
    limits: &Limits,
) -> Result<u64, CopyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n: u64 = 0;
    loop {
        let read = from.read(&mut buf).map_err(CopyError::Read)?;
        if read == 0 {
            return Ok(n);
        }
        n += read as u64;
        check_ratio(name, n, compressed, limits).map_err(CopyError::Source)?;
        if n > budget {
            return Err(CopyError::Source(SourceError::TooLarge {
                detail: format!("`{name}` expands beyond what its header declares"),
            }));
        }
        to.write_all(&buf[..read]).map_err(CopyError::Write)?;
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(perm));
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) {}

#[cfg(unix)]
fn make_link(target: &str, path: &PathBuf) -> io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

#[cfg(not(unix))]
fn make_link(_: &str, _: &PathBuf) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::entry_name;

    #[test]
    fn entry_names_are_checked() {
        assert_eq!(entry_name(b"a/./b.txt").expect("ok"), "a/b.txt");
        assert_eq!(entry_name(b"a\\b.txt").expect("ok"), "a/b.txt");
        for bad in [
            &b"../x"[..],
            b"/etc/x",
            b"a/../../x",
            b"C:/x",
            b"..",
            b"a\\..\\..\\x",
        ] {
            assert_eq!(
                entry_name(bad).expect_err("unsafe").code(),
                "zip-unsafe-path"
            );
        }
        assert_eq!(
            entry_name(b"caf\xe9.txt").expect_err("latin-1").code(),
            "non-utf8-name"
        );
    }
}
