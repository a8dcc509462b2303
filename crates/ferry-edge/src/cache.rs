//! An in-memory cache of file contents. Blobs and variants are content-addressed and never
//! change, so an entry is never stale: the only question is the memory budget.

use std::collections::HashMap;
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Files larger than this are read from disk on every request.
pub const MAX_ENTRY: u64 = 8 * 1024 * 1024;
/// Total bytes kept in memory.
pub const BUDGET: u64 = 256 * 1024 * 1024;

/// Content by key (a blob hash, or a hash plus a variant extension).
#[derive(Debug, Default)]
pub struct ContentCache {
    map: RwLock<HashMap<String, Bytes>>,
    bytes: AtomicU64,
}

impl ContentCache {
    /// The content for `key`, read from `path` on a miss.
    pub async fn get(&self, key: &str, path: &Path) -> std::io::Result<Bytes> {
        if let Some(hit) = self.map.read().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(hit);
        }
        let bytes = Bytes::from(tokio::fs::read(path).await?);
        let size = bytes.len() as u64;
        if size <= MAX_ENTRY
            && self.bytes.load(Ordering::Relaxed) + size <= BUDGET
            && let Ok(mut map) = self.map.write()
            && map.insert(key.to_string(), bytes.clone()).is_none()
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
        if let Ok(mut map) = self.map.write() {
            map.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
    }
}
