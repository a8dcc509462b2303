//! `/api/v1` handlers. Each is thin: parse, call the control state or the stores, answer JSON.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use ferry_control::{ActivationKind, DEFAULT_ENV, Mutation, NewRelease, Scope};
use ferry_release::{BlobHash, ReleaseManifest};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::state::{Failpoint, ServerState};
use crate::{ApiError, MAX_BLOB_BYTES};

type Shared = State<Arc<ServerState>>;
type Answer = Result<Json<Value>, ApiError>;

/// How callers of a router authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The Unix socket (mode 0600): the machine's owner.
    Local,
    /// The TCP control listener: bearer tokens.
    Bearer,
}

/// The `/api/v1` router, every request with a request id and a caller, and
/// `GET /api/openapi.json` (no authentication).
pub fn router(state: Arc<ServerState>, access: Access) -> axum::Router {
    let routes = routes(state.clone());
    let routes = match access {
        Access::Local => routes.layer(axum::middleware::from_fn(crate::auth::local)),
        Access::Bearer => routes.layer(axum::middleware::from_fn_with_state(
            state,
            crate::auth::bearer,
        )),
    };
    // The document is open on both listeners: it holds no data.
    axum::Router::new()
        .route(
            "/api/openapi.json",
            axum::routing::get(crate::openapi::serve),
        )
        .merge(routes)
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .layer(axum::middleware::from_fn(crate::auth::request_id))
}

fn routes(state: Arc<ServerState>) -> axum::Router {
    let (router, _) = api().split_for_parts();
    router
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BLOB_BYTES))
        .with_state(state)
}

/// Every `/api/v1` route, each with its OpenAPI operation: the router and the document
/// (`crate::openapi`) are made from this one list, so they cannot drift. Add routes here only
/// through `routes!` (a test refuses a bare `.route(`).
pub(crate) fn api() -> OpenApiRouter<Arc<ServerState>> {
    use crate::admin;
    OpenApiRouter::new()
        .routes(routes!(admin::orgs, admin::create_org))
        .routes(routes!(admin::create_user))
        .routes(routes!(admin::tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::audit_verify))
        .routes(routes!(admin::jobs))
        .routes(routes!(admin::stop_job))
        .routes(routes!(crate::data_verify::start_verify))
        .routes(routes!(crate::data_verify::show_job))
        .routes(routes!(crate::owner_link::create))
        .routes(routes!(status))
        .routes(routes!(apps, create_app))
        .routes(routes!(missing_blobs))
        .routes(routes!(upload_blob))
        .routes(routes!(list_releases, create_release))
        .routes(routes!(verify_release))
        .routes(routes!(crate::inspect_report::store))
        .routes(routes!(crate::inspect_report::show))
        .routes(routes!(activate))
        .routes(routes!(rollback))
        .routes(routes!(env_list))
        .routes(routes!(env_build))
        .routes(routes!(env_set, env_unset))
        .routes(routes!(rotate_key))
        .routes(routes!(outbox))
        .routes(routes!(set_role))
        .routes(routes!(invite))
        .routes(routes!(processes))
        .routes(routes!(logs))
        .routes(routes!(gc))
        .routes(routes!(shutdown))
}

#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "server",
    summary = "The server and the apps the caller sees",
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Status))
)]
async fn status(State(s): Shared, who: Caller) -> Answer {
    let control = s.control()?;
    let mut apps = Vec::new();
    for app in control.apps_of(&who.0)? {
        let live = control.live(&app.name, DEFAULT_ENV)?;
        apps.push(json!({
            "name": app.name,
            "source_path": app.source_path,
            "live": live.as_ref().map(|l| &l.release_id),
            "activated_at": live.as_ref().map(|l| l.activated_at),
            "url": format!("http://{}.localhost:{}/", app.name, port_of(&s.edge_addr)),
        }));
    }
    let routing = s.edge.routing();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "home": s.home,
        "edge": s.edge_addr,
        "control": s.control_addr,
        "uptime_secs": s.started.elapsed().as_secs(),
        "default_app": routing.default_app,
        "apps": apps,
        // Who is asking (`ferry login` prints it).
        "caller": {
            "label": who.0.label,
            "org": who.0.org,
            "app": who.0.app,
            "scope": who.0.scope,
            "token_id": who.0.token_id,
        },
    })))
}

fn port_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or("8080", |(_, p)| p)
}

#[utoipa::path(
    get,
    path = "/api/v1/apps",
    tag = "apps",
    summary = "The apps the caller sees",
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::AppList))
)]
async fn apps(State(s): Shared, who: Caller) -> Answer {
    Ok(Json(json!({ "apps": s.control()?.apps_of(&who.0)? })))
}

/// The body of `POST /api/v1/apps`.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewApp {
    /// A slug: lower-case letters, digits and `-`.
    name: String,
    source_path: Option<String>,
    #[serde(default)]
    org: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/apps",
    tag = "apps",
    summary = "Creates an app (or answers the existing one)",
    request_body = NewApp,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::AppCreated), (status = 404, description = "No such organisation.", body = crate::openapi::ErrorBody), (status = 409, description = "An app of that name exists in another organisation.", body = crate::openapi::ErrorBody))
)]
async fn create_app(State(s): Shared, who: Caller, Json(body): Json<NewApp>) -> Answer {
    let mut control = s.control()?;
    // An app the caller sees already: nothing to create (one it may not see is `app-exists`).
    if control.authorize_read(&who.0, &body.name).is_ok()
        && let Some(app) = control.app(&body.name)?
    {
        return Ok(Json(json!({ "app": app, "created": false })));
    }
    control.apply(
        &who.0,
        Mutation::CreateApp {
            name: body.name.clone(),
            source_path: body.source_path,
            org: body.org,
        },
    )?;
    Ok(Json(
        json!({ "app": control.app(&body.name)?, "created": true }),
    ))
}

/// The body of `POST /api/v1/blobs/missing`.
#[derive(Deserialize, utoipa::ToSchema)]
struct Hashes {
    /// BLAKE3 hashes, 64 hex digits each.
    hashes: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/blobs/missing",
    tag = "deploy",
    summary = "Which of these blobs the server lacks",
    request_body = Hashes,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::MissingBlobs))
)]
async fn missing_blobs(State(s): Shared, who: Caller, Json(body): Json<Hashes>) -> Answer {
    s.require_scope(&who, Scope::Deploy, "upload-blobs")?;
    let hashes = body
        .hashes
        .iter()
        .map(|h| BlobHash::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    let missing: Vec<String> = s
        .blobs
        .missing(&hashes)
        .iter()
        .map(|h| h.to_string())
        .collect();
    Ok(Json(json!({ "missing": missing })))
}

#[utoipa::path(
    put,
    path = "/api/v1/blobs/{hash}",
    tag = "deploy",
    summary = "Uploads one blob (its BLAKE3 hash must match)",
    params(("hash" = String, Path, description = "BLAKE3 hash of the content, 64 hex digits")),
    request_body(content = crate::openapi::schemas::BlobBody, content_type = "application/octet-stream"),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::BlobStored))
)]
async fn upload_blob(
    State(s): Shared,
    who: Caller,
    Path(hash): Path<String>,
    body: Bytes,
) -> Answer {
    s.require_scope(&who, Scope::Deploy, "upload-blobs")?;
    let hash = BlobHash::parse(&hash)?;
    let put = s.blobs.put_bytes(&body, Some(&hash))?;
    Ok(Json(
        json!({ "hash": put.hash.to_string(), "size": put.size, "new": put.new }),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/apps/{app}/releases",
    tag = "deploy",
    summary = "Records a release whose blobs are uploaded",
    params(("app" = String, Path, description = "The app's name")),
    request_body = crate::openapi::schemas::ReleaseManifest,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::ReleaseCreated), (status = 409, description = "Blobs are missing, or the release conflicts.", body = crate::openapi::ErrorBody))
)]
async fn create_release(
    State(s): Shared,
    who: Caller,
    Path(app): Path<String>,
    headers: axum::http::HeaderMap,
    Json(manifest): Json<ReleaseManifest>,
) -> Result<axum::response::Response, ApiError> {
    // At most once per `Idempotency-Key` (crate::idempotent).
    let path = format!("/api/v1/apps/{app}/releases");
    let body = serde_json::to_vec(&manifest).unwrap_or_default();
    let act = record_release(s.clone(), who.clone(), app, manifest);
    crate::idempotent::once(&s, &who, &headers, "POST", &path, &body, act).await
}

/// The work of `create_release`: checks, the manifest, variants, the record.
async fn record_release(
    s: Arc<ServerState>,
    who: Caller,
    app: String,
    manifest: ReleaseManifest,
) -> Answer {
    s.authorize(&who, &app, Scope::Deploy, "record-release")?;
    // A failure before the record is audited here; the record audits itself (`apply`).
    let (existed, made) = stage_release(&s, &app, &manifest)
        .await
        .map_err(|err| s.audit_failure(&who.0, "record-release", &format!("app/{app}"), err))?;
    let bytes: u64 = manifest.files.values().map(|f| f.size).sum();
    let applied = s.control()?.apply(
        &who.0,
        Mutation::RecordRelease {
            app: app.clone(),
            env: DEFAULT_ENV.into(),
            release: NewRelease {
                id: manifest.id.clone(),
                created_at: manifest.created_at,
                source_commit: manifest.source.commit.clone(),
                files: manifest.files.len() as u64,
                bytes,
                new_bytes: 0,
            },
        },
    )?;
    let recorded = !matches!(applied, ferry_control::Applied::Unchanged);
    Ok(Json(
        json!({ "id": manifest.id, "new": !existed, "recorded": recorded, "variants_made": made }),
    ))
}

/// Everything a release record needs first: the checks, the manifest on disk, the
/// precompressed variants. Whether the manifest existed, and how many variants were made.
async fn stage_release(
    s: &Arc<ServerState>,
    app: &str,
    manifest: &ReleaseManifest,
) -> Result<(bool, usize), ApiError> {
    if manifest.app != app {
        return Err(ApiError::bad_request(
            "app-mismatch",
            format!("the manifest is for `{}`, not `{app}`", manifest.app),
        ));
    }
    if s.control()?.app(app)?.is_none() {
        return Err(ApiError::not_found(format!("no app named `{app}`")));
    }
    let hashes: Vec<BlobHash> = manifest.files.values().map(|f| f.hash.clone()).collect();
    let missing = s.blobs.missing(&hashes);
    if !missing.is_empty() {
        return Err(ApiError::new(
            409,
            "missing-blobs",
            format!("{} blobs are not uploaded yet", missing.len()),
            "upload every blob `/api/v1/blobs/missing` lists first",
        ));
    }
    s.failpoint(Failpoint::AfterBlobs);
    // The id is a hash of the content: an existing id is this very release, already on disk
    // (its manifest keeps its first creation time).
    let existed = s.releases.exists(&manifest.id);
    if !existed {
        s.releases.save(manifest)?;
    }
    // Release time: brotli and gzip variants of every compressible file, made once per content.
    let variants_root = s.home.join("variants");
    let blobs = s.blobs.clone();
    let for_variants = manifest.clone();
    let made = tokio::task::spawn_blocking(move || {
        ferry_edge::variants::make(&variants_root, &blobs, &for_variants)
    })
    .await
    .map_err(|err| ApiError::new(500, "variants", err.to_string(), "see the server log"))?
    .map_err(|err| {
        ApiError::new(
            500,
            "variants",
            format!("cannot precompress: {err}"),
            "check free disk space in $FERRY_HOME",
        )
    })?;
    s.failpoint(Failpoint::AfterManifest);
    Ok((existed, made))
}

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/releases",
    tag = "releases",
    summary = "The app's releases, live release and activations",
    params(("app" = String, Path, description = "The app's name")),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Releases))
)]
async fn list_releases(State(s): Shared, who: Caller, Path(app): Path<String>) -> Answer {
    s.authorize(&who, &app, Scope::Read, "list-releases")?;
    let control = s.control()?;
    if control.app(&app)?.is_none() {
        return Err(ApiError::not_found(format!("no app named `{app}`")));
    }
    let live = control.live(&app, DEFAULT_ENV)?;
    let activations = control.activations(&app, DEFAULT_ENV, 50)?;
    Ok(Json(json!({
        "live": live,
        "releases": control.releases(&app, DEFAULT_ENV)?,
        "activations": activations,
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/releases/{id}/verify",
    tag = "releases",
    summary = "Checks a release's files against the blobs",
    params(("app" = String, Path, description = "The app's name"), ("id" = String, Path, description = "The release id")),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::ReleaseVerified))
)]
async fn verify_release(
    State(s): Shared,
    who: Caller,
    Path((app, id)): Path<(String, String)>,
) -> Answer {
    s.authorize(&who, &app, Scope::Read, "verify-release")?;
    if s.control()?.release(&app, &id)?.is_none() {
        return Err(ApiError::not_found(format!(
            "no release `{id}` for `{app}`"
        )));
    }
    let manifest = s.manifest(&id)?;
    if manifest.app != app {
        return Err(ApiError::not_found(format!(
            "no release `{id}` for `{app}`"
        )));
    }
    let problems = ferry_release::verify_release(&s.blobs, &manifest)?;
    Ok(Json(
        json!({ "id": id, "files": manifest.files.len(), "problems": problems }),
    ))
}

/// The body of `POST /api/v1/apps/{app}/activate`.
#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
struct ActivateBody {
    /// The release to make live.
    release_id: String,
    #[serde(default)]
    action: Option<String>,
    /// Re-freeze the release's runtime env with the current values first (a `deploy` always
    /// does; a `promote` or `rollback` otherwise runs with the env the release was frozen with).
    #[serde(default)]
    env_current: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/apps/{app}/activate",
    tag = "releases",
    summary = "Makes a release live",
    params(("app" = String, Path, description = "The app's name")),
    request_body = ActivateBody,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::ActivateOutcome), (status = 409, description = "The release cannot go live now.", body = crate::openapi::ErrorBody), (status = 502, description = "The release's processes did not become healthy.", body = crate::openapi::ErrorBody))
)]
async fn activate(
    State(s): Shared,
    who: Caller,
    Path(app): Path<String>,
    headers: axum::http::HeaderMap,
    Json(body): Json<ActivateBody>,
) -> Result<axum::response::Response, ApiError> {
    // At most once per `Idempotency-Key` (crate::idempotent).
    let path = format!("/api/v1/apps/{app}/activate");
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let act = activate_release(s.clone(), who.clone(), app, body);
    crate::idempotent::once(&s, &who, &headers, "POST", &path, &bytes, act).await
}

/// The work of `activate`.
async fn activate_release(
    s: Arc<ServerState>,
    who: Caller,
    app: String,
    body: ActivateBody,
) -> Answer {
    s.authorize(&who, &app, Scope::Deploy, "activate")?;
    let action = match body.action.as_deref().unwrap_or("deploy") {
        "deploy" => ActivationKind::Deploy,
        "promote" => ActivationKind::Promote,
        "rollback" => ActivationKind::Rollback,
        other => {
            return Err(ApiError::bad_request(
                "bad-action",
                format!("unknown action `{other}`"),
            ));
        }
    };
    if s.control()?.release(&app, &body.release_id)?.is_none() {
        return Err(ApiError::new(
            404,
            "release-not-found",
            format!("`{app}` has no release `{}`", body.release_id),
            "list them with `ferry releases`",
        ));
    }
    freeze_env(
        &s,
        &who,
        &app,
        &body.release_id,
        action == ActivationKind::Deploy || body.env_current,
    )?;
    let outcome = s
        .activate(&app, DEFAULT_ENV, &body.release_id, action, &who.0)
        .await?;
    Ok(Json(serde_json::to_value(outcome).unwrap_or_default()))
}

/// The body of `POST /api/v1/apps/{app}/rollback` (optional).
#[derive(Deserialize, Default, utoipa::ToSchema)]
struct RollbackBody {
    /// The release to go back to (default: the one live before).
    #[serde(default)]
    release_id: Option<String>,
    /// Run it with the current env values (re-frozen) instead of the env it was deployed with.
    #[serde(default)]
    env_current: bool,
}

/// Freezes the release's runtime env before it goes live: always when `now` (a deploy, or
/// `env_current`), else only when it never was (a release from before frozen envs). Its
/// processes then run with that env (see `processes.rs`).
fn freeze_env(
    s: &ServerState,
    who: &Caller,
    app: &str,
    release: &str,
    now: bool,
) -> Result<(), ApiError> {
    let mut control = s.control()?;
    if now || control.frozen_env(app, DEFAULT_ENV, release)?.is_none() {
        control.freeze_env(&who.0, app, DEFAULT_ENV, release)?;
    }
    Ok(())
}

#[utoipa::path(
    post,
    path = "/api/v1/apps/{app}/rollback",
    tag = "releases",
    summary = "Makes the previous (or a named) release live",
    params(("app" = String, Path, description = "The app's name")),
    request_body = Option<RollbackBody>,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::ActivateOutcome), (status = 409, description = "No previous release.", body = crate::openapi::ErrorBody), (status = 502, description = "The release's processes did not become healthy.", body = crate::openapi::ErrorBody))
)]
async fn rollback(
    State(s): Shared,
    who: Caller,
    Path(app): Path<String>,
    body: Option<Json<RollbackBody>>,
) -> Answer {
    s.authorize(&who, &app, Scope::Deploy, "activate")?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let env_current = body.env_current;
    let target = match body.release_id {
        Some(id) => id,
        None => s
            .control()?
            .previous_release(&app, DEFAULT_ENV)?
            .ok_or_else(|| {
                ApiError::new(
                    409,
                    "no-previous-release",
                    format!("`{app}` has no previous release to roll back to"),
                    "deploy another release first, or name one: `ferry rollback <release>`",
                )
            })?,
    };
    if s.control()?.release(&app, &target)?.is_none() {
        return Err(ApiError::new(
            404,
            "release-not-found",
            format!("`{app}` has no release `{target}`"),
            "list them with `ferry releases`",
        ));
    }
    freeze_env(&s, &who, &app, &target, env_current)?;
    let outcome = s
        .activate(&app, DEFAULT_ENV, &target, ActivationKind::Rollback, &who.0)
        .await?;
    Ok(Json(serde_json::to_value(outcome).unwrap_or_default()))
}

/// `?env=`: the environment an env request is about (default `production`).
#[derive(Deserialize, Default)]
struct EnvQuery {
    #[serde(default)]
    env: Option<String>,
}

impl EnvQuery {
    fn env(&self) -> String {
        self.env.clone().unwrap_or_else(|| DEFAULT_ENV.into())
    }
}

/// One variable of `GET /api/v1/apps/{app}/env`: never its value.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct EnvVar {
    /// Its name.
    name: String,
    /// `build`, `runtime` or `both`: which phase sees it.
    scope: String,
    /// 12 hex characters of a keyed hash of the value (equal values, equal fingerprints).
    fingerprint: String,
    /// When it was last set (unix ms).
    updated_at: u64,
}

/// `GET /api/v1/apps/{app}/env`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct EnvList {
    /// The app.
    app: String,
    /// The environment.
    env: String,
    /// Its variables, by name.
    vars: Vec<EnvVar>,
}

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/env",
    tag = "env",
    summary = "The app's env variables: name, scope, fingerprint (never values)",
    params(("app" = String, Path, description = "The app's name"), ("env" = Option<String>, Query, description = "The environment (default production)")),
    responses((status = 200, description = "Done.", body = EnvList))
)]
async fn env_list(
    State(s): Shared,
    who: Caller,
    Path(app): Path<String>,
    Query(q): Query<EnvQuery>,
) -> Result<Json<EnvList>, ApiError> {
    s.authorize(&who, &app, Scope::Read, "list-env")?;
    let env = q.env();
    let vars = s
        .control()?
        .secret_list(&app, &env)?
        .into_iter()
        .map(|v| EnvVar {
            name: v.name,
            scope: v.scope.as_str().into(),
            fingerprint: v.fingerprint,
            updated_at: v.updated_at,
        })
        .collect();
    Ok(Json(EnvList { app, env, vars }))
}

/// `GET /api/v1/apps/{app}/env/build`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct EnvBuild {
    /// The build-visible values (`build` and `both`), by name. Runtime-only values and
    /// ferry's own `FERRY_*` settings never leave the server.
    values: std::collections::BTreeMap<String, String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/env/build",
    tag = "env",
    summary = "The values the app's build sees, decrypted (deploy scope)",
    params(("app" = String, Path, description = "The app's name"), ("env" = Option<String>, Query, description = "The environment (default production)")),
    responses((status = 200, description = "Done.", body = EnvBuild))
)]
async fn env_build(
    State(s): Shared,
    who: Caller,
    Path(app): Path<String>,
    Query(q): Query<EnvQuery>,
) -> Result<Json<EnvBuild>, ApiError> {
    s.authorize(&who, &app, Scope::Deploy, "read-build-env")?;
    Ok(Json(EnvBuild {
        values: s.control()?.build_env(&app, &q.env())?,
    }))
}

/// The body of `PUT /api/v1/apps/{app}/env/{name}`.
#[derive(Deserialize, utoipa::ToSchema)]
struct EnvValue {
    /// The value (stored encrypted, never shown again).
    value: String,
    /// `build`, `runtime` or `both` (default): which phase sees it.
    #[serde(default)]
    scope: Option<String>,
}

/// `PUT`/`DELETE /api/v1/apps/{app}/env/{name}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct EnvChanged {
    /// The variable.
    name: String,
    /// True after a set, false after an unset.
    set: bool,
    /// After a set: which phase sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// After a set: the value's fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    /// Warnings (a build-visible value under a public prefix such as `VITE_` ends up in the
    /// app's client bundle).
    warnings: Vec<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/apps/{app}/env/{name}",
    tag = "env",
    summary = "Sets an env value",
    params(("app" = String, Path, description = "The app's name"), ("name" = String, Path, description = "The variable's name"), ("env" = Option<String>, Query, description = "The environment (default production)")),
    request_body = EnvValue,
    responses((status = 200, description = "Done.", body = EnvChanged))
)]
async fn env_set(
    State(s): Shared,
    who: Caller,
    Path((app, name)): Path<(String, String)>,
    Query(q): Query<EnvQuery>,
    Json(body): Json<EnvValue>,
) -> Result<Json<EnvChanged>, ApiError> {
    let scope = match body.scope.as_deref() {
        None => ferry_control::SecretScope::Both,
        Some(text) => ferry_control::SecretScope::parse(text).ok_or_else(|| {
            ApiError::new(
                400,
                "bad-scope",
                format!("`{text}` is not an env scope"),
                "use build, runtime or both",
            )
        })?,
    };
    let env = q.env();
    let mut control = s.control()?;
    control.apply(
        &who.0,
        Mutation::SetSecret {
            app: app.clone(),
            env: env.clone(),
            name: name.clone(),
            value: body.value,
            scope,
        },
    )?;
    let fingerprint = control
        .secret_list(&app, &env)?
        .into_iter()
        .find(|v| v.name == name)
        .map(|v| v.fingerprint);
    Ok(Json(EnvChanged {
        warnings: ferry_control::public_bundle_warning(&name, scope)
            .into_iter()
            .collect(),
        name,
        set: true,
        scope: Some(scope.as_str().into()),
        fingerprint,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/apps/{app}/env/{name}",
    tag = "env",
    summary = "Removes an env value",
    params(("app" = String, Path, description = "The app's name"), ("name" = String, Path, description = "The variable's name"), ("env" = Option<String>, Query, description = "The environment (default production)")),
    responses((status = 200, description = "Done.", body = EnvChanged))
)]
async fn env_unset(
    State(s): Shared,
    who: Caller,
    Path((app, name)): Path<(String, String)>,
    Query(q): Query<EnvQuery>,
) -> Result<Json<EnvChanged>, ApiError> {
    s.control()?.apply(
        &who.0,
        Mutation::UnsetSecret {
            app,
            env: q.env(),
            name: name.clone(),
        },
    )?;
    Ok(Json(EnvChanged {
        name,
        set: false,
        scope: None,
        fingerprint: None,
        warnings: Vec::new(),
    }))
}

/// `POST /api/v1/env/rotate-key`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct KeyRotated {
    /// Secrets re-encrypted.
    secrets: usize,
    /// Frozen release values re-encrypted.
    frozen: usize,
    /// Audit entries re-signed.
    audit_entries: i64,
    /// `file` (the key file was replaced) or `env` (`FERRY_MASTER_KEY`).
    key_source: String,
    /// With `FERRY_MASTER_KEY` only: the new key (64 hex), shown this once; set the variable
    /// to it before the server restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    new_key: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/env/rotate-key",
    tag = "env",
    summary = "Replaces the master key and re-encrypts every value (the machine's owner)",
    responses((status = 200, description = "Done.", body = KeyRotated))
)]
async fn rotate_key(State(s): Shared, who: Caller) -> Result<Json<KeyRotated>, ApiError> {
    let rotation = s.control()?.rotate_key(&who.0)?;
    Ok(Json(KeyRotated {
        secrets: rotation.secrets,
        frozen: rotation.frozen,
        audit_entries: rotation.audit_entries,
        key_source: rotation.key_source.into(),
        new_key: rotation.new_key,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/outbox",
    tag = "base44",
    summary = "A Base44 app's outgoing mail (admins)",
    params(("app" = String, Path, description = "The app's name")),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Outbox))
)]
async fn outbox(State(s): Shared, who: Caller, Path(app): Path<String>) -> Answer {
    // Messages hold sign-in codes: admins only.
    s.authorize(&who, &app, Scope::Admin, "read-outbox")?;
    if s.control()?.app(&app)?.is_none() {
        return Err(ApiError::new(
            404,
            "app-not-found",
            format!("no app `{app}`"),
            "list apps with `ferry apps`",
        ));
    }
    let path = crate::base44::outbox_path(&s.home, &app);
    let messages = ferry_compat::base44::auth::read_outbox(&path).map_err(|err| {
        ApiError::new(
            500,
            "outbox",
            err.to_string(),
            "check the outbox file's permissions",
        )
    })?;
    Ok(Json(json!({ "app": app, "messages": messages })))
}

/// The body of `POST /api/v1/apps/{app}/base44/role`.
#[derive(Deserialize, utoipa::ToSchema)]
struct RoleChange {
    /// The user's e-mail address.
    email: String,
    role: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/apps/{app}/base44/role",
    tag = "base44",
    summary = "Changes a Base44 app user's role (admins)",
    params(("app" = String, Path, description = "The app's name")),
    request_body = RoleChange,
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::RoleChanged))
)]
async fn set_role(
    State(s): Shared,
    who: Caller,
    Path(app): Path<String>,
    Json(body): Json<RoleChange>,
) -> Answer {
    s.authorize(&who, &app, Scope::Admin, "set-role")?;
    let target = format!("app/{app}");
    let changed = change_role(&s, &app, &body).await;
    let done = changed.as_ref().map(|_| {
        crate::audited::Done::changed(format!("user {} now {}", body.email.trim(), body.role))
    });
    s.audit_outcome(&who.0, "set-role", &target, done);
    Ok(Json(json!({ "app": app, "user": changed? })))
}

/// The work of `set_role`: the user's record after the change.
async fn change_role(s: &ServerState, app: &str, body: &RoleChange) -> Result<Value, ApiError> {
    if !ferry_compat::base44::admin::ROLES.contains(&body.role.as_str()) {
        return Err(ApiError::new(
            400,
            "bad-role",
            format!("`{}` is not a role", body.role),
            "use admin or user",
        ));
    }
    s.base44
        .set_role(app, &body.email, &body.role)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                404,
                "user-not-found",
                format!("`{app}` has no user `{}`", body.email.trim()),
                "the user must sign up (or be invited) first",
            )
        })
}

/// The body of `POST /api/v1/apps/{app}/base44/invite`.
#[derive(Deserialize, utoipa::ToSchema)]
struct InviteBody {
    /// The users to invite, by email (each must exist).
    #[serde(default)]
    emails: Vec<String>,
    /// Invite every user without a password instead.
    #[serde(default)]
    all: bool,
    /// Send again to users whose invitation is still pending.
    #[serde(default)]
    resend: bool,
    /// Send nothing; say what would be sent.
    #[serde(default)]
    dry_run: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/apps/{app}/base44/invite",
    tag = "base44",
    summary = "Mails set-password links to a Base44 app's users without a password (admins)",
    params(("app" = String, Path, description = "The app's name")),
    request_body = InviteBody,
    responses((status = 200, description = "Done; one outcome per user.", body = crate::openapi::schemas::Invitations))
)]
async fn invite(
    State(s): Shared,
    who: Caller,
    Path(app): Path<String>,
    Json(body): Json<InviteBody>,
) -> Answer {
    s.authorize(&who, &app, Scope::Admin, "invite-users")?;
    let target = format!("app/{app}");
    if body.all != body.emails.is_empty() {
        let err = ApiError::new(
            400,
            "bad-request",
            "name the users to invite, or ask for all of them, not both",
            "`ferry base44 invite --all` or `ferry base44 invite EMAIL…`",
        );
        return Err(s.audit_failure(&who.0, "invite-users", &target, err));
    }
    let dry_run = body.dry_run;
    let request = ferry_compat::base44::api::InviteRequest {
        emails: body.emails,
        resend: body.resend,
        dry_run,
    };
    let invited = s.base44.invite(&app, &request).await;
    // Counts only: never the links, the tokens or the addresses.
    let done = invited.as_ref().map(|users| invite_counts(users, dry_run));
    s.audit_outcome(&who.0, "invite-users", &target, done);
    Ok(Json(
        json!({ "app": app, "dry_run": dry_run, "users": invited? }),
    ))
}

/// The audit detail of an invitation run: how many were sent, skipped, failed.
fn invite_counts(
    users: &[ferry_compat::base44::api::Invited],
    dry_run: bool,
) -> crate::audited::Done {
    use ferry_compat::base44::api::InviteStatus;
    let count = |status: InviteStatus| users.iter().filter(|u| u.status == status).count();
    let sent = count(InviteStatus::Sent);
    let detail = format!(
        "{}sent {sent}, would send {}, skipped {}, failed {}",
        if dry_run { "dry run: " } else { "" },
        count(InviteStatus::WouldSend),
        count(InviteStatus::Skipped),
        count(InviteStatus::Failed),
    );
    if sent > 0 {
        crate::audited::Done::changed(detail)
    } else {
        crate::audited::Done::unchanged(detail)
    }
}

/// The app's live release id; 404 when there is no such app.
fn live_release(s: &ServerState, app: &str) -> Result<Option<String>, ApiError> {
    let control = s.control()?;
    if control.app(app)?.is_none() {
        return Err(ApiError::new(
            404,
            "app-not-found",
            format!("no app `{app}`"),
            "list apps with `ferry status`",
        ));
    }
    Ok(control.live(app, DEFAULT_ENV)?.map(|l| l.release_id))
}

/// `ferry ps`: the app's supervised processes, each marked live or not (warm).
#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/processes",
    tag = "processes",
    summary = "The app's supervised processes",
    params(("app" = String, Path, description = "The app's name")),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Processes))
)]
async fn processes(State(s): Shared, who: Caller, Path(app): Path<String>) -> Answer {
    s.authorize(&who, &app, Scope::Read, "list-processes")?;
    let live = live_release(&s, &app)?;
    let mut rows: Vec<(bool, String, String, Value)> = s
        .processes
        .ps()
        .into_iter()
        .filter(|p| p.app == app)
        .map(|p| {
            let is_live = live.as_deref() == Some(p.release.as_str());
            let mut row = serde_json::to_value(&p).unwrap_or_default();
            row["live"] = json!(is_live);
            (!is_live, p.release, p.name, row)
        })
        .collect();
    rows.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
    let processes: Vec<Value> = rows.into_iter().map(|r| r.3).collect();
    let limits = s.processes.cgroup_support();
    Ok(Json(json!({
        "app": app,
        "live": live,
        "processes": processes,
        "limits": { "cgroup": limits.usable, "reason": limits.reason },
    })))
}

/// Lines `logs` answers by default, and at most.
const DEFAULT_LOG_LINES: usize = 200;
const MAX_LOG_LINES: usize = 10_000;

/// The query of `GET /api/v1/apps/{app}/logs`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LogQuery {
    /// The process (default: the release's first).
    process: Option<String>,
    release: Option<String>,
    lines: Option<String>,
    /// The `cursor` of an earlier answer: only lines written since.
    after: Option<String>,
}

/// A name that may become a file name: letters, digits, `-`, `_`, `.`, not starting with `.`.
fn safe_name(what: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "bad-name",
            format!("`{name}` is not a valid {what} name"),
            "use letters, digits, `-`, `_` and `.` only",
        ))
    }
}

/// `ferry logs`: the last lines of a process's log (rotated files read oldest first), or with
/// `after` only the lines written since that cursor.
#[utoipa::path(
    get,
    path = "/api/v1/apps/{app}/logs",
    tag = "processes",
    summary = "The last lines of a process's log",
    params(("app" = String, Path, description = "The app's name"), LogQuery),
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Logs))
)]
async fn logs(
    State(s): Shared,
    who: Caller,
    Path(app): Path<String>,
    Query(q): Query<LogQuery>,
) -> Answer {
    safe_name("app", &app)?;
    s.authorize(&who, &app, Scope::Read, "read-logs")?;
    for (what, name) in [("process", &q.process), ("release", &q.release)] {
        if let Some(name) = name {
            safe_name(what, name)?;
        }
    }
    let want = match q.lines.as_deref() {
        None => DEFAULT_LOG_LINES,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LOG_LINES).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    400,
                    "bad-lines",
                    format!("`lines={text}` is not a number between 1 and {MAX_LOG_LINES}"),
                    "pass --lines N with 1 ≤ N ≤ 10000",
                ));
            }
        },
    };
    let after = match q.after.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_cursor(text).ok_or_else(|| {
            ApiError::bad_request("bad-cursor", format!("`after={text}` is not a log cursor"))
        })?),
    };
    let live = live_release(&s, &app)?;
    let release = match q.release.clone().or_else(|| live.clone()) {
        Some(r) => r,
        None => {
            return Err(ApiError::new(
                404,
                "no-live-release",
                format!("`{app}` has no live release"),
                "deploy it first, or name a release with --release",
            ));
        }
    };
    if s.control()?.release(&app, &release)?.is_none() {
        return Err(ApiError::new(
            404,
            "release-not-found",
            format!("`{app}` has no release `{release}`"),
            "list them with `ferry releases`",
        ));
    }
    let manifest = s.manifest(&release)?;
    let mut names: Vec<String> = manifest
        .backend
        .as_ref()
        .and_then(|b| b.processes())
        .map(|b| b.processes.iter().map(|p| p.name.clone()).collect())
        .unwrap_or_default();
    // A Base44 release's backend functions run as `fn.<name>`.
    if let Some(b) = manifest.backend.as_ref().and_then(|b| b.base44()) {
        names.extend(b.functions.keys().map(|f| format!("fn.{f}")));
    }
    let Some(first) = names.first() else {
        return Err(ApiError::new(
            404,
            "no-processes",
            format!("release `{release}` of `{app}` runs no processes"),
            "only server units have process logs",
        ));
    };
    let process = q.process.clone().unwrap_or_else(|| first.clone());
    if !names.contains(&process) {
        return Err(ApiError::new(
            404,
            "process-not-found",
            format!("release `{release}` of `{app}` has no process `{process}`"),
            format!("its processes: {}", names.join(", ")),
        ));
    }
    let file = s
        .home
        .join("logs")
        .join("apps")
        .join(&app)
        .join(&release)
        .join(format!("{process}.log"));
    let read = tokio::task::spawn_blocking(move || read_log(&file, after, want))
        .await
        .map_err(|e| ApiError::new(500, "logs", e.to_string(), "see the server log"))?
        .map_err(|e| {
            ApiError::new(
                500,
                "logs",
                format!("cannot read the log: {e}"),
                "check $FERRY_HOME/logs/apps",
            )
        })?;
    Ok(Json(json!({
        "app": app,
        "release": release,
        "process": process,
        "live": live.as_deref() == Some(release.as_str()),
        "lines": read.lines,
        "cursor": format!("{}:{}", read.cursor.0, read.cursor.1),
        "skipped": read.skipped,
    })))
}

/// `<inode>:<offset>` of the current log file.
fn parse_cursor(text: &str) -> Option<(u64, u64)> {
    let (ino, offset) = text.split_once(':')?;
    Some((ino.parse().ok()?, offset.parse().ok()?))
}

struct LogRead {
    lines: Vec<String>,
    /// Inode and offset (after its last complete line) of the current file.
    cursor: (u64, u64),
    /// Lines left out because more than the limit were there.
    skipped: usize,
}

/// Reads `<name>.log` and its rotations (`.log.N` … `.log.1`, oldest first): the last `want`
/// lines, or with `after` the lines written since that cursor (at most the last `want`). The
/// current file is read up to its last newline, so a line being written is never cut.
fn read_log(
    current: &std::path::Path,
    after: Option<(u64, u64)>,
    want: usize,
) -> std::io::Result<LogRead> {
    use std::os::unix::fs::MetadataExt;
    // Oldest first: `.log.N`, …, `.log.1`, then `.log`.
    let mut files = Vec::new();
    for i in 1..=64u32 {
        let path = std::path::PathBuf::from(format!("{}.{i}", current.display()));
        match std::fs::metadata(&path) {
            Ok(m) => files.push((path, m.ino())),
            Err(_) => break,
        }
    }
    files.reverse();
    let current_ino = std::fs::metadata(current).map(|m| m.ino()).ok();
    if let Some(ino) = current_ino {
        files.push((current.to_path_buf(), ino));
    }
    // Where reading starts: the cursor's file and offset, else everything.
    let (start, offset) = match after {
        Some((ino, off)) => match files.iter().position(|(_, i)| *i == ino) {
            Some(at) => (at, off),
            None => (0, 0),
        },
        None => (0, 0),
    };
    let mut cursor = (current_ino.unwrap_or(0), 0);
    // Newest first, stopping once enough lines are in (without a cursor).
    let mut chunks: Vec<Vec<String>> = Vec::new();
    let mut count = 0;
    for (index, (path, ino)) in files.iter().enumerate().skip(start).rev() {
        let is_current = Some(*ino) == current_ino && index == files.len() - 1;
        let mut bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        if is_current {
            let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            bytes.truncate(end);
            cursor = (*ino, end as u64);
        }
        let from = if index == start {
            // A cursor past the end: the file was replaced; read it all.
            let from = usize::try_from(offset).unwrap_or(usize::MAX);
            if from > bytes.len() { 0 } else { from }
        } else {
            0
        };
        let mut lines: Vec<String> = bytes[from..]
            .split(|&b| b == b'\n')
            .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)).into_owned())
            .collect();
        if bytes[from..].ends_with(b"\n") || bytes.len() == from {
            lines.pop();
        }
        count += lines.len();
        chunks.push(lines);
        if after.is_none() && count >= want {
            break;
        }
    }
    let mut lines: Vec<String> = chunks.into_iter().rev().flatten().collect();
    let skipped = lines.len().saturating_sub(want);
    lines.drain(..skipped);
    Ok(LogRead {
        lines,
        cursor,
        skipped: if after.is_some() { skipped } else { 0 },
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/gc",
    tag = "server",
    summary = "Removes unreferenced releases and blobs (the machine's owner)",
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Gc))
)]
async fn gc(State(s): Shared, who: Caller) -> Answer {
    s.require_machine_owner(&who, "gc")?;
    let collected = s.gc();
    let done = collected.as_ref().map(|stats| {
        crate::audited::Done::changed(format!(
            "{} releases, {} blobs, {} bytes freed",
            stats.releases_removed, stats.blobs_removed, stats.bytes_freed
        ))
    });
    s.audit_outcome(&who.0, "gc", "server", done);
    let stats = collected?;
    Ok(Json(
        json!({ "releases_removed": stats.releases_removed, "blobs_removed": stats.blobs_removed, "bytes_freed": stats.bytes_freed }),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/shutdown",
    tag = "server",
    summary = "Stops the server (the machine's owner)",
    responses((status = 200, description = "Done.", body = crate::openapi::schemas::Stopping))
)]
async fn shutdown(State(s): Shared, who: Caller) -> Answer {
    s.require_machine_owner(&who, "shutdown")?;
    s.audit_outcome(
        &who.0,
        "shutdown",
        "server",
        Ok(crate::audited::Done::changed("stopping")),
    );
    let _ = s.shutdown.send(true);
    Ok(Json(json!({ "stopping": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_reads_keep_order_across_rotations_and_follow_a_cursor() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("web.log");
        let write = |suffix: &str, text: &str| {
            std::fs::write(dir.path().join(format!("web.log{suffix}")), text).expect("write")
        };
        write(".2", "a\nb\n");
        write(".1", "c\nd\n");
        write("", "e\nf\npartial");
        let all = read_log(&log, None, 100).expect("read");
        assert_eq!(all.lines, ["a", "b", "c", "d", "e", "f"]);
        let last = read_log(&log, None, 3).expect("read");
        assert_eq!(last.lines, ["d", "e", "f"]);
        assert_eq!(last.cursor.1, 4, "after the last complete line");

        // New lines in the same file, then a rotation: nothing is repeated or lost.
        write("", "e\nf\npartial line\ng\n");
        let next = read_log(&log, Some(last.cursor), 100).expect("read");
        assert_eq!(next.lines, ["partial line", "g"]);
        std::fs::rename(dir.path().join("web.log.1"), dir.path().join("web.log.2")).expect("mv");
        std::fs::rename(&log, dir.path().join("web.log.1")).expect("mv");
        std::fs::write(&log, "h\n").expect("write");
        let after = read_log(&log, Some(next.cursor), 100).expect("read");
        assert_eq!(after.lines, ["h"]);
        // A cursor whose file is gone: everything there is, capped.
        let lost = read_log(&log, Some((1, 7)), 2).expect("read");
        assert_eq!(lost.lines, ["g", "h"]);
        assert_eq!(lost.skipped, 5, "c d e f and the partial line");
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in ["", "..", ".hidden", "a/b", "../web", "a b", "web%00"] {
            assert!(safe_name("process", bad).is_err(), "{bad:?}");
        }
        for good in ["web", "r053056418901", "worker-2", "a_b.c"] {
            assert!(safe_name("process", good).is_ok(), "{good:?}");
        }
    }
}
