//! Verification, retention and garbage collection.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use crate::blob::BlobStore;
use crate::error::ReleaseError;
use crate::hash::BlobHash;
use crate::manifest::ReleaseManifest;
use crate::store::ReleaseStore;

/// How many releases per app [`retention`] keeps by default.
pub const DEFAULT_KEEP_LAST: usize = 20;

/// What [`gc`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Manifests removed.
    pub releases_removed: usize,
    /// Blobs removed.
    pub blobs_removed: usize,
    /// Bytes freed: removed blobs plus stale temporary files.
    pub bytes_freed: u64,
}

/// Problems of a release on disk: missing blobs, blobs whose content no longer matches
/// (`ferry releases verify`). One line per affected path; empty when all is well. Every blob
/// is re-hashed once, however many paths share it. An inconsistent manifest is reported too.
pub fn verify_release(store: &BlobStore, m: &ReleaseManifest) -> Result<Vec<String>, ReleaseError> {
    let mut problems = Vec::new();
    if let Err(e) = m.validate() {
        problems.push(e.to_string());
    }
    let mut status: HashMap<&BlobHash, Status> = HashMap::new();
    for (path, entry) in &m.files {
        let s = match status.get(&entry.hash) {
            Some(s) => *s,
            None => {
                let s = match store.verify(&entry.hash) {
                    Ok(true) => Status::Good(store.size(&entry.hash).unwrap_or(0)),
                    Ok(false) => Status::Corrupt,
                    Err(ReleaseError::MissingBlob { .. }) => Status::Missing,
                    Err(e) => return Err(e),
                };
                status.insert(&entry.hash, s);
                s
            }
        };
        match s {
            Status::Good(size) if size != entry.size => problems.push(format!(
                "`{path}`: the manifest says {} bytes, blob {} holds {size}",
                entry.size, entry.hash
            )),
            Status::Good(_) => {}
            Status::Missing => problems.push(format!("`{path}`: blob {} is missing", entry.hash)),
            Status::Corrupt => problems.push(format!(
                "`{path}`: blob {} is corrupt (its content no longer matches its hash)",
                entry.hash
            )),
        }
    }
    Ok(problems)
}

#[derive(Debug, Clone, Copy)]
enum Status {
    Good(u64),
    Missing,
    Corrupt,
}

/// Garbage collection: keeps the manifests in `keep` (ids), removes every other manifest,
/// then every blob not referenced by a kept manifest and older than `grace`.
///
/// Race safety with a deploy in progress:
/// - a blob uploaded for a release still being assembled is younger than `grace`, and so is
///   one [`BlobStore::missing`] or a put reported present (they refresh its time);
/// - a manifest saved less than `grace` ago is kept too, with its blobs, even when `keep`
///   (computed before it was saved) does not name it.
///
/// Refuses to run (`invalid-manifest`, nothing removed) when a kept release's manifest is
/// unreadable, since the blobs it needs cannot be known. Unreadable manifests not kept are
/// removed. Temporary files older than `grace` (left by a crash) are removed too.
pub fn gc(
    store: &BlobStore,
    releases: &ReleaseStore,
    keep: &BTreeSet<String>,
    grace: Duration,
) -> Result<GcStats, ReleaseError> {
    let listing = releases.list_checked()?;
    if let Some(p) = listing.problems.iter().find(|p| keep.contains(&p.id)) {
        return Err(ReleaseError::manifest(
            &p.id,
            format!(
                "a kept release is unreadable, so garbage collection stops: {}",
                p.error
            ),
        ));
    }

    let mut stats = GcStats::default();
    let mut referenced: HashSet<BlobHash> = HashSet::new();
    for m in &listing.releases {
        let young = releases.age(&m.id).is_some_and(|age| age < grace);
        if keep.contains(&m.id) || young {
            referenced.extend(m.files.values().map(|f| f.hash.clone()));
        } else {
            match releases.remove(&m.id) {
                Ok(()) => stats.releases_removed += 1,
                Err(ReleaseError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    for p in &listing.problems {
        match releases.remove(&p.id) {
            Ok(()) => stats.releases_removed += 1,
            Err(ReleaseError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    stats.bytes_freed += releases.sweep_temps(grace)?;

    for hash in store.list()? {
        if referenced.contains(&hash) {
            continue;
        }
        // Unknown age (vanished meanwhile) counts as young: never remove on doubt.
        if store.age(&hash).is_none_or(|age| age < grace) {
            continue;
        }
        match store.remove(&hash) {
            Ok(bytes) => {
                stats.blobs_removed += 1;
                stats.bytes_freed += bytes;
            }
            Err(ReleaseError::MissingBlob { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    stats.bytes_freed += store.sweep_temps(grace)?;
    Ok(stats)
}

/// Which releases to keep: for each app, the newest `keep_last` (by `created_at`, ties by
/// id; [`DEFAULT_KEEP_LAST`] is the usual value) plus every id in `pinned` (live releases,
/// previous-for-skew). Pure function over manifests.
pub fn retention(
    all: &[ReleaseManifest],
    keep_last: usize,
    pinned: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut by_app: BTreeMap<&str, Vec<&ReleaseManifest>> = BTreeMap::new();
    for m in all {
        by_app.entry(&m.app).or_default().push(m);
    }
    let mut keep = pinned.clone();
    for releases in by_app.values_mut() {
        releases.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        keep.extend(releases.iter().take(keep_last).map(|m| m.id.clone()));
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::sample;

    #[test]
    fn retention_keeps_newest_per_app_and_pinned() {
        let mut all = Vec::new();
        for i in 0..5u64 {
            let mut m = sample("a", 100 + i);
            m.id = format!("ra{i:011}");
            all.push(m);
            let mut m = sample("b", 200 + i);
            m.id = format!("rb{i:011}");
            all.push(m);
        }
        let pinned: BTreeSet<String> = ["ra00000000000".to_string()].into();
        let keep = retention(&all, 2, &pinned);
        let expected: BTreeSet<String> = [
            "ra00000000004",
            "ra00000000003",
            "rb00000000004",
            "rb00000000003",
            "ra00000000000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(keep, expected);
        assert_eq!(retention(&all, 0, &BTreeSet::new()), BTreeSet::new());
        assert_eq!(retention(&all, 100, &BTreeSet::new()).len(), 10);
    }
}
