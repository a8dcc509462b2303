//! Why a data operation failed: typed, with a stable code and a hint. Messages never carry a
//! password (URLs are shown redacted).

/// Errors of `ferry-data`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The URL cannot be understood.
    #[error("invalid database URL `{url}`: {reason}")]
    BadUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A Supabase transaction-pooler URL (port 6543) was given.
    #[error(
        "`{url}` is a Supabase transaction-pooler URL (port 6543), which cannot hold a snapshot or COPY reliably"
    )]
    TransactionPooler {
        /// The URL, redacted.
        url: String,
    },
    /// The server could not be reached.
    #[error("cannot reach {side} database {url}: {reason}")]
    Unreachable {
        /// `source` or `target`.
        side: &'static str,
        /// The URL, redacted.
        url: String,
        /// The cause.
        reason: String,
    },
    /// The server refused the credentials.
    #[error("{side} database {url} refused the login: {reason}")]
    AuthFailed {
        /// `source` or `target`.
        side: &'static str,
        /// The URL, redacted.
        url: String,
        /// The server's message.
        reason: String,
    },
    /// TLS could not be set up or the certificate was not trusted.
    #[error("TLS to {side} database {url} failed: {reason}")]
    Tls {
        /// `source` or `target`.
        side: &'static str,
        /// The URL, redacted.
        url: String,
        /// The cause.
        reason: String,
    },
    /// The connected role lacks a privilege ferry needs.
    #[error("{side} database: missing privilege: {what}")]
    Privilege {
        /// `source` or `target`.
        side: &'static str,
        /// What is missing.
        what: String,
    },
    /// A column type ferry cannot carry to this target.
    #[error("unsupported type: {what}")]
    UnsupportedType {
        /// `table.column type …`.
        what: String,
    },
    /// The target already holds data that this copy did not write.
    #[error("the target already holds data: {what}")]
    TargetNotEmpty {
        /// Which tables and how many rows.
        what: String,
    },
    /// Nothing matched the selection.
    #[error("nothing to copy: {what}")]
    EmptySelection {
        /// What was asked for.
        what: String,
    },
    /// A SQL statement failed.
    #[error("{side} database: {context}: {reason}")]
    Sql {
        /// `source` or `target`.
        side: &'static str,
        /// What ferry was doing.
        context: String,
        /// The server's message.
        reason: String,
    },
    /// The SQLite target failed.
    #[error("SQLite target {path}: {reason}")]
    Sqlite {
        /// The file.
        path: String,
        /// The cause.
        reason: String,
    },
    /// The checkpoint store failed.
    #[error("checkpoint store: {0}")]
    Checkpoint(String),
    /// The job was interrupted (signal); it can be resumed.
    #[error("interrupted; {done} of {total} chunks are committed")]
    Interrupted {
        /// Chunks committed.
        done: usize,
        /// Chunks in the plan.
        total: usize,
    },
}

impl DataError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUrl { .. } => "bad-url",
            Self::TransactionPooler { .. } => "transaction-pooler",
            Self::Unreachable { .. } => "unreachable",
            Self::AuthFailed { .. } => "auth-failed",
            Self::Tls { .. } => "tls",
            Self::Privilege { .. } => "privilege",
            Self::UnsupportedType { .. } => "unsupported-type",
            Self::TargetNotEmpty { .. } => "target-not-empty",
            Self::EmptySelection { .. } => "empty-selection",
            Self::Sql { .. } => "sql",
            Self::Sqlite { .. } => "sqlite",
            Self::Checkpoint(_) => "checkpoint",
            Self::Interrupted { .. } => "interrupted",
        }
    }

    /// One line: what to do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::BadUrl { .. } => "use postgres://user:password@host:port/db[?sslmode=require] or sqlite:///path/to/file.db".into(),
            Self::TransactionPooler { .. } => "use the direct connection (port 5432) or the session pooler URL from the Supabase dashboard".into(),
            Self::Unreachable { .. } => "check the host and port, that the server runs, and that this machine may connect to it".into(),
            Self::AuthFailed { .. } => "check the user name and password in the URL (percent-encode special characters)".into(),
            Self::Tls { .. } => "use sslmode=require to encrypt without verifying, or sslrootcert=/path/ca.pem with sslmode=verify-full".into(),
            Self::Privilege { .. } => "connect as the database owner (Supabase: the `postgres` user) or grant the privilege named above".into(),
            Self::UnsupportedType { .. } => "leave the table out with --table, or change the column's type on the source".into(),
            Self::TargetNotEmpty { .. } => "pull into an empty database, or pass --force to replace those tables".into(),
            Self::EmptySelection { .. } => "check --schema and --table against the source (`ferry db pull --help`)".into(),
            Self::Sql { .. } => "run again with -v for the statement; the pull is resumable: rerun the same command".into(),
            Self::Sqlite { .. } => "check the path is writable and not used by another program".into(),
            Self::Checkpoint(_) => "check $FERRY_HOME is writable; --fresh starts over".into(),
            Self::Interrupted { .. } => "rerun the same command to resume; completed chunks are kept".into(),
        }
    }

    /// Exit code class: 2 for bad input, 1 for a failure.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::BadUrl { .. }
                | Self::TransactionPooler { .. }
                | Self::AuthFailed { .. }
                | Self::UnsupportedType { .. }
                | Self::TargetNotEmpty { .. }
                | Self::EmptySelection { .. }
                | Self::Privilege { .. }
                | Self::Tls { .. }
                | Self::Unreachable { .. }
        )
    }
}

/// A result with [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;
