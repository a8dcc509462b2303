//! The `auth/*` routes of `@base44/sdk` 0.8.50 (`modules/auth.js`, `modules/users.js`) and the
//! access-token → caller wiring ([`token_caller`]).
//!
//! The pieces come from [`crate::base44::auth`] (argon2id passwords, HS256 tokens, one-time
//! codes, mail, the role rule); this module stores them: passwords in `User`'s private
//! `password_hash` column, pending email codes and reset/invitation tokens in
//! [`AUTH_CODES_TABLE`] (hashed). Password hashing runs on the blocking pool. The public routes
//! (`register`, `login`, `verify-otp`, `resend-otp`, `reset-password-request`,
//! `reset-password`) never read the `Authorization` header, so a stale token cannot block a
//! new sign-in. Routes, bodies and answers: `docs/base44.md`, "Auth routes".
//!
//! This file holds [`AuthConfig`], [`token_caller`] and the request helpers and errors the
//! routes share; the routes are in `signup.rs` (`register`, `verify-otp`, `resend-otp`),
//! `login.rs`, `password.rs` (reset request, reset, change), `me.rs` (`User/me`),
//! `invite.rs`, `oidc.rs` (OpenID Connect sign-in) and `migrated.rs` (the owner's invitations
//! of users without a password); the steps they share (finding and inserting users, a
//! session, storing codes and reset tokens) in `steps.rs`; their SQL in `sql.rs`.
//!
//! [`AUTH_CODES_TABLE`]: crate::base44::store::AUTH_CODES_TABLE

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::ApiError;
use crate::base44::auth::mail::Outbox;
use crate::base44::auth::oidc::OidcConfig;
use crate::base44::auth::token::{self, DEFAULT_TTL_SECS, SigningKey, TokenError};
use crate::base44::auth::unix_now;
use crate::base44::rls::Caller;
use crate::base44::store::StoreError;

mod invite;
mod login;
mod me;
mod migrated;
mod oidc;
mod password;
mod signup;
mod sql;
mod steps;

pub(super) use invite::invite_user;
pub(super) use login::login;
pub(super) use me::{me, update_me};
pub use migrated::{InviteRequest, InviteStatus, Invited, invite_users};
pub(super) use oidc::{oidc_callback, oidc_start};
pub(super) use password::{change_password, reset_password, reset_password_request};
pub(super) use signup::{register, resend_otp, verify_otp};

/// How long an invitation's link (a reset token) stays valid: 7 days.
pub const INVITE_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// At most this many reset (or set-password) links are mailed to one user per
/// [`RESET_WINDOW_SECS`] through `reset-password-request`; further requests answer the same
/// and send nothing (the form cannot flood a mailbox).
pub const RESET_MAX_PER_WINDOW: u64 = 5;
/// The window of [`RESET_MAX_PER_WINDOW`]: 15 minutes.
pub const RESET_WINDOW_SECS: u64 = 15 * 60;

/// Expired rows of [`AUTH_CODES_TABLE`] are swept this long after their expiry (so a late
/// attempt still reads "expired" rather than "invalid").
pub(super) const CODES_GRACE_SECS: u64 = 24 * 60 * 60;

const PURPOSE_OTP: &str = "otp";
const PURPOSE_RESET: &str = "reset";

/// What the auth routes need: the app's signing key, token lifetime, name, public URL, where
/// mail goes, and whether sign-up must be confirmed with an emailed code.
#[derive(Clone)]
pub struct AuthConfig {
    /// Signs access tokens and keys the email-code hashes (one per app, from ferry's secrets).
    pub key: SigningKey,
    /// The lifetime of an access token, seconds ([`DEFAULT_TTL_SECS`]).
    pub token_ttl_secs: u64,
    /// The app's name, in every mail subject.
    pub app_name: String,
    /// The app's public URL; reset and invitation mails link to
    /// `{app_url}/reset-password?token=<token>`.
    pub app_url: String,
    /// Where mail goes.
    pub outbox: Arc<dyn Outbox>,
    /// Whether `register` only sends a code (and `login` refuses an unverified email) until
    /// `verify-otp`; off, `register` signs the user in at once.
    pub verify_email: bool,
    /// The owner's OpenID Connect provider (Google sign-in), if any.
    pub oidc: Option<OidcConfig>,
}

impl AuthConfig {
    /// A configuration with the default token lifetime, `verify_email` off and no OpenID
    /// Connect provider.
    pub fn new(
        key: SigningKey,
        app_name: impl Into<String>,
        app_url: impl Into<String>,
        outbox: Arc<dyn Outbox>,
    ) -> AuthConfig {
        AuthConfig {
            key,
            token_ttl_secs: DEFAULT_TTL_SECS,
            app_name: app_name.into(),
            app_url: app_url.into(),
            outbox,
            verify_email: false,
            oidc: None,
        }
    }

    /// The OpenID Connect redirect URI the owner registers with the provider:
    /// `{app_url}/oidc/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oidc/callback", self.app_url.trim_end_matches('/'))
    }

    /// The link carrying a reset (or invitation) token.
    fn link(&self, token: &str) -> String {
        format!(
            "{}/reset-password?token={token}",
            self.app_url.trim_end_matches('/')
        )
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("key", &self.key)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("app_name", &self.app_name)
            .field("app_url", &self.app_url)
            .field("verify_email", &self.verify_email)
            .field("oidc", &self.oidc)
            .finish_non_exhaustive()
    }
}

/// The [`super::CallerFn`] of an app using ferry's access tokens: no `Authorization` header is
/// anonymous; `Bearer <token>` whose token [`token::verify`] accepts for `app_id` is the user
/// `{id: sub, email}` (the API then reads their current `User` record); the app's service
/// token ([`crate::base44::functions::service_token`]) is the service role; anything else is a
/// 401 with the token error's code (`token-expired`, `token-invalid`).
pub fn token_caller(
    app_id: &str,
    config: &AuthConfig,
) -> impl Fn(&HeaderMap) -> Result<Caller, ApiError> + Send + Sync + 'static {
    let key = config.key.clone();
    let app_id = app_id.to_owned();
    move |headers: &HeaderMap| {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(Caller::anonymous());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(token::bearer_token)
            .ok_or_else(|| {
                token_error(&TokenError::Malformed {
                    reason: "not a Bearer authorization",
                })
            })?;
        // The app's service token (a backend function's `asServiceRole` client): the service
        // role, only for the exact token ferry minted (never a JWT, so never a user's token).
        if crate::base44::functions::is_service_token(&key, &app_id, token) {
            return Ok(Caller::service());
        }
        let claims =
            token::verify(&key, token, unix_now(), &app_id).map_err(|e| token_error(&e))?;
        let mut user = Map::new();
        user.insert("id".into(), Value::String(claims.sub));
        user.insert("email".into(), Value::String(claims.email));
        Ok(Caller::user(user))
    }
}

fn token_error(e: &TokenError) -> ApiError {
    let message = match e {
        TokenError::Expired => "the access token has expired; sign in again",
        _ => "the access token is invalid",
    };
    ApiError {
        internal: Some(e.to_string()),
        ..ApiError::new(StatusCode::UNAUTHORIZED, e.code(), message)
    }
}

// ---- request helpers --------------------------------------------------------------------

/// The path of an app's route: `{app_id}`.
#[derive(Deserialize)]
pub(super) struct AppPath {
    app_id: String,
}

/// A required string property of the body.
fn text(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(ApiError::bad_request(
            "bad-request",
            format!("`{key}` must be a string"),
        )),
    }
}

/// An optional string property (missing or `null` is `None`).
fn opt_text(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(
            "bad-request",
            format!("`{key}` must be a string"),
        )),
    }
}

/// An email trimmed and lower-cased, checked loosely: at most 254 bytes, one `@` between a
/// non-empty local part (≤ 64 bytes) and a domain holding a dot (not at either end), no
/// whitespace, control characters or `<>()[],;:"\`.
pub(crate) fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.len() > 254
        || email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
    {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    ok.then_some(email)
}

fn email_arg(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    normalize_email(&text(body, key)?)
        .ok_or_else(|| ApiError::bad_request("bad-email", "the email address is not valid"))
}

/// Runs CPU-heavy password work on the blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("password task failed: {e}")))
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
        "invalid email or password",
    )
}

fn email_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "email-taken",
            "an account with this email already exists",
        ),
        other => other.into(),
    }
}

fn invalid_otp() -> ApiError {
    ApiError::bad_request("invalid-otp", "the code is wrong")
}

fn invalid_reset() -> ApiError {
    ApiError::bad_request(
        "invalid-reset-token",
        "the reset link is invalid or was already used",
    )
}

fn signed_in_id(caller: &Caller) -> Option<&str> {
    if caller.service {
        return None;
    }
    caller
        .user
        .as_ref()
        .and_then(|u| u.get("id"))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").as_deref(),
            Some("alice@example.com")
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a@b@example.com",
            "alice @example.com",
            "alice@example.com\r\nBcc: x@y.z",
            "alice@.example.com",
            "alice@example..com",
            "<alice@example.com>",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }
}
