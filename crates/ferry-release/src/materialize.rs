//! A release as a folder on disk, for processes to run from (a server unit's built tree with
//! its `node_modules`): every file from its blob, links as links, the whole tree read-only.
//!
//! Regular files are hard links to their blobs (free: an unchanged `node_modules` costs
//! nothing twice) unless the process runs as root — root ignores the read-only bit, so an app
//! writing into its tree would corrupt a shared blob: then files are copied. Executables are
//! always copied (a blob is `0444`; the copy gets `0555`). The folder is built under a
//! temporary name and renamed into place, so a complete tree or none exists; a second call
//! for the same release reuses it.
//!
//! A few frameworks write caches into their own build output at run time: Next.js keeps its
//! image and fetch caches in `.next/cache`. Every `.next` folder of a release (outside
//! `node_modules`) therefore gets `cache` as a link to a writable folder beside the tree,
//! `<root>/<release id>.writable/<path of the .next folder>/cache` (folders `0700`), made with
//! the tree and removed with it ([`remove_materialized`]). Files the release holds under a
//! `.next/cache` are left out: the link takes their place.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::blob::BlobStore;
use crate::error::ReleaseError;
use crate::manifest::ReleaseManifest;

/// Marks a complete tree (written last).
const COMPLETE: &str = ".ferry-materialized";

/// Ends the name of the folder holding a tree's writable caches (`<release id>.writable`).
const WRITABLE: &str = ".writable";

/// The folder holding the writable caches of the tree of `release_id`.
fn writable_root(root: &Path, release_id: &str) -> PathBuf {
    root.join(format!("{release_id}{WRITABLE}"))
}

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
    let caches = next_dirs(release);
    if dest.join(COMPLETE).is_file() {
        writable_caches(root, &release.id, &caches)?;
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
        if in_next_cache(path) {
            continue;
        }
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
    writable_caches(root, &release.id, &caches)?;
    for dir in &caches {
        // A `.next` holding nothing but its cache has no folder yet.
        let next = tree.join(dir);
        fs::create_dir_all(&next).map_err(|e| ReleaseError::io(&next, e))?;
        let link = next.join("cache");
        std::os::unix::fs::symlink(cache_link(&release.id, dir), &link)
            .map_err(|e| ReleaseError::io(&link, e))?;
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

/// Removes a materialised release (made writable first, so the removal can proceed) and its
/// writable caches.
pub fn remove_materialized(root: &Path, release_id: &str) -> Result<(), ReleaseError> {
    for dir in [root.join(release_id), writable_root(root, release_id)] {
        if fs::symlink_metadata(&dir).is_err() {
            continue;
        }
        writable_dirs(&dir)?;
        fs::remove_dir_all(&dir).map_err(|e| ReleaseError::io(&dir, e))?;
    }
    Ok(())
}

/// The `.next` folders of a release outside `node_modules` (`.next`,
/// `.next/standalone/.next`…), from its file paths.
fn next_dirs(release: &ReleaseManifest) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for path in release.files.keys() {
        let parts: Vec<&str> = path.split('/').collect();
        // The last part is the file itself: a `.next` there is no folder.
        let folders = &parts[..parts.len() - 1];
        for (i, part) in folders.iter().enumerate() {
            if *part == "node_modules" {
                break;
            }
            if *part == ".next" {
                dirs.insert(parts[..=i].join("/"));
                // Nothing inside a cache counts: the cache is left out.
                if folders.get(i + 1) == Some(&"cache") {
                    break;
                }
            }
        }
    }
    dirs
}

/// Whether a release path lies in (or is) the `cache` of a `.next` folder outside
/// `node_modules`.
fn in_next_cache(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    for (i, pair) in parts.windows(2).enumerate() {
        if parts[..=i].contains(&"node_modules") {
            return false;
        }
        if pair == [".next", "cache"] {
            return true;
        }
    }
    false
}

/// Makes the writable `cache` folder of each `.next` folder in `dirs` (each folder made
/// `0700`): `<root>/<release id>.writable/<dir>/cache`.
fn writable_caches(
    root: &Path,
    release_id: &str,
    dirs: &BTreeSet<String>,
) -> Result<(), ReleaseError> {
    use std::os::unix::fs::DirBuilderExt;
    if dirs.is_empty() {
        return Ok(());
    }
    let base = writable_root(root, release_id);
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder
        .create(&base)
        .map_err(|e| ReleaseError::io(&base, e))?;
    for dir in dirs {
        let cache = base.join(dir).join("cache");
        builder
            .create(&cache)
            .map_err(|e| ReleaseError::io(&cache, e))?;
    }
    Ok(())
}

/// The link text that makes `<root>/<release id>/<dir>/cache` point at its writable folder:
/// `../` up to `<root>`, then `<release id>.writable/<dir>/cache`. Relative, so the trees can
/// move together.
fn cache_link(release_id: &str, dir: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for _ in 0..=dir.split('/').count() {
        out.push("..");
    }
    out.push(format!("{release_id}{WRITABLE}"));
    out.push(dir);
    out.push("cache");
    out
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
    use crate::manifest::{BuildInfo, Routes, SourceRef};
    use crate::scan::{scan_dir, store_files};

    /// A release of the folder `src`, its blobs stored in `blobs`.
    fn release_of(blobs: &BlobStore, src: &Path) -> ReleaseManifest {
        let scanned = scan_dir(src).expect("scan");
        store_files(blobs, &scanned).expect("store");
        ReleaseManifest::new(
            "next",
            1,
            SourceRef::default(),
            scanned.into_iter().map(|(k, (_, e))| (k, e)).collect(),
            Routes::default(),
            &[],
            BuildInfo {
                framework: Some("nextjs".into()),
                unit: "web".into(),
                duration_ms: 0,
            },
        )
    }

    #[test]
    fn next_caches_are_writable_links_out_of_the_read_only_tree() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().expect("home");
        let blobs = BlobStore::open(&home.path().join("blobs")).expect("blobs");
        let src = home.path().join("src");
        for (path, text) in [
            (".next/BUILD_ID", "b1"),
            (".next/cache/webpack/old.pack", "stale build cache"),
            (".next/standalone/server.js", "server"),
            (".next/standalone/.next/BUILD_ID", "b1"),
            ("node_modules/pkg/.next/cache/x", "a package's own files"),
            (".next/cache/nested/.next/y", "inside the left-out cache"),
            ("app/page.js", "page"),
        ] {
            let file = src.join(path);
            fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            fs::write(file, text).expect("write");
        }
        let m = release_of(&blobs, &src);
        let root = home.path().join("trees");
        let tree = materialize(&blobs, &m, &root).expect("materialize");
        let writable = root.join(format!("{}.writable", m.id));
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        for dir in [".next", ".next/standalone/.next"] {
            let link = tree.join(dir).join("cache");
            assert!(
                fs::symlink_metadata(&link)
                    .expect("link")
                    .file_type()
                    .is_symlink(),
                "{dir}/cache is a link"
            );
            assert!(
                fs::read_link(&link).expect("read").is_relative(),
                "{dir}/cache is a relative link"
            );
            assert_eq!(
                fs::canonicalize(&link).expect("resolves"),
                fs::canonicalize(writable.join(dir).join("cache")).expect("writable")
            );
            assert_eq!(mode(&link), 0o700, "{dir}/cache is the owner's only");
            // The process can write its cache; the tree around it stays read-only.
            fs::write(link.join("images-entry"), "cached").expect("the cache is writable");
            assert_eq!(mode(&tree.join(dir)) & 0o222, 0, "{dir} is read-only");
        }
        assert_eq!(mode(&writable), 0o700);
        assert!(
            !writable.join(".next/cache/webpack").exists(),
            "the release's own cache files are left out"
        );
        assert!(!writable.join(".next/cache/nested").exists());
        // A package's files under node_modules are its own: no link there.
        assert_eq!(
            fs::read_to_string(tree.join("node_modules/pkg/.next/cache/x")).expect("read"),
            "a package's own files"
        );
        assert!(!writable.join("node_modules").exists());

        // Reused as it is, the cache kept; the writable folder made again if it went missing.
        assert_eq!(materialize(&blobs, &m, &root).expect("again"), tree);
        assert!(tree.join(".next/cache/images-entry").is_file());
        fs::remove_dir_all(&writable).expect("remove");
        materialize(&blobs, &m, &root).expect("again");
        assert!(tree.join(".next/cache").is_dir(), "the link resolves again");

        // Removed with the tree.
        fs::write(tree.join(".next/cache/images-entry"), "cached").expect("write");
        remove_materialized(&root, &m.id).expect("remove");
        assert!(!tree.exists());
        assert!(!writable.exists());
    }

    #[test]
    fn next_folders_and_their_caches_are_found_by_path() {
        assert!(in_next_cache(".next/cache"));
        assert!(in_next_cache(".next/cache/images/a.webp"));
        assert!(in_next_cache("web/.next/standalone/.next/cache/x"));
        assert!(!in_next_cache(".next/server/cache.js"));
        assert!(!in_next_cache("node_modules/x/.next/cache/y"));
        assert!(!in_next_cache("cache/.next"));
        assert_eq!(
            cache_link("r1", ".next/standalone/.next"),
            PathBuf::from("../../../../r1.writable/.next/standalone/.next/cache")
        );
        assert_eq!(
            cache_link("r1", ".next"),
            PathBuf::from("../../r1.writable/.next/cache")
        );
    }

    #[test]
    fn links_are_relative_to_their_folder() {
        assert_eq!(
            relative_link("node_modules/.bin/vite", "node_modules/vite/bin/vite.js"),
            PathBuf::from("../../node_modules/vite/bin/vite.js")
        );
        assert_eq!(relative_link("a", "b/c"), PathBuf::from("b/c"));
    }
}
