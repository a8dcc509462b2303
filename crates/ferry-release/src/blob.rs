//! The content-addressed blob store: one read-only file per distinct content.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::NamedTempFile;

use crate::error::ReleaseError;
use crate::fsutil;
use crate::hash::{BUF_SIZE, BlobHash, hash_reader, stream};

/// One blob per distinct file content, at `<root>/<2 hex>/<62 hex>`, read-only (0444).
///
/// Blobs are written to a temporary file in `<root>` (same file system), flushed, made
/// read-only and renamed into place, so a blob's name always describes complete content.
/// Putting content that is present already writes nothing but refreshes the blob's
/// modification time, which [`gc`](crate::gc) reads as "recently used".
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// The outcome of storing one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// The content's hash: the blob's name.
    pub hash: BlobHash,
    /// The content's size in bytes.
    pub size: u64,
    /// Whether this call wrote the blob (false: it was stored already).
    pub new: bool,
}

impl BlobStore {
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

    /// Where the blob named `hash` lives (whether or not it is stored).
    pub fn path(&self, hash: &BlobHash) -> PathBuf {
        let (shard, rest) = hash.as_str().split_at(2);
        self.root.join(shard).join(rest)
    }

    /// Whether the blob is stored.
    pub fn has(&self, hash: &BlobHash) -> bool {
        fs::symlink_metadata(self.path(hash)).is_ok_and(|m| m.is_file())
    }

    /// The hashes among `hashes` that are not stored, without duplicates, in input order.
    ///
    /// Blobs found present have their modification time refreshed: the caller is about to
    /// reference them in a release, so garbage collection must give them a new grace period.
    pub fn missing(&self, hashes: &[BlobHash]) -> Vec<BlobHash> {
        let mut seen = std::collections::HashSet::with_capacity(hashes.len());
        hashes
            .iter()
            .filter(|h| seen.insert(*h))
            .filter(|h| !self.touch(h))
            .cloned()
            .collect()
    }

    /// Stores the file at `path`, hashing it while it is copied (one read).
    ///
    /// When the content is stored already, nothing is written and `new` is false.
    pub fn put_file(&self, path: &Path) -> Result<Put, ReleaseError> {
        self.put_file_inner(path, true)
    }

    /// [`put_file`](Self::put_file) without flushing the shard folder: the caller flushes
    /// every shard it touched with [`sync_shards`](Self::sync_shards) before relying on them.
    pub(crate) fn put_file_deferred(&self, path: &Path) -> Result<Put, ReleaseError> {
        self.put_file_inner(path, false)
    }

    /// Flushes the given shard folders (2 hex characters) and the root.
    pub(crate) fn sync_shards(
        &self,
        shards: &std::collections::BTreeSet<String>,
    ) -> Result<(), ReleaseError> {
        for shard in shards {
            fsutil::sync_dir(&self.root.join(shard))?;
        }
        if !shards.is_empty() {
            fsutil::sync_dir(&self.root)?;
        }
        Ok(())
    }

    fn put_file_inner(&self, path: &Path, sync_dirs: bool) -> Result<Put, ReleaseError> {
        let mut src = File::open(path).map_err(|e| ReleaseError::io(path, e))?;
        let mut buf = vec![0; BUF_SIZE];
        let first = fill(&mut src, &mut buf).map_err(|e| ReleaseError::io(path, e))?;
        if first < buf.len() {
            // The whole file fits the buffer: decide before writing anything.
            return self.put_bytes_inner(&buf[..first], None, sync_dirs);
        }
        let mut temp = fsutil::temp_in(&self.root)?;
        let temp_path = temp.path().to_path_buf();
        let mut hasher = blake3::Hasher::new();
        hasher.update(&buf);
        temp.write_all(&buf)
            .map_err(|e| ReleaseError::io(&temp_path, e))?;
        let mut copy_err = None;
        let rest = stream(&mut src, &mut buf, &mut hasher, |chunk| {
            temp.write_all(chunk).inspect_err(|_| copy_err = Some(()))
        })
        .map_err(|e| {
            let at = if copy_err.is_some() { &temp_path } else { path };
            ReleaseError::io(at, e)
        })?;
        let hash = BlobHash::from_blake3(&hasher.finalize());
        let size = first as u64 + rest;
        if let Some(put) = self.present(&hash, size) {
            return Ok(put); // `temp` is removed when dropped.
        }
        self.finish(temp, hash, size, sync_dirs)
    }

    /// Stores `bytes`. With `expected`, refuses (`hash-mismatch`) content that hashes to
    /// anything else, and writes nothing.
    pub fn put_bytes(
        &self,
        bytes: &[u8],
        expected: Option<&BlobHash>,
    ) -> Result<Put, ReleaseError> {
        self.put_bytes_inner(bytes, expected, true)
    }

    fn put_bytes_inner(
        &self,
        bytes: &[u8],
        expected: Option<&BlobHash>,
        sync_dirs: bool,
    ) -> Result<Put, ReleaseError> {
        let hash = BlobHash::of_bytes(bytes);
        if let Some(expected) = expected
            && *expected != hash
        {
            return Err(ReleaseError::HashMismatch {
                expected: expected.to_string(),
                actual: hash.to_string(),
            });
        }
        let size = bytes.len() as u64;
        if let Some(put) = self.present(&hash, size) {
            return Ok(put);
        }
        let mut temp = fsutil::temp_in(&self.root)?;
        temp.write_all(bytes)
            .map_err(|e| ReleaseError::io(temp.path(), e))?;
        self.finish(temp, hash, size, sync_dirs)
    }

    /// The blob's content, checked against its name (`corrupt-blob` when it differs).
    pub fn read(&self, hash: &BlobHash) -> Result<Vec<u8>, ReleaseError> {
        let path = self.path(hash);
        let bytes = fs::read(&path).map_err(|e| self.not_found_or_io(hash, &path, e))?;
        if BlobHash::of_bytes(&bytes) != *hash {
            return Err(ReleaseError::CorruptBlob {
                hash: hash.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Whether the blob's content still hashes to its name; an error when it is missing.
    pub fn verify(&self, hash: &BlobHash) -> Result<bool, ReleaseError> {
        let path = self.path(hash);
        let mut file = File::open(&path).map_err(|e| self.not_found_or_io(hash, &path, e))?;
        let mut buf = vec![0; BUF_SIZE];
        let (actual, _) =
            hash_reader(&mut file, &mut buf).map_err(|e| ReleaseError::io(&path, e))?;
        Ok(actual == *hash)
    }

    /// The blob's size in bytes, if it is stored.
    pub fn size(&self, hash: &BlobHash) -> Option<u64> {
        fs::symlink_metadata(self.path(hash))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// Every stored blob, sorted. Temporary files and anything not named like a blob are
    /// ignored.
    pub fn list(&self) -> Result<Vec<BlobHash>, ReleaseError> {
        let mut out = Vec::new();
        for shard in read_dir(&self.root)? {
            let shard = shard.map_err(|e| ReleaseError::io(&self.root, e))?;
            let Some(prefix) = shard.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let is_shard = prefix.len() == 2
                && prefix
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                && shard.file_type().is_ok_and(|t| t.is_dir());
            if !is_shard {
                continue;
            }
            let shard_path = shard.path();
            for blob in read_dir(&shard_path)? {
                let blob = blob.map_err(|e| ReleaseError::io(&shard_path, e))?;
                let Some(name) = blob.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if name.len() != 62 || !blob.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                if let Ok(hash) = BlobHash::parse(&format!("{prefix}{name}")) {
                    out.push(hash);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes the blob; returns the bytes freed (`missing-blob` when it is not stored).
    pub fn remove(&self, hash: &BlobHash) -> Result<u64, ReleaseError> {
        let path = self.path(hash);
        let meta = fs::symlink_metadata(&path).map_err(|e| self.not_found_or_io(hash, &path, e))?;
        fsutil::remove_file(&path).map_err(|e| self.not_found_or_io(hash, &path, e))?;
        Ok(meta.len())
    }

    /// How long ago the blob was written or last reported present; `None` when missing.
    pub(crate) fn age(&self, hash: &BlobHash) -> Option<Duration> {
        fs::symlink_metadata(self.path(hash))
            .ok()
            .map(|m| fsutil::age(&m))
    }

    /// Removes temporary files a crash left behind, older than `grace`; returns bytes freed.
    pub(crate) fn sweep_temps(&self, grace: Duration) -> Result<u64, ReleaseError> {
        fsutil::sweep_temps(&self.root, grace)
    }

    /// Whether the blob is stored, refreshing its modification time if so.
    pub(crate) fn touch(&self, hash: &BlobHash) -> bool {
        fsutil::touch(&self.path(hash))
    }

    /// The `Put` for content stored already with the right size (the time refreshed), if any.
    /// A stored blob of another size is damaged and gets replaced.
    fn present(&self, hash: &BlobHash, size: u64) -> Option<Put> {
        (self.size(hash) == Some(size) && self.touch(hash)).then(|| Put {
            hash: hash.clone(),
            size,
            new: false,
        })
    }

    /// Moves a fully written temporary file into place as the blob `hash` (the caller checked
    /// that it is not stored yet).
    /// With `sync_dirs`, the shard folder (and the root, for a new shard) is flushed too.
    fn finish(
        &self,
        temp: NamedTempFile,
        hash: BlobHash,
        size: u64,
        sync_dirs: bool,
    ) -> Result<Put, ReleaseError> {
        fsutil::seal(&temp)?;
        let dest = self.path(&hash);
        let shard = dest.parent().unwrap_or(&self.root).to_path_buf();
        // The shard folder usually exists: try the rename first, create the folder on demand.
        let mut created = false;
        let temp = match temp.persist(&dest) {
            Ok(_) => None,
            Err(e) if e.error.kind() == io::ErrorKind::NotFound => Some(e.file),
            Err(e) => return Err(ReleaseError::io(&dest, e.error)),
        };
        if let Some(temp) = temp {
            created = fsutil::ensure_dir(&shard)?;
            temp.persist(&dest)
                .map_err(|e| ReleaseError::io(&dest, e.error))?;
        }
        if sync_dirs {
            fsutil::sync_dir(&shard)?;
            if created {
                fsutil::sync_dir(&self.root)?;
            }
        }
        Ok(Put {
            hash,
            size,
            new: true,
        })
    }

    fn not_found_or_io(&self, hash: &BlobHash, path: &Path, e: io::Error) -> ReleaseError {
        if e.kind() == io::ErrorKind::NotFound {
            ReleaseError::MissingBlob {
                hash: hash.to_string(),
            }
        } else {
            ReleaseError::io(path, e)
        }
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_dir(dir: &Path) -> Result<fs::ReadDir, ReleaseError> {
    fs::read_dir(dir).map_err(|e| ReleaseError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(&dir.path().join("blobs")).expect("open");
        (dir, store)
    }

    #[test]
    fn layout_is_two_hex_then_sixty_two() {
        let (_dir, store) = store();
        let put = store.put_bytes(b"hello", None).expect("put");
        let p = store.path(&put.hash);
        let name = p.file_name().and_then(|n| n.to_str()).expect("name");
        let shard = p
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
            .expect("shard");
        assert_eq!(shard.len(), 2);
        assert_eq!(name.len(), 62);
        assert_eq!(format!("{shard}{name}"), put.hash.as_str());
        assert!(p.is_file());
    }

    #[test]
    fn fill_reads_short_inputs_whole() {
        let mut buf = [0u8; 8];
        let mut input: &[u8] = b"abc";
        assert_eq!(fill(&mut input, &mut buf).expect("fill"), 3);
        let mut input: &[u8] = b"0123456789";
        assert_eq!(fill(&mut input, &mut buf).expect("fill"), 8);
    }

    #[test]
    fn a_damaged_blob_of_the_wrong_size_is_replaced_on_put() {
        let (_dir, store) = store();
        let put = store.put_bytes(b"full content", None).expect("put");
        let path = store.path(&put.hash);
        make_writable(&path);
        fs::write(&path, b"trunc").expect("damage");
        let again = store.put_bytes(b"full content", None).expect("put again");
        assert!(again.new);
        assert_eq!(store.read(&put.hash).expect("read"), b"full content");
    }

    pub(crate) fn make_writable(path: &Path) {
        let mut perms = fs::metadata(path).expect("meta").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(path, perms).expect("chmod");
    }
}
