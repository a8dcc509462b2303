//! The one error type of the query translator: every variant is the client's fault (HTTP 400).

/// What was wrong with a query; [`QueryErrorKind::code`] is the stable string clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryErrorKind {
    /// Malformed input: `q` is not JSON or not an object, an operator has the wrong operand, a
    /// parameter is given twice.
    BadQuery,
    /// A `$operator` this translator does not know.
    UnknownOperator,
    /// A `$operator` that is refused on purpose (server-side code, text search, geo queries).
    ForbiddenOperator,
    /// The filter nests deeper than [`super::MAX_DEPTH`].
    TooDeep,
    /// The filter is too big: too many nodes, `$in` values or values in total.
    TooLarge,
    /// A field name (in `q` or `fields`) is empty, too long, too deep, starts with `$`, or holds a
    /// NUL, a double quote or a backslash.
    BadField,
    /// A `sort` key is malformed.
    BadSort,
    /// `limit` is not an integer in `1..=`[`super::MAX_LIMIT`].
    Limit,
    /// `skip` is not a non-negative integer that fits in an `i64`.
    BadSkip,
    /// A `$regex` pattern is invalid, too long, uses syntax outside the portable subset, or has
    /// unknown `$options`.
    BadRegex,
    /// A `v2/list` cursor that is malformed, tampered with, or used with another query, sort
    /// or fields.
    BadCursor,
}

impl QueryErrorKind {
    /// The stable code (`bad-query`, `unknown-operator`, `forbidden-operator`, `too-deep`,
    /// `too-large`, `bad-field`, `bad-sort`, `limit`, `bad-skip`, `bad-regex`, `bad-cursor`).
    pub fn code(self) -> &'static str {
        match self {
            QueryErrorKind::BadQuery => "bad-query",
            QueryErrorKind::UnknownOperator => "unknown-operator",
            QueryErrorKind::ForbiddenOperator => "forbidden-operator",
            QueryErrorKind::TooDeep => "too-deep",
            QueryErrorKind::TooLarge => "too-large",
            QueryErrorKind::BadField => "bad-field",
            QueryErrorKind::BadSort => "bad-sort",
            QueryErrorKind::Limit => "limit",
            QueryErrorKind::BadSkip => "bad-skip",
            QueryErrorKind::BadRegex => "bad-regex",
            QueryErrorKind::BadCursor => "bad-cursor",
        }
    }
}

/// A query the translator refuses. Always a client error; the message is safe to show the
/// client (it quotes at most a truncated field name or operator, never SQL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    kind: QueryErrorKind,
    message: String,
}

impl QueryError {
    /// An error of `kind` with a human-readable `message`.
    pub fn new(kind: QueryErrorKind, message: impl Into<String>) -> QueryError {
        QueryError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> QueryErrorKind {
        self.kind
    }

    /// The stable code, e.g. `unknown-operator` (see [`QueryErrorKind::code`]).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with another kind (used to report field errors in `sort` as `bad-sort`).
    pub(crate) fn with_kind(mut self, kind: QueryErrorKind) -> QueryError {
        self.kind = kind;
        self
    }
}

/// Shortens user-supplied text quoted in a message: at most 64 characters, control characters
/// escaped.
pub(crate) fn quote(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    format!("\"{out}\"")
}
