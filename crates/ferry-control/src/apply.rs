//! The one mutation path: [`Control::apply`].
//!
//! Every state change is validated here, then written in one SQLite transaction (taken with
//! `BEGIN IMMEDIATE`, so two writers never interleave). Authorisation and the append-only
//! audit log belong here too, when they come: nothing else writes.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::audit::{self, Outcome, Record};
use crate::auth::{self, Principal, Scope};
use crate::control::{Control, now_ms};
use crate::error::ControlError;
use crate::key::{SecretsKey, associated_data};
use crate::model::{ActivationKind, Applied, Mutation, NewRelease};
use crate::query::{AppRow, require_app, require_env};
use crate::validate;

impl Control {
    /// The one mutation path: validates `m`, authorises it for `who`, writes it in one SQLite
    /// transaction together with its audit entry, anchors the audit chain's new head, and says
    /// what happened. A refused attempt (`app-not-found` for what `who` may not see,
    /// `forbidden` for what it may see but not change) and a failed one are audited too.
    ///
    /// On any error nothing but that audit entry is written.
    pub fn apply(&mut self, who: &Principal, m: Mutation) -> Result<Applied, ControlError> {
        validate::actor(&who.label)?;
        validate_mutation(&m)?;
        let kind = m.kind();
        let target = target_of(&m);
        if let Err(err) = self.authorize(who, &m) {
            self.audit_attempt(who, kind, &target, Outcome::Refused, &err);
            return Err(err);
        }
        match self.apply_authorized(who, m, kind, &target) {
            Ok(applied) => Ok(applied),
            Err(err) => {
                self.audit_attempt(who, kind, &target, Outcome::Failed, &err);
                Err(err)
            }
        }
    }

    /// Records a refused or failed attempt on its own (best effort: the caller's error wins).
    fn audit_attempt(
        &mut self,
        who: &Principal,
        kind: &str,
        target: &str,
        outcome: Outcome,
        err: &ControlError,
    ) {
        let mut record = Record::by(who, kind, target);
        record.detail = Some(err.code().to_string());
        if let Err(e) = self.audit_record(outcome, &record) {
            tracing::warn!(error = %e, "could not write an audit entry");
        }
    }

    /// Appends one audit entry in its own transaction and anchors the head.
    pub fn audit_record(&mut self, outcome: Outcome, record: &Record) -> Result<(), ControlError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head = audit::append(&tx, self.key.audit_key(), now_ms(), outcome, record)?;
        tx.commit()?;
        audit::write_head(&audit::head_path(self.db_path()), head)
    }

    /// Whether `who` may apply `m` (see [`crate::auth`]).
    fn authorize(&self, who: &Principal, m: &Mutation) -> Result<(), ControlError> {
        let (need, app) = auth::requirement(m);
        let kind = m.kind();
        if let Some(app) = app {
            auth::check_visible(&self.conn, who, app)?;
            return auth::require_scope(who, need, kind, app);
        }
        match m {
            Mutation::CreateOrg { name } => {
                if !who.is_owner_of_machine() {
                    return Err(ControlError::Forbidden {
                        action: kind.into(),
                        target: format!("org/{name}"),
                        need: Scope::Admin,
                        have: who.scope,
                    });
                }
                Ok(())
            }
            Mutation::CreateApp { name, org, .. } => {
                let org = auth::org_for(who, org.as_deref(), kind)?;
                if who.app.is_some() {
                    return Err(ControlError::Forbidden {
                        action: kind.into(),
                        target: format!("app/{name}"),
                        need: Scope::Deploy,
                        have: who.scope,
                    });
                }
                auth::require_scope(who, need, kind, org)
            }
            Mutation::CreateUser { org, .. } => {
                let org = auth::org_for(who, org.as_deref(), kind)?;
                auth::require_scope(who, need, kind, org)
            }
            Mutation::CreateToken {
                org, scope, app, ..
            } => {
                let org = auth::org_for(who, org.as_deref(), kind)?;
                auth::require_scope(who, need, kind, org)?;
                // Nobody hands out more than they have.
                auth::require_scope(who, *scope, kind, org)?;
                if let Some(app) = app {
                    auth::check_visible(&self.conn, who, app)?;
                }
                Ok(())
            }
            Mutation::RevokeToken { id } => {
                let org: Option<String> = self
                    .conn
                    .query_row(
                        "SELECT o.name FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                match (org, &who.org) {
                    (Some(org), None) => auth::require_scope(who, need, kind, &org),
                    (Some(org), Some(mine)) if org == *mine && who.app.is_none() => {
                        auth::require_scope(who, need, kind, &org)
                    }
                    _ => Err(ControlError::TokenNotFound { id: id.clone() }),
                }
            }
            _ => auth::require_scope(who, need, kind, "-"),
        }
    }

    fn apply_authorized(
        &mut self,
        who: &Principal,
        m: Mutation,
        kind: &str,
        target: &str,
    ) -> Result<Applied, ControlError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut record = Record::by(who, kind, target);
        let applied = match m {
            Mutation::CreateApp {
                name,
                source_path,
                org,
            } => {
                let org = auth::org_for(who, org.as_deref(), kind)?.to_string();
                let org_id = require_org(&tx, &org)?;
                record.org = Some(org);
                create_app(&tx, org_id, &name, source_path.as_deref(), now)?
            }
            Mutation::RecordRelease { app, env, release } => {
                let app = require_app(&tx, &app)?;
                require_env(&tx, &app, &env)?;
                record.org = Some(app.org.clone());
                record.after = Some(release.id.clone());
                record_release(&tx, &app, &env, &release, &who.label)?
            }
            Mutation::Activate {
                app,
                env,
                release_id,
                action,
            } => {
                let app = require_app(&tx, &app)?;
                require_env(&tx, &app, &env)?;
                record.org = Some(app.org.clone());
                record.detail = Some(format!("{action} in {env}"));
                record.after = Some(release_id.clone());
                let applied = activate(&tx, &app, &env, &release_id, action, &who.label, now)?;
                if let Applied::Activated { previous } = &applied {
                    record.before.clone_from(previous);
                }
                applied
            }
            Mutation::SetSecret {
                app,
                env,
                name,
                value,
                scope,
            } => {
                let app = require_app(&tx, &app)?;
                require_env(&tx, &app, &env)?;
                record.org = Some(app.org.clone());
                record.detail = Some(format!("{name} in {env} ({scope})"));
                set_secret(&tx, &self.key, &app, &env, &name, &value, scope, now)?
            }
            Mutation::UnsetSecret { app, env, name } => {
                let app = require_app(&tx, &app)?;
                require_env(&tx, &app, &env)?;
                record.org = Some(app.org.clone());
                record.detail = Some(format!("{name} in {env}"));
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
                let app = require_app(&tx, &name)?;
                record.org = Some(app.org.clone());
                delete_app(&tx, &app)?
            }
            Mutation::CreateOrg { name } => {
                record.org = Some(name.clone());
                create_org(&tx, &name)?
            }
            Mutation::CreateUser { org, name, role } => {
                let org = auth::org_for(who, org.as_deref(), kind)?.to_string();
                let org_id = require_org(&tx, &org)?;
                record.org = Some(org);
                record.detail = Some(format!("role {}", role.as_str()));
                let inserted = tx.execute(
                    "INSERT INTO users (org_id, name, role, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (org_id, name) DO NOTHING",
                    params![org_id, name, role.as_str(), now as i64],
                )?;
                if inserted == 0 {
                    return Err(ControlError::UserExists { user: name });
                }
                Applied::UserCreated
            }
            Mutation::CreateToken {
                org,
                name,
                scope,
                app,
                user,
                expires_at,
            } => {
                let org = auth::org_for(who, org.as_deref(), kind)?.to_string();
                let org_id = require_org(&tx, &org)?;
                let app_id = match &app {
                    Some(a) => {
                        let row = require_app(&tx, a)?;
                        if row.org_id != org_id {
                            return Err(ControlError::AppNotFound { app: a.clone() });
                        }
                        Some(row.id)
                    }
                    None => None,
                };
                let user_id: Option<i64> = match &user {
                    Some(u) => Some(
                        tx.query_row(
                            "SELECT id FROM users WHERE org_id = ?1 AND name = ?2",
                            params![org_id, u],
                            |r| r.get(0),
                        )
                        .optional()?
                        .ok_or_else(|| ControlError::UserNotFound { user: u.clone() })?,
                    ),
                    None => None,
                };
                let (id, token, hash) = auth::mint()?;
                tx.execute(
                    "INSERT INTO tokens (id, org_id, user_id, app_id, name, scope, hash,
                                         created_at, created_by, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        id,
                        org_id,
                        user_id,
                        app_id,
                        name,
                        scope.as_str(),
                        &hash[..],
                        now as i64,
                        who.label,
                        expires_at.map(|e| e as i64)
                    ],
                )?;
                record.org = Some(org);
                record.target = format!("token/{id}");
                record.after = Some(id.clone());
                record.detail = Some(format!(
                    "{name}: {scope}{}",
                    app.as_deref()
                        .map(|a| format!(" on app/{a}"))
                        .unwrap_or_default()
                ));
                Applied::TokenCreated { id, token }
            }
            Mutation::RevokeToken { id } => {
                let org: String = tx.query_row(
                    "SELECT o.name FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                record.org = Some(org);
                let changed = tx.execute(
                    "UPDATE tokens SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                    params![now as i64, id],
                )?;
                if changed == 0 {
                    Applied::Unchanged
                } else {
                    Applied::TokenRevoked
                }
            }
        };
        let outcome = if applied == Applied::Unchanged {
            Outcome::Unchanged
        } else {
            Outcome::Ok
        };
        let head = audit::append(&tx, self.key.audit_key(), now, outcome, &record)?;
        tx.commit()?;
        audit::write_head(&audit::head_path(self.db_path()), head)?;
        Ok(applied)
    }
}

/// What a mutation acts on, for the audit log: `app/<name>`, `org/<name>`, `token/<id>`.
fn target_of(m: &Mutation) -> String {
    match m {
        Mutation::CreateApp { name, .. } | Mutation::DeleteApp { name } => format!("app/{name}"),
        Mutation::RecordRelease { app, .. }
        | Mutation::Activate { app, .. }
        | Mutation::SetSecret { app, .. }
        | Mutation::UnsetSecret { app, .. } => format!("app/{app}"),
        Mutation::CreateOrg { name } => format!("org/{name}"),
        Mutation::CreateUser { org, name, .. } => {
            format!("org/{}/user/{name}", org.as_deref().unwrap_or("-"))
        }
        Mutation::CreateToken { name, .. } => format!("token/{name}"),
        Mutation::RevokeToken { id } => format!("token/{id}"),
    }
}

/// The id of organisation `name`, or `org-not-found`.
fn require_org(conn: &Connection, name: &str) -> Result<i64, ControlError> {
    conn.query_row("SELECT id FROM orgs WHERE name = ?1", [name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| ControlError::OrgNotFound {
            org: name.to_string(),
        })
}

/// Creates organisation `name` with its `production` environment.
fn create_org(conn: &Connection, name: &str) -> Result<Applied, ControlError> {
    let inserted = conn.execute(
        "INSERT INTO orgs (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
        [name],
    )?;
    if inserted == 0 {
        return Err(ControlError::OrgExists {
            org: name.to_string(),
        });
    }
    conn.execute(
        "INSERT INTO environments (org_id, name) SELECT id, ?2 FROM orgs WHERE name = ?1",
        params![name, crate::DEFAULT_ENV],
    )?;
    Ok(Applied::OrgCreated)
}

/// Checks everything that can be checked without the database.
fn validate_mutation(m: &Mutation) -> Result<(), ControlError> {
    match m {
        Mutation::CreateApp {
            name,
            source_path,
            org,
        } => {
            validate::app_name(name)?;
            if let Some(org) = org {
                validate::app_name(org)?;
            }
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
            ..
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
        Mutation::CreateOrg { name } => validate::app_name(name)?,
        Mutation::CreateUser { org, name, .. } => {
            if let Some(org) = org {
                validate::app_name(org)?;
            }
            validate::app_name(name)?;
        }
        Mutation::CreateToken {
            org,
            name,
            app,
            user,
            ..
        } => {
            for value in [org, app, user].into_iter().flatten() {
                validate::app_name(value)?;
            }
            validate::token_name(name)?;
        }
        Mutation::RevokeToken { id } => {
            if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ControlError::TokenNotFound { id: id.clone() });
            }
        }
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
    // Names are unique across organisations: the edge routes `<app>.<domain>` by name.
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM apps WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?;
    if taken {
        return Err(ControlError::AppExists {
            app: name.to_owned(),
        });
    }
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

#[allow(clippy::too_many_arguments)]
fn set_secret(
    conn: &Connection,
    key: &SecretsKey,
    app: &AppRow,
    env: &str,
    name: &str,
    value: &str,
    scope: crate::model::SecretScope,
    now: u64,
) -> Result<Applied, ControlError> {
    let sealed = key.seal(&associated_data(&app.org, &app.name, env, name), value)?;
    conn.execute(
        "INSERT INTO secrets (app_id, environment, name, nonce, ciphertext, updated_at, scope)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (app_id, environment, name)
         DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext,
                       updated_at = excluded.updated_at, scope = excluded.scope",
        params![
            app.id,
            env,
            name,
            &sealed.nonce[..],
            sealed.ciphertext,
            now,
            scope.as_str()
        ],
    )?;
    Ok(Applied::SecretSet)
}

fn delete_app(conn: &Connection, app: &AppRow) -> Result<Applied, ControlError> {
    // Children first: `live` and `activations` reference `releases`.
    for table in [
        "live",
        "activations",
        "secrets",
        "release_env",
        "release_env_frozen",
        "tokens",
        "releases",
    ] {
        conn.execute(&format!("DELETE FROM {table} WHERE app_id = ?1"), [app.id])?;
    }
    conn.execute("DELETE FROM apps WHERE id = ?1", [app.id])?;
    Ok(Applied::Deleted)
}
