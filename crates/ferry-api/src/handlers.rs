//! `/api/v1` handlers. Each is thin: parse, call the control state or the stores, answer JSON.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use ferry_control::{ActivationKind, DEFAULT_ENV, Mutation, NewRelease};
use ferry_release::{BlobHash, ReleaseManifest};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::{Failpoint, ServerState};
use crate::{ApiError, MAX_BLOB_BYTES};

type Shared = State<Arc<ServerState>>;
type Answer = Result<Json<Value>, ApiError>;

/// Who acts through the local socket (the control-plane issue adds real identities).
const ACTOR: &str = "local";

/// The `/api/v1` router.
pub fn router(state: Arc<ServerState>) -> axum::Router {
    axum::Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/apps", get(apps).post(create_app))
        .route("/api/v1/blobs/missing", post(missing_blobs))
        .route("/api/v1/blobs/{hash}", put(upload_blob))
        .route(
            "/api/v1/apps/{app}/releases",
            get(list_releases).post(create_release),
        )
        .route(
            "/api/v1/apps/{app}/releases/{id}/verify",
            get(verify_release),
        )
        .route("/api/v1/apps/{app}/activate", post(activate))
        .route("/api/v1/apps/{app}/rollback", post(rollback))
        .route("/api/v1/apps/{app}/env", get(env_names))
        .route("/api/v1/apps/{app}/env/values", get(env_values))
        .route(
            "/api/v1/apps/{app}/env/{name}",
            put(env_set).delete(env_unset),
        )
        .route("/api/v1/apps/{app}/outbox", get(outbox))
        .route("/api/v1/apps/{app}/base44/role", post(set_role))
        .route("/api/v1/gc", post(gc))
        .route("/api/v1/shutdown", post(shutdown))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BLOB_BYTES))
        .with_state(state)
}

async fn status(State(s): Shared) -> Answer {
    let control = s.control()?;
    let mut apps = Vec::new();
    for app in control.apps()? {
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
    })))
}

fn port_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or("8080", |(_, p)| p)
}

async fn apps(State(s): Shared) -> Answer {
    Ok(Json(json!({ "apps": s.control()?.apps()? })))
}

#[derive(Deserialize)]
struct NewApp {
    name: String,
    source_path: Option<String>,
}

async fn create_app(State(s): Shared, Json(body): Json<NewApp>) -> Answer {
    let mut control = s.control()?;
    if let Some(app) = control.app(&body.name)? {
        return Ok(Json(json!({ "app": app, "created": false })));
    }
    control.apply(
        ACTOR,
        Mutation::CreateApp {
            name: body.name.clone(),
            source_path: body.source_path,
        },
    )?;
    Ok(Json(
        json!({ "app": control.app(&body.name)?, "created": true }),
    ))
}

#[derive(Deserialize)]
struct Hashes {
    hashes: Vec<String>,
}

async fn missing_blobs(State(s): Shared, Json(body): Json<Hashes>) -> Answer {
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

async fn upload_blob(State(s): Shared, Path(hash): Path<String>, body: Bytes) -> Answer {
    let hash = BlobHash::parse(&hash)?;
    let put = s.blobs.put_bytes(&body, Some(&hash))?;
    Ok(Json(
        json!({ "hash": put.hash.to_string(), "size": put.size, "new": put.new }),
    ))
}

async fn create_release(
    State(s): Shared,
    Path(app): Path<String>,
    Json(manifest): Json<ReleaseManifest>,
) -> Answer {
    if manifest.app != app {
        return Err(ApiError::bad_request(
            "app-mismatch",
            format!("the manifest is for `{}`, not `{app}`", manifest.app),
        ));
    }
    if s.control()?.app(&app)?.is_none() {
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
        s.releases.save(&manifest)?;
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
    let bytes: u64 = manifest.files.values().map(|f| f.size).sum();
    let applied = s.control()?.apply(
        ACTOR,
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

async fn list_releases(State(s): Shared, Path(app): Path<String>) -> Answer {
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

async fn verify_release(State(s): Shared, Path((app, id)): Path<(String, String)>) -> Answer {
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

#[derive(Deserialize)]
struct ActivateBody {
    release_id: String,
    #[serde(default)]
    action: Option<String>,
}

async fn activate(
    State(s): Shared,
    Path(app): Path<String>,
    Json(body): Json<ActivateBody>,
) -> Answer {
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
    let outcome = s
        .activate(&app, DEFAULT_ENV, &body.release_id, action, ACTOR)
        .await?;
    Ok(Json(serde_json::to_value(outcome).unwrap_or_default()))
}

#[derive(Deserialize, Default)]
struct RollbackBody {
    #[serde(default)]
    release_id: Option<String>,
}

async fn rollback(
    State(s): Shared,
    Path(app): Path<String>,
    body: Option<Json<RollbackBody>>,
) -> Answer {
    let target = match body.and_then(|Json(b)| b.release_id) {
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
    let outcome = s
        .activate(&app, DEFAULT_ENV, &target, ActivationKind::Rollback, ACTOR)
        .await?;
    Ok(Json(serde_json::to_value(outcome).unwrap_or_default()))
}

async fn env_names(State(s): Shared, Path(app): Path<String>) -> Answer {
    Ok(Json(
        json!({ "names": s.control()?.secret_names(&app, DEFAULT_ENV)? }),
    ))
}

async fn env_values(State(s): Shared, Path(app): Path<String>) -> Answer {
    Ok(Json(
        json!({ "values": s.control()?.secret_values(&app, DEFAULT_ENV)? }),
    ))
}

#[derive(Deserialize)]
struct EnvValue {
    value: String,
}

async fn env_set(
    State(s): Shared,
    Path((app, name)): Path<(String, String)>,
    Json(body): Json<EnvValue>,
) -> Answer {
    s.control()?.apply(
        ACTOR,
        Mutation::SetSecret {
            app,
            env: DEFAULT_ENV.into(),
            name: name.clone(),
            value: body.value,
        },
    )?;
    Ok(Json(json!({ "name": name, "set": true })))
}

async fn env_unset(State(s): Shared, Path((app, name)): Path<(String, String)>) -> Answer {
    s.control()?.apply(
        ACTOR,
        Mutation::UnsetSecret {
            app,
            env: DEFAULT_ENV.into(),
            name: name.clone(),
        },
    )?;
    Ok(Json(json!({ "name": name, "set": false })))
}

async fn outbox(State(s): Shared, Path(app): Path<String>) -> Answer {
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

#[derive(Deserialize)]
struct RoleChange {
    email: String,
    role: String,
}

async fn set_role(
    State(s): Shared,
    Path(app): Path<String>,
    Json(body): Json<RoleChange>,
) -> Answer {
    if !ferry_compat::base44::admin::ROLES.contains(&body.role.as_str()) {
        return Err(ApiError::new(
            400,
            "bad-role",
            format!("`{}` is not a role", body.role),
            "use admin or user",
        ));
    }
    match s.base44.set_role(&app, &body.email, &body.role).await? {
        Some(user) => Ok(Json(json!({ "app": app, "user": user }))),
        None => Err(ApiError::new(
            404,
            "user-not-found",
            format!("`{app}` has no user `{}`", body.email.trim()),
            "the user must sign up (or be invited) first",
        )),
    }
}

async fn gc(State(s): Shared) -> Answer {
    let stats = s.gc()?;
    Ok(Json(
        json!({ "releases_removed": stats.releases_removed, "blobs_removed": stats.blobs_removed, "bytes_freed": stats.bytes_freed }),
    ))
}

async fn shutdown(State(s): Shared) -> Answer {
    let _ = s.shutdown.send(true);
    Ok(Json(json!({ "stopping": true })))
}
