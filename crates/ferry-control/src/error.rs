//! Why a control operation failed.

use std::path::PathBuf;

/// Errors of the control state. Messages and hints never contain a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The app does not exist.
    #[error("app `{app}` does not exist")]
    AppNotFound {
        /// The app name asked for.
        app: String,
    },
    /// An app with this name already exists.
    #[error("app `{app}` already exists")]
    AppExists {
        /// The app name.
        app: String,
    },
    /// The release is not recorded for this app.
    #[error("release `{release}` is not recorded for app `{app}`")]
    ReleaseNotFound {
        /// The app name.
        app: String,
        /// The release id asked for.
        release: String,
    },
    /// The environment does not exist in the app's organisation.
    #[error("environment `{env}` does not exist")]
    EnvironmentNotFound {
        /// The environment name asked for.
        env: String,
    },
    /// A name (app, environment, release id, secret name) breaks its rule.
    #[error("invalid {kind} `{name}`: {rule}")]
    InvalidName {
        /// What was being named (`app name`, `environment`, `release id`, `secret name`).
        kind: &'static str,
        /// The name as given (redacted for secret names, which are sometimes values typed in
        /// the wrong place).
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A value is out of its bounds (too long, empty, too large for SQLite).
    #[error("invalid {field}: {reason}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An applied migration's text changed after it was applied.
    #[error(
        "migration {version} (`{name}`) was applied to this database but has since been modified"
    )]
    MigrationModified {
        /// The migration version.
        version: i64,
        /// The migration name.
        name: String,
    },
    /// The database has a migration this build does not know: a newer ferry wrote it.
    #[error("the state database has migration {version}, which this ferry does not know")]
    MigrationUnknown {
        /// The unknown version.
        version: i64,
    },
    /// The secrets key file can be read by other users.
    #[error("`{path}` is accessible to group or others (mode {mode:o})")]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The secrets key file does not hold a key.
    #[error("`{path}` is not a ferry secrets key ({len} bytes, expected 32)")]
    KeyInvalid {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// `FERRY_MASTER_KEY` is set but is not a key (its text is never shown).
    #[error(
        "FERRY_MASTER_KEY is not a master key ({len} characters; expected 64 hex characters or the base64 of 32 bytes)"
    )]
    MasterKeyInvalid {
        /// The length of the text, in characters.
        len: usize,
    },
    /// The audit chain does not verify, so the key is not rotated (re-signing it would hide
    /// the damage).
    #[error("the audit log does not verify (first bad entry {first_bad}): {problem}")]
    AuditBroken {
        /// The first entry that does not verify.
        first_bad: i64,
        /// What is wrong.
        problem: String,
    },
    /// A secret could not be decrypted (wrong key, or the row was tampered with).
    #[error("secret `{name}` of app `{app}` ({env}) could not be decrypted")]
    DecryptFailed {
        /// The app.
        app: String,
        /// The environment.
        env: String,
        /// The secret's name.
        name: String,
    },
    /// The principal sees the target but lacks the scope.
    #[error("not allowed: {action} on `{target}` needs the {need} scope (this token has {have})")]
    Forbidden {
        /// What was attempted.
        action: String,
        /// On what.
        target: String,
        /// The scope it needs.
        need: crate::auth::Scope,
        /// The scope the principal has.
        have: crate::auth::Scope,
    },
    /// No such organisation (or not one the principal sees).
    #[error("organisation `{org}` does not exist")]
    OrgNotFound {
        /// The name.
        org: String,
    },
    /// The organisation exists.
    #[error("organisation `{org}` already exists")]
    OrgExists {
        /// The name.
        org: String,
    },
    /// No such user in the organisation.
    #[error("user `{user}` does not exist")]
    UserNotFound {
        /// The name.
        user: String,
    },
    /// The user exists in the organisation.
    #[error("user `{user}` already exists")]
    UserExists {
        /// The name.
        user: String,
    },
    /// No such token (or not one the principal sees).
    #[error("token `{id}` does not exist")]
    TokenNotFound {
        /// The public id.
        id: String,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
    /// SQLite failed.
    #[error("the state database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The job store (`$FERRY_HOME/jobs.db`) failed.
    #[error("the job store `{path}` failed: {source}")]
    Jobs {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Reading or writing a file failed.
    #[error("could not access `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ControlError {
    /// A stable, kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AppNotFound { .. } => "app-not-found",
            Self::AppExists { .. } => "app-exists",
            Self::ReleaseNotFound { .. } => "release-not-found",
            Self::EnvironmentNotFound { .. } => "environment-not-found",
            Self::InvalidName { .. } => "invalid-name",
            Self::InvalidValue { .. } => "invalid-value",
            Self::MigrationModified { .. } => "migration-modified",
            Self::MigrationUnknown { .. } => "migration-unknown",
            Self::KeyPermissions { .. } => "key-permissions",
            Self::KeyInvalid { .. } => "key-invalid",
            Self::DecryptFailed { .. } => "decrypt-failed",
            Self::MasterKeyInvalid { .. } => "master-key-invalid",
            Self::AuditBroken { .. } => "audit-broken",
            Self::Forbidden { .. } => "forbidden",
            Self::OrgNotFound { .. } => "org-not-found",
            Self::OrgExists { .. } => "org-exists",
            Self::UserNotFound { .. } => "user-not-found",
            Self::UserExists { .. } => "user-exists",
            Self::TokenNotFound { .. } => "token-not-found",
            Self::Random(_) => "random",
            Self::Sqlite(_) => "sqlite",
            Self::Jobs { .. } => "jobs-db",
            Self::Io { .. } => "io",
        }
    }

    /// One line telling the user what to do.
    pub fn hint(&self) -> String {
        match self {
            Self::AppNotFound { .. } => "list the apps with `ferry apps`, or create it with `ferry up <folder>`".into(),
            Self::AppExists { .. } => "pick another name, or deploy to the existing app".into(),
            Self::ReleaseNotFound { .. } => "list the app's releases with `ferry releases`; only a recorded release can go live".into(),
            Self::EnvironmentNotFound { .. } => format!("only `{}` exists for now", crate::DEFAULT_ENV),
            Self::InvalidName { .. } | Self::InvalidValue { .. } => "fix the value and retry".into(),
            Self::MigrationModified { .. } => {
                "the database was migrated by a different build of ferry; run the same ferry version that created it, or restore a backup".into()
            }
            Self::MigrationUnknown { .. } => "upgrade ferry: this database was written by a newer version".into(),
            Self::KeyPermissions { path, .. } => format!("run `chmod 600 {}`, then check who could have read it", path.display()),
            Self::KeyInvalid { .. } => "restore the original key file from a backup; secrets cannot be read without it".into(),
            Self::DecryptFailed { .. } => {
                "the master key (FERRY_MASTER_KEY or $FERRY_HOME/secret.key) changed since the secret was set: restore it, or set the secret again".into()
            }
            Self::MasterKeyInvalid { .. } => {
                "set FERRY_MASTER_KEY to 64 hex characters (`openssl rand -hex 32`), or unset it to use $FERRY_HOME/secret.key".into()
            }
            Self::AuditBroken { .. } => {
                "run `ferry audit --verify` and investigate before rotating the key; the old key is still in use".into()
            }
            Self::Forbidden { need, .. } => format!("use a token with the {need} scope (`ferry token create --scope {need}` by an admin)"),
            Self::OrgNotFound { .. } => "list the organisations with `ferry org list`".into(),
            Self::OrgExists { .. } | Self::UserExists { .. } => "pick another name".into(),
            Self::UserNotFound { .. } => "add the user first with `ferry user add`".into(),
            Self::TokenNotFound { .. } => "list the tokens with `ferry token list`".into(),
            Self::Random(_) => "check that the operating system provides randomness (getrandom / /dev/urandom)".into(),
            Self::Sqlite(err) => sqlite_hint(err).into(),
            Self::Jobs { source, .. } => jobs_hint(source).into(),
            Self::Io { .. } => "check the path and its permissions".into(),
        }
    }

    /// Whether the caller's input is at fault (exit code 2) rather than the machine or state.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::AppNotFound { .. }
                | Self::AppExists { .. }
                | Self::Forbidden { .. }
                | Self::OrgNotFound { .. }
                | Self::OrgExists { .. }
                | Self::UserNotFound { .. }
                | Self::UserExists { .. }
                | Self::TokenNotFound { .. }
                | Self::ReleaseNotFound { .. }
                | Self::EnvironmentNotFound { .. }
                | Self::InvalidName { .. }
                | Self::InvalidValue { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// What to do about a failure of `jobs.db`, by its primary result code.
fn jobs_hint(err: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode;
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "another ferry process held jobs.db for more than 5 s; retry when it is done"
        }
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            "$FERRY_HOME/jobs.db is damaged; move it away (only job history and resume points are lost)"
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            "check that $FERRY_HOME and jobs.db are writable by this user"
        }
        Some(ErrorCode::DiskFull) => "the disk is full; free some space and retry",
        Some(ErrorCode::SystemIoFailure) => "the disk failed to read or write; check it and retry",
        _ => "this is probably a bug in ferry; please report it with the command that failed",
    }
}

/// What to do about an SQLite failure, by its primary result code.
fn sqlite_hint(err: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode;
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "another process is writing ferry.db; while `ferry serve` runs, go through its API instead"
        }
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            "$FERRY_HOME/ferry.db is damaged or not a ferry database; restore it from a backup"
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            "check that $FERRY_HOME and ferry.db are writable by this user"
        }
        Some(ErrorCode::DiskFull) => "the disk is full; free some space and retry",
        Some(ErrorCode::SystemIoFailure) => "the disk failed to read or write; check it and retry",
        _ => "this is probably a bug in ferry; please report it with the command that failed",
    }
}
