//! Writing one chunk: text COPY bytes in, rows inserted in one transaction.

use rusqlite::{Connection, Statement};

use super::copy_text::{LineBuffer, Scratch, Value, is_end_marker};
use super::{sqlite_error, table_name};
use crate::canon::{SqliteStorage, sqlite_storage};
use crate::catalog::{Table, quote_ident};
use crate::error::{DataError, Result};

/// A copied column as the writer binds it.
#[derive(Debug)]
struct Target {
    name: String,
    storage: SqliteStorage,
    not_null: bool,
}

/// One chunk being written into a table, inside a transaction: feed it the bytes of
/// `COPY (SELECT <canon::sqlite_storage_expr per copied column>) TO STDOUT` (text format) with
/// [`write_copy_text`](Self::write_copy_text), then [`commit`](Self::commit). Dropped without
/// a commit — or after any error — the transaction is rolled back.
#[derive(Debug)]
pub struct ChunkWriter<'a> {
    conn: &'a mut Connection,
    path: &'a str,
    table: String,
    insert: String,
    columns: Vec<Target>,
    lines: LineBuffer,
    scratch: Scratch,
    rows: u64,
    open: bool,
    failed: bool,
}

impl<'a> ChunkWriter<'a> {
    pub(super) fn begin(
        conn: &'a mut Connection,
        path: &'a str,
        table: &Table,
        delete_where: Option<&str>,
    ) -> Result<ChunkWriter<'a>> {
        let stored = quote_ident(&table_name(&table.name));
        let columns: Vec<Target> = table
            .copied_columns()
            .map(|c| Target {
                name: c.name.clone(),
                storage: sqlite_storage(&c.kind),
                not_null: c.not_null,
            })
            .collect();
        if columns.is_empty() {
            return Err(DataError::UnsupportedType {
                what: format!("{} has no column to copy", table.name),
            });
        }
        let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let insert = format!(
            "INSERT INTO {stored} ({}) VALUES ({})",
            names.join(", "),
            marks.join(", ")
        );
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sqlite_error(path, "beginning a chunk", e))?;
        let writer = ChunkWriter {
            conn,
            path,
            table: table.name.to_string(),
            insert,
            columns,
            lines: LineBuffer::default(),
            scratch: Scratch::default(),
            rows: 0,
            open: true,
            failed: false,
        };
        if let Some(predicate) = delete_where {
            let delete = if predicate.trim().eq_ignore_ascii_case("TRUE") {
                format!("DELETE FROM {stored}")
            } else {
                format!("DELETE FROM {stored} WHERE ({predicate})")
            };
            writer.conn.execute_batch(&delete).map_err(|e| {
                sqlite_error(
                    path,
                    &format!("{}: deleting the rows of an earlier attempt", writer.table),
                    e,
                )
            })?;
        }
        Ok(writer)
    }

    /// Parses `data` — any slice of the COPY text stream, possibly ending inside a row (the
    /// partial row is kept for the next call) — and inserts the complete rows. Returns the
    /// rows inserted by this call.
    pub fn write_copy_text(&mut self, data: &[u8]) -> Result<u64> {
        if self.failed {
            return Err(self.error("the chunk already failed; start it again"));
        }
        let before = self.rows;
        let result = self.insert_lines(data);
        if result.is_err() {
            self.failed = true;
        }
        result.map(|()| self.rows - before)
    }

    fn insert_lines(&mut self, data: &[u8]) -> Result<()> {
        let conn: &Connection = self.conn;
        let mut stmt = conn
            .prepare_cached(&self.insert)
            .map_err(|e| sqlite_error(self.path, &self.table, e))?;
        let row = Row {
            path: self.path,
            table: &self.table,
            columns: &self.columns,
        };
        let scratch = &mut self.scratch;
        let rows = &mut self.rows;
        self.lines.feed(data, |line| {
            if is_end_marker(line) {
                return Ok(());
            }
            row.insert(&mut stmt, line, scratch, *rows + 1)?;
            *rows += 1;
            Ok(())
        })
    }

    /// Commits the chunk and returns its row count. Fails, rolling back, when the stream
    /// ended inside a row.
    pub fn commit(mut self) -> Result<u64> {
        if self.failed {
            return Err(self.error("the chunk failed; start it again"));
        }
        if self.lines.pending() > 0 {
            return Err(self.error(&format!(
                "the COPY data ended inside a row ({} bytes after the last newline)",
                self.lines.pending()
            )));
        }
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| sqlite_error(self.path, &self.table, e))?;
        self.open = false;
        Ok(self.rows)
    }

    fn error(&self, reason: &str) -> DataError {
        DataError::Sqlite {
            path: self.path.to_string(),
            reason: format!("{}: {reason}", self.table),
        }
    }
}

impl Drop for ChunkWriter<'_> {
    fn drop(&mut self) {
        if self.open
            && !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::debug!("rolling back a chunk of {}: {e}", self.table);
        }
    }
}

/// What inserting a row needs to know, borrowed apart from the writer's buffers.
struct Row<'w> {
    path: &'w str,
    table: &'w str,
    columns: &'w [Target],
}

impl Row<'_> {
    fn insert(
        &self,
        stmt: &mut Statement<'_>,
        line: &[u8],
        scratch: &mut Scratch,
        number: u64,
    ) -> Result<()> {
        let bad = |reason: String| DataError::Sqlite {
            path: self.path.to_string(),
            reason: format!("{}: row {number} of the chunk: {reason}", self.table),
        };
        let mut count = 0;
        for (i, raw) in line.split(|&b| b == b'\t').enumerate() {
            count = i + 1;
            let Some(column) = self.columns.get(i) else {
                continue;
            };
            let value = scratch
                .decode(raw, column.storage)
                .map_err(|e| bad(format!("column {}: {e}", column.name)))?;
            let bound = match value {
                Value::Null => stmt.raw_bind_parameter(count, rusqlite::types::Null),
                Value::Integer(v) => stmt.raw_bind_parameter(count, v),
                Value::Real(v) if v.is_nan() => {
                    if column.not_null {
                        return Err(DataError::UnsupportedType {
                            what: format!(
                                "{}.{} holds NaN in a NOT NULL float column: SQLite stores NaN as NULL",
                                self.table, column.name
                            ),
                        });
                    }
                    stmt.raw_bind_parameter(count, rusqlite::types::Null)
                }
                Value::Real(v) => stmt.raw_bind_parameter(count, v),
                Value::Text(v) => stmt.raw_bind_parameter(count, v),
                Value::Blob(v) => stmt.raw_bind_parameter(count, v),
            };
            bound.map_err(|e| bad(format!("column {}: {e}", column.name)))?;
        }
        if count != self.columns.len() {
            return Err(bad(format!(
                "{count} fields where {} columns are copied",
                self.columns.len()
            )));
        }
        stmt.raw_execute().map_err(|e| bad(e.to_string()))?;
        Ok(())
    }
}
