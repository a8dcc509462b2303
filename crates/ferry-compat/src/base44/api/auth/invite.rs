//! `invite-user`: an admin creates a user without a password and mails them a link to choose
//! one.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::{AppPath, INVITE_TTL_SECS, email_arg, text};
use crate::base44::api::{Answer, ApiError, BodyIn, PathIn, Shared, body_object, ok, path};
use crate::base44::auth::mail::Mail;
use crate::base44::record::Author;

/// `POST users/invite-user` and `runtime/users/invite-user` `{user_email, role}` (admins and
/// the service role only) → `{message, user}`: creates the user without a password and mails
/// a link (a reset token valid [`INVITE_TTL_SECS`]) to choose one.
pub(in crate::base44::api) async fn invite_user(
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
