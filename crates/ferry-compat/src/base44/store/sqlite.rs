//! SQLite: one connection behind an async mutex, every call on `spawn_blocking`.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{Result, SQLITE_BUSY_TIMEOUT, StoreError};
use crate::base44::query::{Sql, register_sqlite_functions};
use crate::base44::record::Cell;

/// An SQLite database: one connection (WAL mode, so readers in other processes are not
/// blocked), used by one statement or transaction at a time. Clones share the connection.
#[derive(Clone)]
pub struct Lite {
    conn: Arc<Mutex<Connection>>,
}

impl Lite {
    /// Opens (creating when missing) the file at `path`, or an in-memory database for `None`.
    pub(super) async fn open(path: Option<PathBuf>) -> Result<Lite> {
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let conn = match &path {
                Some(p) => Connection::open(p),
                None => Connection::open_in_memory(),
            }
            .map_err(|e| StoreError::Connect(e.to_string()))?;
            conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
            if path.is_some() {
                let _mode: String =
                    conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
                // A 64 MiB page cache and memory-mapped reads: list pages of a large table are
                // served from memory instead of being copied in from the kernel each time.
                conn.execute_batch(
                    "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456",
                )?;
            }
            register_sqlite_functions(&conn)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(Lite {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Waits for the connection; a transaction an earlier holder left open is rolled back.
    pub(super) async fn acquire(&self) -> Result<LiteConn> {
        let guard = self.conn.clone().lock_owned().await;
        let clean = guard.is_autocommit();
        let mut conn = LiteConn { guard: Some(guard) };
        if !clean {
            conn.batch("ROLLBACK").await?;
        }
        Ok(conn)
    }
}

/// The connection, held by one statement or transaction.
pub(super) struct LiteConn {
    /// `None` only while a blocking call has it.
    guard: Option<OwnedMutexGuard<Connection>>,
}

impl LiteConn {
    /// Runs `f` on the connection on a blocking thread.
    async fn run<R, F>(&mut self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    {
        let Some(mut guard) = self.guard.take() else {
            return Err(StoreError::Task("the connection was lost".into()));
        };
        let (guard, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut guard);
            (guard, result)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        self.guard = Some(guard);
        result
    }

    pub(super) async fn query(&mut self, sql: &Sql, columns: usize) -> Result<Vec<Vec<Cell>>> {
        let sql = sql.clone();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(&sql.text)?;
            let width = stmt.column_count();
            if width != columns {
                return Err(StoreError::Shape(format!(
                    "{width} columns, expected {columns}"
                )));
            }
            let mut rows = stmt
                .query(rusqlite::params_from_iter(&sql.params))
                .map_err(map_error)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(map_error)? {
                let mut cells = Vec::with_capacity(width);
                for i in 0..width {
                    cells.push(row.get::<_, Cell>(i)?);
                }
                out.push(cells);
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn execute(&mut self, sql: &Sql) -> Result<u64> {
        let sql = sql.clone();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(&sql.text)?;
            let n = stmt
                .execute(rusqlite::params_from_iter(&sql.params))
                .map_err(map_error)?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
        .await
    }

    pub(super) async fn batch(&mut self, text: &str) -> Result<()> {
        let text = text.to_string();
        self.run(move |conn| conn.execute_batch(&text).map_err(map_error))
            .await
    }
}

impl Drop for LiteConn {
    /// A transaction left open (an error or a cancelled request) is rolled back in the
    /// background; [`Lite::acquire`] checks again before the next use.
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        if guard.is_autocommit() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn_blocking(move || {
                let _ = guard.execute_batch("ROLLBACK");
            });
        }
    }
}

/// A unique or primary key violation is a [`StoreError::Conflict`]; the rest as they are.
fn map_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, _) = &e
        && matches!(
            code.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        )
    {
        return StoreError::Conflict("a unique value already exists".into());
    }
    StoreError::Sqlite(e)
}
