//! Data movement for ferry: copy a Postgres database (Supabase, Neon, Replit…) into a
//! Postgres or SQLite database the owner runs, verify the copy inside both databases, and
//! resume an interrupted copy without duplicating a row.
//!
//! Entry points: [`pull()`] and [`verify()`]. Both run as jobs recorded through the
//! [`Checkpoints`] trait and report [`Event`]s to an [`Observer`].

pub mod base44;
pub mod canon;
pub mod catalog;
mod chunk;
mod ddl;
pub mod endpoint;
pub mod error;
pub mod follow;
pub mod job;
pub mod pg;
mod pull;
pub mod select;
pub mod sqlite;
mod verify;

pub use endpoint::Endpoint;
pub use error::{DataError, Result};
pub use follow::{
    CutoverOptions, CutoverReport, FollowOptions, FollowReport, SlotInfo, cutover, drop_slot,
    follow, prepare, slots,
};
pub use job::{
    Checkpoints, ChunkDone, Event, JobKind, JobRecord, JobStatus, MemoryCheckpoints, Observer,
    Quiet,
};
pub use pull::{Cancel, PullOptions, PullReport, StorageReport, TableCopy, pull};
pub use select::{Selection, Skipped};
pub use verify::{DiffKind, Difference, TableCheck, VerifyOptions, VerifyReport, verify};
