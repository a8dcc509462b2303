//! The data phase: chunks copied by parallel workers, each reading under the exported
//! snapshot. Postgres → Postgres streams COPY bytes straight through (binary when no value
//! embeds a database-specific type OID), never decoding a row; Postgres → SQLite streams text
//! COPY of the storage expressions into one writer thread. Every chunk is one target
//! transaction; its checkpoint is recorded after the commit, and a redo first deletes the
//! chunk's key range, so a row is never written twice.

use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};

use super::{Run, TableCopy, Target, dst_err};
use crate::catalog::{Table, quote_ident, quote_literal};
use crate::chunk::{Chunk, TablePlan};
use crate::endpoint::PgEndpoint;
use crate::error::{DataError, Result};
use crate::job::{ChunkDone, Event};
use crate::{canon, pg};

/// Bytes gathered before one write to the target.
const BATCH: usize = 256 << 10;
/// How often a worker reports progress.
const TICK: Duration = Duration::from_millis(250);

/// What to do on the target before a chunk's rows arrive.
#[derive(Debug, Clone)]
enum Redo {
    /// Nothing (a first run's chunk of a split table).
    Nothing,
    /// Empty the table first (a single-chunk table; lets Postgres load with FREEZE).
    Truncate,
    /// Delete the chunk's key range first (a redone chunk).
    Delete(String),
}

struct Work<'a> {
    table: &'a Table,
    chunk: &'a Chunk,
    redo: Redo,
}

#[derive(Default)]
struct Stats {
    rows: AtomicU64,
    bytes: AtomicU64,
    left: AtomicUsize,
    kept: usize,
    total: usize,
    started: std::sync::Mutex<Option<Instant>>,
    secs: std::sync::Mutex<f64>,
}

pub(super) async fn copy_all(
    r: &Run<'_>,
    plans: &[TablePlan],
    done: &[ChunkDone],
    target: &mut Target,
    indexes: Option<&IndexQueue>,
) -> Result<Vec<TableCopy>> {
    let ckpt = |e: String| DataError::Checkpoint(e);
    let mut stats: HashMap<String, Stats> = HashMap::new();
    let mut work: Vec<(i64, Work<'_>)> = Vec::new();
    for plan in plans {
        let Some(table) = r
            .catalog
            .tables
            .iter()
            .find(|t| t.name.to_string() == plan.table)
        else {
            continue;
        };
        let mut kept: Vec<&ChunkDone> = done.iter().filter(|c| c.table == plan.table).collect();
        // A page-range table cannot redo one chunk: start it over when it was cut short.
        if !plan.exact && !kept.is_empty() && kept.len() < plan.chunks.len() {
            r.store.reset_table(&r.job.id, &plan.table).map_err(ckpt)?;
            empty_table(target, table).await?;
            kept.clear();
        }
        let s = Stats {
            kept: kept.len(),
            total: plan.chunks.len(),
            ..Default::default()
        };
        s.rows
            .store(kept.iter().map(|c| c.rows).sum(), Ordering::Relaxed);
        s.bytes
            .store(kept.iter().map(|c| c.bytes).sum(), Ordering::Relaxed);
        let mut left = 0;
        for chunk in &plan.chunks {
            if kept.iter().any(|c| c.chunk == chunk.id) {
                continue;
            }
            left += 1;
            let redo = if plan.chunks.len() == 1 {
                match target {
                    Target::Postgres { .. } => Redo::Truncate,
                    Target::Sqlite { .. } if r.resumed => Redo::Delete("TRUE".into()),
                    Target::Sqlite { .. } => Redo::Nothing,
                }
            } else if r.resumed {
                chunk
                    .target_where
                    .clone()
                    .map(Redo::Delete)
                    .unwrap_or(Redo::Nothing)
            } else {
                Redo::Nothing
            };
            work.push((plan.bytes, Work { table, chunk, redo }));
        }
        s.left.store(left, Ordering::Relaxed);
        if left > 0 {
            r.observer.event(&Event::TableStart {
                table: plan.table.clone(),
                rows: plan.rows.max(0) as u64,
                bytes: plan.bytes.max(0) as u64,
            });
        }
        stats.insert(plan.table.clone(), s);
    }
    // Largest tables first, so the long tail runs in parallel with the small ones.
    work.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
    let queue = std::sync::Mutex::new(work.into_iter().map(|(_, w)| w).collect::<VecDeque<_>>());
    let total_chunks: usize = plans.iter().map(|p| p.chunks.len()).sum();
    let committed = AtomicUsize::new(done.len());
    let shared = Shared {
        r,
        indexes,
        stats: &stats,
        committed: &committed,
        total: total_chunks,
    };
    // Tables with nothing left to copy (kept by a resume) can have their indexes built now.
    if let Some(indexes) = indexes {
        for (name, s) in &stats {
            if s.left.load(Ordering::Relaxed) == 0 {
                indexes.release(name)?;
            }
        }
    }

    match target {
        Target::Postgres { endpoint, .. } => {
            let workers = (0..r.jobs).map(|_| pg_worker(&shared, endpoint, &queue));
            futures_util::future::try_join_all(workers).await?;
        }
        Target::Sqlite { db, path } => {
            let src = source_connection(r.source, r.snapshot).await?;
            loop {
                let next = queue.lock().map_err(|_| poisoned())?.pop_front();
                let Some(w) = next else { break };
                let rows = sqlite_chunk(&shared, &src, db.clone(), path, &w).await?;
                shared.chunk_committed(&w, rows)?;
                throttle().await;
            }
        }
    }

    Ok(plans
        .iter()
        .filter_map(|p| {
            let s = stats.get(&p.table)?;
            Some(TableCopy {
                table: p.table.clone(),
                rows: s.rows.load(Ordering::Relaxed),
                bytes: s.bytes.load(Ordering::Relaxed),
                chunks: s.total,
                chunks_kept: s.kept,
                secs: s.secs.lock().map(|v| *v).unwrap_or(0.0),
            })
        })
        .collect())
}

fn poisoned() -> DataError {
    DataError::Checkpoint("work queue poisoned".into())
}

struct Shared<'a, 'r> {
    r: &'a Run<'r>,
    indexes: Option<&'a IndexQueue>,
    stats: &'a HashMap<String, Stats>,
    committed: &'a AtomicUsize,
    total: usize,
}

impl Shared<'_, '_> {
    fn stats(&self, table: &Table) -> Option<&Stats> {
        self.stats.get(&table.name.to_string())
    }

    fn started(&self, table: &Table) {
        if let Some(s) = self.stats(table)
            && let Ok(mut started) = s.started.lock()
        {
            started.get_or_insert_with(Instant::now);
        }
    }

    fn progress(&self, table: &Table, rows: u64, bytes: u64) {
        let Some(s) = self.stats(table) else { return };
        let rows = s.rows.load(Ordering::Relaxed) + rows;
        let bytes = s.bytes.load(Ordering::Relaxed) + bytes;
        self.r.observer.event(&Event::Progress {
            table: table.name.to_string(),
            rows,
            bytes,
        });
        let _ = self
            .r
            .store
            .progress(&self.r.job.id, &table.name.to_string(), rows, bytes);
    }

    fn chunk_committed(&self, w: &Work<'_>, (rows, bytes): (u64, u64)) -> Result<()> {
        let name = w.table.name.to_string();
        self.r
            .store
            .chunk_done(
                &self.r.job.id,
                &ChunkDone {
                    table: name.clone(),
                    chunk: w.chunk.id,
                    rows,
                    bytes,
                },
            )
            .map_err(DataError::Checkpoint)?;
        self.committed.fetch_add(1, Ordering::Relaxed);
        self.r.observer.event(&Event::Chunk {
            table: name.clone(),
            chunk: w.chunk.id,
            rows,
        });
        let Some(s) = self.stats(w.table) else {
            return Ok(());
        };
        let rows = s.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let bytes = s.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if s.left.fetch_sub(1, Ordering::Relaxed) == 1 {
            if let Some(indexes) = self.indexes {
                indexes.release(&name)?;
            }
            let secs = s
                .started
                .lock()
                .ok()
                .and_then(|v| *v)
                .map(|t| t.elapsed().as_secs_f64())
                .unwrap_or(0.0);
            if let Ok(mut v) = s.secs.lock() {
                *v = secs;
            }
            let _ = self.r.store.progress(&self.r.job.id, &name, rows, bytes);
            self.r.observer.event(&Event::TableDone {
                table: name,
                rows,
                bytes,
                secs,
            });
        }
        Ok(())
    }

    fn interrupted(&self) -> DataError {
        DataError::Interrupted {
            done: self.committed.load(Ordering::Relaxed),
            total: self.total,
        }
    }
}

async fn source_connection(
    endpoint: &PgEndpoint,
    snapshot: &str,
) -> Result<tokio_postgres::Client> {
    let client = pg::connect(endpoint, "source").await?;
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
            quote_literal(snapshot)
        ))
        .await
        .map_err(|e| DataError::Sql {
            side: "source",
            context: "importing the snapshot".into(),
            reason: pg::error_text(&e),
        })?;
    Ok(client)
}

async fn empty_table(target: &mut Target, table: &Table) -> Result<()> {
    match target {
        Target::Postgres { client, .. } => client
            .batch_execute(&format!("TRUNCATE ONLY {}", table.name.sql()))
            .await
            .map_err(dst_err(format!("emptying {}", table.name))),
        Target::Sqlite { db, path } => {
            let mut db = db.lock().map_err(|_| super::sqlite_poisoned(path))?;
            db.begin_chunk(table, Some("TRUE"))?.commit().map(|_| ())
        }
    }
}

/// `FERRY_THROTTLE_MS`: a pause after each committed chunk, so tests can interrupt a pull
/// mid-table at a known point. Unset in normal use.
async fn throttle() {
    if let Some(ms) = std::env::var("FERRY_THROTTLE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

fn column_list(table: &Table) -> String {
    table
        .copied_columns()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn pg_worker(
    shared: &Shared<'_, '_>,
    endpoint: &PgEndpoint,
    queue: &std::sync::Mutex<VecDeque<Work<'_>>>,
) -> Result<()> {
    if queue.lock().map_err(|_| poisoned())?.is_empty()
        && shared
            .indexes
            .is_none_or(|i| i.all_released() && i.is_idle())
    {
        return Ok(());
    }
    let src = source_connection(shared.r.source, shared.r.snapshot).await?;
    // Commits stay synchronous: a chunk's checkpoint must never outlive its rows.
    let mut dst = pg::connect(endpoint, "target").await?;
    dst.batch_execute(
        "SET maintenance_work_mem = '256MB'; SET max_parallel_maintenance_workers = 0",
    )
    .await
    .map_err(dst_err("setting up".into()))?;
    loop {
        if shared.r.options.cancel.is_cancelled() {
            return Err(shared.interrupted());
        }
        let next = queue.lock().map_err(|_| poisoned())?.pop_front();
        if let Some(w) = next {
            let counts = pg_chunk(shared, &src, &mut dst, &w).await?;
            shared.chunk_committed(&w, counts)?;
            throttle().await;
            continue;
        }
        // No chunk left: build the indexes of tables whose data is complete, while the other
        // workers finish their last chunks.
        let Some(indexes) = shared.indexes else {
            return Ok(());
        };
        match indexes.next()? {
            Some((table, statement)) => {
                dst.batch_execute(&statement)
                    .await
                    .map_err(dst_err(format!("creating an index of {table}")))?;
            }
            None if indexes.all_released() => return Ok(()),
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Index builds waiting for their table's data, released table by table.
pub(super) struct IndexQueue {
    pending: std::sync::Mutex<HashMap<String, Vec<String>>>,
    ready: std::sync::Mutex<VecDeque<(String, String)>>,
}

impl IndexQueue {
    /// Every table's index builds, held until [`IndexQueue::release`].
    pub(super) fn new(tables: impl Iterator<Item = (String, Vec<String>)>) -> IndexQueue {
        IndexQueue {
            pending: std::sync::Mutex::new(tables.collect()),
            ready: Default::default(),
        }
    }

    /// A table's data is complete: its index builds may run.
    fn release(&self, table: &str) -> Result<()> {
        let statements = self
            .pending
            .lock()
            .map_err(|_| poisoned())?
            .remove(table)
            .unwrap_or_default();
        let mut ready = self.ready.lock().map_err(|_| poisoned())?;
        ready.extend(statements.into_iter().map(|s| (table.to_string(), s)));
        Ok(())
    }

    fn next(&self) -> Result<Option<(String, String)>> {
        Ok(self.ready.lock().map_err(|_| poisoned())?.pop_front())
    }

    fn is_idle(&self) -> bool {
        self.ready.lock().map(|r| r.is_empty()).unwrap_or(true)
    }

    fn all_released(&self) -> bool {
        self.pending.lock().map(|p| p.is_empty()).unwrap_or(true)
    }
}

async fn pg_chunk(
    shared: &Shared<'_, '_>,
    src: &tokio_postgres::Client,
    dst: &mut tokio_postgres::Client,
    w: &Work<'_>,
) -> Result<(u64, u64)> {
    let table = w.table;
    shared.started(table);
    let columns = column_list(table);
    let binary = !table.copied_columns().any(|c| c.oid_bound);
    let format = if binary {
        "FORMAT binary"
    } else {
        "FORMAT text"
    };
    let source_sql = match &w.chunk.source_where {
        None => format!("COPY {} ({columns}) TO STDOUT ({format})", table.name.sql()),
        Some(p) => format!(
            "COPY (SELECT {columns} FROM ONLY {} WHERE {p}) TO STDOUT ({format})",
            table.name.sql()
        ),
    };
    let context = || format!("copying {} chunk {}", table.name, w.chunk.id);
    let tx = dst.transaction().await.map_err(dst_err(context()))?;
    let freeze = match &w.redo {
        Redo::Truncate => {
            tx.batch_execute(&format!("TRUNCATE ONLY {}", table.name.sql()))
                .await
                .map_err(dst_err(context()))?;
            true
        }
        Redo::Delete(p) => {
            tx.batch_execute(&format!("DELETE FROM ONLY {} WHERE {p}", table.name.sql()))
                .await
                .map_err(dst_err(context()))?;
            false
        }
        Redo::Nothing => false,
    };
    let target_sql = format!(
        "COPY {} ({columns}) FROM STDIN ({format}{})",
        table.name.sql(),
        if freeze { ", FREEZE true" } else { "" }
    );
    let sink = tx
        .copy_in::<_, Bytes>(&target_sql)
        .await
        .map_err(dst_err(context()))?;
    let mut sink = PgBatches {
        sink: pin!(sink),
        context: context(),
    };
    let header = if binary { 1 } else { 0 };
    let (_, bytes) = relay(
        shared,
        table,
        src,
        &source_sql,
        &context(),
        header,
        &mut sink,
    )
    .await?;
    let mut sink = sink.sink;
    let rows = sink.as_mut().finish().await.map_err(dst_err(context()))?;
    if shared.r.options.cancel.is_cancelled() {
        return Err(shared.interrupted());
    }
    tx.commit().await.map_err(dst_err(context()))?;
    Ok((rows, bytes))
}

enum Piece {
    Data(Bytes),
    End,
}

/// Where [`relay`] writes its batches.
trait Batches {
    /// Writes one batch; `Ok(false)` when the receiver is gone (its own error tells why).
    async fn put(&mut self, batch: Bytes) -> Result<bool>;
}

/// A Postgres `COPY … FROM STDIN`.
struct PgBatches<'a> {
    sink: std::pin::Pin<&'a mut tokio_postgres::CopyInSink<Bytes>>,
    context: String,
}

impl Batches for PgBatches<'_> {
    async fn put(&mut self, batch: Bytes) -> Result<bool> {
        self.sink
            .send(batch)
            .await
            .map_err(dst_err(self.context.clone()))?;
        Ok(true)
    }
}

/// The SQLite writer thread's channel.
struct SqliteBatches<'a>(&'a tokio::sync::mpsc::Sender<Piece>);

impl Batches for SqliteBatches<'_> {
    async fn put(&mut self, batch: Bytes) -> Result<bool> {
        Ok(self.0.send(Piece::Data(batch)).await.is_ok())
    }
}

/// Streams the source's `COPY … TO STDOUT` into `out` in [`BATCH`]-sized writes (memory stays
/// bounded whatever the row size), reporting progress and stopping on a cancel. Returns the
/// rows seen (CopyData messages, less `header_messages`) and the bytes read.
async fn relay(
    shared: &Shared<'_, '_>,
    table: &Table,
    src: &tokio_postgres::Client,
    source_sql: &str,
    context: &str,
    header_messages: u64,
    out: &mut impl Batches,
) -> Result<(u64, u64)> {
    let source_err = |e: tokio_postgres::Error| DataError::Sql {
        side: "source",
        context: context.to_string(),
        reason: pg::error_text(&e),
    };
    let stream = src.copy_out(source_sql).await.map_err(source_err)?;
    let mut stream = pin!(stream);
    let mut buffer = BytesMut::with_capacity(BATCH * 2);
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut tick = Instant::now();
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(source_err)?;
        messages += 1;
        bytes += piece.len() as u64;
        buffer.extend_from_slice(&piece);
        if buffer.len() >= BATCH {
            if !out.put(buffer.split().freeze()).await? {
                return Ok((messages.saturating_sub(header_messages), bytes));
            }
            if shared.r.options.cancel.is_cancelled() {
                return Err(shared.interrupted());
            }
            if tick.elapsed() >= TICK {
                tick = Instant::now();
                shared.progress(table, messages.saturating_sub(header_messages), bytes);
            }
        }
    }
    if !buffer.is_empty() {
        out.put(buffer.split().freeze()).await?;
    }
    Ok((messages.saturating_sub(header_messages), bytes))
}

async fn sqlite_chunk(
    shared: &Shared<'_, '_>,
    src: &tokio_postgres::Client,
    db: std::sync::Arc<std::sync::Mutex<crate::sqlite::SqliteTarget>>,
    path: &std::path::Path,
    w: &Work<'_>,
) -> Result<(u64, u64)> {
    let table = w.table;
    shared.started(table);
    let exprs: Vec<String> = table
        .copied_columns()
        .map(canon::sqlite_storage_expr)
        .collect();
    let source_sql = format!(
        "COPY (SELECT {} FROM ONLY {}{}) TO STDOUT",
        exprs.join(", "),
        table.name.sql(),
        w.chunk
            .source_where
            .as_ref()
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default()
    );
    let context = || format!("copying {} chunk {}", table.name, w.chunk.id);
    let delete = match &w.redo {
        Redo::Delete(p) => Some(p.clone()),
        Redo::Truncate => Some("TRUE".to_string()),
        Redo::Nothing => None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(16);
    let owned_table = table.clone();
    let path_text = path.display().to_string();
    let writer = tokio::task::spawn_blocking(move || -> Result<u64> {
        let mut db = db.lock().map_err(|_| DataError::Sqlite {
            path: path_text.clone(),
            reason: "writer poisoned".into(),
        })?;
        let mut chunk = db.begin_chunk(&owned_table, delete.as_deref())?;
        while let Some(piece) = rx.blocking_recv() {
            match piece {
                Piece::Data(data) => {
                    chunk.write_copy_text(&data)?;
                }
                Piece::End => return chunk.commit(),
            }
        }
        // The sender went away without End: the chunk rolls back when dropped.
        Err(DataError::Sqlite {
            path: path_text,
            reason: "the copy stopped before the chunk ended".into(),
        })
    });
    let streamed = async {
        let mut out = SqliteBatches(&tx);
        let (_, bytes) = relay(shared, table, src, &source_sql, &context(), 0, &mut out).await?;
        let _ = tx.send(Piece::End).await;
        Ok::<u64, DataError>(bytes)
    }
    .await;
    drop(tx);
    let written = writer.await.map_err(|e| DataError::Sqlite {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let bytes = streamed?;
    let rows = written?;
    Ok((rows, bytes))
}
