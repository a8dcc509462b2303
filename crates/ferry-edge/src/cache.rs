//! An in-memory cache of file contents. Blobs and variants are content-addressed and never
//! change, so an entry is never stale: the only question is the memory budget. Lookups by
//! hash allocate nothing; the path is only built on a miss.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Files larger than this are read from disk on every request.
pub const MAX_ENTRY: u64 = 8 * 1024 * 1024;
/// Total bytes kept in memory.
pub const BUDGET: u64 = 256 * 1024 * 1024;

/// Which representation of a content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    /// The file itself.
    Identity = 0,
    /// Its brotli variant.
    Brotli = 1,
    /// Its gzip variant.
    Gzip = 2,
}

/// Content by representation and hash.
#[derive(Debug, Default)]
pub struct ContentCache {
    maps: [RwLock<HashMap<String, Bytes>>; 3],
    bytes: AtomicU64,
}

impl ContentCache {
    /// The content of `hash` in `repr`, read from `path()` on a miss.
    pub async fn get(
        &self,
        repr: Repr,
        hash: &str,
        path: impl FnOnce() -> PathBuf,
    ) -> std::io::Result<Bytes> {
        let map = &self.maps[repr as usize];
        if let Some(hit) = map.read().ok().and_then(|m| m.get(hash).cloned()) {
            return Ok(hit);
        }
        let bytes = Bytes::from(tokio::fs::read(path()).await?);
        let size = bytes.len() as u64;
        if size <= MAX_ENTRY
            && self.bytes.load(Ordering::Relaxed) + size <= BUDGET
            && let Ok(mut m) = map.write()
            && m.insert(hash.to_string(), bytes.clone()).is_none()
        {
            self.bytes.fetch_add(size, Ordering::Relaxed);
        }
        Ok(bytes)
    }

    /// Bytes held.
    pub fn size(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Drops everything (after garbage collection).
    pub fn clear(&self) {
        for map in &self.maps {
            if let Ok(mut m) = map.write() {
                m.clear();
            }
        }
        self.bytes.store(0, Ordering::Relaxed);
    }
}
