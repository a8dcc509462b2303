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
#[utoipa::path(
    get,
    path = "/api/v1/orgs",
    tag = "access",
    summary = "The organisations the caller sees",
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Orgs))
)]
pub async fn orgs(State(s): Shared, who: Caller) -> Answer {
    Ok(Json(json!({ "orgs": s.control()?.orgs(&who.0)? })))
}

/// The body of `POST /api/v1/orgs`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewOrg {
    /// A slug.
    name: String,
}

/// `POST /api/v1/orgs`: the machine's owner creates an organisation.
#[utoipa::path(
    post,
    path = "/api/v1/orgs",
    tag = "access",
    summary = "Creates an organisation (the machine's owner)",
    request_body = NewOrg,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::OrgCreated), (status = 409, description = "It exists.", body = crate::openapi::ErrorBody))
)]
pub async fn create_org(State(s): Shared, who: Caller, Json(body): Json<NewOrg>) -> Answer {
    s.control()?.apply(
        &who.0,
        Mutation::CreateOrg {
            name: body.name.clone(),
        },
    )?;
    Ok(Json(json!({ "org": body.name, "created": true })))
}

/// The body of `POST /api/v1/users`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    /// The organisation (default: the caller's).
    #[serde(default)]
    org: Option<String>,
    name: String,
    role: String,
}

/// `POST /api/v1/users`: an admin adds a user to the organisation.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "access",
    summary = "Adds a user to an organisation (admins)",
    request_body = NewUser,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::UserCreated), (status = 404, description = "No such organisation.", body = crate::openapi::ErrorBody), (status = 409, description = "The user exists.", body = crate::openapi::ErrorBody))
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "access",
    summary = "The organisation's tokens, never their secrets (admins)",
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Tokens))
)]
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

/// The body of `POST /api/v1/tokens`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// The organisation (default: the caller's).
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
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "access",
    summary = "Issues a token; the answer is the only place its secret appears",
    request_body = NewToken,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::TokenCreated), (status = 404, description = "No such organisation, app or user.", body = crate::openapi::ErrorBody))
)]
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
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "access",
    summary = "Revokes a token",
    params(("id" = String, Path, description = "The token's public id")),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::TokenRevoked))
)]
pub async fn revoke_token(State(s): Shared, who: Caller, Path(id): Path<String>) -> Answer {
    let applied = s
        .control()?
        .apply(&who.0, Mutation::RevokeToken { id: id.clone() })?;
    Ok(Json(
        json!({ "id": id, "revoked": applied == Applied::TokenRevoked }),
    ))
}

/// The query of `GET /api/v1/audit`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this app.
    app: Option<String>,
    /// Unix milliseconds.
    since: Option<u64>,
    limit: Option<u32>,
}

/// `GET /api/v1/audit`: the entries the caller may see, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    summary = "The audit entries the caller may see, oldest first",
    params(AuditQuery),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Audit), (status = 404, description = "No such app, or the caller may not see it.", body = crate::openapi::ErrorBody))
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/audit/verify",
    tag = "audit",
    summary = "Walks the whole audit chain (admins)",
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::AuditVerified))
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// At most this many, newest first (default 50, at most 1000).
    limit: Option<u32>,
}

/// `GET /api/v1/jobs`: the data jobs (`ferry db pull`/`verify`) of this machine, newest first:
/// kind, status, phase, per-table progress, error. Jobs belong to no organisation, so only the
/// server's owner sees them; their source and target URLs are shown redacted.
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    tag = "data",
    summary = "Data jobs (pull, verify): status, phase, progress (the server's owner)",
    params(JobsQuery),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Jobs))
)]
pub async fn jobs(State(s): Shared, who: Caller, Query(q): Query<JobsQuery>) -> Answer {
    s.require_machine_owner(&who, "list-jobs")?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000) as usize;
    let db = ferry_control::JobDb::open(&s.home)?;
    let jobs: Vec<Value> = db
        .recent(limit)?
        .into_iter()
        .map(|j| {
            let progress: serde_json::Map<String, Value> = j
                .progress
                .iter()
                .map(|(table, (rows, bytes))| {
                    (table.clone(), json!({ "rows": rows, "bytes": bytes }))
                })
                .collect();
            json!({
                "id": j.id,
                "kind": j.kind,
                "description": j.description,
                "status": j.status,
                "phase": j.phase,
                "progress": progress,
                "error": j.error,
                "created_at": j.created_at,
                "updated_at": j.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}
