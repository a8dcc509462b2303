//! `db follow` and `db cutover`: keep a pulled target in step with its source through logical
//! replication, then prove the two equal and hand over (docs/data.md, "Following").
//!
//! The changes are read by polling `pg_logical_slot_peek_binary_changes` (pgoutput, protocol
//! version 1) over an ordinary connection — one large peek streamed per poll — applied to
//! the target a batch of whole transactions per target transaction (with the batch's end LSN
//! recorded on the target in the same transaction; on Postgres as grouped statements, one per
//! table and operation, pipelined), and confirmed with `pg_replication_slot_advance` once the
//! peek is applied. A crash
//! between the two replays the batch: the recorded LSN skips it, and the apply is idempotent
//! by key anyway (upserts, deletes by key, truncates).
//!
//! - [`prepare`]: publication and slot, before the copy's snapshot.
//! - [`follow`]: the apply loop, as a job.
//! - [`cutover`]: catch up, sequences, verify, drop the slot.
//! - [`slots`], [`drop_slot`]: ferry's slots on a source.

mod apply;
mod cutover;
mod pgoutput;
mod run;
mod slot;
mod target;
mod value;

use std::time::Duration;

use serde::Serialize;

pub use cutover::{CutoverOptions, CutoverReport, SequenceSet, cutover};
pub use pgoutput::{
    Datum, Message, OldTuple, PG_EPOCH_UNIX_MICROS, RelColumn, Relation, decode, format_lsn,
    parse_lsn,
};
pub use run::follow;
pub use slot::{PREFIX, drop_slot, prepare, slot_name, slots};

use crate::select::Selection;

/// Options of a follow (and of [`prepare`], which must be given the same selection).
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Schemas and tables followed: the pull's selection.
    pub selection: Selection,
    /// The slot and publication name (default: `ferry_<16 hex>` derived from source, target
    /// and selection, see [`slot_name`]).
    pub name: Option<String>,
    /// About this many changes are applied per target transaction (whole transactions are
    /// always applied together, so a large transaction may exceed it); a poll reads up to 50
    /// such batches from the slot.
    pub batch_changes: u32,
    /// Wait between polls that found nothing.
    pub poll_idle: Duration,
    /// Return as soon as there is nothing left to apply (instead of following until
    /// cancelled).
    pub until_caught_up: bool,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            selection: Selection::default(),
            name: None,
            batch_changes: 10_000,
            poll_idle: Duration::from_millis(100),
            until_caught_up: false,
        }
    }
}

/// One of ferry's replication slots on a source.
#[derive(Debug, Clone, Serialize)]
pub struct SlotInfo {
    /// Slot name (`ferry_…`).
    pub slot: String,
    /// The publication of the same name, when it exists in the connected database.
    pub publication: Option<String>,
    /// The database the slot decodes.
    pub database: Option<String>,
    /// Whether a process is reading it now.
    pub active: bool,
    /// That process.
    pub active_pid: Option<i32>,
    /// WAL bytes between the source's current position and what the slot confirmed: WAL the
    /// source keeps for it.
    pub lag_bytes: Option<u64>,
    /// The confirmed position (`X/X`).
    pub confirmed_lsn: Option<String>,
    /// `reserved`, `extended`, `unreserved` or `lost` (the slot is unusable).
    pub wal_status: Option<String>,
    /// Whether [`prepare`] created it (false: it existed).
    pub created: bool,
    /// Tables published (filled by [`prepare`]).
    pub tables: Vec<String>,
}

/// What a follow did.
#[derive(Debug, Clone, Serialize)]
pub struct FollowReport {
    /// Job id.
    pub job: String,
    /// Whether an earlier (interrupted) follow job was continued.
    pub resumed: bool,
    /// Source URL (redacted).
    pub source: String,
    /// Target URL (redacted).
    pub target: String,
    /// Slot and publication name.
    pub slot: String,
    /// Source transactions applied by this run.
    pub transactions: u64,
    /// Row changes applied by this run.
    pub rows: u64,
    /// The position the slot confirms at the end (`X/X`).
    pub lsn: String,
    /// Whether there was nothing left to apply at the end.
    pub caught_up: bool,
    /// Why it ended: `caught-up` or `cancelled`.
    pub ended: String,
    /// Wall-clock seconds.
    pub secs: f64,
}
