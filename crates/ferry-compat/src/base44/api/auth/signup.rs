//! Sign-up: `register`, then (when the app verifies emails) `verify-otp` and `resend-otp`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::sql::{
    By, UserRow, code_delete_sql, code_upsert_sql, otp_from_json, otp_json, read_code,
    set_password_sql, set_verified_sql,
};
use super::{
    AppPath, PURPOSE_OTP, blocking, email_arg, invalid_otp, normalize_email, opt_text, text,
};
use crate::base44::api::{Answer, ApiError, BodyIn, PathIn, Shared, body_object, ok, path};
use crate::base44::auth::otp::{OTP_TTL_SECS, OtpOutcome};
use crate::base44::auth::password::hash_password;
use crate::base44::auth::role::role_for_new_user;
use crate::base44::auth::unix_now;
use crate::base44::record::Author;

/// `POST auth/register {email, password, full_name?}`: a new `user` (never `admin`). With
/// `verify_email` off, answers like `login`; on, mails a code and answers `{message, email,
/// expires_in}` (the SDK then calls `verify-otp`).
pub(in crate::base44::api) async fn register(
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

/// `POST auth/verify-otp {email, otp_code}` → `{access_token, user}`, the email verified.
/// A wrong code is 400 `invalid-otp` (`detail.attempts_left`), then 429 `otp-locked` after
/// five; an expired one 400 `otp-expired`.
pub(in crate::base44::api) async fn verify_otp(
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
pub(in crate::base44::api) async fn resend_otp(
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
