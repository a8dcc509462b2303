//! `db verify`: counts and order-independent checksums computed inside both databases,
//! narrowed to the differing keys.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio_postgres::Client;

use crate::catalog::{Catalog, Column, Table, quote_ident, read};
use crate::endpoint::{Endpoint, PgEndpoint};
use crate::error::{DataError, Result};
use crate::job::{Checkpoints, Event, JobKind, JobStatus, Observer};
use crate::select::Selection;
use crate::{canon, pg, sqlite};

/// Options of a verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Schemas and tables (as for the pull).
    pub selection: Selection,
    /// Parallel tables.
    pub jobs: usize,
    /// How many differing keys to name per table (at least 1).
    pub max_keys: usize,
}

/// How a row differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// On the source, not on the target.
    MissingOnTarget,
    /// On the target, not on the source.
    ExtraOnTarget,
    /// On both, with different values.
    Changed,
}

/// One differing row.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// The key, as `col=value, col=value`.
    pub key: String,
    /// How it differs.
    pub kind: DiffKind,
}

/// The check of one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    /// `schema.table`.
    pub table: String,
    /// Rows on the source.
    pub source_rows: u64,
    /// Rows on the target (None: the table is missing).
    pub target_rows: Option<u64>,
    /// Equal.
    pub equal: bool,
    /// `keyed` (narrowed to keys) or `whole-table` (no key: counts and one checksum).
    pub method: &'static str,
    /// The key columns used.
    pub key: Vec<String>,
    /// The first differing rows.
    pub differences: Vec<Difference>,
    /// More rows differ than are listed.
    pub more_differences: bool,
}

/// What a verify found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Job id.
    pub job: String,
    /// Every table equal.
    pub equal: bool,
    /// Per table.
    pub tables: Vec<TableCheck>,
    /// Wall-clock seconds.
    pub secs: f64,
}

/// Compares `from` (Postgres) with `to` (Postgres or SQLite).
pub async fn verify(
    from: &str,
    to: &str,
    options: &VerifyOptions,
    store: &dyn Checkpoints,
    observer: &dyn Observer,
) -> Result<VerifyReport> {
    let source = Endpoint::parse_source(from)?;
    let target = Endpoint::parse(to)?;
    verify_endpoints(&source, &target, options, store, observer).await
}

/// [`verify`] of parsed endpoints.
pub(crate) async fn verify_endpoints(
    source: &PgEndpoint,
    target: &Endpoint,
    options: &VerifyOptions,
    store: &dyn Checkpoints,
    observer: &dyn Observer,
) -> Result<VerifyReport> {
    let (source, target) = (source.clone(), target.clone());
    let started = Instant::now();
    let ckpt = DataError::Checkpoint;
    observer.event(&Event::Phase {
        phase: "connect".into(),
    });
    let client = pg::connect(&source, "source").await?;
    let (_, catalog) = read::selected(&client, &options.selection).await?;
    let key = format!(
        "verify:{:016x}",
        canon::hash64(
            format!(
                "{}|{}|{:?}",
                source.redacted,
                target.display(),
                options.selection.tables
            )
            .as_bytes()
        )
    );
    let job = store
        .create(
            JobKind::Verify,
            &key,
            &format!("{} ≟ {}", source.redacted, target.display()),
        )
        .map_err(ckpt)?;
    observer.event(&Event::Job {
        id: job.id.clone(),
        resumed: false,
        chunks_kept: 0,
    });
    store.set_phase(&job.id, "verify").map_err(ckpt)?;
    observer.event(&Event::Phase {
        phase: "verify".into(),
    });

    let result = check_all(&source, &target, &catalog, options, observer).await;
    match result {
        Ok(tables) => {
            let report = VerifyReport {
                job: job.id.clone(),
                equal: tables.iter().all(|t| t.equal),
                tables,
                secs: started.elapsed().as_secs_f64(),
            };
            let summary = serde_json::to_value(&report).unwrap_or_default();
            let status = JobStatus::Succeeded;
            store
                .finish(
                    &job.id,
                    status,
                    &summary,
                    (!report.equal).then_some("the databases differ"),
                )
                .map_err(ckpt)?;
            Ok(report)
        }
        Err(e) => {
            let _ = store.finish(
                &job.id,
                JobStatus::Failed,
                &serde_json::Value::Null,
                Some(&e.to_string()),
            );
            Err(e)
        }
    }
}

/// One side's connection.
enum Side {
    Pg(Client),
    Sqlite(Arc<Mutex<rusqlite::Connection>>, String),
}

/// A table's aggregate: rows and the wrapping sum of row hashes, per bucket or whole.
type Sums = BTreeMap<i64, (u64, u64)>;

/// Per differing row: key display and row hash, by key canonical text.
type Rows = HashMap<String, (String, i64)>;

async fn open_side(target: &Endpoint) -> Result<Side> {
    match target {
        Endpoint::Postgres(ep) => {
            let c = pg::connect(ep, "target").await?;
            c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(|e| DataError::Sql {
                    side: "target",
                    context: "starting".into(),
                    reason: pg::error_text(&e),
                })?;
            Ok(Side::Pg(c))
        }
        Endpoint::Sqlite(path) => {
            let conn = sqlite::open_read_only(path)?;
            Ok(Side::Sqlite(
                Arc::new(Mutex::new(conn)),
                path.display().to_string(),
            ))
        }
    }
}

async fn check_all(
    source: &crate::endpoint::PgEndpoint,
    target: &Endpoint,
    catalog: &Catalog,
    options: &VerifyOptions,
    observer: &dyn Observer,
) -> Result<Vec<TableCheck>> {
    let mut order: Vec<(usize, &Table)> = catalog.tables.iter().enumerate().collect();
    order.sort_by_key(|(_, t)| std::cmp::Reverse(t.bytes));
    let queue = Mutex::new(order.into_iter().collect::<VecDeque<_>>());
    let results: Mutex<Vec<(usize, TableCheck)>> = Mutex::new(Vec::new());
    let poisoned = || DataError::Checkpoint("verify queue poisoned".into());
    let workers = (0..options.jobs.max(1).min(catalog.tables.len())).map(|_| async {
        let src = pg::connect(source, "source").await?;
        src.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| DataError::Sql {
                side: "source",
                context: "starting".into(),
                reason: pg::error_text(&e),
            })?;
        let dst = open_side(target).await?;
        loop {
            let next = queue.lock().map_err(|_| poisoned())?.pop_front();
            let Some((i, table)) = next else {
                return Ok::<(), DataError>(());
            };
            let started = Instant::now();
            observer.event(&Event::TableStart {
                table: table.name.to_string(),
                rows: table.estimated_rows.max(0) as u64,
                bytes: table.bytes.max(0) as u64,
            });
            let check = check_table(&src, &dst, table, options.max_keys.max(1)).await?;
            observer.event(&Event::TableDone {
                table: check.table.clone(),
                rows: check.source_rows,
                bytes: 0,
                secs: started.elapsed().as_secs_f64(),
            });
            results.lock().map_err(|_| poisoned())?.push((i, check));
        }
    });
    futures_util::future::try_join_all(workers).await?;
    let mut results = results.into_inner().map_err(|_| poisoned())?;
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, c)| c).collect())
}

fn copied(table: &Table) -> Vec<&Column> {
    table.copied_columns().collect()
}

fn key_columns(table: &Table) -> Vec<&Column> {
    table.key().iter().filter_map(|k| table.column(k)).collect()
}

fn pg_display(columns: &[&Column]) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "{} || coalesce({}, 'NULL')",
                crate::catalog::quote_literal(&format!("{}=", c.name)),
                canon::pg_value(c)
            )
        })
        .collect();
    parts.join(" || ', ' || ")
}

fn sqlite_display(columns: &[&Column]) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "{} || coalesce({}, 'NULL')",
                crate::catalog::quote_literal(&format!("{}=", c.name)),
                canon::sqlite_value(c)
            )
        })
        .collect();
    parts.join(" || ', ' || ")
}

/// The Postgres side's SQL for one table. Against SQLite: the canonical encoding
/// ([`canon`]), MD5-based. Against Postgres, where both sides hold the same types: each row's
/// own text form (`ROW(…)::text`, under the fixed session settings) hashed with Postgres'
/// 64-bit `hashtextextended` — the same guarantee (equal text exactly when equal values) at a
/// third of the cost.
struct PgSql {
    /// Row hash (int8).
    hash: String,
    /// Key text (for matching rows across sides).
    key: String,
    /// Bucket of a row (0–255) by the hash of its key.
    bucket: String,
    /// `FROM ONLY "schema"."table"`.
    from: String,
}

impl PgSql {
    fn new(native: bool, table: &Table, cols: &[&Column], keys: &[&Column]) -> PgSql {
        let from = format!("FROM ONLY {}", table.name.sql());
        if native {
            let text = |c: &[&Column]| {
                let list: Vec<String> = c.iter().map(|c| quote_ident(&c.name)).collect();
                format!("ROW({})::text", list.join(", "))
            };
            let key = text(keys);
            return PgSql {
                hash: format!("hashtextextended({}, 0)", text(cols)),
                bucket: format!("((hashtextextended({key}, 0) >> 56) & 255)"),
                key,
                from,
            };
        }
        let key = canon::pg_row(keys.iter().copied());
        PgSql {
            hash: canon::pg_hash(&canon::pg_row(cols.iter().copied())),
            bucket: format!("('x' || substr(md5({key}), 1, 2))::bit(8)::int8"),
            key,
            from,
        }
    }

    fn whole(&self) -> String {
        format!(
            "SELECT 0::int8, count(*)::int8, sum(h)::text FROM (SELECT {} AS h {}) s",
            self.hash, self.from
        )
    }

    fn buckets(&self) -> String {
        format!(
            "SELECT b, count(*)::int8, sum(h)::text FROM (SELECT {} AS b, {} AS h {}) s GROUP BY b",
            self.bucket, self.hash, self.from
        )
    }

    fn rows(&self, display: &str, bucket: i64) -> String {
        format!(
            "SELECT {display}, {}, {} {} WHERE {} = {bucket}",
            self.key, self.hash, self.from, self.bucket
        )
    }
}

async fn check_table(
    src: &Client,
    dst: &Side,
    table: &Table,
    max_keys: usize,
) -> Result<TableCheck> {
    let cols = copied(table);
    let keys = key_columns(table);
    let keyed = !keys.is_empty();
    let mut check = TableCheck {
        table: table.name.to_string(),
        source_rows: 0,
        target_rows: None,
        equal: false,
        method: if keyed { "keyed" } else { "whole-table" },
        key: table.key().to_vec(),
        differences: vec![],
        more_differences: false,
    };
    let sql = PgSql::new(matches!(dst, Side::Pg(_)), table, &cols, &keys);
    let whole_sql = sql.whole();
    let source_whole = pg_sums(src, &whole_sql, "source");
    let target_whole = side_whole(dst, &sql, table, &cols);
    let (source_whole, target_whole) = tokio::join!(source_whole, target_whole);
    let source_whole = source_whole?;
    let (s_rows, s_sum) = source_whole.get(&0).copied().unwrap_or((0, 0));
    check.source_rows = s_rows;
    let Some(target_whole) = target_whole? else {
        return Ok(check);
    };
    let (t_rows, t_sum) = target_whole.get(&0).copied().unwrap_or((0, 0));
    check.target_rows = Some(t_rows);
    if s_rows == t_rows && s_sum == t_sum {
        check.equal = true;
        return Ok(check);
    }
    if !keyed {
        return Ok(check);
    }
    // Narrow down: 256 buckets by the hash of the key, then the rows of differing buckets.
    let bucket_sql = sql.buckets();
    let source_buckets = pg_sums(src, &bucket_sql, "source");
    let target_buckets = side_buckets(dst, &sql, table, &cols, &keys);
    let (source_buckets, target_buckets) = tokio::join!(source_buckets, target_buckets);
    let (source_buckets, target_buckets) = (source_buckets?, target_buckets?);
    let mut differing: Vec<i64> = source_buckets
        .keys()
        .chain(target_buckets.keys())
        .filter(|b| source_buckets.get(b) != target_buckets.get(b))
        .copied()
        .collect();
    differing.sort_unstable();
    differing.dedup();
    let pg_disp = pg_display(&keys);
    for bucket in differing {
        let rows_sql = sql.rows(&pg_disp, bucket);
        let source_rows = pg_rows(src, &rows_sql);
        let target_rows = side_rows(dst, &sql, table, &cols, &keys, bucket);
        let (source_rows, target_rows) = tokio::join!(source_rows, target_rows);
        let (source_rows, target_rows) = (source_rows?, target_rows?);
        let mut found: Vec<Difference> = Vec::new();
        for (k, (display, hash)) in &source_rows {
            match target_rows.get(k) {
                None => found.push(Difference {
                    key: display.clone(),
                    kind: DiffKind::MissingOnTarget,
                }),
                Some((_, h)) if h != hash => found.push(Difference {
                    key: display.clone(),
                    kind: DiffKind::Changed,
                }),
                Some(_) => {}
            }
        }
        for (k, (display, _)) in &target_rows {
            if !source_rows.contains_key(k) {
                found.push(Difference {
                    key: display.clone(),
                    kind: DiffKind::ExtraOnTarget,
                });
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        for d in found {
            if check.differences.len() >= max_keys {
                check.more_differences = true;
                break;
            }
            check.differences.push(d);
        }
        if check.more_differences {
            break;
        }
    }
    Ok(check)
}

async fn pg_sums(client: &Client, sql: &str, side: &'static str) -> Result<Sums> {
    let rows = client.query(sql, &[]).await.map_err(|e| DataError::Sql {
        side,
        context: "computing checksums".into(),
        reason: pg::error_text(&e),
    })?;
    Ok(rows
        .iter()
        .map(|r| {
            let sum: Option<String> = r.get(2);
            (
                r.get::<_, i64>(0),
                (
                    r.get::<_, i64>(1).max(0) as u64,
                    canon::wrap_sum(sum.as_deref()),
                ),
            )
        })
        .collect())
}

async fn pg_rows(client: &Client, sql: &str) -> Result<Rows> {
    let rows = client.query(sql, &[]).await.map_err(|e| DataError::Sql {
        side: "source",
        context: "reading differing rows".into(),
        reason: pg::error_text(&e),
    })?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(1),
                (r.get::<_, String>(0), r.get::<_, i64>(2)),
            )
        })
        .collect())
}

/// The target's whole-table sums, or None when the table is missing.
async fn side_whole(
    side: &Side,
    pg_sql: &PgSql,
    table: &Table,
    cols: &[&Column],
) -> Result<Option<Sums>> {
    match side {
        Side::Pg(client) => {
            let exists: bool = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table.name.sql()])
                .await
                .map_err(|e| DataError::Sql {
                    side: "target",
                    context: "looking up a table".into(),
                    reason: pg::error_text(&e),
                })?
                .get(0);
            if !exists {
                return Ok(None);
            }
            pg_sums(client, &pg_sql.whole(), "target").await.map(Some)
        }
        Side::Sqlite(conn, path) => {
            let name = sqlite::table_name(&table.name);
            let hash = canon::sqlite_hash(&canon::sqlite_row(cols.iter().copied()));
            let sql = format!(
                "SELECT 0, count(*), ferry_sum64(h) FROM (SELECT {hash} AS h FROM {})",
                quote_ident(&name)
            );
            let (conn, path) = (conn.clone(), path.clone());
            blocking(path.clone(), move || {
                let conn = conn
                    .lock()
                    .map_err(|_| sqlite_err(&path, "connection poisoned"))?;
                let exists: bool = conn
                    .query_row(
                        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                        [&name],
                        |r| r.get(0),
                    )
                    .map_err(|e| sqlite_err(&path, &e.to_string()))?;
                if !exists {
                    return Ok(None);
                }
                sqlite_sums(&conn, &sql, &path).map(Some)
            })
            .await
        }
    }
}

async fn side_buckets(
    side: &Side,
    pg_sql: &PgSql,
    table: &Table,
    cols: &[&Column],
    keys: &[&Column],
) -> Result<Sums> {
    match side {
        Side::Pg(client) => pg_sums(client, &pg_sql.buckets(), "target").await,
        Side::Sqlite(conn, path) => {
            let hash = canon::sqlite_hash(&canon::sqlite_row(cols.iter().copied()));
            let bucket = format!(
                "(({}) >> 56) & 255",
                canon::sqlite_hash(&canon::sqlite_row(keys.iter().copied()))
            );
            let sql = format!(
                "SELECT b, count(*), ferry_sum64(h) FROM (SELECT {bucket} AS b, {hash} AS h FROM {}) GROUP BY b",
                quote_ident(&sqlite::table_name(&table.name))
            );
            let (conn, path) = (conn.clone(), path.clone());
            blocking(path.clone(), move || {
                let conn = conn
                    .lock()
                    .map_err(|_| sqlite_err(&path, "connection poisoned"))?;
                sqlite_sums(&conn, &sql, &path)
            })
            .await
        }
    }
}

async fn side_rows(
    side: &Side,
    pg_sql: &PgSql,
    table: &Table,
    cols: &[&Column],
    keys: &[&Column],
    bucket: i64,
) -> Result<Rows> {
    match side {
        Side::Pg(client) => pg_rows(client, &pg_sql.rows(&pg_display(keys), bucket)).await,
        Side::Sqlite(conn, path) => {
            let key = canon::sqlite_row(keys.iter().copied());
            let hash = canon::sqlite_hash(&canon::sqlite_row(cols.iter().copied()));
            let sql = format!(
                "SELECT {}, {key}, {hash} FROM {} WHERE (({}) >> 56) & 255 = {bucket}",
                sqlite_display(keys),
                quote_ident(&sqlite::table_name(&table.name)),
                canon::sqlite_hash(&key)
            );
            let (conn, path) = (conn.clone(), path.clone());
            blocking(path.clone(), move || {
                let conn = conn
                    .lock()
                    .map_err(|_| sqlite_err(&path, "connection poisoned"))?;
                let mut stmt = conn
                    .prepare(&sql)
                    .map_err(|e| sqlite_err(&path, &e.to_string()))?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, String>(1)?,
                            (r.get::<_, String>(0)?, r.get::<_, i64>(2)?),
                        ))
                    })
                    .map_err(|e| sqlite_err(&path, &e.to_string()))?;
                rows.collect::<std::result::Result<Rows, _>>()
                    .map_err(|e| sqlite_err(&path, &e.to_string()))
            })
            .await
        }
    }
}

fn sqlite_sums(conn: &rusqlite::Connection, sql: &str, path: &str) -> Result<Sums> {
    let mut stmt = conn
        .prepare(sql)
        .map_err(|e| sqlite_err(path, &e.to_string()))?;
    let rows = stmt
        .query_map([], |r| {
            let sum: Option<i64> = r.get(2)?;
            Ok((
                r.get::<_, i64>(0)?,
                (r.get::<_, i64>(1)?.max(0) as u64, sum.unwrap_or(0) as u64),
            ))
        })
        .map_err(|e| sqlite_err(path, &e.to_string()))?;
    rows.collect::<std::result::Result<Sums, _>>()
        .map_err(|e| sqlite_err(path, &e.to_string()))
}

fn sqlite_err(path: &str, reason: &str) -> DataError {
    DataError::Sqlite {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

async fn blocking<T: Send + 'static>(
    path: String,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| sqlite_err(&path, &e.to_string()))?
}
