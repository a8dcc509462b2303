//! A pgoutput text value (the type's output under ferry's session settings: UTC, ISO dates,
//! hex bytea, shortest-exact floats) in the form the SQLite target stores — the same forms
//! `canon::sqlite_storage_expr` gives the pull, so verify sees a followed row exactly as a
//! pulled one. Arrays are converted by the source (`to_jsonb`), in `target.rs`.

use rusqlite::types::Value;

use super::apply::ColumnInfo;
use crate::catalog::ValueKind;
use crate::sqlite::{decode_hex, parse_f64};

/// Converts one non-array value; the error says what is wrong (without the table).
pub(super) fn to_sqlite(column: &ColumnInfo, text: &str) -> Result<Value, String> {
    Ok(match &column.kind {
        ValueKind::Bool => match text {
            "t" => Value::Integer(1),
            "f" => Value::Integer(0),
            other => return Err(format!("`{other}` is not a boolean")),
        },
        ValueKind::Int => Value::Integer(
            text.parse::<i64>()
                .map_err(|_| format!("`{text}` is not an integer"))?,
        ),
        ValueKind::Float => {
            // A `real` prints its shortest float4 form: parse it as float4, then widen, as
            // the pull's `::float8` does.
            let value = if column.sql_type == "real" {
                match text {
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    "NaN" => f64::NAN,
                    _ => f64::from(
                        text.parse::<f32>()
                            .map_err(|_| format!("`{text}` is not a float"))?,
                    ),
                }
            } else {
                parse_f64(text).ok_or_else(|| format!("`{text}` is not a float"))?
            };
            if value.is_nan() {
                if column.not_null {
                    return Err("NaN in a NOT NULL float column: SQLite stores NaN as NULL".into());
                }
                Value::Null
            } else {
                Value::Real(value)
            }
        }
        ValueKind::Bytea => {
            let hex = text
                .strip_prefix("\\x")
                .ok_or("a bytea value is not in hex form")?;
            let mut out = Vec::new();
            decode_hex(hex.as_bytes(), &mut out)?;
            Value::Blob(out)
        }
        ValueKind::TimestampTz => Value::Text(timestamp(text, true)?),
        ValueKind::Timestamp => Value::Text(timestamp(text, false)?),
        _ => Value::Text(text.to_string()),
    })
}

/// `2024-01-02 03:04:05.5+00` → `2024-01-02T03:04:05.500000Z` (the canonical form);
/// `infinity` stays as is.
fn timestamp(text: &str, zoned: bool) -> Result<String, String> {
    if text == "infinity" || text == "-infinity" {
        return Ok(text.to_string());
    }
    let unsupported = || format!("timestamp `{text}` is not in the ISO form ferry expects");
    if text.ends_with(" BC") {
        return Err(format!("timestamp `{text}`: BC dates are not followed"));
    }
    let body = if zoned {
        text.strip_suffix("+00").ok_or_else(unsupported)?
    } else {
        text
    };
    let (date, time) = body.split_once(' ').ok_or_else(unsupported)?;
    let (whole, fraction) = time.split_once('.').unwrap_or((time, ""));
    if whole.len() != 8 || fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unsupported());
    }
    Ok(format!(
        "{date}T{whole}.{fraction:0<6}{}",
        if zoned { "Z" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(kind: ValueKind, sql_type: &str) -> ColumnInfo {
        ColumnInfo {
            name: "c".into(),
            sql_type: sql_type.into(),
            kind,
            not_null: false,
        }
    }

    #[test]
    fn stored_forms_match_the_pull() {
        let ts = col(ValueKind::TimestampTz, "timestamp with time zone");
        assert_eq!(
            to_sqlite(&ts, "2024-01-02 03:04:05.5+00"),
            Ok(Value::Text("2024-01-02T03:04:05.500000Z".into()))
        );
        assert_eq!(
            to_sqlite(&ts, "2024-01-02 03:04:05+00"),
            Ok(Value::Text("2024-01-02T03:04:05.000000Z".into()))
        );
        let t = col(ValueKind::Timestamp, "timestamp without time zone");
        assert_eq!(
            to_sqlite(&t, "2024-01-02 03:04:05.123456"),
            Ok(Value::Text("2024-01-02T03:04:05.123456".into()))
        );
        assert!(to_sqlite(&ts, "2024-01-02 03:04:05+02").is_err());
        let real = col(ValueKind::Float, "real");
        assert_eq!(to_sqlite(&real, "0.1"), Ok(Value::Real(f64::from(0.1f32))));
        assert_eq!(
            to_sqlite(&col(ValueKind::Bytea, "bytea"), "\\x00ff"),
            Ok(Value::Blob(vec![0, 255]))
        );
        assert_eq!(
            to_sqlite(&col(ValueKind::Bool, "boolean"), "t"),
            Ok(Value::Integer(1))
        );
        assert!(to_sqlite(&col(ValueKind::Int, "integer"), "x").is_err());
    }
}
