//! Small file-system helpers: atomic writes, read-only files, ages, stale temporary files.

use std::fs::{self, File, Metadata};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tempfile::NamedTempFile;

use crate::error::ReleaseError;

/// Name prefix of temporary files; listings skip them, GC sweeps stale ones.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// A fresh temporary file in `dir` (the same file system as its final name).
pub(crate) fn temp_in(dir: &Path) -> Result<NamedTempFile, ReleaseError> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| ReleaseError::io(dir, e))
}

/// Flushes `temp` to disk and makes it read-only (0444), ready to be renamed into place.
pub(crate) fn seal(temp: &NamedTempFile) -> Result<(), ReleaseError> {
    let file = temp.as_file();
    let err = |e| ReleaseError::io(temp.path(), e);
    file.sync_all().map_err(err)?;
    #[cfg(unix)]
    let perms = {
        use std::os::unix::fs::PermissionsExt;
        fs::Permissions::from_mode(0o444)
    };
    #[cfg(not(unix))]
    let perms = {
        let mut p = file.metadata().map_err(err)?.permissions();
        p.set_readonly(true);
        p
    };
    file.set_permissions(perms).map_err(err)
}

/// Makes a rename or a new entry in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ReleaseError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| ReleaseError::io(dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Creates `dir` if needed (one level; its parent exists).
pub(crate) fn ensure_dir(dir: &Path) -> Result<bool, ReleaseError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(ReleaseError::io(dir, e)),
    }
}

/// How long ago `meta` was last modified; zero when unknown or in the future.
pub(crate) fn age(meta: &Metadata) -> Duration {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or(Duration::ZERO)
}

/// Marks the file at `path` as just used (its modification time becomes now). Best effort:
/// returns whether the file exists.
pub(crate) fn touch(path: &Path) -> bool {
    match File::open(path) {
        Ok(f) => {
            // Failing to refresh the time only shortens the file's grace period.
            let _ = f.set_modified(SystemTime::now());
            true
        }
        Err(_) => false,
    }
}

/// Removes `path`, clearing a read-only flag first where the platform needs it.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    #[cfg(not(unix))]
    if let Ok(meta) = fs::metadata(path) {
        let mut p = meta.permissions();
        p.set_readonly(false);
        let _ = fs::set_permissions(path, p);
    }
    fs::remove_file(path)
}

/// Removes temporary files in `dir` older than `grace` (left by a crash); returns bytes freed.
pub(crate) fn sweep_temps(dir: &Path, grace: Duration) -> Result<u64, ReleaseError> {
    let mut freed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(ReleaseError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| ReleaseError::io(dir, e))?;
        let is_temp = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMP_PREFIX));
        if !is_temp {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() && age(&meta) >= grace && remove_file(&entry.path()).is_ok() {
            freed += meta.len();
        }
    }
    Ok(freed)
}
