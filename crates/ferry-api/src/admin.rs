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
    s.require_org_admin(&who, "list-tokens", "tokens")?;
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
    s.require_org_admin(&who, "verify-audit", "audit")?;
    let report = s.control()?.audit_verify()?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// At most this many, newest first (default 50, at most 1000).
    limit: Option<u32>,
}

/// `GET /api/v1/jobs`: the data jobs (`ferry db pull`/`verify`/`follow`) of this machine,
/// newest first: kind, status, phase, per-table progress (a follow's `lag` entry: rows =
/// changes applied by its last run, bytes = WAL bytes behind), error. Jobs belong to no
/// organisation, so only the server's owner sees them; their source and target URLs are shown
/// redacted.
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    tag = "data",
    summary = "Data jobs (pull, verify, follow): status, phase, progress (the server's owner)",
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
                "reverifiable": crate::data_verify::reverifiable(&j),
                "created_at": j.created_at,
                "updated_at": j.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

/// The answer of `POST /api/v1/jobs/{id}/stop`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JobStopped {
    /// The job.
    id: String,
    /// Its kind (`follow`, `pull`, `verify`).
    kind: String,
    /// The process that was signalled.
    pid: u32,
    /// Always `SIGTERM`: the job stops cleanly and stays resumable.
    signal: String,
}

/// `POST /api/v1/jobs/{id}/stop`: asks a running data job (typically `ferry db follow`) to
/// stop, by sending SIGTERM to the process that runs it — after checking that this process
/// really is a `ferry db` run of that kind of job (its `/proc/<pid>/cmdline`), so a recycled
/// pid is never signalled. The job stops cleanly and stays resumable (a follow keeps its slot
/// position). The server's owner only; audited.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/stop",
    tag = "data",
    summary = "Stops a running data job with SIGTERM (the server's owner)",
    params(("id" = String, Path, description = "The job's id (`job_` + 12 hex)")),
    responses(
        (status = 200, description = "Signalled; the job stops after its current step.", body = JobStopped),
        (status = 409, description = "The job is not running (finished, or its process is gone).", body = crate::openapi::ErrorBody)
    )
)]
pub async fn stop_job(State(s): Shared, who: Caller, Path(id): Path<String>) -> Answer {
    s.require_machine_owner(&who, "stop-job")?;
    let target = format!("job/{id}");
    let outcome = signal_job(&s, &id);
    let mut record = ferry_control::audit::Record::by(&who.0, "stop-job", &target);
    let audit_outcome = match &outcome {
        Ok((_, pid)) => {
            record.detail = Some(format!("SIGTERM to pid {pid}"));
            ferry_control::audit::Outcome::Ok
        }
        Err(err) => {
            record.detail = Some(err.code.clone());
            ferry_control::audit::Outcome::Failed
        }
    };
    if let Err(e) = s.control()?.audit_record(audit_outcome, &record) {
        tracing::warn!(error = %e, "could not write an audit entry");
    }
    let (kind, pid) = outcome?;
    Ok(Json(json!({
        "id": id,
        "kind": kind,
        "pid": pid,
        "signal": "SIGTERM",
    })))
}

/// Finds the job's live process, checks it is a `ferry db` run of that job's kind, and sends
/// it SIGTERM. The job's kind and the pid signalled.
fn signal_job(s: &ServerState, id: &str) -> Result<(String, u32), ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            "job-not-found",
            format!("there is no job `{id}`"),
            "list the jobs with GET /api/v1/jobs (or `ferry db jobs`)",
        )
    };
    let jobs_file = s.home.join(ferry_control::JOBS_FILE);
    if !jobs_file.exists() {
        return Err(not_found());
    }
    let db = ferry_control::JobDb::open(&s.home)?;
    let job = db.job(id)?.ok_or_else(not_found)?;
    let kind = job.kind.as_str().to_string();
    let not_running = |why: String| {
        ApiError::new(
            409,
            "job-not-running",
            format!("job `{id}` is not running: {why}"),
            "nothing to stop; rerun the same `ferry db` command to resume it",
        )
    };
    if job.status.as_str() != "running" {
        return Err(not_running(format!("it is {}", job.status.as_str())));
    }
    let pid = db
        .pid(id)?
        .filter(|pid| *pid > 1)
        .ok_or_else(|| not_running("no process recorded".into()))?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(|_| not_running(format!("its process {pid} is gone")))?;
    if !runs_job_kind(&cmdline, &kind) {
        return Err(not_running(format!(
            "process {pid} is no longer `ferry db {kind}` (it exited and the pid was reused)"
        )));
    }
    let status = std::process::Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(st) if st.success() => Ok((kind, pid)),
        _ => Err(ApiError::new(
            409,
            "job-stop-failed",
            format!("could not signal process {pid} of job `{id}`"),
            "it may run as another user; stop it there with Ctrl-C or `kill -s TERM <pid>`",
        )),
    }
}

/// Whether a `/proc/<pid>/cmdline` (NUL-separated) is `ferry … db …` running a job of `kind`
/// (a follow also runs as `ferry db pull --follow`).
pub fn runs_job_kind(cmdline: &[u8], kind: &str) -> bool {
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let Some(program) = args.first() else {
        return false;
    };
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains("ferry") || !args.iter().skip(1).any(|a| a == "db") {
        return false;
    }
    let has = |word: &str| args.iter().skip(1).any(|a| a == word);
    match kind {
        "follow" => has("follow") || has("--follow"),
        other => has(other),
    }
}

#[cfg(test)]
mod tests {
    use super::runs_job_kind;

    #[test]
    fn only_a_ferry_db_process_of_the_kind_is_signalled() {
        let line = |args: &[&str]| args.join("\0").into_bytes();
        assert!(runs_job_kind(
            &line(&["/usr/bin/ferry", "db", "follow", "--from", "x"]),
            "follow"
        ));
        assert!(runs_job_kind(
            &line(&["ferry", "--json", "db", "pull", "--follow"]),
            "follow"
        ));
        assert!(runs_job_kind(&line(&["./ferry", "db", "pull"]), "pull"));
        assert!(!runs_job_kind(&line(&["ferry", "db", "pull"]), "follow"));
        assert!(!runs_job_kind(&line(&["ferry", "serve"]), "follow"));
        assert!(!runs_job_kind(
            &line(&["/usr/bin/python3", "db", "follow"]),
            "follow"
        ));
        assert!(!runs_job_kind(b"", "follow"));
    }
}
