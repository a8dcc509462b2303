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
    /// The source does not write the logical WAL a follow needs.
    #[error("source database: wal_level is `{level}`, following needs `logical`")]
    WalLevel {
        /// The current `wal_level`.
        level: String,
    },
    /// The source role may not create or read replication slots.
    #[error("source database: role `{role}` has neither the REPLICATION attribute nor superuser")]
    ReplicationPrivilege {
        /// The connected role.
        role: String,
    },
    /// A replication slot with ferry's name exists but cannot be used.
    #[error("source database: replication slot `{slot}` {reason}")]
    SlotConflict {
        /// The slot name.
        slot: String,
        /// Why it cannot be used (not ferry's, active…).
        reason: String,
    },
    /// Every replication slot of the source is taken.
    #[error("source database: all {max} replication slots (max_replication_slots) are in use")]
    SlotsExhausted {
        /// `max_replication_slots`.
        max: i64,
    },
    /// Tables whose updates and deletes cannot be followed: no primary key and no
    /// `REPLICA IDENTITY FULL`.
    #[error("cannot follow {tables}: no primary key and no REPLICA IDENTITY FULL")]
    NoReplicaIdentity {
        /// `schema.table, …`.
        tables: String,
        /// The statements that fix it.
        statements: String,
    },
    /// The source's schema changed while following (or differs from the target's).
    #[error("schema changed on the source: {change}; the follow stopped")]
    SchemaChanged {
        /// `table.column: old → new`.
        change: String,
    },
    /// The follow did not catch up in time (cutover).
    #[error("the follow did not catch up within {secs} s ({lag})")]
    NotCaughtUp {
        /// The timeout.
        secs: u64,
        /// The lag when it gave up.
        lag: String,
    },
    /// The logical replication stream could not be understood.
    #[error("logical replication stream: {reason}")]
    Protocol {
        /// What is malformed.
        reason: String,
    },
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
            Self::WalLevel { .. } => "wal-level",
            Self::ReplicationPrivilege { .. } => "replication-privilege",
            Self::SlotConflict { .. } => "slot-conflict",
            Self::SlotsExhausted { .. } => "slots-exhausted",
            Self::NoReplicaIdentity { .. } => "no-replica-identity",
            Self::SchemaChanged { .. } => "schema-changed",
            Self::NotCaughtUp { .. } => "not-caught-up",
            Self::Protocol { .. } => "protocol",
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
            Self::WalLevel { .. } => "run `ALTER SYSTEM SET wal_level = logical;` on the source and restart it (Neon: enable Logical Replication in the project settings; Supabase already has it)".into(),
            Self::ReplicationPrivilege { role } => format!("run `ALTER ROLE {role} WITH REPLICATION;` as a superuser, or connect as one (Supabase: the `postgres` user has it; Neon: enable Logical Replication in the project settings, then use a role made in the console)"),
            Self::SlotConflict { .. } => "list ferry's slots with `ferry db slots`; drop a slot that is not in use with `SELECT pg_drop_replication_slot('name');`, or stop the process using it".into(),
            Self::SlotsExhausted { .. } => "drop unused slots (`ferry db slots`, `SELECT * FROM pg_replication_slots`) or raise max_replication_slots (needs a restart)".into(),
            Self::NoReplicaIdentity { statements, .. } => format!("run on the source: {statements}"),
            Self::SchemaChanged { .. } => "apply the same change to the target (or pull again with --force), then follow again; changes before it are applied".into(),
            Self::NotCaughtUp { .. } => "stop or slow the writes on the source, then run cutover again; the follow keeps its position".into(),
            Self::Protocol { .. } => "report this as a bug with the source's Postgres version; the slot keeps its position".into(),
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
                | Self::WalLevel { .. }
                | Self::ReplicationPrivilege { .. }
                | Self::SlotConflict { .. }
                | Self::SlotsExhausted { .. }
                | Self::NoReplicaIdentity { .. }
        )
    }
}

/// A result with [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;
