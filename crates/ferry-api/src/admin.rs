//! `/api/v1` handlers of the control plane itself: organisations, users, tokens and the audit
//! log. Authorisation is [`ferry_control::Control::apply`]'s (mutations) or explicit here
//! (reads); refusals are audited either way.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use ferry_control::audit::Filter;
use ferry_control::{Applied, Mutation, Role, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiError;
use crate::auth::Caller;
use crate::state::ServerState;

type Shared = State<Arc<ServerState>>;
type Answer = Result<Json<Value>, ApiError>;

/// `GET /api/v1/orgs`: the organisations the caller sees.
pub async fn orgs(State(s): Shared, who: Caller) -> Answer {
    Ok(Json(json!({ "orgs": s.control()?.orgs(&who.0)? })))
}

#[derive(Deserialize)]
pub struct NewOrg {
    name: String,
}

/// `POST /api/v1/orgs`: the machine's owner creates an organisation.
pub async fn create_org(State(s): Shared, who: Caller, Json(body): Json<NewOrg>) -> Answer {
    s.control()?.apply(
        &who.0,
        Mutation::CreateOrg {
            name: body.name.clone(),
        },
    )?;
    Ok(Json(json!({ "org": body.name, "created": true })))
}

#[derive(Deserialize)]
pub struct NewUser {
    #[serde(default)]
    org: Option<String>,
    name: String,
    role: String,
}

/// `POST /api/v1/users`: an admin adds a user to the organisation.
pub async fn create_user(State(s): Shared, who: Caller, Json(body): Json<NewUser>) -> Answer {
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::bad_request(
            "bad-role",
            format!("`{}` is not owner, admin, developer or viewer", body.role),
        )
    })?;
    s.control()?.apply(
        &who.0,
        Mutation::CreateUser {
            org: body.org,
            name: body.name.clone(),
            role,
        },
    )?;
    Ok(Json(
        json!({ "user": body.name, "role": role.as_str(), "created": true }),
    ))
}

/// `GET /api/v1/tokens`: the organisation's tokens (admins), never their secrets.
pub async fn tokens(State(s): Shared, who: Caller) -> Answer {
    if who.0.scope < Scope::Admin || who.0.app.is_some() {
        let err = ferry_control::ControlError::Forbidden {
            action: "list-tokens".into(),
            target: "tokens".into(),
            need: Scope::Admin,
            have: who.0.scope,
        };
        crate::auth::refuse(&mut *s.control()?, &who.0, "list-tokens", "tokens", &err);
        return Err(err.into());
    }
    Ok(Json(json!({ "tokens": s.control()?.tokens(&who.0)? })))
}

#[derive(Deserialize)]
pub struct NewToken {
    #[serde(default)]
    org: Option<String>,
    name: String,
    scope: String,
    #[serde(default)]
    app: Option<String>,
    #[serde(default)]
    user: Option<String>,
    /// Lifetime in days (none: no expiry).
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// `POST /api/v1/tokens`: issues a token; the answer is the only place its secret appears.
pub async fn create_token(State(s): Shared, who: Caller, Json(body): Json<NewToken>) -> Answer {
    let scope = Scope::parse(&body.scope).ok_or_else(|| {
        ApiError::bad_request(
            "bad-scope",
            format!("`{}` is not read, deploy or admin", body.scope),
        )
    })?;
    let expires_at = body.expires_in_days.map(|d| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        now + u64::from(d) * 86_400_000
    });
    let applied = s.control()?.apply(
        &who.0,
        Mutation::CreateToken {
            org: body.org,
            name: body.name.clone(),
            scope,
            app: body.app.clone(),
            user: body.user,
            expires_at,
        },
    )?;
    let Applied::TokenCreated { id, token } = applied else {
        return Err(ApiError::new(
            500,
            "token",
            "no token was issued",
            "see the server log",
        ));
    };
    Ok(Json(json!({
        "id": id,
        "token": token,
        "name": body.name,
        "scope": scope,
        "app": body.app,
        "expires_at": expires_at,
        "note": "shown once: store it now (ferry keeps only its hash)",
    })))
}

/// `DELETE /api/v1/tokens/{id}`: revokes a token.
pub async fn revoke_token(State(s): Shared, who: Caller, Path(id): Path<String>) -> Answer {
    let applied = s
        .control()?
        .apply(&who.0, Mutation::RevokeToken { id: id.clone() })?;
    Ok(Json(
        json!({ "id": id, "revoked": applied == Applied::TokenRevoked }),
    ))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    app: Option<String>,
    /// Unix milliseconds.
    since: Option<u64>,
    limit: Option<u32>,
}

/// `GET /api/v1/audit`: the entries the caller may see, oldest first.
pub async fn audit(State(s): Shared, who: Caller, Query(q): Query<AuditQuery>) -> Answer {
    let filter = Filter {
        app: q.app.clone(),
        since: q.since,
        limit: q.limit.map(|l| l.min(100_000)),
    };
    let mut control = s.control()?;
    let entries = match control.audit_entries(&who.0, &filter) {
        Ok(e) => e,
        Err(err) => {
            let target = q.app.map_or_else(|| "audit".into(), |a| format!("app/{a}"));
            crate::auth::refuse(&mut control, &who.0, "read-audit", &target, &err);
            return Err(err.into());
        }
    };
    Ok(Json(json!({ "entries": entries })))
}

/// `GET /api/v1/audit/verify`: walks the whole chain (admins; the answer holds no entry).
pub async fn audit_verify(State(s): Shared, who: Caller) -> Answer {
    if who.0.scope < Scope::Admin || who.0.app.is_some() {
        let err = ferry_control::ControlError::Forbidden {
            action: "verify-audit".into(),
            target: "audit".into(),
            need: Scope::Admin,
            have: who.0.scope,
        };
        crate::auth::refuse(&mut *s.control()?, &who.0, "verify-audit", "audit", &err);
        return Err(err.into());
    }
    let report = s.control()?.audit_verify()?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}
