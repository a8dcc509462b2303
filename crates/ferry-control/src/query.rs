//! Read-only queries. Each runs in one read transaction, so it sees one consistent snapshot
//! even while another connection writes (WAL).

use std::collections::BTreeMap;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};

use crate::control::Control;
use crate::error::ControlError;
use crate::key::associated_data;
use crate::model::{Activation, ActivationKind, App, Live, ReleaseRecord};

/// An app's row, as the mutation path and the queries need it.
#[derive(Debug, Clone)]
pub(crate) struct AppRow {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub org: String,
}

/// The app `name` (names are unique across organisations), or `app-not-found`.
pub(crate) fn require_app(conn: &Connection, name: &str) -> Result<AppRow, ControlError> {
    conn.query_row(
        "SELECT a.id, o.name, a.org_id FROM apps a JOIN orgs o ON o.id = a.org_id
         WHERE a.name = ?1",
        params![name],
        |row| {
            Ok(AppRow {
                id: row.get(0)?,
                org_id: row.get(2)?,
                name: name.to_owned(),
                org: row.get(1)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| ControlError::AppNotFound {
        app: name.to_owned(),
    })
}

/// `environment-not-found` unless `env` exists in the app's organisation.
pub(crate) fn require_env(conn: &Connection, app: &AppRow, env: &str) -> Result<(), ControlError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM environments WHERE org_id = ?1 AND name = ?2)",
        params![app.org_id, env],
        |row| row.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(ControlError::EnvironmentNotFound {
            env: env.to_owned(),
        })
    }
}

impl ToSql for ActivationKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for ActivationKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Self::parse(text)
            .ok_or_else(|| FromSqlError::Other(format!("unknown activation `{text}`").into()))
    }
}

const RELEASE_COLUMNS: &str = "r.id, r.environment, r.created_at, r.source_commit, r.files,
    r.bytes, r.new_bytes, r.created_by, (l.release_id IS NOT NULL)
    FROM releases r
    LEFT JOIN live l ON l.app_id = r.app_id AND l.environment = r.environment AND l.release_id = r.id";

fn release_row(app: &str, row: &Row<'_>) -> rusqlite::Result<ReleaseRecord> {
    Ok(ReleaseRecord {
        id: row.get(0)?,
        app: app.to_owned(),
        env: row.get(1)?,
        created_at: row.get(2)?,
        source_commit: row.get(3)?,
        files: row.get(4)?,
        bytes: row.get(5)?,
        new_bytes: row.get(6)?,
        created_by: row.get(7)?,
        live: row.get(8)?,
    })
}

/// A `LIMIT` from a `usize`.
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Control {
    /// Runs `f` in one read transaction (one snapshot).
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        let tx = self.conn.unchecked_transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Every app of every organisation, by name (what the server itself serves).
    pub fn apps(&self) -> Result<Vec<App>, ControlError> {
        self.apps_of(&crate::Principal::system("ferry"))
    }

    /// The apps `who` sees (its organisation's, or its one bound app), by name.
    pub fn apps_of(&self, who: &crate::Principal) -> Result<Vec<App>, ControlError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.name, o.name, a.source_path, a.created_at
             FROM apps a JOIN orgs o ON o.id = a.org_id
             WHERE (?1 IS NULL OR o.name = ?1) AND (?2 IS NULL OR a.name = ?2)
             ORDER BY a.name",
        )?;
        let rows = stmt.query_map(params![who.org, who.app], |row| {
            Ok(App {
                name: row.get(0)?,
                org: row.get(1)?,
                source_path: row.get(2)?,
                created_at: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The app `name`, if it exists.
    pub fn app(&self, name: &str) -> Result<Option<App>, ControlError> {
        Ok(self
            .conn
            .query_row(
                "SELECT a.name, o.name, a.source_path, a.created_at
                 FROM apps a JOIN orgs o ON o.id = a.org_id
                 WHERE a.name = ?1",
                params![name],
                |row| {
                    Ok(App {
                        name: row.get(0)?,
                        org: row.get(1)?,
                        source_path: row.get(2)?,
                        created_at: row.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The releases recorded for `app` in `env`, newest first (by creation time).
    /// `app-not-found` if the app does not exist.
    pub fn releases(&self, app: &str, env: &str) -> Result<Vec<ReleaseRecord>, ControlError> {
        self.read(|conn| {
            let row = require_app(conn, app)?;
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RELEASE_COLUMNS}
                 WHERE r.app_id = ?1 AND r.environment = ?2
                 ORDER BY r.created_at DESC, r.rowid DESC"
            ))?;
            let rows = stmt.query_map(params![row.id, env], |r| release_row(app, r))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The release `release_id` of `app` (whatever its environment), if recorded.
    /// `app-not-found` if the app does not exist.
    pub fn release(
        &self,
        app: &str,
        release_id: &str,
    ) -> Result<Option<ReleaseRecord>, ControlError> {
        self.read(|conn| {
            let row = require_app(conn, app)?;
            Ok(conn
                .query_row(
                    &format!("SELECT {RELEASE_COLUMNS} WHERE r.app_id = ?1 AND r.id = ?2"),
                    params![row.id, release_id],
                    |r| release_row(app, r),
                )
                .optional()?)
        })
    }

    /// The live release of `app` in `env`, if one was ever activated.
    /// `app-not-found` if the app does not exist.
    pub fn live(&self, app: &str, env: &str) -> Result<Option<Live>, ControlError> {
        self.read(|conn| {
            let row = require_app(conn, app)?;
            Ok(conn
                .query_row(
                    "SELECT release_id, activated_at FROM live
                     WHERE app_id = ?1 AND environment = ?2",
                    params![row.id, env],
                    |r| {
                        Ok(Live {
                            app: app.to_owned(),
                            env: env.to_owned(),
                            release_id: r.get(0)?,
                            activated_at: r.get(1)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    /// Every (app, environment) with a live release, by app then environment: what a
    /// restarting server serves.
    pub fn all_live(&self) -> Result<Vec<Live>, ControlError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.name, l.environment, l.release_id, l.activated_at
             FROM live l JOIN apps a ON a.id = l.app_id
             ORDER BY a.name, l.environment",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Live {
                app: r.get(0)?,
                env: r.get(1)?,
                release_id: r.get(2)?,
                activated_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The last `limit` moves of the live pointer of `app` in `env`, newest first.
    /// `app-not-found` if the app does not exist.
    pub fn activations(
        &self,
        app: &str,
        env: &str,
        limit: usize,
    ) -> Result<Vec<Activation>, ControlError> {
        self.read(|conn| {
            let row = require_app(conn, app)?;
            let mut stmt = conn.prepare_cached(
                "SELECT release_id, previous_release_id, action, at, \"by\" FROM activations
                 WHERE app_id = ?1 AND environment = ?2 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![row.id, env, self::limit(limit)], |r| {
                Ok(Activation {
                    app: app.to_owned(),
                    env: env.to_owned(),
                    release_id: r.get(0)?,
                    previous_release_id: r.get(1)?,
                    action: r.get(2)?,
                    at: r.get(3)?,
                    by: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The release that was live before the current one (what a rollback goes back to by
    /// default); `None` if nothing, or only one release, was ever live.
    /// `app-not-found` if the app does not exist.
    pub fn previous_release(&self, app: &str, env: &str) -> Result<Option<String>, ControlError> {
        self.read(|conn| {
            let row = require_app(conn, app)?;
            let previous: Option<Option<String>> = conn
                .query_row(
                    "SELECT previous_release_id FROM activations
                     WHERE app_id = ?1 AND environment = ?2 ORDER BY seq DESC LIMIT 1",
                    params![row.id, env],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(previous.flatten())
        })
    }

    /// Up to `n` distinct releases that were live most recently, the current one first: the
    /// releases whose assets stay reachable for clients still running an older page (skew
    /// protection). `app-not-found` if the app does not exist.
    pub fn recent_live_releases(
        &self,
        app: &str,
        env: &str,
        n: usize,
    ) -> Result<Vec<String>, ControlError> {
        self.read(|conn| {
            let row = require_app(conn, app)?;
            let mut stmt = conn.prepare_cached(
                "SELECT release_id FROM activations
                 WHERE app_id = ?1 AND environment = ?2
                 GROUP BY release_id ORDER BY max(seq) DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![row.id, env, limit(n)], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Every decrypted secret of `app` in `env`, by name, whatever its scope and `FERRY_*`
    /// settings included: for the server's own settings (the Base44 backend's) only, never for
    /// display. Builds get [`Control::build_env`], processes [`Control::frozen_env`].
    /// `decrypt-failed` if the key does not match (the key changed) or a row was tampered
    /// with; `app-not-found` if the app does not exist.
    pub fn secret_values(
        &self,
        app: &str,
        env: &str,
    ) -> Result<BTreeMap<String, String>, ControlError> {
        self.read(|conn| {
            let row = require_app(conn, app)?;
            let mut stmt = conn.prepare_cached(
                "SELECT name, nonce, ciphertext FROM secrets
                 WHERE app_id = ?1 AND environment = ?2 ORDER BY name",
            )?;
            let sealed = stmt.query_map(params![row.id, env], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?;
            let mut values = BTreeMap::new();
            for item in sealed {
                let (name, nonce, ciphertext) = item?;
                let aad = associated_data(&row.org, app, env, &name);
                let Some(value) = self.key.open(&aad, &nonce, &ciphertext) else {
                    return Err(ControlError::DecryptFailed {
                        app: app.to_owned(),
                        env: env.to_owned(),
                        name,
                    });
                };
                values.insert(name, value);
            }
            Ok(values)
        })
    }
}
