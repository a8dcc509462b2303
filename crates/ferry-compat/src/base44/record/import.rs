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
use super::{Binder, MAX_BULK, RecordError, Row, ident, now, prepare, public_columns};
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
    for (mut row, (created, updated, by, by_id)) in rows {
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
        for i in &used {
            cells.push(match row.fields[*i].take().flatten() {
                Some(v) => b.bind_field(&entity.fields[*i].ty, v),
                None => "NULL".into(),
            });
        }
        cells.push(b.bind(SqlValue::Json(Value::Object(row.extra))));
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

    #[test]
    fn batch_limit_respects_parameters() {
        assert_eq!(import_batch_limit(&entity()), MAX_BULK);
    }
}
