//! The follow loop: poll the slot, apply whole transactions, confirm.

use super::{FollowOptions, FollowReport};
use crate::endpoint::{Endpoint, PgEndpoint};
use crate::error::{DataError, Result};
use crate::job::{Checkpoints, Observer};
use crate::pull::Cancel;

/// Follows `source` into `target` (a pulled Postgres or SQLite target) until `cancel` is set,
/// or until caught up with [`FollowOptions::until_caught_up`]. A job of kind
/// [`JobKind::Follow`](crate::JobKind::Follow); a rerun continues from the slot's confirmed
/// position.
pub async fn follow(
    source: &PgEndpoint,
    target: &Endpoint,
    opts: &FollowOptions,
    checkpoints: &dyn Checkpoints,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<FollowReport> {
    let _ = (source, target, opts, checkpoints, observer, cancel);
    Err(DataError::NotImplemented { what: "follow" })
}
