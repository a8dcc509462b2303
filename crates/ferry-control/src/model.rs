//! The values the control state speaks in: mutations in, records out.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A state change. Every change goes through [`crate::Control::apply`], and nowhere else.
///
/// `Debug` is written by hand so that a secret's value never reaches a log line.
#[derive(Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Create an app in the default organisation. Fails with `app-exists` if it exists.
    CreateApp {
        /// A slug: `[a-z0-9-]`, at most 63, starting and ending with a letter or digit.
        /// Unique across organisations (the edge routes by name).
        name: String,
        /// Where the app's source was imported from, if anywhere.
        source_path: Option<String>,
        /// The organisation: the acting principal's, or `default` for the machine's owner
        /// when not given.
        org: Option<String>,
    },
    /// Record an immutable release. Recording an id the app already has is `Unchanged`.
    RecordRelease {
        /// The app.
        app: String,
        /// The environment it was built for.
        env: String,
        /// What was built.
        release: NewRelease,
    },
    /// Make a recorded release the live one of `(app, env)`: writes the live pointer and an
    /// activation row in one transaction. Activating the release that is already live is
    /// `Unchanged` and writes nothing.
    Activate {
        /// The app.
        app: String,
        /// The environment.
        env: String,
        /// A release recorded for this app (in any of its environments).
        release_id: String,
        /// Why the pointer moves.
        action: ActivationKind,
    },
    /// Set (create or replace) a secret; the value is encrypted before it is written.
    SetSecret {
        /// The app.
        app: String,
        /// The environment.
        env: String,
        /// `[A-Z_][A-Z0-9_]*`, at most 255.
        name: String,
        /// The plaintext value (at most 64 KiB). Never printed.
        value: String,
        /// Which phase sees it: the build, the running processes, or both.
        scope: SecretScope,
    },
    /// Remove a secret. Removing one that does not exist is `Unchanged`.
    UnsetSecret {
        /// The app.
        app: String,
        /// The environment.
        env: String,
        /// The secret's name.
        name: String,
    },
    /// Delete an app and every row that belongs to it (releases, live pointers, activations,
    /// secrets).
    DeleteApp {
        /// The app.
        name: String,
    },
    /// Create an organisation (with its `production` environment). The machine's owner only.
    CreateOrg {
        /// A slug.
        name: String,
    },
    /// Add a user to an organisation.
    CreateUser {
        /// The organisation (the acting principal's when not given).
        org: Option<String>,
        /// A slug, unique in the organisation.
        name: String,
        /// Its role.
        role: crate::auth::Role,
    },
    /// Issue an API token; [`Applied::TokenCreated`] carries its secret, shown once.
    CreateToken {
        /// The organisation (the acting principal's when not given).
        org: Option<String>,
        /// A label (`ci`, `laptop`).
        name: String,
        /// What it may do (capped by its user's role).
        scope: crate::auth::Scope,
        /// Bind it to one app of the organisation.
        app: Option<String>,
        /// Act as this user of the organisation.
        user: Option<String>,
        /// Expiry (unix ms).
        expires_at: Option<u64>,
    },
    /// Revoke a token by its public id (revoking a revoked token is `Unchanged`).
    RevokeToken {
        /// The token's public id.
        id: String,
    },
}

impl Mutation {
    /// A stable kebab-case name of the kind of change (`create-app`, `set-secret`, …), for
    /// logs and, later, the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateApp { .. } => "create-app",
            Self::RecordRelease { .. } => "record-release",
            Self::Activate { .. } => "activate",
            Self::SetSecret { .. } => "set-secret",
            Self::UnsetSecret { .. } => "unset-secret",
            Self::DeleteApp { .. } => "delete-app",
            Self::CreateOrg { .. } => "create-org",
            Self::CreateUser { .. } => "create-user",
            Self::CreateToken { .. } => "create-token",
            Self::RevokeToken { .. } => "revoke-token",
        }
    }
}

impl fmt::Debug for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateApp {
                name,
                source_path,
                org,
            } => f
                .debug_struct("CreateApp")
                .field("name", name)
                .field("source_path", source_path)
                .field("org", org)
                .finish(),
            Self::RecordRelease { app, env, release } => f
                .debug_struct("RecordRelease")
                .field("app", app)
                .field("env", env)
                .field("release", release)
                .finish(),
            Self::Activate {
                app,
                env,
                release_id,
                action,
            } => f
                .debug_struct("Activate")
                .field("app", app)
                .field("env", env)
                .field("release_id", release_id)
                .field("action", action)
                .finish(),
            Self::SetSecret {
                app,
                env,
                name,
                scope,
                ..
            } => f
                .debug_struct("SetSecret")
                .field("app", app)
                .field("env", env)
                .field("name", name)
                .field("value", &"<redacted>")
                .field("scope", scope)
                .finish(),
            Self::UnsetSecret { app, env, name } => f
                .debug_struct("UnsetSecret")
                .field("app", app)
                .field("env", env)
                .field("name", name)
                .finish(),
            Self::DeleteApp { name } => f.debug_struct("DeleteApp").field("name", name).finish(),
            Self::CreateOrg { name } => f.debug_struct("CreateOrg").field("name", name).finish(),
            Self::CreateUser { org, name, role } => f
                .debug_struct("CreateUser")
                .field("org", org)
                .field("name", name)
                .field("role", role)
                .finish(),
            Self::CreateToken {
                org,
                name,
                scope,
                app,
                user,
                expires_at,
            } => f
                .debug_struct("CreateToken")
                .field("org", org)
                .field("name", name)
                .field("scope", scope)
                .field("app", app)
                .field("user", user)
                .field("expires_at", expires_at)
                .finish(),
            Self::RevokeToken { id } => f.debug_struct("RevokeToken").field("id", id).finish(),
        }
    }
}

/// Which phase of an app sees a secret. Stored as `"build"`, `"runtime"`, `"both"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretScope {
    /// Only the build (`ferry deploy`'s build steps); never the running processes.
    Build,
    /// Only the running processes; never leaves the server.
    Runtime,
    /// Both (the default).
    #[default]
    Both,
}

impl SecretScope {
    /// The string stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Build => "build",
            Self::Runtime => "runtime",
            Self::Both => "both",
        }
    }

    /// The inverse of [`SecretScope::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "build" => Some(Self::Build),
            "runtime" => Some(Self::Runtime),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    /// Whether the build sees it.
    pub fn in_build(self) -> bool {
        matches!(self, Self::Build | Self::Both)
    }

    /// Whether the running processes see it.
    pub fn in_runtime(self) -> bool {
        matches!(self, Self::Runtime | Self::Both)
    }
}

impl fmt::Display for SecretScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One secret as listings show it: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    /// Its name.
    pub name: String,
    /// Which phase sees it.
    pub scope: SecretScope,
    /// The first 12 hex characters of a keyed BLAKE3 of the value (the key derived from the
    /// master key): tells two values apart without revealing either.
    pub fingerprint: String,
    /// When it was last set (unix milliseconds).
    pub updated_at: u64,
}

/// Why the live pointer moved. Stored as `"deploy"`, `"rollback"`, `"promote"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActivationKind {
    /// A new release went live.
    Deploy,
    /// An earlier release went live again.
    Rollback,
    /// A chosen release was made live (for example to undo a rollback).
    Promote,
}

impl ActivationKind {
    /// The string stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Rollback => "rollback",
            Self::Promote => "promote",
        }
    }

    /// The inverse of [`ActivationKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "deploy" => Some(Self::Deploy),
            "rollback" => Some(Self::Rollback),
            "promote" => Some(Self::Promote),
            _ => None,
        }
    }
}

impl fmt::Display for ActivationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`crate::Control::apply`] did. Its `Debug` never shows a token's secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Applied {
    /// An app was created.
    Created,
    /// A release was recorded.
    Recorded,
    /// The live pointer moved.
    Activated {
        /// The release that was live before, if any.
        previous: Option<String>,
    },
    /// A secret was created or replaced.
    SecretSet,
    /// A secret was removed.
    SecretUnset,
    /// An app was deleted.
    Deleted,
    /// An organisation was created.
    OrgCreated,
    /// A user was created.
    UserCreated,
    /// A token was issued: its public id and the whole token, shown once.
    TokenCreated {
        /// The public id.
        id: String,
        /// `fy_<id>_<secret>`.
        token: String,
    },
    /// A token was revoked.
    TokenRevoked,
    /// Nothing needed to change (same release recorded again, release already live, secret
    /// already absent).
    Unchanged,
}

impl fmt::Debug for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Created => f.write_str("Created"),
            Self::Recorded => f.write_str("Recorded"),
            Self::Activated { previous } => f
                .debug_struct("Activated")
                .field("previous", previous)
                .finish(),
            Self::SecretSet => f.write_str("SecretSet"),
            Self::SecretUnset => f.write_str("SecretUnset"),
            Self::Deleted => f.write_str("Deleted"),
            Self::OrgCreated => f.write_str("OrgCreated"),
            Self::UserCreated => f.write_str("UserCreated"),
            Self::TokenCreated { id, .. } => f
                .debug_struct("TokenCreated")
                .field("id", id)
                .field("token", &"<redacted>")
                .finish(),
            Self::TokenRevoked => f.write_str("TokenRevoked"),
            Self::Unchanged => f.write_str("Unchanged"),
        }
    }
}

/// A release to record, as the release step describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRelease {
    /// The release id: `[A-Za-z0-9._-]`, at most 128, not starting with `.`.
    pub id: String,
    /// When the release was created (unix milliseconds).
    pub created_at: u64,
    /// The source commit it was built from, if known.
    pub source_commit: Option<String>,
    /// Number of files in the release.
    pub files: u64,
    /// Total bytes of those files.
    pub bytes: u64,
    /// Bytes the blob store did not hold before this release.
    pub new_bytes: u64,
}

/// An app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Its name (a slug).
    pub name: String,
    /// Its organisation's name.
    pub org: String,
    /// Where its source was imported from, if recorded.
    pub source_path: Option<String>,
    /// When it was created (unix milliseconds).
    pub created_at: u64,
}

/// A recorded release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The release id.
    pub id: String,
    /// The app.
    pub app: String,
    /// The environment it was recorded for.
    pub env: String,
    /// When the release was created (unix milliseconds).
    pub created_at: u64,
    /// The source commit, if known.
    pub source_commit: Option<String>,
    /// Number of files.
    pub files: u64,
    /// Total bytes.
    pub bytes: u64,
    /// Bytes that were new to the blob store.
    pub new_bytes: u64,
    /// The actor that recorded it.
    pub created_by: String,
    /// Whether it is the live release of its app in its environment (`env`).
    pub live: bool,
}

/// The live release of one app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Live {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The release being served.
    pub release_id: String,
    /// When it went live (unix milliseconds).
    pub activated_at: u64,
}

/// One move of the live pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// The app.
    pub app: String,
    /// The environment.
    pub env: String,
    /// The release that went live.
    pub release_id: String,
    /// The release that was live before, if any.
    pub previous_release_id: Option<String>,
    /// Why.
    pub action: ActivationKind,
    /// When (unix milliseconds).
    pub at: u64,
    /// The actor.
    pub by: String,
}
