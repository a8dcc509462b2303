//! [`Control`]: the open state database and the secrets key.

use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::ControlError;
use crate::key::{KeySource, SecretsKey};
use crate::migrate;
use crate::{DEFAULT_ENV, DEFAULT_ORG};

/// The state file's name inside `$FERRY_HOME`.
pub const DB_FILE: &str = "ferry.db";
/// The secrets key's file name inside `$FERRY_HOME`.
pub const KEY_FILE: &str = "secret.key";

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The control state: `$FERRY_HOME/ferry.db` and the secrets key.
///
/// Every change goes through [`Control::apply`]; everything else only reads. While a server
/// runs, only the server process opens it.
pub struct Control {
    pub(crate) conn: Connection,
    pub(crate) key: SecretsKey,
    /// Where the master key came from (key rotation replaces the file, or not).
    pub(crate) key_source: KeySource,
    db_path: PathBuf,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("db", &self.db_path)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Opens (creating) `<home>/ferry.db`, applies the embedded migrations, ensures the
    /// default organisation `default` and environment `production`, and loads the master key
    /// from `FERRY_MASTER_KEY` when set (`master-key-invalid` when malformed), else loads or
    /// creates the secrets key `<home>/secret.key` (32 random bytes, mode 0600). A key that a
    /// rotation left in `secret.key.next` is moved into place when the database already uses
    /// it (see [`Control::rotate_key`]).
    ///
    /// Fails with `key-permissions` if the key file is accessible to group or others (checked
    /// before the database is touched), `migration-modified` if an applied migration's text
    /// changed, `migration-unknown` if a newer ferry migrated the database.
    pub fn open(home: &Path) -> Result<Self, ControlError> {
        match std::env::var(crate::MASTER_KEY_ENV) {
            Ok(text) => Self::open_with_key(home, Some(&text)),
            Err(std::env::VarError::NotPresent) => Self::open_with_key(home, None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(ControlError::MasterKeyInvalid { len: 0 })
            }
        }
    }

    /// [`Control::open`] with the master key's text given (as `FERRY_MASTER_KEY` would hold
    /// it) instead of read from the environment; `None` or a blank text uses the key file.
    pub fn open_with_key(home: &Path, master_key: Option<&str>) -> Result<Self, ControlError> {
        ensure_home(home)?;
        let (key, key_source) = SecretsKey::load_master(&home.join(KEY_FILE), master_key)?;
        let db_path = home.join(DB_FILE);
        precreate_private(&db_path)?;
        let mut conn = Connection::open(&db_path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ControlError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "could not switch ferry.db to WAL (journal mode stays `{mode}`)"
                )),
            )));
        }
        conn.pragma_update(None, "foreign_keys", true)?;
        migrate::migrate(&mut conn, now_ms())?;
        ensure_defaults(&mut conn)?;
        let mut control = Self {
            conn,
            key,
            key_source,
            db_path,
        };
        control.finish_rotation()?;
        Ok(control)
    }

    /// The path of the state database.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }
}

/// Creates `$FERRY_HOME` (mode 0700) if it does not exist.
pub(crate) fn ensure_home(home: &Path) -> Result<(), ControlError> {
    if home.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
        .map_err(|e| ControlError::io(home, e))
}

/// Creates an empty `ferry.db` (or `jobs.db`) with mode 0600 so that SQLite (which gives its `-wal` and
/// `-shm` files the database's mode) never makes it world-readable.
pub(crate) fn precreate_private(path: &Path) -> Result<(), ControlError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(ControlError::io(path, err)),
    }
}

/// Ensures the default organisation and environment exist; returns the organisation's id.
/// Writes only on a new database.
fn ensure_defaults(conn: &mut Connection) -> Result<i64, ControlError> {
    let existing = default_org_with_env(conn)?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO orgs (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
        [DEFAULT_ORG],
    )?;
    let id: i64 = tx.query_row(
        "SELECT id FROM orgs WHERE name = ?1",
        [DEFAULT_ORG],
        |row| row.get(0),
    )?;
    tx.execute(
        "INSERT INTO environments (org_id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![id, DEFAULT_ENV],
    )?;
    tx.commit()?;
    Ok(id)
}

fn default_org_with_env(conn: &Connection) -> Result<Option<i64>, ControlError> {
    Ok(conn
        .query_row(
            "SELECT o.id FROM orgs o JOIN environments e ON e.org_id = o.id
             WHERE o.name = ?1 AND e.name = ?2",
            [DEFAULT_ORG, DEFAULT_ENV],
            |row| row.get(0),
        )
        .optional()?)
}

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
