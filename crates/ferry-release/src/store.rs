//! Release manifests on disk: `<root>/<id>.json`, written once, read-only.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ReleaseError, preview};
use crate::fsutil;
use crate::manifest::{ReleaseManifest, is_release_id};

/// Largest manifest file read, in bytes (a release of 100,000 files stays far below).
const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// Manifests at `<root>/<id>.json`, written atomically and read-only; never overwritten
/// (saving an existing id with identical content is Ok, with different content is an error
/// `release-conflict`).
#[derive(Debug, Clone)]
pub struct ReleaseStore {
    root: PathBuf,
}

/// A manifest file [`ReleaseStore::list_checked`] could not use.
#[derive(Debug)]
pub struct ReleaseProblem {
    /// The release id its name claims.
    pub id: String,
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub error: ReleaseError,
}

/// Every manifest on disk: the good ones and the unusable ones.
#[derive(Debug, Default)]
pub struct ReleaseListing {
    /// Valid manifests, newest `created_at` first (ties by id).
    pub releases: Vec<ReleaseManifest>,
    /// Files named like manifests that could not be read or validated.
    pub problems: Vec<ReleaseProblem>,
}

impl ReleaseStore {
    /// Opens the store at `root`, creating the folder if needed.
    pub fn open(root: &Path) -> Result<Self, ReleaseError> {
        fs::create_dir_all(root).map_err(|e| ReleaseError::io(root, e))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Validates `m` (schema and version, the id against the content, every path safe),
    /// then writes it once. Saving the identical manifest again is a no-op; saving different
    /// content under a recorded id is refused (`release-conflict`), including the same files
    /// with another `created_at`: check [`exists`](Self::exists) and reuse the recorded one.
    pub fn save(&self, m: &ReleaseManifest) -> Result<(), ReleaseError> {
        m.validate()?;
        let dest = self.file(&m.id);
        if dest.exists() {
            return self.same_as_recorded(m);
        }
        let mut json = serde_json::to_vec_pretty(m)
            .map_err(|e| ReleaseError::manifest(&m.id, format!("cannot be serialised: {e}")))?;
        json.push(b'\n');
        let mut temp = fsutil::temp_in(&self.root)?;
        temp.write_all(&json)
            .map_err(|e| ReleaseError::io(temp.path(), e))?;
        fsutil::seal(&temp)?;
        match temp.persist_noclobber(&dest) {
            Ok(_) => fsutil::sync_dir(&self.root),
            // Another writer won the race: fine if it wrote the same thing.
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => self.same_as_recorded(m),
            Err(e) => Err(ReleaseError::io(&dest, e.error)),
        }
    }

    /// Reads and validates the release `id`. The id's form (`r` + 12 hex) is checked before
    /// the disk is touched.
    pub fn load(&self, id: &str) -> Result<ReleaseManifest, ReleaseError> {
        check_id(id)?;
        let path = self.file(id);
        // A planted link must not make the store read outside its folder.
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(ReleaseError::manifest(id, "the file is a symbolic link"));
        }
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ReleaseError::NotFound {
                    what: format!("release `{id}`"),
                }
            } else {
                ReleaseError::io(&path, e)
            }
        })?;
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ReleaseError::io(&path, e))?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(ReleaseError::manifest(id, "the file is larger than 64 MiB"));
        }
        let m: ReleaseManifest = serde_json::from_slice(&bytes)
            .map_err(|e| ReleaseError::manifest(id, format!("not a release manifest: {e}")))?;
        if m.id != id {
            return Err(ReleaseError::manifest(
                id,
                format!("the file holds release `{}`", preview(&m.id)),
            ));
        }
        m.validate()?;
        Ok(m)
    }

    /// Whether the release `id` is recorded (false for anything that is not a release id).
    pub fn exists(&self, id: &str) -> bool {
        is_release_id(id) && self.file(id).is_file()
    }

    /// Every valid manifest, newest `created_at` first. Unusable files are skipped; see
    /// [`list_checked`](Self::list_checked) to learn which.
    pub fn list(&self) -> Result<Vec<ReleaseManifest>, ReleaseError> {
        Ok(self.list_checked()?.releases)
    }

    /// Every manifest, newest `created_at` first, and the files named like manifests that
    /// could not be loaded. Temporary files and other names are ignored.
    pub fn list_checked(&self) -> Result<ReleaseListing, ReleaseError> {
        let mut listing = ReleaseListing::default();
        let entries = fs::read_dir(&self.root).map_err(|e| ReleaseError::io(&self.root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ReleaseError::io(&self.root, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if !is_release_id(id) {
                continue;
            }
            match self.load(id) {
                Ok(m) => listing.releases.push(m),
                // Removed between the listing and the read: not a problem.
                Err(ReleaseError::NotFound { .. }) => {}
                Err(error) => listing.problems.push(ReleaseProblem {
                    id: id.to_owned(),
                    path: entry.path(),
                    error,
                }),
            }
        }
        listing.releases.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        listing.problems.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listing)
    }

    /// Removes the release's manifest (`not-found` when it is not recorded). Its blobs stay
    /// until [`gc`](crate::gc).
    pub fn remove(&self, id: &str) -> Result<(), ReleaseError> {
        check_id(id)?;
        let path = self.file(id);
        fsutil::remove_file(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ReleaseError::NotFound {
                    what: format!("release `{id}`"),
                }
            } else {
                ReleaseError::io(&path, e)
            }
        })
    }

    /// How long ago the manifest was saved; `None` when it is not recorded.
    pub(crate) fn age(&self, id: &str) -> Option<Duration> {
        if !is_release_id(id) {
            return None;
        }
        fs::symlink_metadata(self.file(id))
            .ok()
            .map(|m| fsutil::age(&m))
    }

    /// Removes temporary files a crash left behind, older than `grace`.
    pub(crate) fn sweep_temps(&self, grace: Duration) -> Result<u64, ReleaseError> {
        fsutil::sweep_temps(&self.root, grace)
    }

    fn file(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.json"))
    }

    fn same_as_recorded(&self, m: &ReleaseManifest) -> Result<(), ReleaseError> {
        if self.load(&m.id)? == *m {
            Ok(())
        } else {
            Err(ReleaseError::ReleaseConflict { id: m.id.clone() })
        }
    }
}

fn check_id(id: &str) -> Result<(), ReleaseError> {
    if is_release_id(id) {
        Ok(())
    } else {
        Err(ReleaseError::InvalidReleaseId { value: preview(id) })
    }
}
