//! From a row of the entity's table to the record JSON the SDK sees.

use serde_json::{Map, Number, Value};

use super::error::{RecordError, quote};
use super::public_columns;
use super::value::is_reserved;
use crate::base44::model::{BUILTIN_FIELDS, Dialect, Entity, FieldType};
use crate::base44::time::{format_date, format_datetime, parse_date, parse_datetime};

/// A decoded column value, the same for both dialects: what a driver gives for one column of
/// a row, before the entity's types are applied by [`row_to_record`].
///
/// What each column type may arrive as:
/// - text, enum: `Text`;
/// - integer: `Int` (or an integral `Float`); number: `Float` or `Int`;
/// - boolean: `Bool`, or on SQLite `Int` 0/1, or on PostgreSQL (text protocol) `Text`
///   `t`/`f`/`true`/`false`;
/// - date: `Text` `YYYY-MM-DD`, or `Int` days since 1970-01-01 (PostgreSQL's binary `date`
///   is days since 2000-01-01: add 10,957);
/// - date-time (`created_date`, `updated_date`, declared date-times): `Text` in ISO 8601
///   (SQLite's stored form, PostgreSQL's text output `2024-01-10 09:00:00.123456+00`), or `Int`
///   microseconds since 1970-01-01T00:00:00Z (see [`Cell::timestamp`]);
/// - array, object, `extra`: `Json`, or `Text` holding JSON (SQLite).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// Text.
    Text(String),
    /// A JSON document.
    Json(Value),
}

impl Cell {
    /// A date-time cell from a point in time (as PostgreSQL drivers decode `timestamptz`):
    /// `Int` microseconds since the Unix epoch.
    pub fn timestamp(time: std::time::SystemTime) -> Cell {
        let micros = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => Cell::Int(micros(after)),
            Err(before) => Cell::Int(-micros(before.duration())),
        }
    }
}

impl rusqlite::types::FromSql for Cell {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        use rusqlite::types::{FromSqlError, ValueRef};
        Ok(match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Int(i),
            ValueRef::Real(f) => Cell::Float(f),
            ValueRef::Text(t) => Cell::Text(
                std::str::from_utf8(t)
                    .map_err(|e| FromSqlError::Other(Box::new(e)))?
                    .to_string(),
            ),
            ValueRef::Blob(_) => return Err(FromSqlError::InvalidType),
        })
    }
}

/// A row (its columns in [`public_columns`] order, as every statement of this module and
/// `query::select_sql` return them) as the record the SDK sees: `id`, `created_date`,
/// `updated_date` (ISO 8601 UTC with milliseconds and `Z`), `created_by`, `created_by_id`
/// (always present, `null` when NULL), the declared fields by their property names (left out
/// when NULL; dates as `YYYY-MM-DD`), then the keys of `extra` that name neither a built-in,
/// a declared field nor (for `User`) a private column. The output is the same for both
/// dialects.
pub fn row_to_record(
    entity: &Entity,
    cells: &[Cell],
    dialect: Dialect,
) -> Result<Value, RecordError> {
    let expected = public_columns(entity).len();
    if cells.len() != expected {
        return Err(RecordError::BadRow(format!(
            "{} columns for {}, expected {expected}",
            cells.len(),
            quote(&entity.name)
        )));
    }
    let mut out = Map::new();
    let (builtins, rest) = cells.split_at(BUILTIN_FIELDS.len());
    for (name, cell) in BUILTIN_FIELDS.iter().zip(builtins) {
        let value = match (*name, cell) {
            (_, Cell::Null) if *name != "id" => Value::Null,
            ("created_date" | "updated_date", _) => datetime(name, cell)?,
            (_, Cell::Text(s)) => Value::String(s.clone()),
            _ => return Err(bad(name, cell)),
        };
        out.insert((*name).to_string(), value);
    }
    let (fields, extra) = rest.split_at(entity.fields.len());
    for (field, cell) in entity.fields.iter().zip(fields) {
        if *cell == Cell::Null {
            continue;
        }
        let name = field.name.as_str();
        let value = match (&field.ty, cell) {
            (FieldType::String | FieldType::Enum(_), Cell::Text(s)) => Value::String(s.clone()),
            (FieldType::Integer, Cell::Int(i)) => Value::from(*i),
            (FieldType::Integer | FieldType::Number, Cell::Float(f)) => js_number(*f),
            (FieldType::Number, Cell::Int(i)) => Value::from(*i),
            (FieldType::Boolean, Cell::Bool(b)) => Value::Bool(*b),
            (FieldType::Boolean, Cell::Int(i @ (0 | 1))) if dialect == Dialect::Sqlite => {
                Value::Bool(*i == 1)
            }
            (FieldType::Boolean, Cell::Text(t)) if dialect == Dialect::Postgres => {
                match t.as_str() {
                    "t" | "true" => Value::Bool(true),
                    "f" | "false" => Value::Bool(false),
                    _ => return Err(bad(name, cell)),
                }
            }
            (FieldType::Date, Cell::Text(s)) if parse_date(s.as_bytes()).is_some() => {
                Value::String(s.clone())
            }
            (FieldType::Date, Cell::Int(days)) => match format_date(*days) {
                Some(s) => Value::String(s),
                None => return Err(bad(name, cell)),
            },
            (FieldType::DateTime, _) => datetime(name, cell)?,
            (FieldType::Array | FieldType::Object, _) => json(name, cell)?,
            _ => return Err(bad(name, cell)),
        };
        out.insert(field.name.clone(), value);
    }
    let extra = match extra.first().map(|cell| json("extra", cell)) {
        Some(Ok(Value::Object(map))) => map,
        Some(Err(e)) => return Err(e),
        _ => return Err(RecordError::BadRow("`extra` is not a JSON object".into())),
    };
    for (key, value) in extra {
        if !is_reserved(entity, &key) && entity.field(&key).is_none() {
            out.insert(key, value);
        }
    }
    Ok(Value::Object(out))
}

fn bad(column: &str, cell: &Cell) -> RecordError {
    let kind = match cell {
        Cell::Null => "NULL",
        Cell::Bool(_) => "a boolean",
        Cell::Int(_) => "an integer",
        Cell::Float(_) => "a double",
        Cell::Text(_) => "text",
        Cell::Json(_) => "JSON",
    };
    RecordError::BadRow(format!("column {} cannot be {kind} here", quote(column)))
}

/// A date-time cell as `YYYY-MM-DDTHH:MM:SS.sssZ`.
fn datetime(column: &str, cell: &Cell) -> Result<Value, RecordError> {
    let ms = match cell {
        Cell::Text(s) => parse_datetime(s),
        Cell::Int(micros) => Some(micros.div_euclid(1000)),
        _ => None,
    };
    ms.and_then(format_datetime)
        .map(Value::String)
        .ok_or_else(|| bad(column, cell))
}

/// A JSON cell (or JSON text).
fn json(column: &str, cell: &Cell) -> Result<Value, RecordError> {
    match cell {
        Cell::Json(v) => Ok(v.clone()),
        Cell::Text(s) => serde_json::from_str(s).map_err(|_| bad(column, cell)),
        _ => Err(bad(column, cell)),
    }
}

/// A double as JSON the way JavaScript writes it: integral values within ±2^53 as integers
/// (`10`, not `10.0`); NaN and infinities (which only SQL can store) as `null`.
pub(super) fn js_number(f: f64) -> Value {
    const SAFE: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && (-SAFE..=SAFE).contains(&f) {
        // Exact: an integral double within ±2^53.
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}
