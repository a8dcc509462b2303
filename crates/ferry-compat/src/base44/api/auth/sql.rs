//! The SQL of the auth routes: finding and updating `User` rows (with their private columns)
//! and storing one-time codes and reset/invitation tokens (hashed) in the codes table.

use serde_json::{Map, Value, json};

use super::{ApiError, CODES_GRACE_SECS};
use crate::base44::auth::otp::OtpRecord;
use crate::base44::model::{Dialect, Entity};
use crate::base44::query::{Sql, SqlValue};
use crate::base44::record::{Cell, public_columns, row_to_record};
use crate::base44::store::{AUTH_CODES_TABLE, Tx};

pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn ph(dialect: Dialect, n: usize, ty: &str) -> String {
    match dialect {
        Dialect::Postgres => format!("${n}::{ty}"),
        Dialect::Sqlite => format!("?{n}"),
    }
}

pub(super) fn secs(t: u64) -> SqlValue {
    SqlValue::Int(i64::try_from(t).unwrap_or(i64::MAX))
}

/// How a user row is found.
#[derive(Clone, Copy)]
pub(super) enum By<'a> {
    /// Without regard to case (`lower(email)`, the unique index).
    Email(&'a str),
    Id(&'a str),
}

impl By<'_> {
    pub(super) fn condition(self, dialect: Dialect) -> (String, SqlValue) {
        match self {
            By::Email(e) => (
                format!("lower(\"email\") = lower({})", ph(dialect, 1, "text")),
                SqlValue::Text(e.to_owned()),
            ),
            By::Id(id) => (
                format!("\"id\" = {}", ph(dialect, 1, "text")),
                SqlValue::Text(id.to_owned()),
            ),
        }
    }
}

/// A `User` row: its public record and the private columns.
pub(super) struct UserRow {
    pub(super) record: Map<String, Value>,
    pub(super) id: String,
    pub(super) email: String,
    pub(super) role: String,
    pub(super) password_hash: Option<String>,
    pub(super) email_verified: bool,
}

pub(super) fn user_select_sql(users: &Entity, by: By<'_>, dialect: Dialect) -> Sql {
    let columns: Vec<String> = public_columns(users).iter().map(|c| quote(c)).collect();
    let (condition, value) = by.condition(dialect);
    Sql {
        text: format!(
            "SELECT {}, \"password_hash\", \"email_verified\" FROM {} WHERE {condition}",
            columns.join(", "),
            quote(&users.table)
        ),
        params: vec![value],
    }
}

pub(super) fn user_row(
    users: &Entity,
    cells: &[Cell],
    dialect: Dialect,
) -> Result<UserRow, ApiError> {
    let n = public_columns(users).len();
    let (Some(public), Some(hash), Some(verified)) =
        (cells.get(..n), cells.get(n), cells.get(n + 1))
    else {
        return Err(ApiError::internal("a user row of the wrong width"));
    };
    let Value::Object(record) = row_to_record(users, public, dialect)? else {
        return Err(ApiError::internal("a user row is not an object"));
    };
    let field = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(UserRow {
        id: field("id").ok_or_else(|| ApiError::internal("a user row without id"))?,
        email: field("email").unwrap_or_default(),
        role: field("role").unwrap_or_else(|| "user".into()),
        password_hash: match hash {
            Cell::Text(h) => Some(h.clone()),
            _ => None,
        },
        email_verified: matches!(verified, Cell::Bool(true) | Cell::Int(1)),
        record,
    })
}

impl UserRow {
    /// Whether the user can sign in with a password. A row whose `password_hash` is NULL or
    /// empty has none: a user migrated from Base44 (whose export holds no password hashes),
    /// one invited by an admin, or one who only signed in through OpenID Connect. This is the
    /// one definition of "no password"; [`users_without_password_sql`] selects the same rows.
    pub(super) fn has_password(&self) -> bool {
        self.password_hash.as_deref().is_some_and(|h| !h.is_empty())
    }
}

/// Every `User` row without a password (see [`UserRow::has_password`]), oldest first.
pub(super) fn users_without_password_sql(users: &Entity) -> Sql {
    let columns: Vec<String> = public_columns(users).iter().map(|c| quote(c)).collect();
    Sql {
        text: format!(
            "SELECT {}, \"password_hash\", \"email_verified\" FROM {} \
             WHERE \"password_hash\" IS NULL OR \"password_hash\" = '' \
             ORDER BY \"created_date\", \"id\"",
            columns.join(", "),
            quote(&users.table)
        ),
        params: Vec::new(),
    }
}

/// The records of `purpose` stored for `email` (lower-cased).
pub(super) fn codes_of_email_sql(dialect: Dialect, purpose: &str, email: &str) -> Sql {
    Sql {
        text: format!(
            "SELECT \"record\" FROM \"{AUTH_CODES_TABLE}\" WHERE \"purpose\" = {} AND \"email\" = {}",
            ph(dialect, 1, "text"),
            ph(dialect, 2, "text")
        ),
        params: vec![
            SqlValue::Text(purpose.to_owned()),
            SqlValue::Text(email.to_lowercase()),
        ],
    }
}

/// `UPDATE user SET password_hash [, email_verified] WHERE id [AND password_hash = old]`.
pub(super) fn set_password_sql(
    users: &Entity,
    dialect: Dialect,
    id: &str,
    hash: &str,
    verified: Option<bool>,
    old_hash: Option<&str>,
) -> Sql {
    let mut params = vec![SqlValue::Text(hash.to_owned())];
    let mut sets = vec![format!("\"password_hash\" = {}", ph(dialect, 1, "text"))];
    if let Some(v) = verified {
        params.push(SqlValue::Bool(v));
        sets.push(format!(
            "\"email_verified\" = {}",
            ph(dialect, params.len(), "bool")
        ));
    }
    params.push(SqlValue::Text(id.to_owned()));
    let mut condition = format!("\"id\" = {}", ph(dialect, params.len(), "text"));
    if let Some(old) = old_hash {
        params.push(SqlValue::Text(old.to_owned()));
        condition.push_str(&format!(
            " AND \"password_hash\" = {}",
            ph(dialect, params.len(), "text")
        ));
    }
    Sql {
        text: format!(
            "UPDATE {} SET {} WHERE {condition}",
            quote(&users.table),
            sets.join(", ")
        ),
        params,
    }
}

pub(super) fn set_verified_sql(users: &Entity, dialect: Dialect, by: By<'_>) -> Sql {
    let (condition, value) = by.condition(dialect);
    Sql {
        text: format!(
            "UPDATE {} SET \"email_verified\" = {} WHERE {condition}",
            quote(&users.table),
            ph(dialect, 2, "bool")
        ),
        params: vec![value, SqlValue::Bool(true)],
    }
}

pub(super) fn code_upsert_sql(
    dialect: Dialect,
    purpose: &str,
    lookup: &str,
    email: &str,
    record: &Value,
    expires_at: u64,
) -> Sql {
    let p = |n| ph(dialect, n, if n == 5 { "int8" } else { "text" });
    Sql {
        text: format!(
            "INSERT INTO \"{AUTH_CODES_TABLE}\" (\"purpose\", \"lookup\", \"email\", \"record\", \"expires_at\") \
             VALUES ({}, {}, {}, {}, {}) ON CONFLICT (\"purpose\", \"lookup\") DO UPDATE SET \
             \"email\" = excluded.\"email\", \"record\" = excluded.\"record\", \
             \"expires_at\" = excluded.\"expires_at\"",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5)
        ),
        params: vec![
            SqlValue::Text(purpose.to_owned()),
            SqlValue::Text(lookup.to_owned()),
            SqlValue::Text(email.to_owned()),
            SqlValue::Text(record.to_string()),
            secs(expires_at),
        ],
    }
}

/// The row of `(purpose, lookup)`: `email`, `record` (locked for the transaction on
/// PostgreSQL; SQLite's `BEGIN IMMEDIATE` already serialises writers).
pub(super) fn code_select_sql(dialect: Dialect, purpose: &str, lookup: &str) -> Sql {
    let lock = match dialect {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    Sql {
        text: format!(
            "SELECT \"email\", \"record\" FROM \"{AUTH_CODES_TABLE}\" \
             WHERE \"purpose\" = {} AND \"lookup\" = {}{lock}",
            ph(dialect, 1, "text"),
            ph(dialect, 2, "text")
        ),
        params: vec![
            SqlValue::Text(purpose.to_owned()),
            SqlValue::Text(lookup.to_owned()),
        ],
    }
}

/// Deletes the rows of `purpose` whose `column` (`lookup` or `email`) is `value`.
pub(super) fn code_delete_sql(dialect: Dialect, purpose: &str, column: &str, value: &str) -> Sql {
    Sql {
        text: format!(
            "DELETE FROM \"{AUTH_CODES_TABLE}\" WHERE \"purpose\" = {} AND {} = {}",
            ph(dialect, 1, "text"),
            quote(column),
            ph(dialect, 2, "text")
        ),
        params: vec![
            SqlValue::Text(purpose.to_owned()),
            SqlValue::Text(value.to_owned()),
        ],
    }
}

/// Deletes the rows expired for more than [`CODES_GRACE_SECS`].
pub(super) fn codes_sweep_sql(dialect: Dialect, now: u64) -> Sql {
    Sql {
        text: format!(
            "DELETE FROM \"{AUTH_CODES_TABLE}\" WHERE \"expires_at\" < {}",
            ph(dialect, 1, "int8")
        ),
        params: vec![secs(now.saturating_sub(CODES_GRACE_SECS))],
    }
}

pub(super) async fn read_code(
    tx: &mut Tx,
    dialect: Dialect,
    purpose: &str,
    lookup: &str,
) -> Result<Option<(String, Value)>, ApiError> {
    let rows = tx
        .query(&code_select_sql(dialect, purpose, lookup), 2)
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    match (row.first(), row.get(1)) {
        (Some(Cell::Text(email)), Some(Cell::Text(record))) => {
            let record = serde_json::from_str(record)
                .map_err(|e| ApiError::internal(format!("unreadable auth code record: {e}")))?;
            Ok(Some((email.clone(), record)))
        }
        _ => Err(ApiError::internal("unreadable auth code row")),
    }
}

pub(super) fn otp_json(r: &OtpRecord) -> Value {
    json!({"code_hash": r.code_hash, "expires_at": r.expires_at, "attempts": r.attempts})
}

pub(super) fn otp_from_json(v: &Value) -> Option<OtpRecord> {
    Some(OtpRecord {
        code_hash: v.get("code_hash")?.as_str()?.to_owned(),
        expires_at: v.get("expires_at")?.as_u64()?,
        attempts: u32::try_from(v.get("attempts")?.as_u64()?).ok()?,
    })
}
