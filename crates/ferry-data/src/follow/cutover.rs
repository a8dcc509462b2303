//! Cutover: catch up, carry the sequences, verify, drop the slot, list what remains.

use std::time::Duration;

use serde::Serialize;

use super::target::Target;
use super::{FollowOptions, follow, slot};
use crate::catalog::{Catalog, quote_ident, read};
use crate::endpoint::{Endpoint, PgEndpoint};
use crate::error::{DataError, Result};
use crate::job::{Checkpoints, Event, Observer};
use crate::pg;
use crate::pull::Cancel;
use crate::verify::{VerifyOptions, VerifyReport, verify_endpoints};

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
/// publication (and the target's position record). Returns the manual steps that remain.
/// Stop the writes on the source first for a clean cut: writes committed after the catch-up
/// make the verify differ (nothing is dropped then; run it again).
pub async fn cutover(
    source: &PgEndpoint,
    target: &Endpoint,
    opts: &CutoverOptions,
    checkpoints: &dyn Checkpoints,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<CutoverReport> {
    let name = slot::slot_name(source, target, &opts.follow);
    let follow_opts = FollowOptions {
        until_caught_up: true,
        ..opts.follow.clone()
    };
    let followed = tokio::time::timeout(
        opts.timeout,
        follow(source, target, &follow_opts, checkpoints, observer, cancel),
    )
    .await;
    let followed = match followed {
        Ok(r) => r?,
        Err(_) => {
            let client = pg::connect(source, "source").await?;
            let lag = slot::info(&client, &name)
                .await?
                .and_then(|i| i.lag_bytes)
                .map(|b| format!("{b} bytes of WAL behind"))
                .unwrap_or_else(|| "lag unknown".into());
            return Err(DataError::NotCaughtUp {
                secs: opts.timeout.as_secs(),
                lag,
            });
        }
    };
    if followed.ended == "cancelled" {
        return Err(DataError::Interrupted { done: 0, total: 0 });
    }

    observer.event(&Event::Phase {
        phase: "sequences".into(),
    });
    let client = pg::connect(source, "source").await?;
    let (_, catalog) = read::selected(&client, &opts.follow.selection).await?;
    let (sink, _) = Target::open(target, &catalog, observer).await?;
    let mut notes = Vec::new();
    let sequences = sequences(&sink, &catalog, &mut notes).await?;

    let verify = verify_endpoints(
        source,
        target,
        &VerifyOptions {
            selection: opts.follow.selection.clone(),
            jobs: opts.verify_jobs.max(1),
            max_keys: opts.max_keys.max(1),
        },
        checkpoints,
        observer,
    )
    .await?;
    let mut dropped = false;
    if verify.equal {
        slot::drop_with(&client, &name).await?;
        sink.forget(&name).await?;
        dropped = true;
    } else {
        notes.push(format!(
            "verify found differences: the slot {name} is kept; stop the writes on the source, follow again and rerun cutover"
        ));
    }
    let steps = vec![
        "stop writes on the old app (or put it in read-only mode) if it still runs".to_string(),
        format!("point the app at the new database: {}", target.display()),
        "for a ferry-hosted app, deploy it with the new DATABASE_URL (that deploy is the switch)"
            .to_string(),
        "keep the old database until the app runs on the new one; then retire it".to_string(),
    ];
    Ok(CutoverReport {
        slot: name,
        transactions: followed.transactions,
        verify,
        sequences,
        dropped,
        notes,
        steps,
    })
}

/// The next value a sequence hands out.
fn next_value(last: i64, is_called: bool, increment: i64) -> i64 {
    if is_called {
        last.saturating_add(increment)
    } else {
        last
    }
}

async fn sequences(
    sink: &Target,
    catalog: &Catalog,
    notes: &mut Vec<String>,
) -> Result<Vec<SequenceSet>> {
    let mut out = Vec::new();
    for seq in &catalog.sequences {
        let Some(last) = seq.last_value else { continue };
        let source_next = next_value(last, seq.is_called, seq.increment);
        let ascending = seq.increment > 0;
        match sink {
            Target::Postgres { client, .. } => {
                let found: Option<String> = match &seq.owned_by {
                    Some((table, column)) => client
                        .query_one(
                            "SELECT pg_get_serial_sequence($1, $2)",
                            &[&table.sql(), &column],
                        )
                        .await
                        .ok()
                        .and_then(|r| r.get(0)),
                    None => None,
                };
                let target_seq = found.unwrap_or_else(|| seq.name.sql());
                let row = client
                    .query_one(
                        &format!("SELECT last_value, is_called FROM {target_seq}"),
                        &[],
                    )
                    .await
                    .map_err(|e| pg::sql_error("target", &format!("reading {target_seq}"), &e))?;
                let target_next = next_value(row.get(0), row.get(1), seq.increment);
                let behind = if ascending {
                    target_next < source_next
                } else {
                    target_next > source_next
                };
                if behind {
                    client
                        .query_one(
                            "SELECT setval($1::text::regclass, $2, $3)",
                            &[&target_seq, &last, &seq.is_called],
                        )
                        .await
                        .map_err(|e| {
                            pg::sql_error("target", &format!("setting {target_seq}"), &e)
                        })?;
                }
                out.push(SequenceSet {
                    sequence: seq.name.to_string(),
                    source_value: last,
                    target_next: Some(if behind { source_next } else { target_next }),
                    changed: behind,
                });
            }
            Target::Sqlite(t) => {
                // SQLite numbers new rows of an INTEGER PRIMARY KEY after the largest id; there
                // is no sequence to set.
                let Some((table, column)) = &seq.owned_by else {
                    continue;
                };
                let sql = format!(
                    "SELECT coalesce(max({}), 0) + 1 FROM {}",
                    quote_ident(column),
                    quote_ident(&crate::sqlite::table_name(table))
                );
                let next: Option<i64> = super::target::locked(t)?
                    .connection()
                    .query_row(&sql, [], |r| r.get(0))
                    .ok();
                if let Some(next) = next
                    && ascending
                    && next < source_next
                {
                    notes.push(format!(
                        "{table}.{column}: SQLite numbers new rows after the largest id ({}), while the source's sequence {} is at {last}: ids {next}…{} may be handed out again",
                        next - 1,
                        seq.name,
                        source_next - 1
                    ));
                }
                out.push(SequenceSet {
                    sequence: seq.name.to_string(),
                    source_value: last,
                    target_next: next,
                    changed: false,
                });
            }
        }
    }
    Ok(out)
}
