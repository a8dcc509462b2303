//! The target of a follow: a Postgres server or a SQLite file. Each batch of source
//! transactions is one target transaction, which also records the batch's end LSN (Postgres:
//! `_ferry.follow`; SQLite: `_ferry_follow`), so a batch replayed after a crash is skipped.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::try_join_all;
use rusqlite::OptionalExtension;
use rusqlite::types::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Statement};

use super::apply::{
    Change, Dialect, Op, Step, Stmt, TableInfo, delete_many_sql, fill_unchanged, group, plan,
    upsert_many_sql,
};
use super::pgoutput::{Datum, format_lsn, parse_lsn};
use super::value::to_sqlite;
use crate::catalog::{Catalog, QualifiedName, ValueKind};
use crate::endpoint::Endpoint;
use crate::error::{DataError, Result};
use crate::job::{Event, Observer};
use crate::pg;
use crate::sqlite::{SCHEMA_TABLE, SqliteTarget};

/// Columns (name, `format_type`) of each target table.
pub(super) type Columns = HashMap<QualifiedName, Vec<(String, String)>>;

/// An open target (one per follow: the size of the variants does not matter).
#[allow(clippy::large_enum_variant)]
pub(super) enum Target {
    Postgres {
        client: Client,
        statements: HashMap<String, Statement>,
        /// The session replicates (`session_replication_role = replica`: no triggers, no
        /// foreign-key checks), so a batch may be applied as grouped statements.
        grouped: bool,
    },
    /// Behind a mutex so the follow future stays `Send` (never locked across an await).
    Sqlite(Box<Mutex<SqliteTarget>>),
}

fn dst(context: &str) -> impl Fn(tokio_postgres::Error) -> DataError + '_ {
    move |e| pg::sql_error("target", context, &e)
}

fn lite(path: &str, context: &str, e: impl std::fmt::Display) -> DataError {
    DataError::Sqlite {
        path: path.into(),
        reason: format!("{context}: {e}"),
    }
}

impl Target {
    /// Opens the target, creates the LSN record, and reads the columns of the followed tables
    /// (which must exist: the target is a pull's).
    pub(super) async fn open(
        endpoint: &Endpoint,
        catalog: &Catalog,
        observer: &dyn Observer,
    ) -> Result<(Target, Columns)> {
        let mut columns = Columns::new();
        match endpoint {
            Endpoint::Postgres(p) => {
                let client = pg::connect(p, "target").await?;
                let grouped = client
                    .batch_execute("SET session_replication_role = replica")
                    .await
                    .is_ok();
                // The grouped statements take arrays of any length: a generic plan (index
                // probes per key) never turns into a scan of the whole table.
                let _ = client
                    .batch_execute("SET plan_cache_mode = force_generic_plan")
                    .await;
                if !grouped {
                    observer.event(&Event::Note {
                        message: "the target role may not set session_replication_role: its triggers fire for the applied changes".into(),
                    });
                }
                client
                    .batch_execute(
                        "CREATE SCHEMA IF NOT EXISTS _ferry; CREATE TABLE IF NOT EXISTS _ferry.follow \
                         (slot text PRIMARY KEY, lsn pg_lsn NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
                    )
                    .await
                    .map_err(dst("creating _ferry.follow"))?;
                for table in &catalog.tables {
                    let rows = client
                        .query(
                            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
                             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                             JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0
                               AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
                            &[&table.name.schema, &table.name.name],
                        )
                        .await
                        .map_err(dst("reading the target's columns"))?;
                    if rows.is_empty() {
                        return Err(missing(&table.name, &endpoint.display()));
                    }
                    columns.insert(
                        table.name.clone(),
                        rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
                    );
                }
                Ok((
                    Target::Postgres {
                        client,
                        statements: HashMap::new(),
                        grouped,
                    },
                    columns,
                ))
            }
            Endpoint::Sqlite(path) => {
                let shown = path.display().to_string();
                if !path.is_file() {
                    return Err(DataError::Sqlite {
                        path: shown,
                        reason: "does not exist: pull into it first".into(),
                    });
                }
                let target = SqliteTarget::open(path)?;
                let conn = target.connection();
                let stored: Option<String> = conn
                    .query_row(
                        &format!("SELECT catalog FROM \"{SCHEMA_TABLE}\""),
                        [],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| lite(&shown, "reading _ferry_schema (is it a pulled file?)", e))?;
                let pulled: Catalog = stored
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(|e| lite(&shown, "reading _ferry_schema", e))?
                    .unwrap_or_default();
                for table in &catalog.tables {
                    let Some(found) = pulled.table(&table.name) else {
                        return Err(missing(&table.name, &endpoint.display()));
                    };
                    columns.insert(
                        table.name.clone(),
                        found
                            .copied_columns()
                            .map(|c| (c.name.clone(), c.sql_type.clone()))
                            .collect(),
                    );
                }
                conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS _ferry_follow (slot TEXT PRIMARY KEY, lsn INTEGER NOT NULL)",
                )
                .map_err(|e| lite(&shown, "creating _ferry_follow", e))?;
                Ok((Target::Sqlite(Box::new(Mutex::new(target))), columns))
            }
        }
    }

    /// The end LSN of the last batch committed for this slot.
    pub(super) async fn applied_lsn(&self, slot: &str) -> Result<Option<u64>> {
        match self {
            Target::Postgres { client, .. } => {
                let row = client
                    .query_opt(
                        "SELECT lsn::text FROM _ferry.follow WHERE slot = $1",
                        &[&slot],
                    )
                    .await
                    .map_err(dst("reading _ferry.follow"))?;
                Ok(row.and_then(|r| parse_lsn(&r.get::<_, String>(0))))
            }
            Target::Sqlite(t) => {
                let t = locked(t)?;
                let lsn: Option<i64> = t
                    .connection()
                    .query_row(
                        "SELECT lsn FROM _ferry_follow WHERE slot = ?1",
                        [slot],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| {
                        lite(&t.path().display().to_string(), "reading _ferry_follow", e)
                    })?;
                Ok(lsn.map(|v| v as u64))
            }
        }
    }

    /// Forgets the slot's record (after a cutover), dropping the record table when empty.
    pub(super) async fn forget(&self, slot: &str) -> Result<()> {
        match self {
            Target::Postgres { client, .. } => client
                .batch_execute(&format!(
                    "DELETE FROM _ferry.follow WHERE slot = {}; DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM _ferry.follow) THEN DROP TABLE _ferry.follow; DROP SCHEMA IF EXISTS _ferry; END IF; END $$",
                    crate::catalog::quote_literal(slot)
                ))
                .await
                .map_err(dst("removing _ferry.follow")),
            Target::Sqlite(t) => {
                let t = locked(t)?;
                let conn = t.connection();
                conn.execute("DELETE FROM _ferry_follow WHERE slot = ?1", [slot])
                    .and_then(|_| {
                        let left: i64 =
                            conn.query_row("SELECT count(*) FROM _ferry_follow", [], |r| r.get(0))?;
                        if left == 0 {
                            conn.execute_batch("DROP TABLE _ferry_follow")?;
                        }
                        Ok(())
                    })
                    .map_err(|e| lite(&t.path().display().to_string(), "removing _ferry_follow", e))
            }
        }
    }

    /// Applies `changes` (whole transactions, in commit order) and records `end_lsn`, in one
    /// target transaction. `source` converts array values for SQLite.
    pub(super) async fn apply(
        &mut self,
        source: &Client,
        tables: &[TableInfo],
        changes: &[Change],
        slot: &str,
        end_lsn: u64,
    ) -> Result<()> {
        match self {
            Target::Postgres {
                client,
                statements,
                grouped,
            } => apply_pg(client, statements, *grouped, tables, changes, slot, end_lsn).await,
            Target::Sqlite(t) => {
                let ready = sqlite_values(source, tables, changes).await?;
                apply_sqlite(&*locked(t)?, &ready, slot, end_lsn)
            }
        }
    }
}

/// The SQLite target, locked.
pub(super) fn locked(t: &Mutex<SqliteTarget>) -> Result<std::sync::MutexGuard<'_, SqliteTarget>> {
    t.lock().map_err(|_| DataError::Sqlite {
        path: String::new(),
        reason: "an earlier write panicked".into(),
    })
}

fn missing(table: &QualifiedName, target: &str) -> DataError {
    DataError::SchemaChanged {
        change: format!("{table} is followed but missing on the target {target} (pull it first)"),
    }
}

/// Applies a batch to a Postgres target in one transaction. With `grouped` (the session
/// replicates: no triggers, no foreign-key checks), the batch is first applied as grouped
/// statements ([`group`]), all sent at once (pipelined); when that fails on a constraint
/// (a unique value moved between rows within the batch), the transaction is rolled back and
/// the batch applied change by change, in order, pipelined between the statements whose
/// outcome decides the next.
async fn apply_pg(
    client: &mut Client,
    statements: &mut HashMap<String, Statement>,
    grouped: bool,
    tables: &[TableInfo],
    changes: &[Change],
    slot: &str,
    end_lsn: u64,
) -> Result<()> {
    if grouped {
        let steps = group(tables, changes)?;
        match apply_pg_once(
            client,
            statements,
            tables,
            changes,
            Some(&steps),
            slot,
            end_lsn,
        )
        .await
        {
            Ok(()) => return Ok(()),
            Err(Fail::Sql(e, _)) if retry_exactly(&e) => {
                tracing::debug!("grouped batch failed ({e}); applying it change by change");
            }
            Err(f) => return Err(f.into_error(tables)),
        }
    }
    apply_pg_once(client, statements, tables, changes, None, slot, end_lsn)
        .await
        .map_err(|f| f.into_error(tables))
}

/// A grouped batch failing this way may succeed change by change.
fn retry_exactly(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        c.code().starts_with("23")
            || *c == SqlState::CARDINALITY_VIOLATION
            || *c == SqlState::IN_FAILED_SQL_TRANSACTION
    })
}

/// A failure of [`apply_pg_once`].
enum Fail {
    /// A statement failed (`Some(table)`: while applying a change to it).
    Sql(tokio_postgres::Error, Option<usize>),
    Data(DataError),
}

impl Fail {
    fn into_error(self, tables: &[TableInfo]) -> DataError {
        match self {
            Fail::Data(e) => e,
            Fail::Sql(e, None) => pg::sql_error("target", "applying a batch", &e),
            Fail::Sql(e, Some(t)) => {
                let table = tables
                    .get(t)
                    .map(|t| t.name.to_string())
                    .unwrap_or_default();
                pg::sql_error("target", &format!("applying a change to {table}"), &e)
            }
        }
    }
}

impl From<DataError> for Fail {
    fn from(e: DataError) -> Fail {
        Fail::Data(e)
    }
}

/// One transaction: the steps (`None`: every change as [`plan`] says), the position record,
/// the commit. Rolled back on failure.
async fn apply_pg_once(
    client: &mut Client,
    statements: &mut HashMap<String, Statement>,
    tables: &[TableInfo],
    changes: &[Change],
    steps: Option<&[Step]>,
    slot: &str,
    end_lsn: u64,
) -> std::result::Result<(), Fail> {
    let tx = client.transaction().await.map_err(|e| Fail::Sql(e, None))?;
    let applied = match steps {
        Some(steps) => run_steps(&tx, statements, tables, changes, steps).await,
        None => run_exact(&tx, statements, tables, changes).await,
    };
    if let Err(f) = applied {
        let _ = tx.rollback().await;
        return Err(f);
    }
    let lsn = format_lsn(end_lsn);
    tx.execute(
        "INSERT INTO _ferry.follow (slot, lsn) VALUES ($1, $2::text::pg_lsn)
         ON CONFLICT (slot) DO UPDATE SET lsn = EXCLUDED.lsn, updated_at = now()",
        &[&slot, &lsn],
    )
    .await
    .map_err(|e| Fail::Data(dst("recording the applied position")(e)))?;
    tx.commit()
        .await
        .map_err(|e| Fail::Data(dst("committing a batch")(e)))
}

/// The prepared statement for `sql` (parameters of type `param`), prepared once per session.
async fn prepared(
    tx: &tokio_postgres::Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    sql: &str,
    params: usize,
    param: Type,
    table: usize,
) -> std::result::Result<Statement, Fail> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let types = vec![param; params];
    let s = tx
        .prepare_typed(sql, &types)
        .await
        .map_err(|e| Fail::Sql(e, Some(table)))?;
    statements.insert(sql.to_string(), s.clone());
    Ok(s)
}

/// A statement ready to run: its table and its parameters.
struct Work<P> {
    statement: Statement,
    table: usize,
    params: Vec<P>,
}

/// Runs `work` in order, all sent before the first answer is awaited (tokio-postgres
/// pipelines the requests of one client); the row counts in order.
async fn pipeline<P: ToSql + Sync>(
    tx: &tokio_postgres::Transaction<'_>,
    work: &[Work<P>],
) -> std::result::Result<Vec<u64>, Fail> {
    let runs = work.iter().map(|w| async move {
        let params: Vec<&(dyn ToSql + Sync)> =
            w.params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        tx.execute(&w.statement, &params)
            .await
            .map_err(|e| Fail::Sql(e, Some(w.table)))
    });
    try_join_all(runs).await
}

fn text(d: &Datum) -> Option<&str> {
    match d {
        Datum::Text(t) => Some(t.as_str()),
        _ => None,
    }
}

/// Grouped steps: the deletes and upserts as one statement each, every step pipelined
/// (the exact steps as [`run_exact`] runs them, in their place).
async fn run_steps(
    tx: &tokio_postgres::Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    tables: &[TableInfo],
    changes: &[Change],
    steps: &[Step],
) -> std::result::Result<(), Fail> {
    let info = |t: usize| {
        tables.get(t).ok_or_else(|| {
            Fail::Data(DataError::Protocol {
                reason: format!("a change names table #{t}, which was not described"),
            })
        })
    };
    let mut work: Vec<Work<Vec<Option<&str>>>> = Vec::new();
    for step in steps {
        match step {
            Step::Exact(i) => {
                pipeline(tx, &work).await?;
                work.clear();
                run_exact(tx, statements, tables, &changes[*i..=*i]).await?;
            }
            Step::Delete { table, keys } => {
                let ti = info(*table)?;
                let sql = delete_many_sql(ti);
                let statement =
                    prepared(tx, statements, &sql, ti.key.len(), Type::TEXT_ARRAY, *table).await?;
                let params = (0..ti.key.len())
                    .map(|n| keys.iter().map(|k| text(&k[n])).collect())
                    .collect();
                work.push(Work {
                    statement,
                    table: *table,
                    params,
                });
            }
            Step::Upsert {
                table,
                columns,
                rows,
            } => {
                let ti = info(*table)?;
                let sql = upsert_many_sql(ti, columns);
                let statement = prepared(
                    tx,
                    statements,
                    &sql,
                    columns.len(),
                    Type::TEXT_ARRAY,
                    *table,
                )
                .await?;
                let params = columns
                    .iter()
                    .map(|&c| rows.iter().map(|r| text(&r[c])).collect())
                    .collect();
                work.push(Work {
                    statement,
                    table: *table,
                    params,
                });
            }
        }
    }
    pipeline(tx, &work).await?;
    Ok(())
}

/// Every change as [`plan`] says, in order: pipelined up to each statement whose row count
/// decides whether the next runs.
async fn run_exact(
    tx: &tokio_postgres::Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    tables: &[TableInfo],
    changes: &[Change],
) -> std::result::Result<(), Fail> {
    let filled: Vec<Vec<Vec<Datum>>> = changes.iter().map(fill_unchanged).collect();
    let mut work: Vec<Work<Option<&str>>> = Vec::new();
    for (change, filled) in changes.iter().zip(&filled) {
        for op in plan(Dialect::Postgres, tables, change, filled)? {
            match op {
                Op::Exec(stmt) => work.push(ready(tx, statements, &stmt).await?),
                Op::Else(first, second) => {
                    let first = ready(tx, statements, &first).await?;
                    let second = ready(tx, statements, &second).await?;
                    work.push(first);
                    let counts = pipeline(tx, &work).await?;
                    work.clear();
                    if counts.last() == Some(&0) {
                        work.push(second);
                    }
                }
            }
        }
    }
    pipeline(tx, &work).await?;
    Ok(())
}

async fn ready<'a>(
    tx: &tokio_postgres::Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    stmt: &Stmt<'a>,
) -> std::result::Result<Work<Option<&'a str>>, Fail> {
    let statement = prepared(
        tx,
        statements,
        &stmt.sql,
        stmt.values.len(),
        Type::TEXT,
        stmt.table,
    )
    .await?;
    Ok(Work {
        statement,
        table: stmt.table,
        params: stmt.values.iter().map(|(_, d)| text(d)).collect(),
    })
}

/// A statement with its values converted for SQLite.
struct Ready {
    sql: String,
    values: Vec<Value>,
    /// Run only when the previous statement changed no row.
    otherwise: bool,
}

async fn sqlite_values(
    source: &Client,
    tables: &[TableInfo],
    changes: &[Change],
) -> Result<Vec<Ready>> {
    let mut ready = Vec::new();
    for change in changes {
        let filled = fill_unchanged(change);
        for op in plan(Dialect::Sqlite, tables, change, &filled)? {
            let (stmts, otherwise): (Vec<Stmt<'_>>, bool) = match op {
                Op::Exec(s) => (vec![s], false),
                Op::Else(a, b) => (vec![a, b], true),
            };
            for (n, stmt) in stmts.into_iter().enumerate() {
                let info = tables.get(stmt.table).ok_or_else(|| DataError::Protocol {
                    reason: "a change names an undescribed table".into(),
                })?;
                let mut values = Vec::with_capacity(stmt.values.len());
                for (i, datum) in &stmt.values {
                    let Some(column) = info.columns.get(*i) else {
                        continue;
                    };
                    let Datum::Text(text) = datum else {
                        values.push(Value::Null);
                        continue;
                    };
                    let value = if matches!(column.kind, ValueKind::Array(_)) {
                        let sql = format!("SELECT to_jsonb($1::text::{})::text", column.sql_type);
                        let row = source
                            .query_one(&sql, &[&text.as_str()])
                            .await
                            .map_err(|e| {
                                pg::sql_error(
                                    "source",
                                    &format!("converting {}.{}", info.name, column.name),
                                    &e,
                                )
                            })?;
                        Value::Text(row.get(0))
                    } else {
                        to_sqlite(column, text).map_err(|e| DataError::UnsupportedType {
                            what: format!("{}.{}: {e}", info.name, column.name),
                        })?
                    };
                    values.push(value);
                }
                ready.push(Ready {
                    sql: stmt.sql,
                    values,
                    otherwise: otherwise && n == 1,
                });
            }
        }
    }
    Ok(ready)
}

fn apply_sqlite(target: &SqliteTarget, ready: &[Ready], slot: &str, end_lsn: u64) -> Result<()> {
    let shown = target.path().display().to_string();
    let conn = target.connection();
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| lite(&shown, "beginning a batch", e))?;
    let result = (|| -> rusqlite::Result<()> {
        let mut last = 0usize;
        for r in ready {
            if r.otherwise && last != 0 {
                continue;
            }
            let mut stmt = conn.prepare_cached(&r.sql)?;
            last = stmt.execute(rusqlite::params_from_iter(r.values.iter()))?;
        }
        conn.execute(
            "INSERT INTO _ferry_follow (slot, lsn) VALUES (?1, ?2) ON CONFLICT (slot) DO UPDATE SET lsn = excluded.lsn",
            (slot, end_lsn as i64),
        )?;
        conn.execute_batch("COMMIT")
    })();
    if let Err(e) = result {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(lite(&shown, "applying a batch", e));
    }
    Ok(())
}
