//! Validation of a record's properties: the size limits, the names of undeclared properties,
//! and each declared field's value coerced to its column type.

use serde_json::{Map, Value};

use super::error::{RecordError, quote};
use super::{MAX_BYTES, MAX_DEPTH, MAX_KEYS, MAX_NAME_LEN};
use crate::base44::model::{
    BUILTIN_FIELDS, Dialect, Entity, Field, FieldType, USER_ENTITY, USER_PRIVATE_COLUMNS,
};
use crate::base44::query::SqlValue;
use crate::base44::time::{format_datetime, parse_date, parse_datetime};

/// Whether a client-sent key names a built-in (or, for `User`, a private column): such keys
/// are ignored on every write.
pub(crate) fn is_reserved(entity: &Entity, key: &str) -> bool {
    BUILTIN_FIELDS.contains(&key)
        || (entity.name == USER_ENTITY && USER_PRIVATE_COLUMNS.contains(&key))
}

/// Checks the limits of a record (or a set of changes): at most [`MAX_KEYS`] properties,
/// [`MAX_BYTES`] of JSON, [`MAX_DEPTH`] levels (the record is level 1), no NUL character in
/// any key or string (PostgreSQL cannot store one).
pub(crate) fn check_limits(record: &Map<String, Value>) -> Result<(), RecordError> {
    if record.len() > MAX_KEYS {
        return Err(RecordError::TooLarge(format!(
            "a record may have at most {MAX_KEYS} properties, not {}",
            record.len()
        )));
    }
    for (key, value) in record {
        if key.contains('\0') {
            return Err(RecordError::BadRecord(format!(
                "property name {} holds a NUL character",
                quote(key)
            )));
        }
        walk(key, value, 2)?;
    }
    let mut counter = Counter(0);
    if serde_json::to_writer(&mut counter, record).is_err() || counter.0 > MAX_BYTES {
        return Err(RecordError::TooLarge(format!(
            "a record may be at most {MAX_BYTES} bytes of JSON"
        )));
    }
    Ok(())
}

/// Checks depth and NUL characters below the top-level property `field`.
fn walk(field: &str, value: &Value, depth: usize) -> Result<(), RecordError> {
    let nested = matches!(value, Value::Array(_) | Value::Object(_));
    if nested && depth > MAX_DEPTH {
        return Err(RecordError::TooDeep(format!(
            "property {} nests deeper than {MAX_DEPTH} levels",
            quote(field)
        )));
    }
    match value {
        Value::String(s) if s.contains('\0') => {
            Err(RecordError::value(field, "a string holds a NUL character"))
        }
        Value::Array(items) => items.iter().try_for_each(|v| walk(field, v, depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                return Err(RecordError::value(field, "a key holds a NUL character"));
            }
            walk(field, v, depth + 1)
        }),
        _ => Ok(()),
    }
}

/// A writer that only counts bytes, and stops the serializer past [`MAX_BYTES`].
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        if self.0 > MAX_BYTES {
            return Err(std::io::Error::other("too large"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks the name of an undeclared property (kept in `extra`): 1–[`MAX_NAME_LEN`] bytes, not
/// starting with `$`, without `"` or `\` (names the query translator and SQLite JSON paths
/// can address).
pub(crate) fn check_extra_key(key: &str) -> Result<(), RecordError> {
    let reason = if key.is_empty() {
        "is empty"
    } else if key.len() > MAX_NAME_LEN {
        "is too long"
    } else if key.starts_with('$') {
        "starts with `$`"
    } else if key.contains(['"', '\\']) {
        "holds a double quote or a backslash"
    } else {
        return Ok(());
    };
    Err(RecordError::BadRecord(format!(
        "undeclared property name {} {reason}",
        quote(key)
    )))
}

/// A declared field's value as the parameter its column takes; `None` for JSON null (SQL
/// NULL).
pub(crate) fn field_value(field: &Field, value: &Value) -> Result<Option<SqlValue>, RecordError> {
    let name = field.name.as_str();
    let bad = |reason: &str| Err(RecordError::value(name, reason));
    let out = match (&field.ty, value) {
        (_, Value::Null) => return Ok(None),
        (FieldType::String, Value::String(s)) => SqlValue::Text(s.clone()),
        (FieldType::String, _) => return bad("expected a string"),
        (FieldType::Enum(values), Value::String(s)) if values.contains(s) => {
            SqlValue::Text(s.clone())
        }
        (FieldType::Enum(values), _) => {
            let listed: Vec<String> = values.iter().take(10).map(|v| quote(v)).collect();
            return bad(&format!("expected one of {}", listed.join(", ")));
        }
        (FieldType::Integer, Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                SqlValue::Int(i)
            } else {
                match n.as_f64() {
                    // 2^63 as a double: every integral double in [-2^63, 2^63) is an i64.
                    Some(f)
                        if f.fract() == 0.0
                            && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18)
                                .contains(&f) =>
                    {
                        SqlValue::Int(f as i64)
                    }
                    Some(f) if f.fract() == 0.0 => return bad("integer out of the 64-bit range"),
                    _ => return bad("expected an integer"),
                }
            }
        }
        (FieldType::Integer, _) => return bad("expected an integer"),
        (FieldType::Number, Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => SqlValue::Float(f),
            _ => return bad("number out of range"),
        },
        (FieldType::Number, _) => return bad("expected a number"),
        (FieldType::Boolean, Value::Bool(b)) => SqlValue::Bool(*b),
        (FieldType::Boolean, _) => return bad("expected a boolean"),
        (FieldType::Date, Value::String(s)) if parse_date(s.as_bytes()).is_some() => {
            SqlValue::Text(s.clone())
        }
        (FieldType::Date, _) => return bad("expected a date `YYYY-MM-DD`"),
        (FieldType::DateTime, Value::String(s)) => {
            match parse_datetime(s).and_then(format_datetime) {
                Some(iso) => SqlValue::Text(iso),
                None => return bad("expected an ISO 8601 date-time"),
            }
        }
        (FieldType::DateTime, _) => return bad("expected an ISO 8601 date-time string"),
        (FieldType::Array, Value::Array(_)) | (FieldType::Object, Value::Object(_)) => {
            SqlValue::Json(value.clone())
        }
        (FieldType::Array, _) => return bad("expected an array"),
        (FieldType::Object, _) => return bad("expected an object"),
    };
    Ok(Some(out))
}

/// The placeholder of parameter `n` for a declared field's column: `?n` on SQLite; on
/// PostgreSQL cast to the column type (`$n::int8`, `$n::text::date`…).
pub(crate) fn field_placeholder(ty: &FieldType, n: usize, dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => {
            let cast = match ty {
                FieldType::String | FieldType::Enum(_) => "text",
                FieldType::Date => "text::date",
                FieldType::DateTime => "text::timestamptz",
                FieldType::Number => "float8",
                FieldType::Integer => "int8",
                FieldType::Boolean => "bool",
                FieldType::Array | FieldType::Object => "jsonb",
            };
            format!("${n}::{cast}")
        }
    }
}
