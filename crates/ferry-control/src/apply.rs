//! The one mutation path: [`Control::apply`].
//!
//! Every state change is validated here, then written in one SQLite transaction (taken with
//! `BEGIN IMMEDIATE`, so two writers never interleave). Authorisation and the append-only
//! audit log belong here too, when they come: nothing else writes.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::control::{Control, now_ms};
use crate::error::ControlError;
use crate::key::{SecretsKey, associated_data};
use crate::model::{ActivationKind, Applied, Mutation, NewRelease};
use crate::query::{AppRow, require_app, require_env};
use crate::validate;

impl Control {
    /// The one mutation path: validates `m`, writes it in one SQLite transaction on behalf of
    /// `actor` (a non-empty label such as `cli` or `api:<token-name>`), and says what happened.
    ///
    /// On any error nothing is written.
    pub fn apply(&mut self, actor: &str, m: Mutation) -> Result<Applied, ControlError> {
        validate::actor(actor)?;
        validate_mutation(&m)?;
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied = match m {
            Mutation::CreateApp { name, source_path } => {
                create_app(&tx, self.org_id, &name, source_path.as_deref(), now)?
            }
            Mutation::RecordRelease { app, env, release } => {
                let app = require_app(&tx, self.org_id, &app)?;
                require_env(&tx, &app, &env)?;
                record_release(&tx, &app, &env, &release, actor)?
            }
            Mutation::Activate {
                app,
                env,
                release_id,
                action,
            } => {
                let app = require_app(&tx, self.org_id, &app)?;
                require_env(&tx, &app, &env)?;
                activate(&tx, &app, &env, &release_id, action, actor, now)?
            }
            Mutation::SetSecret {
                app,
                env,
                name,
                value,
            } => {
                let app = require_app(&tx, self.org_id, &app)?;
                require_env(&tx, &app, &env)?;
                set_secret(&tx, &self.key, &app, &env, &name, &value, now)?
            }
            Mutation::UnsetSecret { app, env, name } => {
                let app = require_app(&tx, self.org_id, &app)?;
                require_env(&tx, &app, &env)?;
                let removed = tx.execute(
                    "DELETE FROM secrets WHERE app_id = ?1 AND environment = ?2 AND name = ?3",
                    params![app.id, env, name],
                )?;
                if removed == 0 {
                    Applied::Unchanged
                } else {
                    Applied::SecretUnset
                }
            }
            Mutation::DeleteApp { name } => {
                let app = require_app(&tx, self.org_id, &name)?;
                delete_app(&tx, &app)?
            }
        };
        tx.commit()?;
        Ok(applied)
    }
}

/// Checks everything that can be checked without the database.
fn validate_mutation(m: &Mutation) -> Result<(), ControlError> {
    match m {
        Mutation::CreateApp { name, source_path } => {
            validate::app_name(name)?;
            if let Some(path) = source_path {
                validate::source_path(path)?;
            }
        }
        Mutation::RecordRelease { app, env, release } => {
            validate::app_name(app)?;
            validate::env_name(env)?;
            validate::release_id(&release.id)?;
            if let Some(commit) = &release.source_commit {
                validate::source_commit(commit)?;
            }
            for (field, value) in [
                ("created_at", release.created_at),
                ("files", release.files),
                ("bytes", release.bytes),
                ("new_bytes", release.new_bytes),
            ] {
                if i64::try_from(value).is_err() {
                    return Err(ControlError::InvalidValue {
                        field,
                        reason: format!("{value} does not fit in a signed 64-bit integer"),
                    });
                }
            }
        }
        Mutation::Activate {
            app,
            env,
            release_id,
            ..
        } => {
            validate::app_name(app)?;
            validate::env_name(env)?;
            validate::release_id(release_id)?;
        }
        Mutation::SetSecret {
            app,
            env,
            name,
            value,
        } => {
            validate::app_name(app)?;
            validate::env_name(env)?;
            validate::secret_name(name)?;
            validate::secret_value(value)?;
        }
        Mutation::UnsetSecret { app, env, name } => {
            validate::app_name(app)?;
            validate::env_name(env)?;
            validate::secret_name(name)?;
        }
        Mutation::DeleteApp { name } => validate::app_name(name)?,
    }
    Ok(())
}

fn create_app(
    conn: &Connection,
    org_id: i64,
    name: &str,
    source_path: Option<&str>,
    now: u64,
) -> Result<Applied, ControlError> {
    let inserted = conn.execute(
        "INSERT INTO apps (org_id, name, source_path, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org_id, name) DO NOTHING",
        params![org_id, name, source_path, now],
    )?;
    if inserted == 0 {
        return Err(ControlError::AppExists {
            app: name.to_owned(),
        });
    }
    Ok(Applied::Created)
}

fn record_release(
    conn: &Connection,
    app: &AppRow,
    env: &str,
    release: &NewRelease,
    actor: &str,
) -> Result<Applied, ControlError> {
    let inserted = conn.execute(
        "INSERT INTO releases
             (id, app_id, environment, created_at, source_commit, files, bytes, new_bytes, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (app_id, id) DO NOTHING",
        params![
            release.id,
            app.id,
            env,
            release.created_at,
            release.source_commit,
            release.files,
            release.bytes,
            release.new_bytes,
            actor,
        ],
    )?;
    Ok(if inserted == 0 {
        Applied::Unchanged
    } else {
        Applied::Recorded
    })
}

fn activate(
    conn: &Connection,
    app: &AppRow,
    env: &str,
    release_id: &str,
    action: ActivationKind,
    actor: &str,
    now: u64,
) -> Result<Applied, ControlError> {
    let recorded: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM releases WHERE app_id = ?1 AND id = ?2)",
        params![app.id, release_id],
        |row| row.get(0),
    )?;
    if !recorded {
        return Err(ControlError::ReleaseNotFound {
            app: app.name.clone(),
            release: release_id.to_owned(),
        });
    }
    let previous: Option<String> = conn
        .query_row(
            "SELECT release_id FROM live WHERE app_id = ?1 AND environment = ?2",
            params![app.id, env],
            |row| row.get(0),
        )
        .optional()?;
    if previous.as_deref() == Some(release_id) {
        return Ok(Applied::Unchanged);
    }
    conn.execute(
        "INSERT INTO live (app_id, environment, release_id, activated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (app_id, environment)
         DO UPDATE SET release_id = excluded.release_id, activated_at = excluded.activated_at",
        params![app.id, env, release_id, now],
    )?;
    conn.execute(
        "INSERT INTO activations
             (app_id, environment, release_id, previous_release_id, action, at, \"by\")
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![app.id, env, release_id, previous, action, now, actor],
    )?;
    Ok(Applied::Activated { previous })
}

fn set_secret(
    conn: &Connection,
    key: &SecretsKey,
    app: &AppRow,
    env: &str,
    name: &str,
    value: &str,
    now: u64,
) -> Result<Applied, ControlError> {
    let sealed = key.seal(&associated_data(&app.org, &app.name, env, name), value)?;
    conn.execute(
        "INSERT INTO secrets (app_id, environment, name, nonce, ciphertext, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (app_id, environment, name)
         DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                       updated_at = excluded.updated_at",
        params![app.id, env, name, &sealed.nonce[..], sealed.ciphertext, now],
    )?;
    Ok(Applied::SecretSet)
}

fn delete_app(conn: &Connection, app: &AppRow) -> Result<Applied, ControlError> {
    // Children first: `live` and `activations` reference `releases`.
    for table in ["live", "activations", "secrets", "releases"] {
        conn.execute(&format!("DELETE FROM {table} WHERE app_id = ?1"), [app.id])?;
    }
    conn.execute("DELETE FROM apps WHERE id = ?1", [app.id])?;
    Ok(Applied::Deleted)
}
