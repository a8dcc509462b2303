//! The follow loop: poll the slot, apply whole transactions, confirm.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt;
use tokio_postgres::Client;

use super::apply::{Change, ColumnInfo, TableInfo};
use super::pgoutput::{self, Datum, Message, OldTuple, PG_EPOCH_UNIX_MICROS, Relation, format_lsn};
use super::target::{Columns, Target};
use super::{FollowOptions, FollowReport, slot};
use crate::catalog::{Catalog, QualifiedName, read};
use crate::endpoint::{Endpoint, PgEndpoint};
use crate::error::{DataError, Result};
use crate::job::{Checkpoints, Event, JobKind, JobStatus, Observer};
use crate::pg;
use crate::pull::Cancel;

/// How often lag is reported while nothing changes state.
const LAG_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn src(context: &str) -> impl Fn(tokio_postgres::Error) -> DataError + '_ {
    move |e| pg::sql_error("source", context, &e)
}

/// Follows `source` into `target` (a pulled Postgres or SQLite target) until `cancel` is set,
/// or until caught up with [`FollowOptions::until_caught_up`]. A job of kind
/// [`JobKind::Follow`](crate::JobKind::Follow) (phases `following`, `caught-up`, `stopped`,
/// `failed`); a rerun continues the unfinished job and restarts from the slot's confirmed
/// position. Creates the slot when [`prepare`](super::prepare) was not called (then the
/// changes between the copy and now are not followed: a note says so).
pub async fn follow(
    source: &PgEndpoint,
    target: &Endpoint,
    opts: &FollowOptions,
    checkpoints: &dyn Checkpoints,
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<FollowReport> {
    let started = Instant::now();
    let ckpt = DataError::Checkpoint;
    observer.event(&Event::Phase {
        phase: "connect".into(),
    });
    let client = pg::connect(source, "source").await?;
    slot::check_source(&client).await?;
    let aux = pg::connect(source, "source").await?;
    let (_, catalog) = read::selected(&client, &opts.selection).await?;
    let name = slot::slot_name(source, target, opts);
    let (created, _) = slot::ensure(&client, &name, &catalog).await?;
    if created {
        observer.event(&Event::Note {
            message: format!(
                "created replication slot {name}: changes committed before now and after the copy are not followed (prepare the slot before the pull); cutover's verify will tell"
            ),
        });
    }
    let opened = Target::open(target, &catalog, observer).await;
    let (mut sink, columns) = match opened {
        Ok(t) => t,
        Err(e) => {
            if created {
                let _ = slot::drop_with(&client, &name).await;
            }
            return Err(e);
        }
    };

    let key = format!("follow:{name}");
    let previous = checkpoints.resumable(&key).map_err(ckpt)?;
    let resumed = previous.is_some();
    let job = match previous {
        Some(j) => j,
        None => checkpoints
            .create(
                JobKind::Follow,
                &key,
                &format!("{} → {}", source.redacted, target.display()),
            )
            .map_err(ckpt)?,
    };
    observer.event(&Event::Job {
        id: job.id.clone(),
        resumed,
        chunks_kept: 0,
    });
    checkpoints.set_phase(&job.id, "following").map_err(ckpt)?;
    observer.event(&Event::Phase {
        phase: "following".into(),
    });

    let mut state = Loop {
        client: &client,
        aux: &aux,
        slot: &name,
        publication: quote_publication(&name),
        catalog: &catalog,
        target_columns: &columns,
        rels: HashMap::new(),
        tables: Vec::new(),
        types: HashMap::new(),
        transactions: 0,
        rows: 0,
        caught_up: false,
        last_lag: None,
        job: &job.id,
        checkpoints,
        observer,
    };
    let outcome = state.run(&mut sink, opts, cancel).await;
    let lsn = slot::info(&client, &name)
        .await
        .ok()
        .flatten()
        .and_then(|i| i.confirmed_lsn)
        .unwrap_or_default();
    match outcome {
        Ok(ended) => {
            let report = FollowReport {
                job: job.id.clone(),
                resumed,
                source: source.redacted.clone(),
                target: target.display(),
                slot: name.clone(),
                transactions: state.transactions,
                rows: state.rows,
                lsn,
                caught_up: state.caught_up,
                ended: ended.into(),
                secs: started.elapsed().as_secs_f64(),
            };
            let summary = serde_json::to_value(&report).unwrap_or_default();
            let status = if ended == "cancelled" {
                checkpoints.set_phase(&job.id, "stopped").map_err(ckpt)?;
                JobStatus::Interrupted
            } else {
                JobStatus::Succeeded
            };
            checkpoints
                .finish(&job.id, status, &summary, None)
                .map_err(ckpt)?;
            Ok(report)
        }
        Err(e) => {
            let _ = checkpoints.set_phase(&job.id, "failed");
            let _ = checkpoints.finish(
                &job.id,
                JobStatus::Failed,
                &serde_json::json!({ "code": e.code() }),
                Some(&e.to_string()),
            );
            Err(e)
        }
    }
}

/// How a relation of the stream is handled.
#[derive(Debug, Clone, Copy)]
enum Rel {
    /// Applied, as `tables[i]`.
    Followed(usize),
    /// Not in the selection.
    Ignored,
}

/// A decoded source transaction.
struct Tx {
    timestamp: i64,
    end_lsn: u64,
    changes: Vec<Change>,
}

/// What one message of a peek gave.
enum Fed {
    Nothing,
    /// A transaction is complete.
    Commit(Tx),
    /// A schema change: stop after applying what came before.
    Stop(DataError),
}

/// Transactions read and not applied yet, in commit order.
#[derive(Default)]
struct Batch {
    transactions: u64,
    /// Commit time of the first (µs since 2000-01-01).
    oldest: Option<i64>,
    changes: Vec<Change>,
}

impl Batch {
    fn push(&mut self, tx: Tx) {
        self.transactions += 1;
        self.oldest.get_or_insert(tx.timestamp);
        self.changes.extend(tx.changes);
    }

    fn is_empty(&self) -> bool {
        self.transactions == 0
    }
}

/// A peek reads at most this many batches (`FollowOptions::batch_changes` messages each).
const PEEK_BATCHES: u64 = 50;

struct Loop<'a> {
    /// Reads the slot.
    client: &'a Client,
    /// Everything else on the source while a peek's rows are being read: type names, lag,
    /// array conversions for SQLite.
    aux: &'a Client,
    slot: &'a str,
    /// The publication, quoted for pgoutput's `publication_names`.
    publication: String,
    catalog: &'a Catalog,
    target_columns: &'a Columns,
    rels: HashMap<u32, Rel>,
    tables: Vec<TableInfo>,
    types: HashMap<(u32, i32), String>,
    transactions: u64,
    rows: u64,
    caught_up: bool,
    last_lag: Option<Instant>,
    job: &'a str,
    checkpoints: &'a dyn Checkpoints,
    observer: &'a dyn Observer,
}

impl Loop<'_> {
    async fn run(
        &mut self,
        sink: &mut Target,
        opts: &FollowOptions,
        cancel: &Cancel,
    ) -> Result<&'static str> {
        let mut applied = sink.applied_lsn(self.slot).await?.unwrap_or(0);
        let chunk = opts.batch_changes.max(1) as usize;
        let limit =
            i32::try_from(u64::from(opts.batch_changes.max(1)) * PEEK_BATCHES).unwrap_or(i32::MAX);
        let mut previous_insert: Option<u64> = None;
        loop {
            if cancel.is_cancelled() {
                return Ok("cancelled");
            }
            // Every commit that starts before this position is decoded by the peek below
            // (it reads whole records up to the flush position it sees, which is later).
            // A commit is decoded only once flushed (with synchronous_commit=off, a moment
            // after it returned): caught up means nothing to read *and* everything inserted
            // before the previous poll flushed.
            let position = self
                .client
                .query_one(
                    "SELECT pg_current_wal_flush_lsn()::text, pg_current_wal_insert_lsn()::text",
                    &[],
                )
                .await
                .map_err(src("reading the WAL position"))?;
            let flushed: String = position.get(0);
            let inserted = pgoutput::parse_lsn(position.get(1)).unwrap_or(0);
            let mark = previous_insert.replace(inserted).unwrap_or(inserted);
            // One peek reads many batches: each peek decodes again from the slot's restart
            // point (up to one running-xacts interval, 15 s of WAL, before the confirmed
            // position), so peeks are few and large. The rows are read as they come and
            // applied a batch (whole transactions, about `batch_changes` changes) per
            // target transaction; the slot is advanced once the peek is applied.
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                [&self.slot, &limit, &self.publication];
            let stream = self
                .client
                .query_raw(
                    "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, 'proto_version', '1', 'publication_names', $3)",
                    params,
                )
                .await
                .map_err(src("reading changes from the slot"))?;
            // Boxed, so it is dropped (and its remaining rows discarded) before the next query.
            let mut stream = Box::pin(stream);
            let mut read = false;
            let mut current: Option<Tx> = None;
            let mut pending = Batch::default();
            let mut end = 0u64;
            let mut oldest = None;
            let mut stop = None;
            while let Some(row) = stream
                .try_next()
                .await
                .map_err(src("reading changes from the slot"))?
            {
                read = true;
                match self.feed(&mut current, row.get(0)).await? {
                    Fed::Nothing => {}
                    Fed::Stop(e) => {
                        stop = Some(e);
                        break;
                    }
                    Fed::Commit(tx) => {
                        end = end.max(tx.end_lsn);
                        oldest.get_or_insert(tx.timestamp);
                        if tx.end_lsn > applied {
                            pending.push(tx);
                        }
                        if pending.changes.len() >= chunk {
                            applied = self.apply(sink, &mut pending, end).await?.max(applied);
                        }
                    }
                }
            }
            drop(stream);
            if !read {
                let settled = pgoutput::parse_lsn(&flushed).unwrap_or(0) >= mark;
                self.idle(&flushed, settled).await?;
                if settled && opts.until_caught_up {
                    return Ok("caught-up");
                }
                let wait = tokio::time::sleep(opts.poll_idle);
                tokio::pin!(wait);
                let step = std::time::Duration::from_millis(50);
                loop {
                    tokio::select! {
                        () = &mut wait => break,
                        () = tokio::time::sleep(step) => if cancel.is_cancelled() { break },
                    }
                }
                continue;
            }
            if !pending.is_empty() {
                applied = self.apply(sink, &mut pending, end).await?.max(applied);
            }
            if end > 0 {
                self.advance(end).await?;
            }
            if let Some(e) = stop {
                return Err(e);
            }
            if self.caught_up {
                self.caught_up = false;
                self.phase("following")?;
            }
            if self.last_lag.is_none_or(|t| t.elapsed() >= LAG_EVERY) {
                self.lag(oldest.map(since).unwrap_or(0.0)).await?;
            }
        }
    }

    /// Applies the pending transactions (and records `end`, the end of the last commit
    /// read) in one target transaction; returns `end`.
    async fn apply(&mut self, sink: &mut Target, pending: &mut Batch, end: u64) -> Result<u64> {
        let seconds = pending.oldest.map(since).unwrap_or(0.0);
        sink.apply(self.aux, &self.tables, &pending.changes, self.slot, end)
            .await?;
        let rows = pending.changes.len() as u64;
        self.transactions += pending.transactions;
        self.rows += rows;
        self.observer.event(&Event::Applied {
            transactions: pending.transactions,
            rows,
            lsn: format_lsn(end),
        });
        *pending = Batch::default();
        if self.last_lag.is_none_or(|t| t.elapsed() >= LAG_EVERY) {
            self.lag(seconds).await?;
        }
        Ok(end)
    }

    /// Nothing to apply: confirm the position read before the peek (so the source can
    /// recycle its WAL) and, when `settled`, report being caught up.
    async fn idle(&mut self, flushed: &str, settled: bool) -> Result<()> {
        self.client
            .query(
                "SELECT pg_replication_slot_advance(slot_name, $2::text::pg_lsn) FROM pg_replication_slots
                 WHERE slot_name = $1 AND confirmed_flush_lsn < $2::text::pg_lsn",
                &[&self.slot, &flushed],
            )
            .await
            .map_err(src("advancing the slot"))?;
        if !settled {
            return Ok(());
        }
        if !self.caught_up {
            self.caught_up = true;
            self.phase("caught-up")?;
            self.lag(0.0).await?;
        } else if self.last_lag.is_none_or(|t| t.elapsed() >= LAG_EVERY) {
            self.lag(0.0).await?;
        }
        Ok(())
    }

    async fn advance(&self, lsn: u64) -> Result<()> {
        self.client
            .query(
                "SELECT pg_replication_slot_advance(slot_name, $2::text::pg_lsn) FROM pg_replication_slots
                 WHERE slot_name = $1 AND confirmed_flush_lsn < $2::text::pg_lsn",
                &[&self.slot, &format_lsn(lsn)],
            )
            .await
            .map_err(src("advancing the slot"))?;
        Ok(())
    }

    fn phase(&self, phase: &str) -> Result<()> {
        self.checkpoints
            .set_phase(self.job, phase)
            .map_err(DataError::Checkpoint)?;
        self.observer.event(&Event::Phase {
            phase: phase.into(),
        });
        Ok(())
    }

    async fn lag(&mut self, seconds: f64) -> Result<()> {
        let bytes: Option<i64> = self
            .aux
            .query_opt(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::int8 FROM pg_replication_slots WHERE slot_name = $1",
                &[&self.slot],
            )
            .await
            .map_err(src("reading the slot's lag"))?
            .and_then(|r| r.get(0));
        self.last_lag = Some(Instant::now());
        self.observer.event(&Event::Lag {
            bytes: bytes.unwrap_or(0).max(0) as u64,
            seconds,
            transactions: self.transactions,
            rows: self.rows,
        });
        Ok(())
    }

    /// Decodes one message of a peek into `current` (the open transaction): a commit
    /// completes it. A schema change stops decoding (the transactions before it are
    /// applied first).
    async fn feed(&mut self, current: &mut Option<Tx>, data: &[u8]) -> Result<Fed> {
        let message = pgoutput::decode(data)?;
        match message {
            Message::Begin { timestamp, .. } => {
                *current = Some(Tx {
                    timestamp,
                    end_lsn: 0,
                    changes: Vec::new(),
                })
            }
            Message::Commit { end_lsn, .. } => {
                let mut tx = current.take().ok_or_else(outside)?;
                tx.end_lsn = end_lsn;
                return Ok(Fed::Commit(tx));
            }
            Message::Relation(rel) => {
                if let Err(e) = self.relation(&rel).await {
                    return Ok(Fed::Stop(e));
                }
            }
            Message::Insert { relation, new } => {
                if let Some(table) = self.followed(relation, &[&new])? {
                    let tx = current.as_mut().ok_or_else(outside)?;
                    tx.changes.push(Change::Insert { table, new });
                }
            }
            Message::Update { relation, old, new } => {
                let old = old.map(|o| match o {
                    OldTuple::Key(v) | OldTuple::Full(v) => v,
                });
                let mut check: Vec<&Vec<Datum>> = vec![&new];
                if let Some(o) = &old {
                    check.push(o);
                }
                if let Some(table) = self.followed(relation, &check)? {
                    let tx = current.as_mut().ok_or_else(outside)?;
                    tx.changes.push(Change::Update { table, old, new });
                }
            }
            Message::Delete { relation, old } => {
                let old = match old {
                    OldTuple::Key(v) | OldTuple::Full(v) => v,
                };
                if let Some(table) = self.followed(relation, &[&old])? {
                    let tx = current.as_mut().ok_or_else(outside)?;
                    tx.changes.push(Change::Delete { table, old });
                }
            }
            Message::Truncate { relations, .. } => {
                let mut tables = Vec::new();
                for id in relations {
                    if let Some(t) = self.followed(id, &[])? {
                        tables.push(t);
                    }
                }
                if !tables.is_empty() {
                    let tx = current.as_mut().ok_or_else(outside)?;
                    tx.changes.push(Change::Truncate { tables });
                }
            }
            Message::Type { .. } | Message::Origin { .. } | Message::LogicalMessage { .. } => {}
        }
        Ok(Fed::Nothing)
    }

    /// The table a change applies to (None: not followed), checking its tuples' widths.
    fn followed(&self, relation: u32, tuples: &[&Vec<Datum>]) -> Result<Option<usize>> {
        match self.rels.get(&relation) {
            Some(Rel::Ignored) => Ok(None),
            Some(Rel::Followed(i)) => {
                let width = self.tables.get(*i).map(|t| t.columns.len()).unwrap_or(0);
                if tuples.iter().any(|t| t.len() != width) {
                    return Err(DataError::Protocol {
                        reason: format!(
                            "a row of relation {relation} does not have {width} columns"
                        ),
                    });
                }
                Ok(Some(*i))
            }
            None => Err(DataError::Protocol {
                reason: format!("a change of relation {relation} before its description"),
            }),
        }
    }

    /// Records a Relation message: ignored when not selected; compared with the target's
    /// columns otherwise (a difference stops the follow).
    async fn relation(&mut self, rel: &Relation) -> Result<()> {
        let schema = if rel.namespace.is_empty() {
            "pg_catalog"
        } else {
            rel.namespace.as_str()
        };
        let name = QualifiedName::new(schema, &rel.name);
        let (Some(table), Some(expected)) =
            (self.catalog.table(&name), self.target_columns.get(&name))
        else {
            self.rels.insert(rel.id, Rel::Ignored);
            return Ok(());
        };
        let mut columns = Vec::with_capacity(rel.columns.len());
        let mut changes = Vec::new();
        for c in &rel.columns {
            let sql_type = self.type_name(c.type_oid, c.typmod).await?;
            match expected.iter().find(|(n, _)| *n == c.name) {
                None => changes.push(format!("{}.{}: added ({sql_type})", rel.name, c.name)),
                Some((_, t)) if *t != sql_type => {
                    changes.push(format!("{}.{}: {t} → {sql_type}", rel.name, c.name))
                }
                Some(_) => {}
            }
            let known = table.column(&c.name);
            columns.push(ColumnInfo {
                name: c.name.clone(),
                kind: known
                    .map(|k| k.kind.clone())
                    .unwrap_or(crate::catalog::ValueKind::Other),
                not_null: known.is_some_and(|k| k.not_null),
                sql_type,
            });
        }
        for (n, _) in expected {
            if !rel.columns.iter().any(|c| c.name == *n) {
                changes.push(format!("{}.{n}: dropped", rel.name));
            }
        }
        if !changes.is_empty() {
            return Err(DataError::SchemaChanged {
                change: changes.join("; "),
            });
        }
        let mut key = Vec::new();
        for k in table.key() {
            match columns.iter().position(|c| c.name == *k) {
                Some(i) => key.push(i),
                None => {
                    return Err(DataError::SchemaChanged {
                        change: format!("{}: key column {k} is not published", rel.name),
                    });
                }
            }
        }
        let info = TableInfo { name, columns, key };
        let index = match self.tables.iter().position(|t| t.name == info.name) {
            Some(i) => {
                self.tables[i] = info;
                i
            }
            None => {
                self.tables.push(info);
                self.tables.len() - 1
            }
        };
        self.rels.insert(rel.id, Rel::Followed(index));
        Ok(())
    }

    async fn type_name(&mut self, oid: u32, typmod: i32) -> Result<String> {
        if let Some(t) = self.types.get(&(oid, typmod)) {
            return Ok(t.clone());
        }
        let name: String = self
            .aux
            .query_one("SELECT format_type($1::oid, $2)", &[&oid, &typmod])
            .await
            .map_err(src("naming a column type"))?
            .get(0);
        self.types.insert((oid, typmod), name.clone());
        Ok(name)
    }
}

fn outside() -> DataError {
    DataError::Protocol {
        reason: "a change outside a transaction".into(),
    }
}

/// The publication name as pgoutput's `publication_names` option reads it (a
/// comma-separated list of identifiers: quoted, so no name is split).
fn quote_publication(name: &str) -> String {
    crate::catalog::quote_ident(name)
}

/// Seconds from a commit timestamp (µs since 2000-01-01) to now, at least 0.
fn since(timestamp: i64) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    ((now - PG_EPOCH_UNIX_MICROS - timestamp) as f64 / 1e6).max(0.0)
}
