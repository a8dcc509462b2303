//! Env scopes, frozen release environments and master-key rotation.
//!
//! - A secret's [`SecretScope`] says which phase sees it: [`Control::build_env`] gives the
//!   build the `build` and `both` values, [`Control::runtime_env`] the processes the
//!   `runtime` and `both` ones. `FERRY_*` settings configure ferry itself and reach neither.
//! - [`Control::freeze_env`] seals the runtime values into `release_env` for one release
//!   (associated data `<org>/<app>/<env>/<name>@<release>`); [`Control::frozen_env`] is what
//!   that release's processes run with, so a rollback runs with the env it was deployed with.
//! - [`Control::rotate_key`] re-encrypts every value under a new master key and re-signs the
//!   audit chain, in one transaction.

use std::collections::BTreeMap;
use std::fmt;

use rusqlite::{Connection, TransactionBehavior, params};
use serde::Serialize;

use crate::audit::{self, Outcome, Record};
use crate::auth::{self, Principal, Scope};
use crate::control::{Control, now_ms};
use crate::error::ControlError;
use crate::key::{self, KeySource, SecretsKey, associated_data, release_associated_data};
use crate::model::{SecretInfo, SecretScope};
use crate::query::{AppRow, require_app};

/// Name prefixes that bundlers inline into the client code (readable by anyone who loads the
/// app): Vite, Next.js, Create React App, SvelteKit/Astro, Expo, Nuxt.
pub const PUBLIC_PREFIXES: &[&str] = &[
    "VITE_",
    "NEXT_PUBLIC_",
    "REACT_APP_",
    "PUBLIC_",
    "EXPO_PUBLIC_",
    "NUXT_PUBLIC_",
];

/// The public prefix `name` starts with, if any (the longest match).
pub fn public_prefix(name: &str) -> Option<&'static str> {
    PUBLIC_PREFIXES
        .iter()
        .copied()
        .filter(|p| name.starts_with(p))
        .max_by_key(|p| p.len())
}

/// The warning for a build-visible secret under a public prefix; `None` otherwise.
pub fn public_bundle_warning(name: &str, scope: SecretScope) -> Option<String> {
    let prefix = public_prefix(name)?;
    scope.in_build().then(|| {
        format!(
            "`{name}` is visible to the build and starts with `{prefix}`: the bundler inlines it into the app's client code, where anyone who loads the app can read it; keep secrets out of `{prefix}` variables (or set it with --runtime)"
        )
    })
}

/// What [`Control::freeze_env`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Frozen {
    /// Variables frozen.
    pub vars: usize,
    /// Whether the release's frozen env differs from what it was (or it had none).
    pub changed: bool,
}

/// What [`Control::rotate_key`] did. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    /// Secrets re-encrypted.
    pub secrets: usize,
    /// Frozen release values re-encrypted.
    pub frozen: usize,
    /// Audit entries re-signed (the rotation's own entry not counted).
    pub audit_entries: i64,
    /// Where the new key lives: `file` (the key file was replaced) or `env`.
    pub key_source: &'static str,
    /// With `FERRY_MASTER_KEY`: the new key (64 hex), shown once; the variable must be
    /// updated before the server restarts. `None` when the key file was replaced.
    pub new_key: Option<String>,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("secrets", &self.secrets)
            .field("frozen", &self.frozen)
            .field("audit_entries", &self.audit_entries)
            .field("key_source", &self.key_source)
            .field("new_key", &self.new_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One sealed secret row.
struct SealedRow {
    name: String,
    scope: SecretScope,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    updated_at: u64,
}

fn sealed_rows(conn: &Connection, app: &AppRow, env: &str) -> Result<Vec<SealedRow>, ControlError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, scope, nonce, ciphertext, updated_at FROM secrets
         WHERE app_id = ?1 AND environment = ?2 ORDER BY name",
    )?;
    let rows = stmt.query_map(params![app.id, env], |r| {
        let scope: String = r.get(1)?;
        Ok(SealedRow {
            name: r.get(0)?,
            scope: SecretScope::parse(&scope).unwrap_or_default(),
            nonce: r.get(2)?,
            ciphertext: r.get(3)?,
            updated_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn open_row(
    key: &SecretsKey,
    app: &AppRow,
    env: &str,
    row: &SealedRow,
) -> Result<String, ControlError> {
    let aad = associated_data(&app.org, &app.name, env, &row.name);
    key.open(&aad, &row.nonce, &row.ciphertext)
        .ok_or_else(|| ControlError::DecryptFailed {
            app: app.name.clone(),
            env: env.to_owned(),
            name: row.name.clone(),
        })
}

/// The current values `keep` selects, `FERRY_*` settings left out.
fn values_where(
    key: &SecretsKey,
    conn: &Connection,
    app: &str,
    env: &str,
    keep: impl Fn(SecretScope) -> bool,
) -> Result<BTreeMap<String, String>, ControlError> {
    let row = require_app(conn, app)?;
    let mut out = BTreeMap::new();
    for sealed in sealed_rows(conn, &row, env)? {
        if keep(sealed.scope) && !crate::is_ferry_setting(&sealed.name) {
            out.insert(sealed.name.clone(), open_row(key, &row, env, &sealed)?);
        }
    }
    Ok(out)
}

/// The frozen values of a release, if it was ever frozen.
fn read_frozen(
    key: &SecretsKey,
    conn: &Connection,
    app: &AppRow,
    env: &str,
    release: &str,
) -> Result<Option<BTreeMap<String, String>>, ControlError> {
    let frozen: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM release_env_frozen WHERE app_id = ?1 AND release_id = ?2)",
        params![app.id, release],
        |r| r.get(0),
    )?;
    if !frozen {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT name, nonce, ciphertext FROM release_env
         WHERE app_id = ?1 AND release_id = ?2 ORDER BY name",
    )?;
    let rows = stmt.query_map(params![app.id, release], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    let mut out = BTreeMap::new();
    for item in rows {
        let (name, nonce, ciphertext) = item?;
        let aad = release_associated_data(&app.org, &app.name, env, &name, release);
        let value =
            key.open(&aad, &nonce, &ciphertext)
                .ok_or_else(|| ControlError::DecryptFailed {
                    app: app.name.clone(),
                    env: env.to_owned(),
                    name: format!("{name}@{release}"),
                })?;
        out.insert(name, value);
    }
    Ok(Some(out))
}

impl Control {
    /// The secrets of `app` in `env` by name: scope, fingerprint, last change. Never values.
    /// A value that does not decrypt (the key changed, the row was altered) is listed with the
    /// fingerprint `?`. `app-not-found` if the app does not exist.
    pub fn secret_list(&self, app: &str, env: &str) -> Result<Vec<SecretInfo>, ControlError> {
        let tx = self.conn.unchecked_transaction()?;
        let row = require_app(&tx, app)?;
        let mut out = Vec::new();
        for sealed in sealed_rows(&tx, &row, env)? {
            let fingerprint = match open_row(&self.key, &row, env, &sealed) {
                Ok(value) => self.key.fingerprint(&value),
                Err(_) => "?".to_string(),
            };
            out.push(SecretInfo {
                fingerprint,
                name: sealed.name,
                scope: sealed.scope,
                updated_at: sealed.updated_at,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// What the build of `app` in `env` sees: the `build` and `both` secrets, decrypted,
    /// without `FERRY_*` settings. For builds only, never for display.
    pub fn build_env(
        &self,
        app: &str,
        env: &str,
    ) -> Result<BTreeMap<String, String>, ControlError> {
        let tx = self.conn.unchecked_transaction()?;
        let out = values_where(&self.key, &tx, app, env, SecretScope::in_build)?;
        tx.commit()?;
        Ok(out)
    }

    /// What a new release's processes would see now: the `runtime` and `both` secrets,
    /// decrypted, without `FERRY_*` settings. Processes run with [`Control::frozen_env`].
    pub fn runtime_env(
        &self,
        app: &str,
        env: &str,
    ) -> Result<BTreeMap<String, String>, ControlError> {
        let tx = self.conn.unchecked_transaction()?;
        let out = values_where(&self.key, &tx, app, env, SecretScope::in_runtime)?;
        tx.commit()?;
        Ok(out)
    }

    /// The runtime env frozen for `release` of `app` (in `env`, the environment it runs in);
    /// `None` when the release was never frozen.
    pub fn frozen_env(
        &self,
        app: &str,
        env: &str,
        release: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ControlError> {
        let tx = self.conn.unchecked_transaction()?;
        let row = require_app(&tx, app)?;
        let out = read_frozen(&self.key, &tx, &row, env, release)?;
        tx.commit()?;
        Ok(out)
    }

    /// Freezes the current runtime env of `app` in `env` into `release` (replacing what it
    /// had), authorised for `who` (deploy scope) and audited (`freeze-env`, outcome
    /// `unchanged` when the values are the ones already frozen, which writes nothing else).
    pub fn freeze_env(
        &mut self,
        who: &Principal,
        app: &str,
        env: &str,
        release: &str,
    ) -> Result<Frozen, ControlError> {
        const ACTION: &str = "freeze-env";
        let target = format!("app/{app}");
        let allowed = auth::check_visible(&self.conn, who, app)
            .and_then(|()| auth::require_scope(who, Scope::Deploy, ACTION, app));
        if let Err(err) = allowed {
            self.audit_failure(who, ACTION, &target, Outcome::Refused, &err);
            return Err(err);
        }
        match self.freeze_authorized(who, app, env, release, &target) {
            Ok(frozen) => Ok(frozen),
            Err(err) => {
                self.audit_failure(who, ACTION, &target, Outcome::Failed, &err);
                Err(err)
            }
        }
    }

    fn freeze_authorized(
        &mut self,
        who: &Principal,
        app: &str,
        env: &str,
        release: &str,
        target: &str,
    ) -> Result<Frozen, ControlError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = require_app(&tx, app)?;
        crate::query::require_env(&tx, &row, env)?;
        let recorded: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM releases WHERE app_id = ?1 AND id = ?2)",
            params![row.id, release],
            |r| r.get(0),
        )?;
        if !recorded {
            return Err(ControlError::ReleaseNotFound {
                app: app.to_owned(),
                release: release.to_owned(),
            });
        }
        let current = values_where(&self.key, &tx, app, env, SecretScope::in_runtime)?;
        let before = read_frozen(&self.key, &tx, &row, env, release)?;
        let changed = before.as_ref() != Some(&current);
        if changed {
            tx.execute(
                "DELETE FROM release_env WHERE app_id = ?1 AND release_id = ?2",
                params![row.id, release],
            )?;
            for (name, value) in &current {
                let aad = release_associated_data(&row.org, app, env, name, release);
                let sealed = self.key.seal(&aad, value)?;
                tx.execute(
                    "INSERT INTO release_env (app_id, release_id, name, nonce, ciphertext)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![row.id, release, name, &sealed.nonce[..], sealed.ciphertext],
                )?;
            }
            tx.execute(
                "INSERT INTO release_env_frozen (app_id, release_id, frozen_at, vars)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app_id, release_id)
                 DO UPDATE SET frozen_at = excluded.frozen_at, vars = excluded.vars",
                params![row.id, release, now as i64, current.len() as i64],
            )?;
        }
        let mut record = Record::by(who, "freeze-env", target);
        record.org = Some(row.org.clone());
        record.after = Some(release.to_owned());
        record.detail = Some(format!("{} variables in {env}", current.len()));
        let outcome = if changed {
            Outcome::Ok
        } else {
            Outcome::Unchanged
        };
        let head = audit::append(&tx, self.key.audit_key(), now, outcome, &record)?;
        tx.commit()?;
        audit::write_head(&audit::head_path(self.db_path()), head)?;
        Ok(Frozen {
            vars: current.len(),
            changed,
        })
    }

    /// Records a refused or failed attempt (best effort: the caller's error wins).
    fn audit_failure(
        &mut self,
        who: &Principal,
        action: &str,
        target: &str,
        outcome: Outcome,
        err: &ControlError,
    ) {
        let mut record = Record::by(who, action, target);
        record.detail = Some(err.code().to_string());
        if let Err(e) = self.audit_record(outcome, &record) {
            tracing::warn!(error = %e, "could not write an audit entry");
        }
    }

    /// Replaces the master key: a new random key; every secret and frozen release value
    /// re-encrypted and the audit chain checked with the old key then re-signed with the new
    /// one, in one transaction (with its own `rotate-key` audit entry); then the key file is
    /// replaced atomically. The machine's owner only (`forbidden` otherwise); `audit-broken`
    /// when the chain does not verify; `decrypt-failed` when a value does not open. On any
    /// error the old key stays in use and nothing changed.
    ///
    /// The new key is first written to `secret.key.next` and renamed over `secret.key` once
    /// the database committed; if ferry dies in between, [`Control::open`] finishes the move.
    /// With `FERRY_MASTER_KEY`, no file is written: the new key is returned once
    /// ([`Rotation::new_key`]) and the variable must be updated before the next start.
    pub fn rotate_key(&mut self, who: &Principal) -> Result<Rotation, ControlError> {
        const ACTION: &str = "rotate-key";
        const TARGET: &str = "master-key";
        if !who.is_owner_of_machine() {
            let err = ControlError::Forbidden {
                action: ACTION.into(),
                target: TARGET.into(),
                need: Scope::Admin,
                have: who.scope,
            };
            self.audit_failure(who, ACTION, TARGET, Outcome::Refused, &err);
            return Err(err);
        }
        match self.rotate_authorized(who, ACTION, TARGET) {
            Ok(rotation) => Ok(rotation),
            Err(err) => {
                self.audit_failure(who, ACTION, TARGET, Outcome::Failed, &err);
                Err(err)
            }
        }
    }

    fn rotate_authorized(
        &mut self,
        who: &Principal,
        action: &str,
        target: &str,
    ) -> Result<Rotation, ControlError> {
        let (new_key, raw) = SecretsKey::generate()?;
        let next = match &self.key_source {
            KeySource::File(path) => {
                let next = key::next_key_path(path);
                let _ = std::fs::remove_file(&next);
                key::write_key_file(&next, &raw)?;
                Some((next, path.clone()))
            }
            KeySource::Env => None,
        };
        let done = self.reencrypt(&new_key, who, action, target);
        let (secrets, frozen, audit_entries) = match done {
            Ok(counts) => counts,
            Err(err) => {
                if let Some((next, _)) = &next {
                    let _ = std::fs::remove_file(next);
                }
                return Err(err);
            }
        };
        self.key = new_key;
        let new_key = match next {
            Some((next, path)) => {
                key::replace_file(&next, &path)?;
                None
            }
            None => Some(raw.iter().map(|b| format!("{b:02x}")).collect()),
        };
        Ok(Rotation {
            secrets,
            frozen,
            audit_entries,
            key_source: if new_key.is_some() { "env" } else { "file" },
            new_key,
        })
    }

    /// The transaction of a rotation: every value re-sealed under `new`, the audit chain
    /// re-signed, the rotation's entry appended. Returns the counts.
    fn reencrypt(
        &mut self,
        new: &SecretsKey,
        who: &Principal,
        action: &str,
        target: &str,
    ) -> Result<(usize, usize, i64), ControlError> {
        let head_path = audit::head_path(self.db_path());
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        type Row = (i64, String, String, String, String, Vec<u8>, Vec<u8>);
        let secrets: Vec<Row> = tx
            .prepare(
                "SELECT s.rowid, o.name, a.name, s.environment, s.name, s.nonce, s.ciphertext
                 FROM secrets s JOIN apps a ON a.id = s.app_id JOIN orgs o ON o.id = a.org_id",
            )?
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        for (rowid, org, app, env, name, nonce, ciphertext) in &secrets {
            let aad = associated_data(org, app, env, name);
            let value = self.key.open(&aad, nonce, ciphertext).ok_or_else(|| {
                ControlError::DecryptFailed {
                    app: app.clone(),
                    env: env.clone(),
                    name: name.clone(),
                }
            })?;
            let sealed = new.seal(&aad, &value)?;
            tx.execute(
                "UPDATE secrets SET nonce = ?1, ciphertext = ?2 WHERE rowid = ?3",
                params![&sealed.nonce[..], sealed.ciphertext, rowid],
            )?;
        }
        // A release's frozen values are bound to the environment the release was recorded in.
        type FrozenRow = (
            i64,
            String,
            String,
            String,
            String,
            String,
            Vec<u8>,
            Vec<u8>,
        );
        let frozen: Vec<FrozenRow> = tx
            .prepare(
                "SELECT e.rowid, o.name, a.name, r.environment, e.name, e.release_id, e.nonce,
                        e.ciphertext
                 FROM release_env e JOIN apps a ON a.id = e.app_id
                 JOIN orgs o ON o.id = a.org_id
                 JOIN releases r ON r.app_id = e.app_id AND r.id = e.release_id",
            )?
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        for (rowid, org, app, env, name, release, nonce, ciphertext) in &frozen {
            let aad = release_associated_data(org, app, env, name, release);
            let value = self.key.open(&aad, nonce, ciphertext).ok_or_else(|| {
                ControlError::DecryptFailed {
                    app: app.clone(),
                    env: env.clone(),
                    name: format!("{name}@{release}"),
                }
            })?;
            let sealed = new.seal(&aad, &value)?;
            tx.execute(
                "UPDATE release_env SET nonce = ?1, ciphertext = ?2 WHERE rowid = ?3",
                params![&sealed.nonce[..], sealed.ciphertext, rowid],
            )?;
        }
        let resigned = audit::rekey(&tx, self.key.audit_key(), new.audit_key(), &head_path)?;
        let mut record = Record::by(who, action, target);
        record.detail = Some(format!(
            "{} secrets and {} frozen values re-encrypted",
            secrets.len(),
            frozen.len()
        ));
        let head = audit::append(&tx, new.audit_key(), now, Outcome::Ok, &record)?;
        tx.commit()?;
        audit::write_head(&head_path, head)?;
        Ok((secrets.len(), frozen.len(), resigned.map_or(0, |h| h.count)))
    }

    /// At open: a key left in `secret.key.next` by a rotation that committed but did not
    /// rename it (the audit chain verifies with it) is moved into place; one left by a
    /// rotation that did not commit is removed.
    pub(crate) fn finish_rotation(&mut self) -> Result<(), ControlError> {
        let KeySource::File(path) = &self.key_source else {
            return Ok(());
        };
        let path = path.clone();
        let next = key::next_key_path(&path);
        let Some(candidate) = SecretsKey::load_existing(&next)? else {
            return Ok(());
        };
        let head = audit::head_path(self.db_path());
        let check = audit::verify(&self.conn, candidate.audit_key(), &head)?;
        if check.ok && check.entries > 0 {
            key::replace_file(&next, &path)?;
            self.key = candidate;
            tracing::warn!("finished an interrupted key rotation: the new key is now in place");
        } else {
            let _ = std::fs::remove_file(&next);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_prefixes_warn_only_when_the_build_sees_them() {
        assert_eq!(public_prefix("VITE_API_KEY"), Some("VITE_"));
        assert_eq!(public_prefix("NEXT_PUBLIC_X"), Some("NEXT_PUBLIC_"));
        assert_eq!(public_prefix("EXPO_PUBLIC_X"), Some("EXPO_PUBLIC_"));
        assert_eq!(public_prefix("PUBLIC_URL"), Some("PUBLIC_"));
        assert_eq!(public_prefix("STRIPE_SECRET"), None);
        assert!(public_bundle_warning("VITE_KEY", SecretScope::Build).is_some());
        assert!(public_bundle_warning("VITE_KEY", SecretScope::Both).is_some());
        assert!(public_bundle_warning("VITE_KEY", SecretScope::Runtime).is_none());
        assert!(public_bundle_warning("API_KEY", SecretScope::Both).is_none());
    }

    #[test]
    fn rotation_debug_hides_the_key() {
        let r = Rotation {
            secrets: 1,
            frozen: 0,
            audit_entries: 3,
            key_source: "env",
            new_key: Some("ab".repeat(32)),
        };
        assert!(!format!("{r:?}").contains("abab"));
    }
}
