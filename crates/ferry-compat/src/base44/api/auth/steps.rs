//! The steps the auth routes share, as methods of the API state: the route check (app,
//! configuration, `User` entity), finding and inserting `User` rows, answering with a session,
//! and storing (and mailing) email codes and reset tokens.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::sql::{
    By, UserRow, code_delete_sql, code_upsert_sql, codes_of_email_sql, codes_sweep_sql, otp_json,
    user_row, user_select_sql,
};
use super::{
    AuthConfig, PURPOSE_OTP, PURPOSE_RESET, RESET_MAX_PER_WINDOW, RESET_WINDOW_SECS, email_taken,
};
use crate::base44::api::{Answer, ApiError, Shared, decode, ok};
use crate::base44::auth::mail::Mail;
use crate::base44::auth::otp::{OtpRecord, ResetRecord, generate_otp, generate_reset_token};
use crate::base44::auth::token::{self, Claims};
use crate::base44::auth::unix_now;
use crate::base44::model::{Dialect, Entity, USER_ENTITY};
use crate::base44::record::{Author, Cell, insert_sql, public_columns};
use crate::base44::store::Tx;

impl Shared {
    /// The app's auth configuration; 501 `auth-disabled` when sign-in is not configured.
    fn auth_config(&self) -> Result<&AuthConfig, ApiError> {
        self.app.auth.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "auth-disabled",
                "sign-in is not configured for this app",
            )
        })
    }

    /// The applied `User` entity.
    pub(super) fn users(&self) -> Result<&Entity, ApiError> {
        self.entities
            .get(USER_ENTITY)
            .ok_or_else(|| ApiError::internal("the User entity is not applied"))
    }

    /// The app check, the configuration and the `User` entity every auth route needs.
    pub(super) fn auth_route(
        &self,
        headers: &HeaderMap,
        app_id: &str,
    ) -> Result<(&AuthConfig, &Entity), ApiError> {
        self.check_app(headers, app_id)?;
        Ok((self.auth_config()?, self.users()?))
    }

    /// The `User` row found `by` email or id, with its private columns.
    pub(super) async fn find_user(&self, by: By<'_>) -> Result<Option<UserRow>, ApiError> {
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
    pub(super) fn session(&self, config: &AuthConfig, user: &UserRow) -> Answer {
        ok(json!({
            "access_token": self.session_token(config, user)?,
            "user": user.record,
        }))
    }

    /// Inserts a new `User` row (`record` holds `email`, `role`, maybe `full_name`) inside
    /// `tx`; a taken email is 409 `email-taken`. Returns the row's public record.
    pub(super) async fn insert_user(
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
    pub(super) async fn send_otp(
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
    pub(super) async fn new_reset_token(
        &self,
        tx: &mut Tx,
        user_id: &str,
        email: &str,
        ttl: u64,
    ) -> Result<String, ApiError> {
        store_reset_token(
            tx,
            self.db().dialect(),
            user_id,
            email,
            ttl,
            TokenKind::Reset,
        )
        .await
    }

    /// An access token for `user`: what [`Shared::session`] answers, for the flows that
    /// redirect with it (OpenID Connect).
    pub(super) fn session_token(
        &self,
        config: &AuthConfig,
        user: &UserRow,
    ) -> Result<String, ApiError> {
        let claims = Claims::new(
            &user.id,
            &user.email,
            &user.role,
            &self.app.app_id,
            unix_now(),
            config.token_ttl_secs,
        )?;
        Ok(token::issue(&config.key, &claims))
    }
}

/// Why a reset token was made: a reset the user asked for, or an owner's invitation of a user
/// without a password (`ferry base44 invite`), which lasts longer and is not re-sent by a
/// rerun while it is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    Reset,
    Invite,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Reset => "reset",
            TokenKind::Invite => "invite",
        }
    }
}

/// A pending reset token of a user, as stored (without the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingToken {
    /// When it was made (0 for records older than this field).
    pub(super) issued_at: u64,
    /// When it expires.
    pub(super) expires_at: u64,
    /// Whether an owner's invitation made it.
    pub(super) invite: bool,
    /// When the user's current window of reset mails started (see [`RESET_WINDOW_SECS`]).
    pub(super) window_start: u64,
    /// How many reset tokens were made in that window, this one included.
    pub(super) window_count: u64,
}

impl PendingToken {
    /// Whether another reset mail at `now` would exceed [`RESET_MAX_PER_WINDOW`].
    pub(super) fn limited(&self, now: u64) -> bool {
        self.window_start.saturating_add(RESET_WINDOW_SECS) > now
            && self.window_count >= RESET_MAX_PER_WINDOW
    }
}

/// The unexpired reset tokens of `email` at `now`.
pub(super) async fn pending_tokens(
    tx: &mut Tx,
    dialect: Dialect,
    email: &str,
    now: u64,
) -> Result<Vec<PendingToken>, ApiError> {
    let rows = tx
        .query(&codes_of_email_sql(dialect, PURPOSE_RESET, email), 1)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| match row.first() {
            Some(Cell::Text(t)) => serde_json::from_str::<Value>(t).ok(),
            _ => None,
        })
        .map(|r| PendingToken {
            issued_at: r.get("issued_at").and_then(Value::as_u64).unwrap_or(0),
            expires_at: r.get("expires_at").and_then(Value::as_u64).unwrap_or(0),
            invite: r.get("kind").and_then(Value::as_str) == Some("invite"),
            window_start: r.get("window_start").and_then(Value::as_u64).unwrap_or(0),
            window_count: r.get("window_count").and_then(Value::as_u64).unwrap_or(0),
        })
        .filter(|p| p.expires_at > now)
        .collect())
}

/// Stores a reset token for the user (replacing their earlier ones) in `tx`, valid for `ttl`
/// seconds; returns the token to mail.
pub(super) async fn store_reset_token(
    tx: &mut Tx,
    dialect: Dialect,
    user_id: &str,
    email: &str,
    ttl: u64,
    kind: TokenKind,
) -> Result<String, ApiError> {
    let now = unix_now();
    let token = generate_reset_token()?;
    let mut record = ResetRecord::new(&token, now);
    record.expires_at = now.saturating_add(ttl);
    let email = email.to_lowercase();
    // The window of reset mails continues from the token this one replaces.
    let (window_start, window_count) = pending_tokens(tx, dialect, &email, now)
        .await?
        .iter()
        .filter(|p| p.window_start.saturating_add(RESET_WINDOW_SECS) > now)
        .map(|p| (p.window_start, p.window_count.saturating_add(1)))
        .max()
        .unwrap_or((now, 1));
    tx.execute(&codes_sweep_sql(dialect, now)).await?;
    tx.execute(&code_delete_sql(dialect, PURPOSE_RESET, "email", &email))
        .await?;
    let json = json!({
        "token_hash": record.token_hash,
        "expires_at": record.expires_at,
        "issued_at": now,
        "kind": kind.as_str(),
        "user_id": user_id,
        "window_start": window_start,
        "window_count": window_count,
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
