//! The canonical row encoding (docs/data.md): one text per value, computed *inside* each
//! database, so Postgres and SQLite compare equal exactly when the values are equal.
//!
//! Per value kind, the canonical text is:
//! - bool `t`/`f`; integers in decimal; floats as the 16 hex digits of the IEEE-754 binary64
//!   big-endian bits (`real` widened exactly, -0 counted as +0); numeric as Postgres prints
//!   it (scale kept);
//! - text, uuid, enum, json, date and other kinds as Postgres prints them (ISO dates);
//! - jsonb as Postgres normalises it; bytea as lowercase hex;
//! - timestamptz as `YYYY-MM-DDTHH:MI:SS.ffffffZ` in UTC; timestamp the same without `Z`;
//! - arrays as `to_jsonb(value)::text`.
//!
//! A row is the concatenation, per copied column in order, of `<byte length>:<text>` or `~`
//! for NULL (so NULL and the empty string differ, and no separator can be forged). Its hash
//! is the first 64 bits of MD5 of that text, as a signed big-endian integer; a table's
//! checksum is the wrapping sum of its row hashes with the row count: order-independent.
//!
//! The SQLite target stores each kind in the form its canonical text is read back from
//! ([`sqlite_storage_expr`] on the Postgres side when copying), so the SQLite-side
//! expression is a plain read plus, for floats and bytea, a hex conversion.

use crate::catalog::{Column, ValueKind, quote_ident};

/// SQL (Postgres) giving the canonical text of a column (NULL stays NULL).
pub fn pg_value(column: &Column) -> String {
    let c = quote_ident(&column.name);
    match &column.kind {
        ValueKind::Bool => {
            format!("CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN 't' ELSE 'f' END")
        }
        ValueKind::Int | ValueKind::Numeric => format!("{c}::text"),
        // `+ 0` turns -0 into +0: SQLite's REAL cannot keep the sign of zero.
        ValueKind::Float => format!("encode(float8send({c}::float8 + 0), 'hex')"),
        ValueKind::Bytea => format!("encode({c}::bytea, 'hex')"),
        ValueKind::TimestampTz => format!(
            "CASE WHEN isfinite({c}) THEN to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') ELSE {c}::text END"
        ),
        ValueKind::Timestamp => {
            format!(
                "CASE WHEN isfinite({c}) THEN to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') ELSE {c}::text END"
            )
        }
        ValueKind::Array(_) => format!("to_jsonb({c})::text"),
        _ => format!("{c}::text"),
    }
}

/// SQL (Postgres) giving the value in the form the SQLite target stores: the text COPY
/// output of this expression is what the SQLite writer parses.
pub fn sqlite_storage_expr(column: &Column) -> String {
    let c = quote_ident(&column.name);
    match &column.kind {
        ValueKind::Bool => format!("CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN 1 ELSE 0 END"),
        ValueKind::Int => format!("{c}::int8"),
        ValueKind::Float => format!("{c}::float8"),
        ValueKind::Bytea => format!("{c}::bytea"),
        ValueKind::TimestampTz | ValueKind::Timestamp | ValueKind::Array(_) => pg_value(column),
        _ => format!("{c}::text"),
    }
}

/// How the SQLite writer binds a parsed text value of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteStorage {
    /// INTEGER (ints, booleans as 0/1).
    Integer,
    /// REAL (binary64, exact).
    Real,
    /// BLOB (from Postgres' `\x…` hex).
    Blob,
    /// TEXT.
    Text,
}

/// The SQLite storage class of a kind.
pub fn sqlite_storage(kind: &ValueKind) -> SqliteStorage {
    match kind {
        ValueKind::Bool | ValueKind::Int => SqliteStorage::Integer,
        ValueKind::Float => SqliteStorage::Real,
        ValueKind::Bytea => SqliteStorage::Blob,
        _ => SqliteStorage::Text,
    }
}

/// SQL (SQLite) giving the canonical text of a stored column. Needs the functions that
/// [`crate::sqlite::register_functions`] adds (`ferry_f64hex`).
pub fn sqlite_value(column: &Column) -> String {
    let c = quote_ident(&column.name);
    match &column.kind {
        ValueKind::Bool => {
            format!("CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN 't' ELSE 'f' END")
        }
        ValueKind::Int => format!("CAST({c} AS TEXT)"),
        ValueKind::Float => format!("ferry_f64hex({c})"),
        ValueKind::Bytea => format!("CASE WHEN {c} IS NULL THEN NULL ELSE lower(hex({c})) END"),
        _ => c,
    }
}

/// Postgres: the canonical row text of the given columns.
pub fn pg_row<'a>(columns: impl Iterator<Item = &'a Column>) -> String {
    row(columns.map(|c| {
        let v = pg_value(c);
        (format!("octet_length({v})"), v)
    }))
}

/// SQLite: the canonical row text of the given columns.
pub fn sqlite_row<'a>(columns: impl Iterator<Item = &'a Column>) -> String {
    row(columns.map(|c| {
        let v = sqlite_value(c);
        (format!("length(CAST({v} AS BLOB))"), v)
    }))
}

fn row(parts: impl Iterator<Item = (String, String)>) -> String {
    let parts: Vec<String> = parts
        .map(|(len, v)| format!("coalesce({len} || ':' || {v}, '~')"))
        .collect();
    if parts.is_empty() {
        "''".to_string()
    } else {
        parts.join(" || ")
    }
}

/// Postgres: the 64-bit row hash of a canonical text expression.
pub fn pg_hash(text: &str) -> String {
    format!("('x' || substr(md5({text}), 1, 16))::bit(64)::int8")
}

/// SQLite: the 64-bit row hash of a canonical text expression.
pub fn sqlite_hash(text: &str) -> String {
    format!("ferry_md5_64({text})")
}

/// The row hash of a canonical text, as both databases compute it.
pub fn hash64(text: &[u8]) -> i64 {
    use md5::Digest;
    let digest = md5::Md5::digest(text);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Reduces a Postgres `sum(int8)` (a numeric, as text) to the wrapping 64-bit sum.
pub fn wrap_sum(text: Option<&str>) -> u64 {
    let Some(text) = text else { return 0 };
    match text.parse::<i128>() {
        Ok(v) => v.rem_euclid(1i128 << 64) as u64,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_md5_prefix() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(
            hash64(b""),
            i64::from_be_bytes([0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04])
        );
    }

    #[test]
    fn wrapping_sum_matches_twos_complement() {
        assert_eq!(wrap_sum(Some("-1")), u64::MAX);
        assert_eq!(wrap_sum(Some("18446744073709551617")), 1);
        assert_eq!(wrap_sum(None), 0);
    }
}
