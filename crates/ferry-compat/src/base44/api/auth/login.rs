//! `login`: email and password to a session, re-hashing an outdated password hash.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::sql::{By, set_password_sql};
use super::{AppPath, blocking, invalid_credentials, normalize_email, text};
use crate::base44::api::{Answer, ApiError, BodyIn, PathIn, Shared, body_object, path};
use crate::base44::auth::password::{hash_password, needs_rehash, verify_dummy, verify_password};

/// `POST auth/login {email, password}` → `{access_token, user}`. An unknown email, a user
/// without a password and a wrong password are the same 401 `invalid-credentials` after the
/// same work; a correct password under an old hash (bcrypt, other argon2 parameters) is
/// re-hashed with argon2id.
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
