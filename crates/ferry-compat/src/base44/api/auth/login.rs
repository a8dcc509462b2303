//! `login`: email and password to a session, re-hashing an outdated password hash.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::sql::{By, set_password_sql};
use super::{AppPath, blocking, invalid_credentials, normalize_email, text};
use crate::base44::api::{Answer, ApiError, BodyIn, PathIn, Shared, body_object, path};
use crate::base44::auth::password::{hash_password, needs_rehash, verify_dummy, verify_password};

/// `POST auth/login {email, password}` → `{access_token, user}`. An unknown email and a wrong
/// password are the same 401 `invalid-credentials` after the same work; a user without a
/// password (migrated from Base44, or invited, see `UserRow::has_password`) is 403
/// `password-not-set` with a hint to ask for a set-password link (what the register route's
/// `email-taken` already reveals, no more); a correct password under an old hash (bcrypt,
/// other argon2 parameters) is re-hashed with argon2id.
pub(in crate::base44::api) async fn login(
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
    let Some(user) = found else {
        blocking(move || verify_dummy(&password)).await?;
        return Err(invalid_credentials());
    };
    let Some(hash) = user.password_hash.clone().filter(|_| user.has_password()) else {
        // Migrated (or invited) and never set a password: say so, after the same work, so
        // the sign-in page can offer to mail a set-password link.
        blocking(move || verify_dummy(&password)).await?;
        return Err(password_not_set());
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

/// 403 `password-not-set`: the account exists without a password.
fn password_not_set() -> ApiError {
    ApiError {
        detail: json!({
            "hint": "this account was moved to a new server: ask for a set-password link (auth/reset-password-request)"
        }),
        ..ApiError::new(
            StatusCode::FORBIDDEN,
            "password-not-set",
            "this account was moved to a new server: set your password",
        )
    }
}
