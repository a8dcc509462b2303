//! Who acts, and what they may do: organisations, users with roles, API tokens with scopes,
//! and the one authorisation rule every mutation and every read goes through.
//!
//! A token is `fy_<id>_<secret>`: `id` (16 hex) names its row, `secret` (32 random bytes,
//! base64url) is shown once at creation and stored only as its BLAKE3 hash, compared in
//! constant time. A token belongs to an organisation, optionally to one app of it, and
//! optionally to a user; it acts with its scope, capped by its user's role (`viewer` → read,
//! `developer` → deploy, `admin`/`owner` → admin). It may expire and be revoked.
//!
//! Visibility: what lies outside a principal's organisation (or its bound app) does not exist
//! for it (`app-not-found`, 404); what it may see but not change is `forbidden` (403).

use std::fmt;

use base64::Engine;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::control::{Control, now_ms};
use crate::error::ControlError;
use crate::model::Mutation;

/// What a principal may do, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// See apps, releases, env names, logs, processes, audit entries of its own scope.
    Read,
    /// Also deploy, roll back, promote, and set env values.
    Deploy,
    /// Also delete apps and manage tokens and users.
    Admin,
}

impl Scope {
    /// `read`, `deploy` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }

    /// Parses `read`, `deploy` or `admin`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Scope::Read),
            "deploy" => Some(Scope::Deploy),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's role in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and deploys.
    Developer,
    /// Everything in the organisation.
    Admin,
    /// Everything in the organisation (the one who created it).
    Owner,
}

impl Role {
    /// The widest scope a token of this user may use.
    pub fn max_scope(self) -> Scope {
        match self {
            Role::Viewer => Scope::Read,
            Role::Developer => Scope::Deploy,
            Role::Admin | Role::Owner => Scope::Admin,
        }
    }

    /// `owner`, `admin`, `developer` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses a role name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Role::Viewer),
            "developer" => Some(Role::Developer),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// Who is acting, as every mutation and read is authorised and audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The organisation it acts in; `None` for the machine's owner (the local socket, ferry
    /// itself), who sees every organisation.
    pub org: Option<String>,
    /// The one app it is bound to, if any.
    pub app: Option<String>,
    /// What it may do.
    pub scope: Scope,
    /// The token it authenticated with, if any (its public id, never the secret).
    pub token_id: Option<String>,
    /// A label for logs and the audit log: `local`, `ferry`, `token:<name>`, `user:<name>`.
    pub label: String,
    /// Where the request came from: `unix`, `tcp:<ip>`, `internal`.
    pub source: String,
}

impl Principal {
    /// The machine's owner on the local Unix socket (mode 0600): every organisation, admin.
    pub fn local() -> Self {
        Principal {
            org: None,
            app: None,
            scope: Scope::Admin,
            token_id: None,
            label: "local".into(),
            source: "unix".into(),
        }
    }

    /// ferry itself (automatic rollbacks, recovery): every organisation, admin.
    pub fn system(label: &str) -> Self {
        Principal {
            org: None,
            app: None,
            scope: Scope::Admin,
            token_id: None,
            label: label.into(),
            source: "internal".into(),
        }
    }

    /// Whether it sees every organisation.
    pub fn is_owner_of_machine(&self) -> bool {
        self.org.is_none()
    }
}

/// What a token row says (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its public id.
    pub id: String,
    /// Its organisation.
    pub org: String,
    /// The app it is bound to, if any.
    pub app: Option<String>,
    /// Its user, if any.
    pub user: Option<String>,
    /// Its name.
    pub name: String,
    /// Its scope.
    pub scope: Scope,
    /// Created (unix ms).
    pub created_at: u64,
    /// Who created it.
    pub created_by: String,
    /// Expiry (unix ms), if any.
    pub expires_at: Option<u64>,
    /// Revocation time (unix ms), if revoked.
    pub revoked_at: Option<u64>,
    /// Last successful use (unix ms).
    pub last_used_at: Option<u64>,
}

/// A freshly created token: the only time its secret exists outside the caller's hands.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Its public id.
    pub id: String,
    /// The whole token to hand over, `fy_<id>_<secret>`.
    pub token: String,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The prefix of every token.
pub const TOKEN_PREFIX: &str = "fy_";

/// Splits `fy_<id>_<secret>` into its id and secret.
pub(crate) fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = (40..=64).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

/// A new token's id and whole text.
pub(crate) fn mint() -> Result<(String, String, [u8; 32]), ControlError> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    crate::key::fill_random(&mut id)?;
    crate::key::fill_random(&mut secret)?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let hash = *blake3::hash(secret.as_bytes()).as_bytes();
    let token = format!("{TOKEN_PREFIX}{id}_{secret}");
    Ok((id, token, hash))
}

/// Why a bearer token was not accepted (one line; never echoes the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not shaped like a ferry token.
    Malformed,
    /// No such token, or its secret does not match.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

impl Rejection {
    /// One line for the caller.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Malformed => "the bearer token is not a ferry token",
            Rejection::Unknown => "the bearer token is not valid",
            Rejection::Expired => "the bearer token has expired",
            Rejection::Revoked => "the bearer token was revoked",
        }
    }
}

impl Control {
    /// The principal a bearer token stands for, or why it is refused. A valid token's
    /// `last_used_at` is refreshed (at most once a minute).
    pub fn authenticate(&self, token: &str, source: &str) -> Result<Principal, Rejection> {
        let Some((id, secret)) = parse_token(token.trim()) else {
            return Err(Rejection::Malformed);
        };
        let row = self
            .conn
            .query_row(
                "SELECT t.hash, t.scope, t.name, t.expires_at, t.revoked_at, t.last_used_at,
                        o.name, a.name, u.name, u.role
                 FROM tokens t JOIN orgs o ON o.id = t.org_id
                 LEFT JOIN apps a ON a.id = t.app_id
                 LEFT JOIN users u ON u.id = t.user_id
                 WHERE t.id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                    ))
                },
            )
            .optional()
            .map_err(|_| Rejection::Unknown)?;
        let Some((hash, scope, name, expires, revoked, last_used, org, app, user, role)) = row
        else {
            return Err(Rejection::Unknown);
        };
        let actual = blake3::hash(secret.as_bytes());
        let expected: [u8; 32] = hash.try_into().map_err(|_| Rejection::Unknown)?;
        // `blake3::Hash`'s equality is constant-time.
        if actual != blake3::Hash::from(expected) {
            return Err(Rejection::Unknown);
        }
        let now = now_ms() as i64;
        if revoked.is_some() {
            return Err(Rejection::Revoked);
        }
        if expires.is_some_and(|e| e <= now) {
            return Err(Rejection::Expired);
        }
        if last_used.is_none_or(|t| now - t > 60_000) {
            let _ = self.conn.execute(
                "UPDATE tokens SET last_used_at = ?1 WHERE id = ?2",
                params![now, id],
            );
        }
        let mut scope = Scope::parse(&scope).ok_or(Rejection::Unknown)?;
        if let Some(role) = role.as_deref().and_then(Role::parse) {
            scope = scope.min(role.max_scope());
        }
        Ok(Principal {
            org: Some(org),
            app,
            scope,
            token_id: Some(id.to_string()),
            label: match user {
                Some(u) => format!("user:{u}"),
                None => format!("token:{name}"),
            },
            source: source.to_string(),
        })
    }

    /// Checks that `who` may read app `app`: `app-not-found` when it is outside `who`'s
    /// organisation or bound app (as if it did not exist).
    pub fn authorize_read(&self, who: &Principal, app: &str) -> Result<(), ControlError> {
        check_visible(&self.conn, who, app)
    }

    /// Checks that `who` may act on app `app` with `need`: `app-not-found` when it may not
    /// see it, `forbidden` when it sees it but lacks the scope.
    pub fn authorize_app(
        &self,
        who: &Principal,
        app: &str,
        need: Scope,
        action: &str,
    ) -> Result<(), ControlError> {
        check_visible(&self.conn, who, app)?;
        require_scope(who, need, action, app)
    }

    /// The tokens `who` may see: its organisation's (every one for the machine's owner).
    pub fn tokens(&self, who: &Principal) -> Result<Vec<TokenInfo>, ControlError> {
        let mut stmt = self.conn.prepare(
            "SELECT t.id, o.name, a.name, u.name, t.name, t.scope, t.created_at, t.created_by,
                    t.expires_at, t.revoked_at, t.last_used_at
             FROM tokens t JOIN orgs o ON o.id = t.org_id
             LEFT JOIN apps a ON a.id = t.app_id
             LEFT JOIN users u ON u.id = t.user_id
             WHERE ?1 IS NULL OR o.name = ?1
             ORDER BY t.created_at, t.id",
        )?;
        let rows = stmt.query_map([who.org.as_deref()], |r| {
            Ok(TokenInfo {
                id: r.get(0)?,
                org: r.get(1)?,
                app: r.get(2)?,
                user: r.get(3)?,
                name: r.get(4)?,
                scope: Scope::parse(&r.get::<_, String>(5)?).unwrap_or(Scope::Read),
                created_at: r.get::<_, i64>(6)? as u64,
                created_by: r.get(7)?,
                expires_at: r.get::<_, Option<i64>>(8)?.map(|v| v as u64),
                revoked_at: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
                last_used_at: r.get::<_, Option<i64>>(10)?.map(|v| v as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The organisations `who` sees, by name.
    pub fn orgs(&self, who: &Principal) -> Result<Vec<String>, ControlError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM orgs WHERE ?1 IS NULL OR name = ?1 ORDER BY name")?;
        let rows = stmt.query_map([who.org.as_deref()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// `app-not-found` unless `app` exists and lies inside `who`'s organisation and bound app.
pub(crate) fn check_visible(
    conn: &Connection,
    who: &Principal,
    app: &str,
) -> Result<(), ControlError> {
    let org: Option<String> = conn
        .query_row(
            "SELECT o.name FROM apps a JOIN orgs o ON o.id = a.org_id WHERE a.name = ?1",
            [app],
            |r| r.get(0),
        )
        .optional()?;
    let visible = match (&org, &who.org) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(app_org), Some(mine)) => {
            app_org == mine && who.app.as_deref().is_none_or(|bound| bound == app)
        }
    };
    if visible {
        Ok(())
    } else {
        Err(ControlError::AppNotFound {
            app: app.to_string(),
        })
    }
}

/// `forbidden` unless `who`'s scope reaches `need`.
pub(crate) fn require_scope(
    who: &Principal,
    need: Scope,
    action: &str,
    target: &str,
) -> Result<(), ControlError> {
    if who.scope >= need {
        Ok(())
    } else {
        Err(ControlError::Forbidden {
            action: action.to_string(),
            target: target.to_string(),
            need,
            have: who.scope,
        })
    }
}

/// What `m` needs, and on which app (None: an organisation-level change).
pub(crate) fn requirement(m: &Mutation) -> (Scope, Option<&str>) {
    match m {
        Mutation::CreateApp { .. } => (Scope::Deploy, None),
        Mutation::RecordRelease { app, .. }
        | Mutation::Activate { app, .. }
        | Mutation::SetSecret { app, .. }
        | Mutation::UnsetSecret { app, .. } => (Scope::Deploy, Some(app)),
        Mutation::DeleteApp { name } => (Scope::Admin, Some(name)),
        Mutation::CreateOrg { .. } => (Scope::Admin, None),
        Mutation::CreateUser { .. } | Mutation::CreateToken { .. } => (Scope::Admin, None),
        Mutation::RevokeToken { .. } => (Scope::Admin, None),
    }
}

/// The organisation an org-level mutation acts in, checked against `who`: a principal bound to
/// an organisation acts only there, and one bound to an app manages nothing org-wide.
pub(crate) fn org_for<'a>(
    who: &'a Principal,
    asked: Option<&'a str>,
    action: &str,
) -> Result<&'a str, ControlError> {
    match (&who.org, asked) {
        (None, Some(org)) => Ok(org),
        (None, None) => Ok(crate::DEFAULT_ORG),
        (Some(mine), Some(org)) if mine != org => Err(ControlError::OrgNotFound {
            org: org.to_string(),
        }),
        (Some(_), _) if who.app.is_some() && action != "create-app" => {
            Err(ControlError::Forbidden {
                action: action.to_string(),
                target: mine_or_default(who),
                need: Scope::Admin,
                have: who.scope,
            })
        }
        (Some(mine), _) => Ok(mine.as_str()),
    }
}

fn mine_or_default(who: &Principal) -> String {
    who.org.clone().unwrap_or_else(|| crate::DEFAULT_ORG.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_shape() {
        let (id, token, hash) = mint().expect("mint");
        let (pid, secret) = parse_token(&token).expect("parses");
        assert_eq!(pid, id);
        assert_eq!(*blake3::hash(secret.as_bytes()).as_bytes(), hash);
        assert!(parse_token("fy_zz_abc").is_none());
        assert!(parse_token("Bearer x").is_none());
        assert!(parse_token(&token.replace("fy_", "gh_")).is_none());
    }

    #[test]
    fn roles_cap_scopes() {
        assert_eq!(Role::Viewer.max_scope(), Scope::Read);
        assert_eq!(Role::Developer.max_scope(), Scope::Deploy);
        assert_eq!(Role::Owner.max_scope(), Scope::Admin);
        assert!(Scope::Read < Scope::Deploy && Scope::Deploy < Scope::Admin);
    }
}
