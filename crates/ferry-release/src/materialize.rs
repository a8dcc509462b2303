//! A release as a folder on disk, for processes to run from (a server unit's built tree with
//! its `node_modules`): every file from its blob, links as links, the whole tree read-only.
//!
//! Regular files are hard links to their blobs (free: an unchanged `node_modules` costs
//! nothing twice) unless the process runs as root — root ignores the read-only bit, so an app
//! writing into its tree would corrupt a shared blob: then files are copied. Executables are
//! always copied (a blob is `0444`; the copy gets `0555`). The folder is built under a
//! temporary name and renamed into place, so a complete tree or none exists; a second call
//! for the same release reuses it.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::blob::BlobStore;
use crate::error::ReleaseError;
use crate::manifest::ReleaseManifest;

/// Marks a complete tree (written last).
const COMPLETE: &str = ".ferry-materialized";

/// Whether files may be hard-linked to their blobs: false for root (see the module doc),
/// told by the owner of a folder this process just made.
fn may_link(fresh: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(fresh).is_ok_and(|m| m.uid() != 0)
}

/// The folder holding `release` under `root` (`<root>/<release id>`), materialised from
/// `blobs` when it is not there yet. Returns the folder.
pub fn materialize(
    blobs: &BlobStore,
    release: &ReleaseManifest,
    root: &Path,
) -> Result<PathBuf, ReleaseError> {
    let dest = root.join(&release.id);
    if dest.join(COMPLETE).is_file() {
        return Ok(dest);
    }
    fs::create_dir_all(root).map_err(|e| ReleaseError::io(root, e))?;
    let temp = tempfile::Builder::new()
        .prefix(".tmp-materialize-")
        .tempdir_in(root)
        .map_err(|e| ReleaseError::io(root, e))?;
    let tree = temp.path().join("tree");
    fs::create_dir(&tree).map_err(|e| ReleaseError::io(&tree, e))?;
    let link = may_link(temp.path());
    for (path, entry) in &release.files {
        let target = tree.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| ReleaseError::io(parent, e))?;
        }
        if let Some(to) = &entry.link {
            let relative = relative_link(path, to);
            std::os::unix::fs::symlink(&relative, &target)
                .map_err(|e| ReleaseError::io(&target, e))?;
            continue;
        }
        let blob = blobs.path(&entry.hash);
        let executable = entry.mode & 0o111 != 0;
        if link && !executable && fs::hard_link(&blob, &target).is_ok() {
            continue;
        }
        fs::copy(&blob, &target).map_err(|e| ReleaseError::io(&blob, e))?;
        let mode = if executable { 0o555 } else { 0o444 };
        set_mode(&target, mode)?;
    }
    fs::write(tree.join(COMPLETE), &release.id).map_err(|e| ReleaseError::io(&tree, e))?;
    read_only_dirs(&tree)?;
    // The tree keeps its name only once complete; a concurrent call may have won.
    match fs::rename(&tree, &dest) {
        Ok(()) => Ok(dest),
        Err(_) if dest.join(COMPLETE).is_file() => Ok(dest),
        Err(e) => Err(ReleaseError::io(&dest, e)),
    }
}

/// Removes a materialised release (made writable first, so the removal can proceed).
pub fn remove_materialized(root: &Path, release_id: &str) -> Result<(), ReleaseError> {
    let dir = root.join(release_id);
    if !dir.exists() {
        return Ok(());
    }
    writable_dirs(&dir)?;
    fs::remove_dir_all(&dir).map_err(|e| ReleaseError::io(&dir, e))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ReleaseError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| ReleaseError::io(path, e))
}

/// Every folder of `dir` (deepest first, then `dir`) made `0555`.
fn read_only_dirs(dir: &Path) -> Result<(), ReleaseError> {
    for entry in fs::read_dir(dir).map_err(|e| ReleaseError::io(dir, e))? {
        let entry = entry.map_err(|e| ReleaseError::io(dir, e))?;
        let kind = entry.file_type().map_err(|e| ReleaseError::io(dir, e))?;
        if kind.is_dir() {
            read_only_dirs(&entry.path())?;
        }
    }
    set_mode(dir, 0o555)
}

fn writable_dirs(dir: &Path) -> Result<(), ReleaseError> {
    set_mode(dir, 0o755)?;
    for entry in fs::read_dir(dir).map_err(|e| ReleaseError::io(dir, e))? {
        let entry = entry.map_err(|e| ReleaseError::io(dir, e))?;
        if entry
            .file_type()
            .map_err(|e| ReleaseError::io(dir, e))?
            .is_dir()
        {
            writable_dirs(&entry.path())?;
        }
    }
    Ok(())
}

/// The symlink text that makes `from` (a release path) point at `to` (a release path):
/// `../` for each folder of `from`, then `to`.
fn relative_link(from: &str, to: &str) -> PathBuf {
    let depth = Path::new(from).parent().map_or(0, |p| {
        p.components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count()
    });
    let mut out = PathBuf::new();
    for _ in 0..depth {
        out.push("..");
    }
    out.push(to);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_their_folder() {
        assert_eq!(
            relative_link("node_modules/.bin/vite", "node_modules/vite/bin/vite.js"),
            PathBuf::from("../../node_modules/vite/bin/vite.js")
        );
        assert_eq!(relative_link("a", "b/c"), PathBuf::from("b/c"));
    }
}
