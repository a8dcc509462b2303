//! Cutover: catch up, carry the sequences, verify, drop the slot, list what remains.

use std::time::Duration;

use serde::Serialize;

use super::FollowOptions;
use crate::endpoint::{Endpoint, PgEndpoint};
use crate::error::{DataError, Result};
use crate::job::{Checkpoints, Observer};
use crate::pull::Cancel;
use crate::verify::VerifyReport;

/// Options of a cutover.
#[derive(Debug, Clone)]
pub struct CutoverOptions {
    /// The follow's options (same selection and name as the follow).
    pub follow: FollowOptions,
    /// How long to wait for the follow to catch up.
    pub timeout: Duration,
    /// Parallel tables for the verify.
    pub verify_jobs: usize,
    /// Differing keys named per table by the verify.
    pub max_keys: usize,
}

impl Default for CutoverOptions {
    fn default() -> Self {
        CutoverOptions {
            follow: FollowOptions::default(),
            timeout: Duration::from_secs(300),
            verify_jobs: 2,
            max_keys: 10,
        }
    }
}

/// A sequence carried to the target.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceSet {
    /// `schema.sequence` on the source.
    pub sequence: String,
    /// The source's `last_value`.
    pub source_value: i64,
    /// What the target's next value will be after the cutover (None: not applicable).
    pub target_next: Option<i64>,
    /// Whether the target was changed.
    pub changed: bool,
}

/// What a cutover did, and what remains for the owner.
#[derive(Debug, Clone, Serialize)]
pub struct CutoverReport {
    /// Slot and publication name.
    pub slot: String,
    /// Transactions applied while catching up.
    pub transactions: u64,
    /// The verify.
    pub verify: VerifyReport,
    /// Sequences set on the target.
    pub sequences: Vec<SequenceSet>,
    /// Whether the slot and publication were dropped (only when verify said equal).
    pub dropped: bool,
    /// Notes (e.g. SQLite ids).
    pub notes: Vec<String>,
    /// The steps that remain, in order.
    pub steps: Vec<String>,
}

/// Waits for the follow to catch up (at most [`CutoverOptions::timeout`]), sets every target
/// sequence to at least the source's value, verifies, and — when equal — drops the slot and
/// publication. Returns the manual steps that remain.
pub async fn cutover(
    source: &PgEndpoint,
    target: &Endpoint,
    opts: &CutoverOptions,
    checkpoints: &dyn Checkpoints,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<CutoverReport> {
    let _ = (source, target, opts, checkpoints, observer, cancel);
    Err(DataError::NotImplemented { what: "cutover" })
}
