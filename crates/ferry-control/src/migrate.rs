//! Embedded, checksummed schema migrations.
//!
//! Each migration is a `.sql` file in `crates/ferry-control/migrations/`, compiled in with
//! `include_str!` and listed in [`MIGRATIONS`] in version order. On open, the migrator
//! compares the BLAKE3 checksum of every applied migration with the text compiled in and
//! refuses a mismatch (`migration-modified`) or a version it does not know
//! (`migration-unknown`); then it applies the missing ones, each in its own transaction
//! together with its `_ferry_migrations` row.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::ControlError;

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// Its version: 1, 2, 3, … (the file's number).
    pub version: i64,
    /// Its name (the file name without number and extension).
    pub name: &'static str,
    /// Its SQL text.
    pub sql: &'static str,
}

impl Migration {
    /// The checksum recorded when it is applied: BLAKE3 of the text, in hex.
    pub(crate) fn checksum(&self) -> String {
        blake3::hash(self.sql.as_bytes()).to_hex().to_string()
    }
}

/// Every migration, in order. Append only: never edit or remove an entry that has shipped.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "control_plane",
        sql: include_str!("../migrations/0002_control_plane.sql"),
    },
    Migration {
        version: 3,
        name: "frozen_env",
        sql: include_str!("../migrations/0003_frozen_env.sql"),
    },
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS _ferry_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// Brings the schema up to date. Only writes when a migration is missing.
pub(crate) fn migrate(conn: &mut Connection, now: u64) -> Result<(), ControlError> {
    let applied = applied(conn)?;
    check(&applied)?;
    for migration in MIGRATIONS {
        if applied.contains_key(&migration.version) {
            continue;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(CREATE_TABLE)?;
        // Another process may have applied it since we looked.
        let done: Option<String> = tx
            .query_row(
                "SELECT checksum FROM _ferry_migrations WHERE version = ?1",
                [migration.version],
                |row| row.get(0),
            )
            .optional()?;
        match done {
            Some(checksum) if checksum == migration.checksum() => continue,
            Some(_) => {
                return Err(ControlError::MigrationModified {
                    version: migration.version,
                    name: migration.name.to_owned(),
                });
            }
            None => {}
        }
        tx.execute_batch(migration.sql)?;
        tx.execute(
            "INSERT INTO _ferry_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            params![migration.version, migration.name, migration.checksum(), now],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The recorded migrations: version → checksum. Empty on a new database.
fn applied(conn: &Connection) -> Result<BTreeMap<i64, String>, ControlError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_ferry_migrations')",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(BTreeMap::new());
    }
    let mut stmt = conn.prepare("SELECT version, checksum FROM _ferry_migrations")?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Refuses a database whose applied migrations differ from the embedded ones.
fn check(applied: &BTreeMap<i64, String>) -> Result<(), ControlError> {
    for (version, checksum) in applied {
        let Some(migration) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            return Err(ControlError::MigrationUnknown { version: *version });
        };
        if *checksum != migration.checksum() {
            return Err(ControlError::MigrationModified {
                version: *version,
                name: migration.name.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list matches the folder: `NNNN_<name>.sql`, numbered 1, 2, 3… without gaps.
    #[test]
    fn list_matches_the_migrations_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(
            files.len(),
            MIGRATIONS.len(),
            "every .sql file is listed in MIGRATIONS"
        );
        for (i, (file, migration)) in files.iter().zip(MIGRATIONS).enumerate() {
            let expected = format!("{:04}_{}.sql", migration.version, migration.name);
            assert_eq!(*file, expected);
            assert_eq!(migration.version, i as i64 + 1);
            let text = std::fs::read_to_string(dir.join(file)).expect("read");
            assert_eq!(text, migration.sql);
        }
    }

    #[test]
    fn applying_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, 1).expect("first");
        migrate(&mut conn, 2).expect("second");
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM _ferry_migrations", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, MIGRATIONS.len() as i64);
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn, 1).expect("migrate");
        conn.execute(
            "INSERT INTO _ferry_migrations VALUES (999, 'future', 'x', 0)",
            [],
        )
        .expect("insert");
        let err = migrate(&mut conn, 2).expect_err("refused");
        assert_eq!(err.code(), "migration-unknown");
    }
}
