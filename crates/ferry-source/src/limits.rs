//! Caps that keep an untrusted archive or repository from exhausting the machine.

use std::time::Duration;

/// Bounds applied while acquiring a source.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most entries an archive may hold.
    pub max_entries: usize,
    /// Most bytes an archive may expand to, in all.
    pub max_total_bytes: u64,
    /// Largest single file kept; larger ones are skipped with a warning.
    pub max_file_bytes: u64,
    /// Largest expansion ratio accepted for an entry above `ratio_floor_bytes`.
    pub max_ratio: u64,
    /// Entries smaller than this are never called bombs (tiny files compress very well).
    pub ratio_floor_bytes: u64,
    /// How long `git clone` may take.
    pub git_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_total_bytes: 2 * 1024 * 1024 * 1024,
            max_file_bytes: 100 * 1024 * 1024,
            max_ratio: 200,
            ratio_floor_bytes: 4 * 1024 * 1024,
            git_timeout: Duration::from_secs(300),
        }
    }
}
