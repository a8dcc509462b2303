//! The embedded SQLite target (docs/data-sqlite.md): one file holding every copied table,
//! written in chunks from Postgres text-format COPY output, plus the functions the verifier
//! needs to compute the canonical row encoding ([`crate::canon`]) inside SQLite.
//!
//! - [`table_name`]: how a Postgres table is named in the file.
//! - [`register_functions`]: `ferry_f64hex`, `ferry_md5_64`, `ferry_sum64`.
//! - [`SqliteTarget`]: open, create tables (and `_ferry_schema`), write chunks through a
//!   [`ChunkWriter`], create indexes after the data.
//! - [`open_read_only`]: a connection for the verifier.

mod copy_text;
mod functions;
mod schema;
mod translate;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::catalog::{Catalog, QualifiedName, Table, quote_ident};
use crate::error::{DataError, Result};

pub(crate) use copy_text::{decode_hex, parse_f64};
pub use functions::register_functions;
pub use writer::ChunkWriter;

/// The name of the metadata table holding the source catalog as JSON
/// (`_ferry_schema(version INTEGER, catalog TEXT)`, one row).
pub const SCHEMA_TABLE: &str = "_ferry_schema";

/// The `version` written into [`SCHEMA_TABLE`]; raised when the stored layout changes.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite name of a Postgres table: `public.todos` → `todos`; a table of any other schema
/// keeps its schema in the name, `auth.users` → `auth.users`: *one* identifier containing a
/// dot, so it must always be quoted (`"auth.users"`, see [`quote_ident`]) — unquoted, SQLite
/// would read `auth` as an attached database.
///
/// SQLite compares identifiers without regard to ASCII case, so two Postgres tables whose
/// names differ only in case map to the same table; [`SqliteTarget::create_tables`] refuses
/// such a catalog.
pub fn table_name(name: &QualifiedName) -> String {
    if name.schema == "public" {
        name.name.clone()
    } else {
        format!("{}.{}", name.schema, name.name)
    }
}

/// A [`DataError::Sqlite`] for `path`: `context: cause`.
fn sqlite_error(path: &str, context: &str, cause: impl std::fmt::Display) -> DataError {
    DataError::Sqlite {
        path: path.to_string(),
        reason: format!("{context}: {cause}"),
    }
}

/// Opens an existing file read-only (it is never created) and registers the functions of
/// [`register_functions`]: the connection the verifier reads through.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    let shown = path.display().to_string();
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| sqlite_error(&shown, "opening read-only", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sqlite_error(&shown, "setting the busy timeout", e))?;
    register_functions(&conn).map_err(|e| sqlite_error(&shown, "registering functions", e))?;
    // Reading the schema fails here, not in the middle of a verify, when it is no database.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| sqlite_error(&shown, "reading the schema", e))?;
    Ok(conn)
}

/// A SQLite file being filled by a pull.
///
/// One connection; SQLite has a single writer, so chunks are written one at a time (each
/// [`begin_chunk`](Self::begin_chunk) borrows the target mutably). The target and its
/// [`ChunkWriter`] are `Send`: they may live on a blocking thread fed by the COPY readers.
#[derive(Debug)]
pub struct SqliteTarget {
    conn: Connection,
    path: PathBuf,
    shown: String,
}

impl SqliteTarget {
    /// Opens `path`, creating the file (never its folder: a missing parent folder is an
    /// error). Sets `journal_mode=WAL` (persistent in the file), `synchronous=NORMAL`,
    /// `foreign_keys=OFF` (the load writes children before parents) and a 5 s busy timeout,
    /// and registers [`register_functions`].
    pub fn open(path: &Path) -> Result<SqliteTarget> {
        let shown = path.display().to_string();
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent
            && !parent.is_dir()
        {
            return Err(DataError::Sqlite {
                path: shown,
                reason: format!("the folder {} does not exist", parent.display()),
            });
        }
        if path.is_dir() {
            return Err(DataError::Sqlite {
                path: shown,
                reason: "is a folder, not a file".into(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| sqlite_error(&shown, "opening", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sqlite_error(&shown, "setting the busy timeout", e))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(|e| sqlite_error(&shown, "setting journal_mode=WAL", e))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")
            .map_err(|e| sqlite_error(&shown, "setting pragmas", e))?;
        register_functions(&conn).map_err(|e| sqlite_error(&shown, "registering functions", e))?;
        Ok(SqliteTarget {
            conn,
            path: path.to_path_buf(),
            shown,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection (with the functions registered), for the verifier.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn error(&self, context: &str, cause: impl std::fmt::Display) -> DataError {
        sqlite_error(&self.shown, context, cause)
    }

    /// For each catalog table that already exists in the file (under its [`table_name`]),
    /// `(schema.table, row count)`, in catalog order — tables with no rows included, so the
    /// caller decides what counts as "already holds data".
    pub fn existing_rows(&self, catalog: &Catalog) -> Result<Vec<(String, u64)>> {
        let mut found = Vec::new();
        for table in &catalog.tables {
            let name = table_name(&table.name);
            let exists: Option<String> = self
                .conn
                .query_row(
                    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                    [&name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.error("reading the schema", e))?;
            let Some(stored) = exists else { continue };
            let count: i64 = self
                .conn
                .query_row(
                    &format!("SELECT count(*) FROM {}", quote_ident(&stored)),
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| self.error(&format!("counting the rows of {stored}"), e))?;
            found.push((table.name.to_string(), u64::try_from(count).unwrap_or(0)));
        }
        Ok(found)
    }

    /// Creates every catalog table (in one transaction), then replaces the contents of
    /// [`SCHEMA_TABLE`] with the catalog as JSON. With `replace`, each table is dropped first;
    /// otherwise `CREATE TABLE IF NOT EXISTS` keeps the rows of a resumed pull.
    ///
    /// Returns warnings: what could not be carried (CHECK constraints, policies, triggers,
    /// untranslatable generated columns, foreign keys to tables outside the copy, views…).
    /// Fails with [`DataError::UnsupportedType`] when a table cannot exist in SQLite (no
    /// column, names equal but for case, a reserved `sqlite_` name).
    pub fn create_tables(&mut self, catalog: &Catalog, replace: bool) -> Result<Vec<String>> {
        let plan = schema::plan_tables(catalog)?;
        let json =
            serde_json::to_string(catalog).map_err(|e| self.error("serialising the catalog", e))?;
        let tx = self
            .conn
            .transaction()
            .map_err(|e| sqlite_error(&self.shown, "beginning", e))?;
        for table in &plan.tables {
            if replace {
                tx.execute_batch(&format!(
                    "DROP TABLE IF EXISTS {}",
                    quote_ident(&table.name)
                ))
                .map_err(|e| sqlite_error(&self.shown, &format!("dropping {}", table.name), e))?;
            }
            tx.execute_batch(&table.create_sql(!replace))
                .map_err(|e| sqlite_error(&self.shown, &format!("creating {}", table.name), e))?;
        }
        let meta = quote_ident(SCHEMA_TABLE);
        tx.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {meta} (\"version\" INTEGER NOT NULL, \"catalog\" TEXT NOT NULL); DELETE FROM {meta};"
        ))
        .map_err(|e| sqlite_error(&self.shown, "creating _ferry_schema", e))?;
        tx.execute(
            &format!("INSERT INTO {meta} (\"version\", \"catalog\") VALUES (?1, ?2)"),
            (SCHEMA_VERSION, &json),
        )
        .map_err(|e| sqlite_error(&self.shown, "writing _ferry_schema", e))?;
        tx.commit()
            .map_err(|e| sqlite_error(&self.shown, "committing the schema", e))?;
        Ok(plan.warnings)
    }

    /// Creates, after the data, `CREATE [UNIQUE] INDEX IF NOT EXISTS` for each plain-column
    /// btree or hash index of the catalog. Partial, expression and other-method (gin, gist…)
    /// indexes are not carried: one warning each. Index names are unique in the file: a
    /// non-`public` index is named like its table (`schema.index`), and one whose name is
    /// taken gets the table's name as a prefix.
    pub fn create_indexes(&mut self, catalog: &Catalog) -> Result<Vec<String>> {
        let plan = schema::plan_indexes(catalog);
        let tx = self
            .conn
            .transaction()
            .map_err(|e| sqlite_error(&self.shown, "beginning", e))?;
        for (name, sql) in &plan.indexes {
            tx.execute_batch(sql)
                .map_err(|e| sqlite_error(&self.shown, &format!("creating index {name}"), e))?;
        }
        tx.commit()
            .map_err(|e| sqlite_error(&self.shown, "committing the indexes", e))?;
        Ok(plan.warnings)
    }

    /// Starts writing one chunk of `table` in a transaction (`BEGIN IMMEDIATE`). With
    /// `delete_where`, first deletes the rows the chunk covers — `DELETE FROM t WHERE <pred>`,
    /// or every row when it is `TRUE` — so redoing an interrupted chunk never duplicates a
    /// row. The predicate is SQL over the table's quoted columns, valid in SQLite and written
    /// against the stored forms (docs/data-sqlite.md).
    pub fn begin_chunk(
        &mut self,
        table: &Table,
        delete_where: Option<&str>,
    ) -> Result<ChunkWriter<'_>> {
        ChunkWriter::begin(&mut self.conn, &self.shown, table, delete_where)
    }

    /// After a pull: checkpoints the write-ahead log into the file and lets SQLite gather
    /// statistics for the new indexes (`PRAGMA optimize`).
    pub fn finish(&mut self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA optimize;")
            .map_err(|e| sqlite_error(&self.shown, "optimizing", e))?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| sqlite_error(&self.shown, "checkpointing", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
