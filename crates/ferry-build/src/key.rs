//! The output cache key: BLAKE3 over the plan, the source files and the build env.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ferry_inspect::BuildPlan;

use crate::error::{BuildError, io};
use crate::tree::{Kind, Listing, parallel};

/// Bumped whenever what goes into the key changes, so old entries are never reused.
const KEY_FORMAT: &[u8] = b"ferry-build output key v1\0";

/// Files up to this size are read in one go; larger ones are streamed.
const SMALL_FILE: u64 = 256 * 1024;

/// Hashes the listed files of `root` and combines them with the plan and env.
pub(crate) fn output_key(
    root: &Path,
    listing: &Listing,
    plan: &BuildPlan,
    env: &BTreeMap<String, String>,
    patches: &BTreeMap<String, String>,
) -> Result<String, BuildError> {
    let plan_json = serde_json::to_vec(plan).map_err(|e| BuildError::InvalidPlan {
        detail: format!("it cannot be serialised: {e}"),
    })?;
    let files: Vec<&Path> = listing
        .entries
        .iter()
        .filter(|e| matches!(e.kind, Kind::File { .. }))
        .map(|e| e.rel.as_path())
        .collect();
    let hashes = parallel(&files, |rel| hash_file(&root.join(rel)));
    let mut hashes = hashes.into_iter();

    let mut h = blake3::Hasher::new();
    h.update(KEY_FORMAT);
    field(&mut h, &plan_json);
    h.update(&(listing.entries.len() as u64).to_le_bytes());
    for entry in &listing.entries {
        match &entry.kind {
            Kind::Dir { .. } => {
                h.update(b"d");
                field(&mut h, entry.rel.as_os_str().as_bytes());
            }
            Kind::File { mode } => {
                let digest = hashes.next().ok_or_else(|| BuildError::Io {
                    path: root.join(&entry.rel),
                    source: std::io::Error::other("file list changed while hashing"),
                })??;
                h.update(if mode & 0o111 != 0 { b"x" } else { b"f" });
                field(&mut h, entry.rel.as_os_str().as_bytes());
                h.update(digest.as_bytes());
            }
            Kind::Link { target } => {
                h.update(b"l");
                field(&mut h, entry.rel.as_os_str().as_bytes());
                field(&mut h, target.as_os_str().as_bytes());
            }
        }
    }
    env_into(&mut h, env);
    // Absent patches add nothing, so keys of unpatched builds are unchanged.
    if !patches.is_empty() {
        h.update(b"patches");
        env_into(&mut h, patches);
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Adds the env to a key: names, and the BLAKE3 of each value, in name order.
pub(crate) fn env_into(h: &mut blake3::Hasher, env: &BTreeMap<String, String>) {
    h.update(&(env.len() as u64).to_le_bytes());
    for (name, value) in env {
        field(h, name.as_bytes());
        h.update(blake3::hash(value.as_bytes()).as_bytes());
    }
}

/// A length-prefixed field, so that concatenations are unambiguous.
pub(crate) fn field(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// BLAKE3 of one file's content.
pub(crate) fn hash_file(path: &Path) -> Result<blake3::Hash, BuildError> {
    let mut file = File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    if len <= SMALL_FILE {
        let mut buf = Vec::with_capacity(len as usize + 1);
        file.read_to_end(&mut buf).map_err(io(path))?;
        Ok(blake3::hash(&buf))
    } else {
        let mut h = blake3::Hasher::new();
        h.update_reader(&mut file).map_err(io(path))?;
        Ok(h.finalize())
    }
}
