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

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Answer, ApiError, BodyIn, PathIn, Shared, body_object, decode, ok, path};
use crate::base44::auth::mail::{Mail, Outbox};
use crate::base44::auth::otp::{
    OTP_TTL_SECS, OtpOutcome, OtpRecord, ResetRecord, generate_otp, generate_reset_token,
    hash_reset_token,
};
use crate::base44::auth::password::{hash_password, needs_rehash, verify_dummy, verify_password};
use crate::base44::auth::role::role_for_new_user;
use crate::base44::auth::token::{self, Claims, DEFAULT_TTL_SECS, SigningKey, TokenError};
use crate::base44::auth::unix_now;
use crate::base44::model::{Entity, USER_ENTITY};
use crate::base44::record::{Author, insert_sql, is_valid_id, public_columns};
use crate::base44::rls::Caller;
use crate::base44::store::{StoreError, Tx};

/// How long an invitation's link (a reset token) stays valid: 7 days.
pub const INVITE_TTL_SECS: u64 = 7 * 24 * 60 * 60;

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
}

impl AuthConfig {
    /// A configuration with the default token lifetime and `verify_email` off.
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
        }
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
            .finish_non_exhaustive()
    }
}

/// The [`super::CallerFn`] of an app using ferry's access tokens: no `Authorization` header is
/// anonymous; `Bearer <token>` whose token [`token::verify`] accepts for `app_id` is the user
/// `{id: sub, email}` (the API then reads their current `User` record); anything else is a 401
/// with the token error's code (`token-expired`, `token-invalid`).
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

mod sql;

use sql::*;

// ---- shared steps -----------------------------------------------------------------------

impl Shared {
    fn auth_config(&self) -> Result<&AuthConfig, ApiError> {
        self.app.auth.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "auth-disabled",
                "sign-in is not configured for this app",
            )
        })
    }

    fn users(&self) -> Result<&Entity, ApiError> {
        self.entities
            .get(USER_ENTITY)
            .ok_or_else(|| ApiError::internal("the User entity is not applied"))
    }

    /// The app check, the configuration and the `User` entity every auth route needs.
    fn auth_route(
        &self,
        headers: &HeaderMap,
        app_id: &str,
    ) -> Result<(&AuthConfig, &Entity), ApiError> {
        self.check_app(headers, app_id)?;
        Ok((self.auth_config()?, self.users()?))
    }

    async fn find_user(&self, by: By<'_>) -> Result<Option<UserRow>, ApiError> {
        let users = self.users()?;
        let dialect = self.db().dialect();
        let width = public_columns(users).len() + 2;
        let rows = self
            .db()
            .query(&user_select_sql(users, by, dialect), width)
            .await?;
        rows.first()
            .map(|cells| user_row(users, cells, dialect))
            .transpose()
    }

    /// `{access_token, user}`, what `loginViaEmailPassword` reads.
    fn session(&self, config: &AuthConfig, user: &UserRow) -> Answer {
        let claims = Claims::new(
            &user.id,
            &user.email,
            &user.role,
            &self.app.app_id,
            unix_now(),
            config.token_ttl_secs,
        )?;
        ok(json!({
            "access_token": token::issue(&config.key, &claims),
            "user": user.record,
        }))
    }

    /// Inserts a new `User` row (`record` holds `email`, `role`, maybe `full_name`) inside
    /// `tx`; a taken email is 409 `email-taken`. Returns the row's public record.
    async fn insert_user(
        &self,
        tx: &mut Tx,
        record: &Map<String, Value>,
        author: &Author,
    ) -> Result<(String, Map<String, Value>), ApiError> {
        let users = self.users()?;
        let dialect = self.db().dialect();
        let (id, sql) = insert_sql(users, record, author, dialect)?;
        let rows = tx
            .query(&sql, public_columns(users).len())
            .await
            .map_err(email_taken)?;
        match decode(users, rows, dialect)?.pop() {
            Some(Value::Object(record)) => Ok((id, record)),
            _ => Err(ApiError::internal("INSERT returned no user")),
        }
    }

    /// Stores a fresh email code for `email` in `tx` and mails it.
    async fn send_otp(
        &self,
        tx: &mut Tx,
        config: &AuthConfig,
        email: &str,
    ) -> Result<(), ApiError> {
        let dialect = self.db().dialect();
        let now = unix_now();
        let code = generate_otp()?;
        let record = OtpRecord::new(&config.key, email, &code, now);
        tx.execute(&codes_sweep_sql(dialect, now)).await?;
        tx.execute(&code_upsert_sql(
            dialect,
            PURPOSE_OTP,
            email,
            email,
            &otp_json(&record),
            record.expires_at,
        ))
        .await?;
        config
            .outbox
            .send(Mail::otp(&config.app_name, email, &code))?;
        Ok(())
    }

    /// Stores a reset token for the user (replacing their earlier ones) in `tx`, valid for
    /// `ttl` seconds; returns the token to mail.
    async fn new_reset_token(
        &self,
        tx: &mut Tx,
        user_id: &str,
        email: &str,
        ttl: u64,
    ) -> Result<String, ApiError> {
        let dialect = self.db().dialect();
        let now = unix_now();
        let token = generate_reset_token()?;
        let mut record = ResetRecord::new(&token, now);
        record.expires_at = now.saturating_add(ttl);
        let email = email.to_lowercase();
        tx.execute(&codes_sweep_sql(dialect, now)).await?;
        tx.execute(&code_delete_sql(dialect, PURPOSE_RESET, "email", &email))
            .await?;
        let json = json!({
            "token_hash": record.token_hash,
            "expires_at": record.expires_at,
            "user_id": user_id,
        });
        tx.execute(&code_upsert_sql(
            dialect,
            PURPOSE_RESET,
            &record.token_hash,
            &email,
            &json,
            record.expires_at,
        ))
        .await?;
        Ok(token)
    }
}

// ---- handlers ---------------------------------------------------------------------------

/// `POST auth/register {email, password, full_name?}`: a new `user` (never `admin`). With
/// `verify_email` off, answers like `login`; on, mails a code and answers `{message, email,
/// expires_in}` (the SDK then calls `verify-otp`).
pub(super) async fn register(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (config, users) = s.auth_route(&headers, &p.app_id)?;
    let body = body_object(body)?;
    let email = email_arg(&body, "email")?;
    let password = text(&body, "password")?;
    let full_name = opt_text(&body, "full_name")?;
    let hash = blocking(move || hash_password(&password)).await??;

    let mut record = Map::new();
    record.insert("email".into(), Value::String(email.clone()));
    if let Some(name) = full_name {
        record.insert("full_name".into(), Value::String(name));
    }
    record.insert("role".into(), role_for_new_user(None).into());
    let dialect = s.db().dialect();
    let mut tx = s.db().begin().await?;
    let (id, record) = s.insert_user(&mut tx, &record, &Author::default()).await?;
    tx.execute(&set_password_sql(
        users,
        dialect,
        &id,
        &hash,
        Some(false),
        None,
    ))
    .await?;
    if config.verify_email {
        s.send_otp(&mut tx, config, &email).await?;
        tx.commit().await?;
        return ok(json!({
            "message": "a verification code was sent to your email",
            "email": email,
            "expires_in": OTP_TTL_SECS,
        }));
    }
    tx.commit().await?;
    let role = role_for_new_user(None).to_owned();
    s.session(
        config,
        &UserRow {
            record,
            id,
            email,
            role,
            password_hash: Some(hash),
            email_verified: false,
        },
    )
}

/// `POST auth/login {email, password}` → `{access_token, user}`. An unknown email, a user
/// without a password and a wrong password are the same 401 `invalid-credentials` after the
/// same work; a correct password under an old hash (bcrypt, other argon2 parameters) is
/// re-hashed with argon2id.
pub(super) async fn login(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (config, users) = s.auth_route(&headers, &p.app_id)?;
    let body = body_object(body)?;
    let email = text(&body, "email")?;
    let password = text(&body, "password")?;
    let found = match normalize_email(&email) {
        Some(email) => s.find_user(By::Email(&email)).await?,
        None => None,
    };
    let Some((user, hash)) = found.and_then(|u| u.password_hash.clone().map(|h| (u, h))) else {
        blocking(move || verify_dummy(&password)).await?;
        return Err(invalid_credentials());
    };
    let (pw, stored) = (password.clone(), hash.clone());
    match blocking(move || verify_password(&pw, &stored)).await? {
        Ok(true) => {}
        Ok(false) => return Err(invalid_credentials()),
        Err(e) => {
            return Err(ApiError {
                internal: Some(format!("user {}: {e}", user.id)),
                ..invalid_credentials()
            });
        }
    }
    if config.verify_email && !user.email_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "email-not-verified",
            "confirm your email with the code sent to it (resend-otp sends a new one)",
        ));
    }
    if needs_rehash(&hash) {
        // A password that breaks today's rules (Supabase allowed 6 characters) keeps its old
        // hash; it is replaced at the next reset or change.
        if let Ok(new_hash) = blocking(move || hash_password(&password)).await? {
            let sql = set_password_sql(
                users,
                s.db().dialect(),
                &user.id,
                &new_hash,
                None,
                Some(&hash),
            );
            s.db().execute(&sql).await?;
        }
    }
    s.session(config, &user)
}

/// `POST auth/verify-otp {email, otp_code}` → `{access_token, user}`, the email verified.
/// A wrong code is 400 `invalid-otp` (`detail.attempts_left`), then 429 `otp-locked` after
/// five; an expired one 400 `otp-expired`.
pub(super) async fn verify_otp(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (config, users) = s.auth_route(&headers, &p.app_id)?;
    let body = body_object(body)?;
    let email = normalize_email(&text(&body, "email")?).ok_or_else(invalid_otp)?;
    let code = match body.get("otp_code") {
        Some(Value::String(c)) => c.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "bad-request",
                "`otp_code` must be a string",
            ));
        }
    };
    let dialect = s.db().dialect();
    let mut tx = s.db().begin().await?;
    let Some((_, stored)) = read_code(&mut tx, dialect, PURPOSE_OTP, &email).await? else {
        tx.rollback().await?;
        return Err(invalid_otp());
    };
    let mut record =
        otp_from_json(&stored).ok_or_else(|| ApiError::internal("unreadable email code record"))?;
    match record.check(&config.key, &email, &code, unix_now()) {
        OtpOutcome::Ok => {
            tx.execute(&code_delete_sql(dialect, PURPOSE_OTP, "lookup", &email))
                .await?;
            let changed = tx
                .execute(&set_verified_sql(users, dialect, By::Email(&email)))
                .await?;
            tx.commit().await?;
            let user = match changed {
                0 => None,
                _ => s.find_user(By::Email(&email)).await?,
            };
            let user = user.ok_or_else(invalid_otp)?;
            s.session(config, &user)
        }
        OtpOutcome::Wrong { left } => {
            tx.execute(&code_upsert_sql(
                dialect,
                PURPOSE_OTP,
                &email,
                &email,
                &otp_json(&record),
                record.expires_at,
            ))
            .await?;
            tx.commit().await?;
            Err(invalid_otp().with_detail(json!({ "attempts_left": left })))
        }
        OtpOutcome::Expired => {
            tx.rollback().await?;
            Err(ApiError::bad_request(
                "otp-expired",
                "the code has expired; ask for a new one",
            ))
        }
        OtpOutcome::Locked => {
            tx.rollback().await?;
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "otp-locked",
                "too many wrong codes; ask for a new one",
            ))
        }
    }
}

/// `POST auth/resend-otp {email}` → `{message, expires_in}`, always (no account
/// enumeration); a new code replaces the old one only for an existing, unverified user.
pub(super) async fn resend_otp(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (config, _) = s.auth_route(&headers, &p.app_id)?;
    let body = body_object(body)?;
    let email = email_arg(&body, "email")?;
    if let Some(user) = s.find_user(By::Email(&email)).await?
        && !user.email_verified
    {
        let mut tx = s.db().begin().await?;
        s.send_otp(&mut tx, config, &email).await?;
        tx.commit().await?;
    }
    ok(json!({
        "message": "if this account awaits verification, a new code was sent",
        "expires_in": OTP_TTL_SECS,
    }))
}

/// `POST auth/reset-password-request {email}` → `{message}`, always; mails a reset link only
/// when the user exists.
pub(super) async fn reset_password_request(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (config, _) = s.auth_route(&headers, &p.app_id)?;
    let body = body_object(body)?;
    let email = email_arg(&body, "email")?;
    if let Some(user) = s.find_user(By::Email(&email)).await? {
        let mut tx = s.db().begin().await?;
        let token = s
            .new_reset_token(
                &mut tx,
                &user.id,
                &user.email,
                crate::base44::auth::otp::RESET_TTL_SECS,
            )
            .await?;
        config.outbox.send(Mail::password_reset(
            &config.app_name,
            &user.email,
            &config.link(&token),
        ))?;
        tx.commit().await?;
    }
    ok(json!({ "message": "if an account exists for this email, a reset link was sent" }))
}

/// `POST auth/reset-password {reset_token, new_password}` → `{message}`: sets the password,
/// marks the email verified (the link proved it) and spends every reset token of the user.
pub(super) async fn reset_password(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (_, users) = s.auth_route(&headers, &p.app_id)?;
    let body = body_object(body)?;
    let token = text(&body, "reset_token")?;
    let new_password = text(&body, "new_password")?;
    // A weak password is refused before the token is spent.
    let hash = blocking(move || hash_password(&new_password)).await??;
    let dialect = s.db().dialect();
    let lookup = hash_reset_token(&token);
    let mut tx = s.db().begin().await?;
    let Some((email, stored)) = read_code(&mut tx, dialect, PURPOSE_RESET, &lookup).await? else {
        tx.rollback().await?;
        return Err(invalid_reset());
    };
    let field = |k: &str| stored.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(token_hash), Some(expires_at), Some(user_id)) = (
        field("token_hash"),
        stored.get("expires_at").and_then(Value::as_u64),
        field("user_id"),
    ) else {
        return Err(ApiError::internal("unreadable reset token record"));
    };
    let record = ResetRecord {
        token_hash,
        expires_at,
    };
    match record.check(&token, unix_now()) {
        OtpOutcome::Ok => {
            let changed = tx
                .execute(&set_password_sql(
                    users,
                    dialect,
                    &user_id,
                    &hash,
                    Some(true),
                    None,
                ))
                .await?;
            tx.execute(&code_delete_sql(dialect, PURPOSE_RESET, "email", &email))
                .await?;
            tx.commit().await?;
            if changed == 0 {
                return Err(invalid_reset());
            }
            ok(json!({ "message": "the password was changed" }))
        }
        OtpOutcome::Expired => {
            tx.execute(&code_delete_sql(dialect, PURPOSE_RESET, "lookup", &lookup))
                .await?;
            tx.commit().await?;
            Err(ApiError::bad_request(
                "reset-token-expired",
                "the reset link has expired; ask for a new one",
            ))
        }
        OtpOutcome::Wrong { .. } | OtpOutcome::Locked => {
            tx.rollback().await?;
            Err(invalid_reset())
        }
    }
}

/// `POST auth/change-password {user_id, current_password, new_password}` → `{message}`. The
/// signed-in user changes their own password (the current one must match: else 400
/// `invalid-credentials`); an admin (or the service role) may set another user's without it.
pub(super) async fn change_password(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (_, users) = s.auth_route(&headers, &p.app_id)?;
    let caller = s.caller(&headers).await?;
    let body = body_object(body)?;
    let user_id = text(&body, "user_id")?;
    let current = opt_text(&body, "current_password")?;
    let new_password = text(&body, "new_password")?;
    let own = signed_in_id(&caller) == Some(user_id.as_str());
    if !own && !caller.service {
        if caller.user.is_none() {
            return Err(ApiError::unauthorized("sign in to change a password"));
        }
        if !caller.is_admin() {
            return Err(ApiError::forbidden("you can only change your own password"));
        }
    }
    let target = match is_valid_id(&user_id) {
        true => s.find_user(By::Id(&user_id)).await?,
        false => None,
    };
    let target = target.ok_or_else(|| ApiError::not_found("not-found", "no such user"))?;
    if own {
        let wrong =
            || ApiError::bad_request("invalid-credentials", "the current password is wrong");
        let (Some(current), Some(stored)) = (current, target.password_hash.clone()) else {
            return Err(wrong());
        };
        if !matches!(
            blocking(move || verify_password(&current, &stored)).await?,
            Ok(true)
        ) {
            return Err(wrong());
        }
    }
    let hash = blocking(move || hash_password(&new_password)).await??;
    s.db()
        .execute(&set_password_sql(
            users,
            s.db().dialect(),
            &target.id,
            &hash,
            None,
            None,
        ))
        .await?;
    ok(json!({ "message": "the password was changed" }))
}

/// `GET entities/User/me`: the caller's `User` record; 401 when not signed in.
pub(super) async fn me(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, USER_ENTITY).await?;
    match (&ctx.caller.user, ctx.caller.service) {
        (Some(user), false) => ok(Value::Object(user.clone())),
        _ => Err(ApiError::unauthorized("sign in to read your user")),
    }
}

/// `PUT entities/User/me` (`updateMe`): a partial update of the caller's own `User` record
/// through the entities update path (its rules and `User` defaults); `role` and `email` are
/// dropped, whoever calls.
pub(super) async fn update_me(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let ctx = s.ctx(&headers, &p.app_id, USER_ENTITY).await?;
    let id = signed_in_id(&ctx.caller)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::unauthorized("sign in to update your user"))?;
    let mut changes = body_object(body)?;
    changes.remove("role");
    changes.remove("email");
    // Attributes any rule reads from the user (`{{user.tenant_id}}`, `user_condition`) are
    // not the user's to change: an admin sets them through the `User` entity.
    for entity in s.entities.values() {
        if let Some(rule) = &entity.rls {
            for name in crate::base44::rls::user_attributes(rule) {
                changes.remove(&name);
            }
        }
    }
    ctx.update(&id, changes).await
}

/// `POST users/invite-user` and `runtime/users/invite-user` `{user_email, role}` (admins and
/// the service role only) → `{message, user}`: creates the user without a password and mails
/// a link (a reset token valid [`INVITE_TTL_SECS`]) to choose one.
pub(super) async fn invite_user(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (config, _) = s.auth_route(&headers, &p.app_id)?;
    let caller = s.caller(&headers).await?;
    if !caller.service && !caller.is_admin() {
        return Err(match caller.user {
            None => ApiError::unauthorized("sign in to invite users"),
            Some(_) => ApiError::forbidden("only admins can invite users"),
        });
    }
    let body = body_object(body)?;
    let email = email_arg(&body, "user_email")?;
    let role = text(&body, "role")?;
    if role != "user" && role != "admin" {
        return Err(ApiError::bad_request(
            "bad-role",
            "`role` must be \"user\" or \"admin\"",
        ));
    }
    let mut record = Map::new();
    record.insert("email".into(), Value::String(email.clone()));
    record.insert("role".into(), Value::String(role.clone()));
    let author_field = |k: &str| {
        caller
            .user
            .as_ref()
            .and_then(|u| u.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let author = Author {
        email: author_field("email"),
        id: author_field("id"),
    };
    let mut tx = s.db().begin().await?;
    let (id, user) = s.insert_user(&mut tx, &record, &author).await?;
    let token = s
        .new_reset_token(&mut tx, &id, &email, INVITE_TTL_SECS)
        .await?;
    config.outbox.send(Mail::invite(
        &config.app_name,
        &email,
        &role,
        &config.link(&token),
    ))?;
    tx.commit().await?;
    ok(json!({ "message": "the invitation was sent", "user": user }))
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
