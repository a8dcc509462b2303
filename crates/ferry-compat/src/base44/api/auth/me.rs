//! The signed-in user's own record: `GET` and `PUT entities/User/me`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;

use super::{AppPath, signed_in_id};
use crate::base44::api::{Answer, ApiError, BodyIn, PathIn, Shared, body_object, ok, path};
use crate::base44::model::USER_ENTITY;

/// `GET entities/User/me`: the caller's `User` record; 401 when not signed in.
pub(in crate::base44::api) async fn me(
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
pub(in crate::base44::api) async fn update_me(
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
