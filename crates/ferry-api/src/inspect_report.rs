//! The inspect report kept with each release, for the dashboard's findings page: `ferry
//! deploy` runs the full inspection (findings with their fixes, the three verdicts) and sends
//! that part of the profile here after recording the release; `GET …/inspect` answers the live
//! (or a named) release's. Stored as `$FERRY_HOME/inspect/<app>/<release>.json`. Only
//! findings and verdicts are kept: a profile's secret previews and env names stay with the CLI.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use ferry_control::{DEFAULT_ENV, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ApiError;
use crate::auth::Caller;
use crate::state::ServerState;

/// The largest report accepted.
const MAX_REPORT: usize = 4 * 1024 * 1024;

/// The part of an inspection a release keeps (`PUT` body and `GET` answer's `report`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InspectReport {
    /// The findings (`id`, `category`, `severity`, `title`, `evidence`, `fix`, `ferry`), as
    /// the `AppProfile` v1 holds them.
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<Value>,
    /// The verdict lines (`lock_in`, `security`, `production`).
    #[schema(value_type = Object)]
    #[serde(default)]
    pub verdicts: Value,
}

/// `GET /api/v1/apps/{app}/inspect`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StoredReport {
    /// The app.
    app: String,
    /// The release the report is about.
    release: String,
    /// When it was stored (unix ms).
    stored_at: u64,
    /// Findings and verdicts.
    report: InspectReport,
}

/// The answer of `PUT …/inspect`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReportStored {
    /// The release.
    release: String,
    /// Findings stored.
    findings: usize,
}

fn name_ok(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && !text.starts_with('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn path_of(s: &ServerState, app: &str, release: &str) -> Result<std::path::PathBuf, ApiError> {
    if !name_ok(app) || !name_ok(release) {
        return Err(ApiError::bad_request(
            "bad-name",
            "app and release names are letters, digits, `-`, `_` and `.`",
        ));
    }
    Ok(s.home
        .join("inspect")
        .join(app)
        .join(format!("{release}.json")))
}

fn io(err: std::io::Error) -> ApiError {
    ApiError::new(
        500,
        "io",
        format!("cannot keep the inspect report: {err}"),
        "check that $FERRY_HOME is writable",
    )
}

#[utoipa::path(
    put,
    path = "/api/v1/apps/{app}/releases/{id}/inspect",
    tag = "releases",
    summary = "Keeps the inspect report (findings, verdicts) of a release",
    params(("app" = String, Path, description = "The app's name"), ("id" = String, Path, description = "The release id")),
    request_body = InspectReport,
    responses((status = 200, description = "Done.", body = ReportStored), (status = 404, description = "No such app or release.", body = crate::openapi::ErrorBody))
)]
pub(crate) async fn store(
    State(s): State<Arc<ServerState>>,
    who: Caller,
    Path((app, id)): Path<(String, String)>,
    Json(report): Json<InspectReport>,
) -> Result<Json<ReportStored>, ApiError> {
    s.authorize(&who, &app, Scope::Deploy, "store-inspect-report")?;
    let target = format!("app/{app}");
    let findings = report.findings.len();
    let kept = keep(&s, &app, &id, report);
    let done = kept.as_ref().map(|()| crate::audited::Done {
        changed: true,
        detail: Some(format!("{findings} findings")),
        after: Some(id.clone()),
    });
    s.audit_outcome(&who.0, "store-inspect-report", &target, done);
    kept?;
    Ok(Json(ReportStored {
        release: id,
        findings,
    }))
}

/// Writes the report of release `id` of `app` (a temporary file, then a rename).
fn keep(s: &ServerState, app: &str, id: &str, report: InspectReport) -> Result<(), ApiError> {
    let path = path_of(s, app, id)?;
    if s.control()?.release(app, id)?.is_none() {
        return Err(ApiError::new(
            404,
            "release-not-found",
            format!("`{app}` has no release `{id}`"),
            "record the release first",
        ));
    }
    let stored = serde_json::json!({
        "stored_at": now_ms(),
        "report": report,
    });
    let bytes = serde_json::to_vec(&stored).unwrap_or_default();
    if bytes.len() > MAX_REPORT {
        return Err(ApiError::new(
            413,
            "report-too-large",
            format!("the report is {} bytes, over {MAX_REPORT}", bytes.len()),
            "fewer findings",
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temp, &bytes).map_err(io)?;
    std::fs::rename(&temp, &path).map_err(io)
}

/// `?release=`: a release other than the live one.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// The release (default: the live one).
    release: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/inspect",
    tag = "releases",
    summary = "The inspect report (findings with fixes, verdicts) of the live or a named release",
    params(("app" = String, Path, description = "The app's name"), ReportQuery),
    responses((status = 200, description = "Done.", body = StoredReport), (status = 404, description = "No such app or release, or no report kept for it.", body = crate::openapi::ErrorBody))
)]
pub(crate) async fn show(
    State(s): State<Arc<ServerState>>,
    who: Caller,
    Path(app): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Json<StoredReport>, ApiError> {
    s.authorize(&who, &app, Scope::Read, "read-inspect-report")?;
    let release = match q.release {
        Some(r) => r,
        None => s
            .control()?
            .live(&app, DEFAULT_ENV)?
            .map(|l| l.release_id)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "no-live-release",
                    format!("`{app}` has no live release"),
                    "deploy it first",
                )
            })?,
    };
    let path = path_of(&s, &app, &release)?;
    let missing = || {
        ApiError::new(
            404,
            "no-inspect-report",
            format!("no inspect report is kept for release `{release}` of `{app}`"),
            "`ferry deploy` keeps one with each release it makes; `ferry inspect <source>` shows the findings now",
        )
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(io(e)),
    };
    let doc: Value = serde_json::from_slice(&text).map_err(|_| missing())?;
    let report: InspectReport =
        serde_json::from_value(doc["report"].clone()).map_err(|_| missing())?;
    Ok(Json(StoredReport {
        app,
        stored_at: doc["stored_at"].as_u64().unwrap_or(0),
        release,
        report,
    }))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
