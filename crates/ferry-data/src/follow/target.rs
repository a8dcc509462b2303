//! The target of a follow: a Postgres server or a SQLite file. Each batch of source
//! transactions is one target transaction, which also records the batch's end LSN (Postgres:
//! `_ferry.follow`; SQLite: `_ferry_follow`), so a batch replayed after a crash is skipped.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::OptionalExtension;
use rusqlite::types::Value;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Statement};

use super::apply::{Change, Dialect, Op, Stmt, TableInfo, fill_unchanged, plan};
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

/// An open target.
pub(super) enum Target {
    Postgres {
        client: Client,
        statements: HashMap<String, Statement>,
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
                if client
                    .batch_execute("SET session_replication_role = replica")
                    .await
                    .is_err()
                {
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
            Target::Postgres { client, statements } => {
                apply_pg(client, statements, tables, changes, slot, end_lsn).await
            }
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

async fn apply_pg(
    client: &mut Client,
    statements: &mut HashMap<String, Statement>,
    tables: &[TableInfo],
    changes: &[Change],
    slot: &str,
    end_lsn: u64,
) -> Result<()> {
    let tx = client
        .transaction()
        .await
        .map_err(dst("beginning a batch"))?;
    for change in changes {
        let filled = fill_unchanged(change);
        for op in plan(Dialect::Postgres, tables, change, &filled)? {
            match op {
                Op::Exec(stmt) => {
                    run_pg(&tx, statements, tables, &stmt).await?;
                }
                Op::Else(first, second) => {
                    if run_pg(&tx, statements, tables, &first).await? == 0 {
                        run_pg(&tx, statements, tables, &second).await?;
                    }
                }
            }
        }
    }
    let lsn = format_lsn(end_lsn);
    tx.execute(
        "INSERT INTO _ferry.follow (slot, lsn) VALUES ($1, $2::text::pg_lsn)
         ON CONFLICT (slot) DO UPDATE SET lsn = EXCLUDED.lsn, updated_at = now()",
        &[&slot, &lsn],
    )
    .await
    .map_err(dst("recording the applied position"))?;
    tx.commit().await.map_err(dst("committing a batch"))
}

async fn run_pg(
    tx: &tokio_postgres::Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    tables: &[TableInfo],
    stmt: &Stmt<'_>,
) -> Result<u64> {
    let table = tables
        .get(stmt.table)
        .map(|t| t.name.to_string())
        .unwrap_or_default();
    let prepared = match statements.get(&stmt.sql) {
        Some(s) => s.clone(),
        None => {
            let types = vec![Type::TEXT; stmt.values.len()];
            let s = tx.prepare_typed(&stmt.sql, &types).await.map_err(|e| {
                pg::sql_error("target", &format!("applying a change to {table}"), &e)
            })?;
            statements.insert(stmt.sql.clone(), s.clone());
            s
        }
    };
    let values: Vec<Option<&str>> = stmt
        .values
        .iter()
        .map(|(_, d)| match d {
            Datum::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    tx.execute(&prepared, &params)
        .await
        .map_err(|e| pg::sql_error("target", &format!("applying a change to {table}"), &e))
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
