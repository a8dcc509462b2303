//! The one error type of the record layer. Every variant but [`RecordError::BadRow`] is the
//! client's fault (HTTP 400); `bad-row` means a stored row ferry cannot decode.

use crate::base44::query::QueryError;

/// A record, value, id or row the record layer refuses; [`RecordError::code`] is the stable
/// string clients see. Messages quote at most 64 characters of client text, never SQL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// The record as a whole is unusable: an undeclared property name that cannot be stored,
    /// no records in a bulk insert, two records of one bulk insert with the same `id`.
    #[error("{0}")]
    BadRecord(String),
    /// A record id (a client-sent `id` on insert, or the id of a get/update/delete) is not
    /// 1–64 characters of `[A-Za-z0-9_-]`.
    #[error("invalid record id {0}")]
    BadId(String),
    /// A declared field's value does not fit its type (or holds a NUL character).
    #[error("field {field}: {reason}")]
    BadValue {
        /// The property name (quoted, shortened).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Over a size limit: the record's JSON, its number of properties, records or parameters
    /// in one statement.
    #[error("{0}")]
    TooLarge(String),
    /// A value nests deeper than [`super::MAX_DEPTH`].
    #[error("{0}")]
    TooDeep(String),
    /// A row read from the database does not have the shape of the entity's table (a server
    /// fault, not the client's: the API layer should answer 500).
    #[error("unreadable row: {0}")]
    BadRow(String),
    /// The extra filter (row-level security) could not be translated.
    #[error(transparent)]
    Filter(#[from] QueryError),
    /// An error in one record of a bulk insert.
    #[error("record {index}: {source}")]
    InRecord {
        /// The record's position in the list (from 0).
        index: usize,
        /// What is wrong with it.
        source: Box<RecordError>,
    },
}

impl RecordError {
    /// The stable code: `bad-record`, `bad-id`, `bad-value`, `too-large`, `too-deep`,
    /// `bad-row`, the filter's own code (see [`QueryError::code`]), or for
    /// [`RecordError::InRecord`] the code of the error inside.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::BadRecord(_) => "bad-record",
            RecordError::BadId(_) => "bad-id",
            RecordError::BadValue { .. } => "bad-value",
            RecordError::TooLarge(_) => "too-large",
            RecordError::TooDeep(_) => "too-deep",
            RecordError::BadRow(_) => "bad-row",
            RecordError::Filter(e) => e.code(),
            RecordError::InRecord { source, .. } => source.code(),
        }
    }

    pub(crate) fn value(field: &str, reason: impl Into<String>) -> RecordError {
        RecordError::BadValue {
            field: quote(field),
            reason: reason.into(),
        }
    }
}

/// Shortens client text quoted in a message: at most 64 characters, control characters
/// escaped, in double quotes.
pub(crate) fn quote(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    format!("\"{out}\"")
}
