//! Records moved in from another Base44 backend (`ferry db pull --from base44…`): unlike
//! [`super::insert_many_sql`], the built-ins are kept as the source has them (`id`,
//! `created_date`, `updated_date`, `created_by`, `created_by_id`), schema defaults are not
//! applied to missing fields, and a record whose `id` the table already holds is skipped
//! (`ON CONFLICT ("id") DO NOTHING`), so a batch redone after an interruption adds nothing
//! twice. [`stored_form`] is the record exactly as [`super::row_to_record`] will read it back,
//! which is what a copy is verified against.

use serde_json::{Map, Value};

use super::decode::js_number;
use super::error::quote;
use super::id::check_id;
use super::value::{field_value, is_reserved};
use super::{
    Binder, MAX_BULK, RecordError, Row, ident, now, prepare, public_columns, push_field_cells,
};
use crate::base44::model::{BUILTIN_FIELDS, Dialect, EXTRA_COLUMN, Entity};
use crate::base44::query::{MAX_PARAMS, Sql, SqlValue};
use crate::base44::time::normalize_datetime;

/// The built-in values of an imported record: `(created_date, updated_date, created_by,
/// created_by_id)`, dates normalised (`None`: missing).
type Builtins = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn builtins(record: &Map<String, Value>) -> Result<Builtins, RecordError> {
    let date = |name: &str| -> Result<Option<String>, RecordError> {
        match record.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => normalize_datetime(s)
                .map(Some)
                .ok_or_else(|| RecordError::value(name, "expected an ISO 8601 date-time")),
            Some(_) => Err(RecordError::value(
                name,
                "expected an ISO 8601 date-time string",
            )),
        }
    };
    let text = |name: &str| -> Result<Option<String>, RecordError> {
        match record.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(RecordError::value(name, "expected a string")),
        }
    };
    Ok((
        date("created_date")?,
        date("updated_date")?,
        text("created_by")?,
        text("created_by_id")?,
    ))
}

/// The record's `id` (required: an imported record keeps its identity).
fn required_id(record: &Map<String, Value>) -> Result<String, RecordError> {
    match record.get("id") {
        Some(Value::String(s)) => Ok(check_id(s)?.to_string()),
        None | Some(Value::Null) => Err(RecordError::BadRecord("the record has no `id`".into())),
        Some(other) => Err(RecordError::BadId(quote(&other.to_string()))),
    }
}

/// A record checked for import: its row (no defaults) and its built-ins.
fn prepare_import(
    entity: &Entity,
    record: &Map<String, Value>,
) -> Result<(Row, Builtins), RecordError> {
    let id = required_id(record)?;
    let mut row = prepare(entity, record)?;
    row.id = id;
    // `prepare` fills missing fields with schema defaults; an import keeps them missing.
    for (slot, field) in row.fields.iter_mut().zip(&entity.fields) {
        if !record.contains_key(&field.name) {
            *slot = None;
        }
    }
    Ok((row, builtins(record)?))
}

/// The most records one [`import_many_sql`] statement can take for `entity` within
/// [`MAX_PARAMS`] (every built-in, declared field and `extra` bound), at most [`MAX_BULK`].
pub fn import_batch_limit(entity: &Entity) -> usize {
    let per_row = BUILTIN_FIELDS.len() + entity.fields.len() + 1;
    (MAX_PARAMS / per_row).clamp(1, MAX_BULK)
}

/// One multi-row `INSERT … ON CONFLICT ("id") DO NOTHING` of up to [`import_batch_limit`]
/// records kept as the source has them (see the module docs). A missing `created_date` or
/// `updated_date` becomes the database's clock. Errors name the record's position
/// ([`RecordError::InRecord`]); a record without `id` is `bad-record`.
pub fn import_many_sql(
    entity: &Entity,
    records: &[Map<String, Value>],
    dialect: Dialect,
) -> Result<Sql, RecordError> {
    if records.is_empty() {
        return Err(RecordError::BadRecord("no records to insert".into()));
    }
    if records.len() > import_batch_limit(entity) {
        return Err(RecordError::TooLarge(format!(
            "at most {} records of {} per statement, not {}",
            import_batch_limit(entity),
            quote(&entity.name),
            records.len()
        )));
    }
    let mut rows = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        rows.push(
            prepare_import(entity, record).map_err(|e| RecordError::InRecord {
                index,
                source: Box::new(e),
            })?,
        );
    }
    let used: Vec<usize> = (0..entity.fields.len())
        .filter(|i| rows.iter().any(|(r, _)| r.fields[*i].is_some()))
        .collect();
    let mut columns: Vec<String> = BUILTIN_FIELDS.iter().map(|c| ident(c)).collect();
    columns.extend(used.iter().map(|i| ident(&entity.fields[*i].column)));
    columns.push(ident(EXTRA_COLUMN));
    let mut b = Binder::new(dialect);
    let now = now(dialect);
    let mut values = Vec::with_capacity(rows.len());
    for (row, (created, updated, by, by_id)) in rows {
        let mut cells = vec![b.bind(SqlValue::Text(row.id))];
        for date in [created, updated] {
            cells.push(match date {
                Some(d) => match dialect {
                    Dialect::Postgres => {
                        let ph = b.bind(SqlValue::Text(d));
                        format!("{ph}::timestamptz")
                    }
                    Dialect::Sqlite => b.bind(SqlValue::Text(d)),
                },
                None => now.clone(),
            });
        }
        for who in [by, by_id] {
            cells.push(match who {
                Some(s) => b.bind(SqlValue::Text(s)),
                None => "NULL".into(),
            });
        }
        push_field_cells(&mut b, entity, &used, row.fields, row.extra, &mut cells);
        values.push(format!("({})", cells.join(", ")));
    }
    let text = format!(
        "INSERT INTO {} ({}) VALUES {} ON CONFLICT (\"id\") DO NOTHING",
        ident(&entity.table),
        columns.join(", "),
        values.join(", ")
    );
    b.finish(text)
}

/// A `COPY "table" (…) FROM STDIN` (PostgreSQL, text format) of imported records: the same
/// columns and values [`import_many_sql`] writes, without its statement size limit or its
/// bound parameters. It does not skip known ids: a record whose `id` the table holds fails the
/// whole copy (the caller redoes such a batch with [`import_many_sql`]).
#[derive(Debug, Clone)]
pub struct ImportCopy {
    /// `COPY "table" ("id", …, "extra") FROM STDIN`.
    pub statement: String,
    /// The declared fields written (positions in `entity.fields`), as [`import_many_sql`]
    /// picks them: those at least one record of the batch holds.
    used: Vec<usize>,
}

/// The COPY of `records` (see [`ImportCopy`]); the rows are written by
/// [`ImportCopy::write_rows`], in as many pieces as wanted.
pub fn import_copy(entity: &Entity, records: &[Map<String, Value>]) -> ImportCopy {
    let used: Vec<usize> = (0..entity.fields.len())
        .filter(|i| {
            let name = &entity.fields[*i].name;
            !is_reserved(entity, name) && records.iter().any(|r| r.contains_key(name))
        })
        .collect();
    let mut columns: Vec<String> = BUILTIN_FIELDS.iter().map(|c| ident(c)).collect();
    columns.extend(used.iter().map(|i| ident(&entity.fields[*i].column)));
    columns.push(ident(EXTRA_COLUMN));
    ImportCopy {
        statement: format!(
            "COPY {} ({}) FROM STDIN",
            ident(&entity.table),
            columns.join(", ")
        ),
        used,
    }
}

impl ImportCopy {
    /// Appends `records` to `out` as COPY text rows holding what [`import_many_sql`] binds.
    /// `Ok(false)` when a record cannot be copied as it would be inserted — a missing
    /// `created_date` or `updated_date` (the INSERT takes the database's clock), or text
    /// holding NUL (PostgreSQL text cannot, and the INSERT fails with the server's error):
    /// `out` is then left partly written; insert the batch instead. Errors are
    /// [`import_many_sql`]'s, with the record's position in `records`.
    pub fn write_rows(
        &self,
        entity: &Entity,
        records: &[Map<String, Value>],
        out: &mut Vec<u8>,
    ) -> Result<bool, RecordError> {
        let mut scratch = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let (mut row, (created, updated, by, by_id)) =
                prepare_import(entity, record).map_err(|e| RecordError::InRecord {
                    index,
                    source: Box::new(e),
                })?;
            let (Some(created), Some(updated)) = (created, updated) else {
                return Ok(false);
            };
            let mut ok = copy_text(out, &row.id);
            for text in [Some(created), Some(updated), by, by_id] {
                out.push(b'\t');
                ok &= match text {
                    Some(t) => copy_text(out, &t),
                    None => copy_value(out, &SqlValue::Null, &mut scratch),
                };
            }
            for i in &self.used {
                out.push(b'\t');
                let value = row.fields[*i].take().flatten().unwrap_or(SqlValue::Null);
                ok &= copy_value(out, &value, &mut scratch);
            }
            out.push(b'\t');
            let extra = SqlValue::Json(Value::Object(std::mem::take(&mut row.extra)));
            ok &= copy_value(out, &extra, &mut scratch);
            out.push(b'\n');
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Appends one value in COPY text format (`\N` for NULL; numbers in a form `float8in` and
/// `int8in` read back exactly; JSON as serde_json writes it, which is what a bound `jsonb`
/// parameter sends); `false` when it holds NUL.
fn copy_value(out: &mut Vec<u8>, value: &SqlValue, scratch: &mut Vec<u8>) -> bool {
    use std::io::Write as _;
    match value {
        SqlValue::Null => out.extend_from_slice(b"\\N"),
        SqlValue::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        // Writing to a Vec cannot fail.
        SqlValue::Int(i) => return write!(out, "{i}").is_ok(),
        // Debug is the shortest text that parses back to the same double (`1.5`, `1e300`).
        SqlValue::Float(f) => return f.is_finite() && write!(out, "{f:?}").is_ok(),
        SqlValue::Text(s) => return copy_text(out, s),
        SqlValue::Json(v) => {
            scratch.clear();
            if serde_json::to_writer(&mut *scratch, v).is_err() {
                return false;
            }
            return match std::str::from_utf8(scratch) {
                Ok(text) => copy_text(out, text),
                Err(_) => false,
            };
        }
    }
    true
}

/// Appends `text` escaped for COPY text format (backslash, tab, newline and carriage return
/// as `\\`, `\t`, `\n`, `\r`; so `\N` typed as text stays text); `false` (and `out` partly
/// written) when it holds NUL, which a PostgreSQL text value cannot.
fn copy_text(out: &mut Vec<u8>, text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            0 => return false,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    true
}

/// The record as [`super::row_to_record`] reads it back after [`import_many_sql`] stored it:
/// built-ins always present (dates normalised, `null` when missing), declared fields coerced
/// to their column type and left out when `null` or missing, undeclared non-null properties
/// as they are. Fails as the import would.
pub fn stored_form(entity: &Entity, record: &Map<String, Value>) -> Result<Value, RecordError> {
    let id = required_id(record)?;
    let (created, updated, by, by_id) = builtins(record)?;
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id));
    for (name, value) in [
        ("created_date", created),
        ("updated_date", updated),
        ("created_by", by),
        ("created_by_id", by_id),
    ] {
        out.insert(name.into(), value.map_or(Value::Null, Value::String));
    }
    for (key, value) in record {
        if is_reserved(entity, key) || value.is_null() {
            continue;
        }
        match entity.field(key) {
            Some(field) => {
                let stored = match field_value(field, value)? {
                    None => continue,
                    Some(SqlValue::Text(s)) => Value::String(s),
                    Some(SqlValue::Int(i)) => Value::from(i),
                    Some(SqlValue::Float(f)) => js_number(f),
                    Some(SqlValue::Bool(b)) => Value::Bool(b),
                    Some(SqlValue::Json(v)) => v,
                    Some(SqlValue::Null) => continue,
                };
                out.insert(key.clone(), stored);
            }
            None => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

/// `SELECT <public columns> FROM "table" [WHERE "id" > after] ORDER BY "id" LIMIT limit`: a
/// page of the table in id order, to read a copy back ([`super::row_to_record`] decodes each
/// row).
pub fn select_after_sql(
    entity: &Entity,
    after: Option<&str>,
    limit: usize,
    dialect: Dialect,
) -> Sql {
    let columns: Vec<String> = public_columns(entity).iter().map(|c| ident(c)).collect();
    let mut params = Vec::new();
    let filter = match after {
        Some(id) => {
            params.push(SqlValue::Text(id.to_string()));
            match dialect {
                Dialect::Postgres => " WHERE \"id\" > $1::text",
                Dialect::Sqlite => " WHERE \"id\" > ?1",
            }
        }
        None => "",
    };
    Sql {
        text: format!(
            "SELECT {} FROM {}{filter} ORDER BY \"id\" LIMIT {}",
            columns.join(", "),
            ident(&entity.table),
            limit.max(1)
        ),
        params,
    }
}

/// `SELECT count(*) FROM "table"` (one row, one integer cell).
pub fn count_sql(entity: &Entity) -> Sql {
    Sql {
        text: format!("SELECT count(*) FROM {}", ident(&entity.table)),
        params: Vec::new(),
    }
}

/// `DELETE FROM "table"`: every record of the entity (a forced pull starts from empty).
pub fn clear_sql(entity: &Entity) -> Sql {
    Sql {
        text: format!("DELETE FROM {}", ident(&entity.table)),
        params: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base44::schema::parse_entity;
    use serde_json::json;

    fn entity() -> Entity {
        parse_entity(
            "Task.jsonc",
            r#"{"name": "Task", "properties": {"title": {"type": "string"},
                "n": {"type": "integer"}, "price": {"type": "number"},
                "at": {"type": "string", "format": "date-time"},
                "state": {"type": "string", "default": "open"}}}"#,
        )
        .expect("schema")
    }

    #[test]
    fn keeps_builtins_and_skips_known_ids() {
        let rec = json!({"id": "abc", "created_date": "2024-01-10T09:00:00.123456",
            "updated_date": "2024-01-11T09:00:00+01:00", "created_by": "a@b.c",
            "title": "x", "n": 2.0, "other": [1]});
        let sql = import_many_sql(
            &entity(),
            &[rec.as_object().expect("o").clone()],
            Dialect::Sqlite,
        )
        .expect("sql");
        assert!(
            sql.text.ends_with("ON CONFLICT (\"id\") DO NOTHING"),
            "{}",
            sql.text
        );
        assert!(
            !sql.text.contains("\"state\""),
            "no default applied: {}",
            sql.text
        );
        assert_eq!(
            sql.params[1],
            SqlValue::Text("2024-01-10T09:00:00.123Z".into())
        );
        assert_eq!(
            sql.params[2],
            SqlValue::Text("2024-01-11T08:00:00.000Z".into())
        );
        assert_eq!(sql.params[3], SqlValue::Text("a@b.c".into()));
        let stored = stored_form(&entity(), rec.as_object().expect("o")).expect("stored");
        assert_eq!(
            stored,
            json!({"id": "abc", "created_date": "2024-01-10T09:00:00.123Z",
                "updated_date": "2024-01-11T08:00:00.000Z", "created_by": "a@b.c",
                "created_by_id": null, "title": "x", "n": 2, "other": [1]})
        );
    }

    #[test]
    fn refuses_records_without_id_or_with_bad_values() {
        let no_id = json!({"title": "x"});
        let err = import_many_sql(
            &entity(),
            &[no_id.as_object().expect("o").clone()],
            Dialect::Postgres,
        )
        .expect_err("no id");
        assert!(err.to_string().contains("no `id`"), "{err}");
        let bad = json!({"id": "a", "n": "two"});
        assert!(stored_form(&entity(), bad.as_object().expect("o")).is_err());
        let bad_date = json!({"id": "a", "created_date": "yesterday"});
        assert!(stored_form(&entity(), bad_date.as_object().expect("o")).is_err());
    }

    fn copied(text: &str) -> Option<String> {
        let mut out = Vec::new();
        copy_text(&mut out, text).then(|| String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn copy_text_escapes_hostile_values() {
        assert_eq!(copied("plain δέλτα ✓").as_deref(), Some("plain δέλτα ✓"));
        assert_eq!(copied("a\tb\nc\rd").as_deref(), Some("a\\tb\\nc\\rd"));
        assert_eq!(copied("C:\\dir\\").as_deref(), Some("C:\\\\dir\\\\"));
        // `\N` typed as text is not NULL, and `\.` is not the end of the data.
        assert_eq!(copied("\\N").as_deref(), Some("\\\\N"));
        assert_eq!(copied("\\.").as_deref(), Some("\\\\."));
        assert_eq!(copied(""), Some(String::new()));
        // PostgreSQL text cannot hold NUL: refused, the caller inserts (and gets the server's
        // own error, as an INSERT of that value would).
        assert_eq!(copied("a\u{0}b"), None);
    }

    #[test]
    fn copy_rows_hold_what_the_insert_binds() {
        let entity = parse_entity(
            "T.jsonc",
            r#"{"name": "T", "properties": {"title": {"type": "string"},
                "n": {"type": "integer"}, "price": {"type": "number"},
                "ok": {"type": "boolean"}, "day": {"type": "string", "format": "date"},
                "at": {"type": "string", "format": "date-time"},
                "tags": {"type": "array"}, "unused": {"type": "string"}}}"#,
        )
        .expect("schema");
        let rec = json!({"id": "r1", "created_date": "2024-01-10T09:00:00.5+01:00",
            "updated_date": "2024-01-10T08:00:00.500Z", "title": "tab\there\\N",
            "n": 2.0, "price": 0.1, "ok": false, "day": "2024-02-29",
            "at": "2024-03-01T00:00:00Z", "tags": ["a\nb", {"k": null}], "other": "x\\y"});
        let second = json!({"id": "r2", "created_date": "2024-01-10T09:00:00Z",
            "updated_date": "2024-01-10T09:00:00Z", "created_by": "a@b.c", "title": null,
            "price": 1e300});
        let records = [rec, second].map(|r| r.as_object().expect("o").clone());
        let copy = import_copy(&entity, &records);
        assert_eq!(
            copy.statement,
            "COPY \"t\" (\"id\", \"created_date\", \"updated_date\", \"created_by\", \
             \"created_by_id\", \"title\", \"n\", \"price\", \"ok\", \"day\", \"at\", \"tags\", \
             \"extra\") FROM STDIN"
        );
        let mut out = Vec::new();
        assert_eq!(copy.write_rows(&entity, &records, &mut out), Ok(true));
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "r1\t2024-01-10T08:00:00.500Z\t2024-01-10T08:00:00.500Z\t\\N\t\\N\t\
             tab\\there\\\\N\t2\t0.1\tf\t2024-02-29\t2024-03-01T00:00:00.000Z\t\
             [\"a\\\\nb\",{\"k\":null}]\t{\"other\":\"x\\\\\\\\y\"}\n\
             r2\t2024-01-10T09:00:00.000Z\t2024-01-10T09:00:00.000Z\ta@b.c\t\\N\t\
             \\N\t\\N\t1e300\t\\N\t\\N\t\\N\t\\N\t{}\n"
        );
        // No clock of the database's: not copied, the INSERT takes the server's.
        let undated = json!({"id": "r3"});
        let records = [undated.as_object().expect("o").clone()];
        let copy = import_copy(&entity, &records);
        assert_eq!(
            copy.write_rows(&entity, &records, &mut Vec::new()),
            Ok(false)
        );
        // NUL anywhere (a field, a built-in, `extra`): refused as the INSERT refuses it.
        for rec in [
            json!({"id": "r4", "title": "a\u{0}"}),
            json!({"id": "r4", "created_by": "\u{0}"}),
            json!({"id": "r4", "other": {"k": ["\u{0}"]}}),
        ] {
            let records = [rec.as_object().expect("o").clone()];
            let copy = import_copy(&entity, &records);
            let insert = import_many_sql(&entity, &records, Dialect::Postgres);
            let copied = copy.write_rows(&entity, &records, &mut Vec::new());
            assert!(insert.is_err() || copied == Ok(false), "{rec}: {copied:?}");
            if let Err(e) = insert {
                assert_eq!(copied, Err(e), "{rec}");
            }
        }
        let bad = json!({"id": "r5", "n": "two"});
        let records = [bad.as_object().expect("o").clone()];
        let err = import_copy(&entity, &records)
            .write_rows(&entity, &records, &mut Vec::new())
            .expect_err("bad value");
        assert!(
            matches!(err, RecordError::InRecord { index: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn batch_limit_respects_parameters() {
        assert_eq!(import_batch_limit(&entity()), MAX_BULK);
    }
}
