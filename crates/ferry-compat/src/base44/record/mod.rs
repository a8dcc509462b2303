//! Records as `@base44/sdk` sees them, written to and read from an entity's table: the
//! parameterised `INSERT`/`UPDATE`/`DELETE`/`SELECT` of one record (and a bulk `INSERT`), and
//! the decoding of a row into the record's JSON ([`row_to_record`]), the same for PostgreSQL
//! and SQLite.
//!
//! A record is a JSON object: `id` (24 hex digits, [`new_id`]), `created_date` and
//! `updated_date` (ISO 8601 UTC with milliseconds, `2024-01-10T09:00:00.000Z`), `created_by`
//! and `created_by_id` (the author's email and id), and the entity's properties, declared
//! (their columns, values checked against the field's type) or not (kept in `extra`). The rules
//! are in `docs/base44.md`, section "Records".
//!
//! Every statement returns the record's columns in [`public_columns`] order (`RETURNING` on
//! both dialects), the order `query::select_sql` uses too. Values and JSON paths are bound
//! parameters (`$n::type` on PostgreSQL, `?n` on SQLite); identifiers come from the
//! [`Entity`] only.

mod decode;
mod error;
mod id;
mod import;
mod ops;
mod value;

use serde_json::{Map, Value};

pub use decode::{Cell, row_to_record};
pub use error::RecordError;
pub use id::{is_valid_id, new_id};
pub use import::{
    ImportCopy, clear_sql, count_sql, import_batch_limit, import_copy, import_many_sql,
    select_after_sql, stored_form,
};
pub use ops::{MAX_OP_ITEMS, UPDATE_OPERATORS, update_many_sql};

use self::id::check_id;
use self::value::{check_extra_key, check_limits, field_placeholder, field_value, is_reserved};
use crate::base44::model::{BUILTIN_FIELDS, Dialect, EXTRA_COLUMN, Entity};
use crate::base44::query::{Filter, MAX_PARAMS, Sql, SqlValue, where_sql};

/// The largest record (or set of changes) accepted, as serialized JSON: 1 MiB.
pub const MAX_BYTES: usize = 1 << 20;
/// The most properties one record (or set of changes) may have.
pub const MAX_KEYS: usize = 1000;
/// The deepest nesting of arrays and objects in a record (the record itself is level 1).
pub const MAX_DEPTH: usize = 32;
/// The longest name of an undeclared property, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// The most records one bulk insert may hold.
pub const MAX_BULK: usize = 1000;
/// The longest record id, in characters.
pub const MAX_ID_LEN: usize = 64;

/// Who writes a record: `created_by` and `created_by_id` of the records it creates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Author {
    /// The user's email (`created_by`); `None` for an anonymous or service write.
    pub email: Option<String>,
    /// The user's id (`created_by_id`).
    pub id: Option<String>,
}

/// The columns (unquoted) every statement of this module, and `query::select_sql`, returns, in
/// order: the built-ins ([`BUILTIN_FIELDS`]), each declared field's column, then
/// [`EXTRA_COLUMN`]. `User`'s private columns are never among them.
pub fn public_columns(entity: &Entity) -> Vec<String> {
    BUILTIN_FIELDS
        .iter()
        .map(|c| (*c).to_string())
        .chain(entity.fields.iter().map(|f| f.column.clone()))
        .chain(std::iter::once(EXTRA_COLUMN.to_string()))
        .collect()
}

/// `INSERT INTO "table" (…) VALUES (…) RETURNING <public columns>` for one record; returns its
/// id (a client-sent valid `id`, else [`new_id`]) and the statement.
///
/// Client-sent built-ins other than `id` are ignored (as are `User`'s private columns);
/// declared fields go to their columns, checked and coerced to the column type (`bad-value`),
/// a declared field the record lacks gets its schema `default` when that default fits the
/// type; undeclared properties go to `extra` (a top-level `null` is not stored). `created_by`
/// and `created_by_id` come from `author`; `created_date` and `updated_date` are the
/// database's clock at the statement, to the millisecond.
pub fn insert_sql(
    entity: &Entity,
    record: &Map<String, Value>,
    author: &Author,
    dialect: Dialect,
) -> Result<(String, Sql), RecordError> {
    let row = prepare(entity, record)?;
    let id = row.id.clone();
    Ok((id, insert_rows(entity, vec![row], author, dialect)?))
}

/// One multi-row `INSERT … RETURNING <public columns>` for up to [`MAX_BULK`] records, each
/// handled as by [`insert_sql`]; returns their ids in input order (match returned rows by
/// `id`: the order of `RETURNING` rows is not promised). Errors in one record are
/// [`RecordError::InRecord`] with its position; an empty list or two records with the same
/// client-sent `id` are `bad-record`; more than [`MAX_BULK`] records or [`MAX_PARAMS`]
/// parameters are `too-large` (splitting is the caller's job).
pub fn insert_many_sql(
    entity: &Entity,
    records: &[Map<String, Value>],
    author: &Author,
    dialect: Dialect,
) -> Result<(Vec<String>, Sql), RecordError> {
    if records.is_empty() {
        return Err(RecordError::BadRecord("no records to insert".into()));
    }
    if records.len() > MAX_BULK {
        return Err(RecordError::TooLarge(format!(
            "at most {MAX_BULK} records per bulk insert, not {}",
            records.len()
        )));
    }
    let mut rows = Vec::with_capacity(records.len());
    let mut seen = std::collections::HashSet::new();
    for (index, record) in records.iter().enumerate() {
        let row = prepare(entity, record).map_err(|e| RecordError::InRecord {
            index,
            source: Box::new(e),
        })?;
        if !seen.insert(row.id.clone()) {
            return Err(RecordError::InRecord {
                index,
                source: Box::new(RecordError::BadRecord(format!(
                    "id {} is given twice",
                    error::quote(&row.id)
                ))),
            });
        }
        rows.push(row);
    }
    let ids = rows.iter().map(|r| r.id.clone()).collect();
    Ok((ids, insert_rows(entity, rows, author, dialect)?))
}

/// `UPDATE "table" SET … , "updated_date" = <now> WHERE "id" = … [AND (<extra_filter>)]
/// RETURNING <public columns>`: a partial update. Declared fields in `changes` are set (JSON
/// null sets NULL); undeclared ones replace their key in `extra`, a JSON null removing it;
/// other keys of `extra` and fields not in `changes` are kept. Built-ins in `changes` (and
/// `User`'s private columns) are ignored. No row returned means no such record (or the filter
/// hides it).
pub fn update_sql(
    entity: &Entity,
    id: &str,
    changes: &Map<String, Value>,
    dialect: Dialect,
    extra_filter: Option<&Filter>,
) -> Result<Sql, RecordError> {
    let id = check_id(id)?;
    check_limits(changes)?;
    let mut b = Binder::new(dialect);
    let mut sets = Vec::new();
    let (mut removed, mut added) = (Vec::new(), Map::new());
    for (key, value) in changes {
        if is_reserved(entity, key) {
            continue;
        }
        if let Some(field) = entity.field(key) {
            let ph = match field_value(field, value)? {
                Some(v) => b.bind_field(&field.ty, v),
                None => "NULL".to_string(),
            };
            sets.push(format!("{} = {ph}", ident(&field.column)));
            continue;
        }
        check_extra_key(key)?;
        if value.is_null() {
            removed.push(key.as_str());
        } else {
            added.insert(key.clone(), value.clone());
        }
    }
    let extra = ident(EXTRA_COLUMN);
    if !removed.is_empty() || !added.is_empty() {
        let mut expr = extra.clone();
        match dialect {
            Dialect::Postgres => {
                if !removed.is_empty() {
                    let keys: Vec<String> = removed
                        .iter()
                        .map(|k| b.bind(SqlValue::Text((*k).to_string())))
                        .collect();
                    expr = format!("({expr} - ARRAY[{}])", keys.join(", "));
                }
                if !added.is_empty() {
                    let ph = b.bind(SqlValue::Json(Value::Object(added)));
                    expr = format!("({expr} || {ph})");
                }
            }
            Dialect::Sqlite => {
                if !removed.is_empty() {
                    let paths: Vec<String> = removed
                        .iter()
                        .map(|k| b.bind(SqlValue::Text(path(k))))
                        .collect();
                    expr = format!("json_remove({expr}, {})", paths.join(", "));
                }
                if !added.is_empty() {
                    let mut args = Vec::new();
                    for (key, value) in added {
                        let p = b.bind(SqlValue::Text(path(&key)));
                        let v = b.bind(SqlValue::Json(value));
                        args.push(format!("{p}, json({v})"));
                    }
                    expr = format!("json_set({expr}, {})", args.join(", "));
                }
            }
        }
        sets.push(format!("{extra} = {expr}"));
    }
    sets.push(format!("\"updated_date\" = {}", now(dialect)));
    let filter = b.id_filter(entity, id, extra_filter)?;
    let text = format!(
        "UPDATE {} SET {} WHERE {filter} RETURNING {}",
        ident(&entity.table),
        sets.join(", "),
        returning(entity)
    );
    b.finish(text)
}

/// `DELETE FROM "table" WHERE "id" = … [AND (<extra_filter>)] RETURNING <public columns>` (no
/// row returned: no such record, or the filter hides it).
pub fn delete_sql(
    entity: &Entity,
    id: &str,
    dialect: Dialect,
    extra_filter: Option<&Filter>,
) -> Result<Sql, RecordError> {
    let id = check_id(id)?;
    let mut b = Binder::new(dialect);
    let filter = b.id_filter(entity, id, extra_filter)?;
    let text = format!(
        "DELETE FROM {} WHERE {filter} RETURNING {}",
        ident(&entity.table),
        returning(entity)
    );
    b.finish(text)
}

/// `SELECT <public columns> FROM "table" WHERE "id" = … [AND (<extra_filter>)]`: at most one
/// row.
pub fn get_sql(
    entity: &Entity,
    id: &str,
    dialect: Dialect,
    extra_filter: Option<&Filter>,
) -> Result<Sql, RecordError> {
    let id = check_id(id)?;
    let mut b = Binder::new(dialect);
    let filter = b.id_filter(entity, id, extra_filter)?;
    let text = format!(
        "SELECT {} FROM {} WHERE {filter}",
        returning(entity),
        ident(&entity.table)
    );
    b.finish(text)
}

/// A record checked and split into its id, declared values and `extra`.
struct Row {
    id: String,
    /// Per declared field (entity order): absent, NULL, or a value.
    fields: Vec<Option<Option<SqlValue>>>,
    extra: Map<String, Value>,
}

fn prepare(entity: &Entity, record: &Map<String, Value>) -> Result<Row, RecordError> {
    check_limits(record)?;
    let id = match record.get("id") {
        None | Some(Value::Null) => new_id(),
        Some(Value::String(s)) => check_id(s)?.to_string(),
        Some(other) => return Err(RecordError::BadId(error::quote(&other.to_string()))),
    };
    let mut fields: Vec<Option<Option<SqlValue>>> = vec![None; entity.fields.len()];
    let mut extra = Map::new();
    for (key, value) in record {
        if is_reserved(entity, key) {
            continue;
        }
        if let Some(i) = entity.fields.iter().position(|f| f.name == *key) {
            fields[i] = Some(field_value(&entity.fields[i], value)?);
            continue;
        }
        check_extra_key(key)?;
        if !value.is_null() {
            extra.insert(key.clone(), value.clone());
        }
    }
    for (slot, field) in fields.iter_mut().zip(&entity.fields) {
        if slot.is_none()
            && let Some(default) = &field.default
            && let Ok(Some(value)) = field_value(field, default)
        {
            *slot = Some(Some(value));
        }
    }
    Ok(Row { id, fields, extra })
}

fn insert_rows(
    entity: &Entity,
    rows: Vec<Row>,
    author: &Author,
    dialect: Dialect,
) -> Result<Sql, RecordError> {
    let used: Vec<usize> = (0..entity.fields.len())
        .filter(|i| rows.iter().any(|r| r.fields[*i].is_some()))
        .collect();
    let mut columns: Vec<String> = BUILTIN_FIELDS.iter().map(|c| ident(c)).collect();
    columns.extend(used.iter().map(|i| ident(&entity.fields[*i].column)));
    columns.push(ident(EXTRA_COLUMN));
    let mut b = Binder::new(dialect);
    let mut values = Vec::with_capacity(rows.len());
    let now = now(dialect);
    for row in rows {
        let mut cells = vec![b.bind(SqlValue::Text(row.id)), now.clone(), now.clone()];
        for who in [&author.email, &author.id] {
            cells.push(match who {
                Some(s) => b.bind(SqlValue::Text(s.clone())),
                None => "NULL".into(),
            });
        }
        push_field_cells(&mut b, entity, &used, row.fields, row.extra, &mut cells);
        values.push(format!("({})", cells.join(", ")));
        if b.params.len() > MAX_PARAMS {
            break;
        }
    }
    let text = format!(
        "INSERT INTO {} ({}) VALUES {} RETURNING {}",
        ident(&entity.table),
        columns.join(", "),
        values.join(", "),
        returning(entity)
    );
    b.finish(text)
}

/// Appends a row's cells after the built-in ones: its `used` fields (NULL when unset), then
/// its extra JSON column. Shared by inserts and imports.
fn push_field_cells(
    b: &mut Binder,
    entity: &Entity,
    used: &[usize],
    mut fields: Vec<Option<Option<SqlValue>>>,
    extra: Map<String, Value>,
    cells: &mut Vec<String>,
) {
    for i in used {
        cells.push(match fields[*i].take().flatten() {
            Some(v) => b.bind_field(&entity.fields[*i].ty, v),
            None => "NULL".into(),
        });
    }
    cells.push(b.bind(SqlValue::Json(Value::Object(extra))));
}

/// Parameters of one statement being built.
struct Binder {
    dialect: Dialect,
    params: Vec<SqlValue>,
}

impl Binder {
    fn new(dialect: Dialect) -> Binder {
        Binder {
            dialect,
            params: Vec::new(),
        }
    }

    /// Binds a value; its placeholder (`$n::<type>` on PostgreSQL, `?n` on SQLite).
    fn bind(&mut self, value: SqlValue) -> String {
        let ty = value.postgres_type();
        self.params.push(value);
        let n = self.params.len();
        match self.dialect {
            Dialect::Postgres => format!("${n}::{ty}"),
            Dialect::Sqlite => format!("?{n}"),
        }
    }

    /// Binds a declared field's value, cast to its column type on PostgreSQL.
    fn bind_field(&mut self, ty: &crate::base44::model::FieldType, value: SqlValue) -> String {
        self.params.push(value);
        field_placeholder(ty, self.params.len(), self.dialect)
    }

    /// `"id" = … [AND (<filter>)]`.
    fn id_filter(
        &mut self,
        entity: &Entity,
        id: &str,
        extra: Option<&Filter>,
    ) -> Result<String, RecordError> {
        let ph = self.bind(SqlValue::Text(id.to_string()));
        Ok(match extra {
            Some(f) => {
                let w = where_sql(entity, f, self.dialect, &mut self.params)?;
                format!("\"id\" = {ph} AND ({w})")
            }
            None => format!("\"id\" = {ph}"),
        })
    }

    fn finish(self, text: String) -> Result<Sql, RecordError> {
        if self.params.len() > MAX_PARAMS {
            return Err(RecordError::TooLarge(format!(
                "the statement needs more than {MAX_PARAMS} parameters"
            )));
        }
        Ok(Sql {
            text,
            params: self.params,
        })
    }
}

/// The database's "now" in UTC to the millisecond, the same for every row of a statement.
pub(crate) fn now(dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => "date_trunc('milliseconds', statement_timestamp())".into(),
        Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')".into(),
    }
}

fn returning(entity: &Entity) -> String {
    let columns: Vec<String> = public_columns(entity).iter().map(|c| ident(c)).collect();
    columns.join(", ")
}

/// A double-quoted identifier (names come from the entity, never from the client).
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQLite JSON path of a top-level key (checked free of `"` and `\`).
fn path(key: &str) -> String {
    format!("$.\"{key}\"")
}
