//! Passwords: `reset-password-request` (mails a link), `reset-password` (spends its token) and
//! `change-password`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::sql::{By, code_delete_sql, read_code, set_password_sql};
use super::steps::pending_tokens;
use super::{
    AppPath, PURPOSE_RESET, blocking, email_arg, invalid_reset, opt_text, signed_in_id, text,
};
use crate::base44::api::{Answer, ApiError, BodyIn, PathIn, Shared, body_object, ok, path};
use crate::base44::auth::mail::Mail;
use crate::base44::auth::otp::{OtpOutcome, RESET_TTL_SECS, ResetRecord, hash_reset_token};
use crate::base44::auth::password::{hash_password, verify_password};
use crate::base44::auth::unix_now;
use crate::base44::record::is_valid_id;

/// `POST auth/reset-password-request {email}` → `{message}`, always; mails a reset link only
/// when the user exists and was sent fewer than [`RESET_MAX_PER_WINDOW`] in the last
/// [`RESET_WINDOW_SECS`] (so the form cannot flood a mailbox). A user without a password
/// (migrated) gets the set-password wording.
///
/// [`RESET_MAX_PER_WINDOW`]: super::RESET_MAX_PER_WINDOW
/// [`RESET_WINDOW_SECS`]: super::RESET_WINDOW_SECS
pub(in crate::base44::api) async fn reset_password_request(
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
        let now = unix_now();
        let limited = pending_tokens(&mut tx, s.db().dialect(), &user.email, now)
            .await?
            .iter()
            .any(|t| t.limited(now));
        if limited {
            tx.rollback().await?;
        } else {
            let token = s
                .new_reset_token(&mut tx, &user.id, &user.email, RESET_TTL_SECS)
                .await?;
            let link = config.link(&token);
            config.outbox.send(if user.has_password() {
                Mail::password_reset(&config.app_name, &user.email, &link)
            } else {
                Mail::set_password(&config.app_name, &user.email, &link, RESET_TTL_SECS)
            })?;
            tx.commit().await?;
        }
    }
    ok(json!({ "message": "if an account exists for this email, a reset link was sent" }))
}

/// `POST auth/reset-password {reset_token, new_password}` → `{message, access_token, user}`:
/// sets the password, marks the email verified (the link proved it), spends every reset token
/// of the user and signs them in (the set-password page returns to the app with the token).
pub(in crate::base44::api) async fn reset_password(
    State(s): State<Arc<Shared>>,
    p: PathIn<AppPath>,
    headers: HeaderMap,
    body: BodyIn,
) -> Answer {
    let p = path(p)?;
    let (config, users) = s.auth_route(&headers, &p.app_id)?;
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
            let user = match changed {
                0 => None,
                _ => s.find_user(By::Id(&user_id)).await?,
            };
            let user = user.ok_or_else(invalid_reset)?;
            ok(json!({
                "message": "the password was changed",
                "access_token": s.session_token(config, &user)?,
                "user": user.record,
            }))
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
pub(in crate::base44::api) async fn change_password(
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
