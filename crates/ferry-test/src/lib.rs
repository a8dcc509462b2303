//! Test support for ferry: the fixture corpus (with real git histories built at test time),
//! hostile archives generated on demand, a hermetic `git`, and throwaway PostgreSQL clusters.

pub mod expected;
pub mod fixtures;
pub mod git;
pub mod hostile;
pub mod pg;

use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}
