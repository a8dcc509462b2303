//! The Base44-compatible backend of releases that carry one (`backend.kind = "base44"`): at
//! activation the release's entity schemas are migrated into the app's database (additively,
//! in one transaction, before anything switches), and the edge mounts the entities/auth API at
//! `/api/apps/`, ferry's sign-in pages at `/_ferry/base44/` and the realtime socket.io
//! endpoint at `/ws-user-apps/` on the app's origin.
//!
//! Per-app settings come from the app's secrets (`ferry env set`), all optional:
//! `FERRY_BASE44_DATABASE_URL` (`postgres://…` or `sqlite:///…`; default an embedded SQLite
//! file `$FERRY_HOME/data/<app>/base44.sqlite3`), `FERRY_SMTP_URL` (mail; default the outbox
//! only), `FERRY_PUBLIC_URL` (the origin in mailed links; default `http://<app>.localhost:<port>`),
//! `FERRY_BASE44_VERIFY_EMAIL` (`true`: sign-up needs the emailed code), `FERRY_LLM_URL`,
//! `FERRY_LLM_API_KEY`, `FERRY_LLM_MODEL`, `FERRY_LLM_IMAGE_MODEL` (the OpenAI-compatible
//! endpoint of `Core.InvokeLLM`, `GenerateImage`, `ExtractDataFromUploadedFile`; none: 501),
//! `FERRY_OIDC_ISSUER`, `FERRY_OIDC_CLIENT_ID`, `FERRY_OIDC_CLIENT_SECRET`, `FERRY_OIDC_NAME`
//! (sign-in with an OpenID Connect provider, "Google" by default; all three first ones or none).
//! The token signing key is `FERRY_BASE44_SIGNING_KEY`, made on first use and kept encrypted
//! in the secrets store; it also signs private file links. Uploaded files live under
//! `$FERRY_HOME/data/<app>/files/` and are served at `/_ferry/base44/files/`. Backend functions
//! (`base44/functions/*`) run under Deno: [`crate::base44_functions`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use ferry_compat::base44::api::{AppState, AuthConfig, realtime_router, router, token_caller};
use ferry_compat::base44::api::{InviteRequest, Invited, invite_users};
use ferry_compat::base44::auth::{
    FileOutbox, Outbox, SmtpConfig, SmtpOutbox,
    oidc::{DEFAULT_PROVIDER_NAME, OidcConfig},
    token::{SigningKey, generate_key},
};
use ferry_compat::base44::files::{self, DEFAULT_MAX_FILE_BYTES, FileStore};
use ferry_compat::base44::integrations::{self, IntegrationsState, LlmConfig};
use ferry_compat::base44::model::{Entity, USER_ENTITY};
use ferry_compat::base44::pages;
use ferry_compat::base44::realtime::Events;
use ferry_compat::base44::schema::parse_entities;
use ferry_compat::base44::store::Db;
use ferry_control::Mutation;
use ferry_edge::mount::{Mount, MountFuture, Mounted, boxed};
use ferry_release::{Base44Backend, ReleaseManifest};
use tower::ServiceExt;

use crate::ApiError;
use crate::base44_functions::{FunctionHosts, FunctionsConfig, PrepareFunctions};
use crate::state::ServerState;

/// Secret holding the database URL of an app's entities.
pub const DATABASE_URL: &str = "FERRY_BASE44_DATABASE_URL";
/// Secret holding the SMTP URL mail goes through.
pub const SMTP_URL: &str = "FERRY_SMTP_URL";
/// Secret holding the app's public origin, for links in mail.
pub const PUBLIC_URL: &str = "FERRY_PUBLIC_URL";
/// Secret turning on email verification at sign-up.
pub const VERIFY_EMAIL: &str = "FERRY_BASE44_VERIFY_EMAIL";
/// Secret holding the token signing key (hex), made on first use.
pub const SIGNING_KEY: &str = "FERRY_BASE44_SIGNING_KEY";
/// Secret holding the OpenAI-compatible endpoint of the LLM integrations.
pub const LLM_URL: &str = "FERRY_LLM_URL";
/// Secret holding that endpoint's API key.
pub const LLM_API_KEY: &str = "FERRY_LLM_API_KEY";
/// Secret holding the chat model the LLM integrations ask for.
pub const LLM_MODEL: &str = "FERRY_LLM_MODEL";
/// Secret holding the image model `Core.GenerateImage` asks for.
pub const LLM_IMAGE_MODEL: &str = "FERRY_LLM_IMAGE_MODEL";

/// Secret holding the OpenID Connect provider's issuer URL.
pub const OIDC_ISSUER: &str = "FERRY_OIDC_ISSUER";
/// Secret holding the OpenID Connect client id.
pub const OIDC_CLIENT_ID: &str = "FERRY_OIDC_CLIENT_ID";
/// Secret holding the OpenID Connect client secret.
pub const OIDC_CLIENT_SECRET: &str = "FERRY_OIDC_CLIENT_SECRET";
/// Secret holding the provider's name on the sign-in button (default "Google").
pub const OIDC_NAME: &str = "FERRY_OIDC_NAME";

/// Who makes the signing key, in the state's history.
const ACTOR: &str = "ferry";

/// The settings a hosted backend was built from; a change rebuilds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    database_url: String,
    smtp_url: Option<String>,
    public_url: String,
    verify_email: bool,
    key_hex: String,
    /// `FERRY_PUBLIC_URL` when set: the origin of file URLs (else each request's own).
    explicit_public_url: Option<String>,
    llm: Option<LlmConfig>,
    /// The OpenID Connect provider, when its three secrets are set.
    oidc: Option<OidcConfig>,
    /// How the app's backend functions run (Deno, limits, their env).
    functions: FunctionsConfig,
}

/// One app's backend: its database, mail, key, and one API per release it served.
struct Hosted {
    settings: Settings,
    db: Db,
    outbox: Arc<dyn Outbox>,
    key: SigningKey,
    /// The mounts of each release activated since the server started.
    by_release: HashMap<String, Vec<Mounted>>,
    /// The `User` entity as last applied (for `ferry base44 admin`).
    users: Option<Entity>,
    /// The app's uploaded files (made at the first build, kept across releases).
    files: Option<Arc<FileStore>>,
    /// `$FERRY_HOME/data/<app>`.
    data_dir: PathBuf,
    /// The app's realtime channel, shared by its releases (sockets survive a deploy).
    events: Events,
}

/// The Base44 backends of every app, kept across activations.
#[derive(Default)]
pub struct Base44Hosts {
    apps: tokio::sync::Mutex<HashMap<String, Hosted>>,
    /// The backend functions' processes (made at the first release that has functions).
    functions: std::sync::OnceLock<Arc<FunctionHosts>>,
    /// What readying a release's backend found worth telling the deploy, by release.
    warnings: std::sync::Mutex<HashMap<String, Vec<String>>>,
}

impl std::fmt::Debug for Base44Hosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Base44Hosts").finish_non_exhaustive()
    }
}

/// An axum router answering the edge's requests for a mount.
#[derive(Clone)]
struct RouterMount(Router);

impl std::fmt::Debug for RouterMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouterMount")
    }
}

impl Mount for RouterMount {
    fn call(&self, req: http::Request<hyper::body::Incoming>) -> MountFuture {
        let router = self.0.clone();
        Box::pin(async move {
            let req = req.map(axum::body::Body::new);
            match router.oneshot(req).await {
                Ok(resp) => resp.map(boxed),
                Err(never) => match never {},
            }
        })
    }
}

/// Where an app's outbox file lives.
pub fn outbox_path(home: &std::path::Path, app: &str) -> PathBuf {
    home.join("data").join(app).join("outbox.jsonl")
}

fn bad_backend(message: String, hint: &str) -> ApiError {
    ApiError::new(400, "backend-invalid", message, hint)
}

fn truthy(value: Option<&String>) -> bool {
    value.is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
}

impl Base44Hosts {
    /// The mounts `manifest` needs on `app`: none for a static release; for a Base44 one, its
    /// API over the app's database after migrating the release's entities into it. Fails
    /// (nothing switched, nothing half-migrated) when the schemas are invalid, the database
    /// cannot be reached, or a migration would change a field's type.
    pub async fn mounts(
        &self,
        state: &ServerState,
        app: &str,
        env: &str,
        manifest: &ReleaseManifest,
    ) -> Result<Vec<Mounted>, ApiError> {
        Ok(self.prepare(state, app, env, manifest).await?.0)
    }

    /// [`Self::mounts`], and whether they were built by this call (a new release, or new
    /// settings such as another database URL): the edge then needs the new ones even when the
    /// release is already live.
    pub async fn prepare(
        &self,
        state: &ServerState,
        app: &str,
        env: &str,
        manifest: &ReleaseManifest,
    ) -> Result<(Vec<Mounted>, bool), ApiError> {
        let Some(backend) = manifest.backend.as_ref().and_then(|b| b.base44()) else {
            return Ok((Vec::new(), false));
        };
        let settings = self.settings(state, app, env)?;
        let mut apps = self.apps.lock().await;
        let rebuild = apps.get(app).is_none_or(|h| h.settings != settings);
        if rebuild {
            let hosted = open(state, app, settings).await?;
            apps.insert(app.to_string(), hosted);
        }
        let Some(hosted) = apps.get_mut(app) else {
            return Ok((Vec::new(), false));
        };
        if let Some(mounts) = hosted.by_release.get(&manifest.id) {
            return Ok((mounts.clone(), false));
        }
        let functions = (!backend.functions.is_empty()).then(|| {
            (
                self.functions
                    .get_or_init(|| Arc::new(FunctionHosts::new(&state.home)))
                    .clone(),
                manifest.id.as_str(),
            )
        });
        let (mounts, warnings) = build(hosted, app, backend, functions).await?;
        if !warnings.is_empty() {
            self.warnings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(manifest.id.clone(), warnings);
        }
        hosted
            .by_release
            .insert(manifest.id.clone(), mounts.clone());
        Ok((mounts, true))
    }

    /// What readying `release`'s backend found worth telling the deploy (e.g. no Deno for its
    /// functions), once.
    pub fn take_warnings(&self, release: &str) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(release)
            .unwrap_or_default()
    }

    /// Stops the backend functions' processes (server shutdown).
    pub async fn shutdown(&self) {
        if let Some(functions) = self.functions.get() {
            functions.shutdown().await;
        }
    }

    /// Sets the role of the user with `email` in `app`'s live backend; `None` when no such
    /// user exists. 404 when the app has no Base44 backend running.
    pub async fn set_role(
        &self,
        app: &str,
        email: &str,
        role: &str,
    ) -> Result<Option<serde_json::Value>, ApiError> {
        let apps = self.apps.lock().await;
        let Some((hosted, users)) = apps.get(app).and_then(|h| h.users.as_ref().map(|u| (h, u)))
        else {
            return Err(ApiError::new(
                404,
                "no-backend",
                format!("`{app}` has no Base44 backend running"),
                "deploy a Base44 app first (`ferry deploy`)",
            ));
        };
        ferry_compat::base44::admin::set_role(&hosted.db, users, email, role)
            .await
            .map_err(|err| {
                ApiError::new(500, "database", err.to_string(), "check the app's database")
            })
    }

    /// Mails a set-password link to the users of `app`'s live backend that have no password
    /// (migrated from Base44), or to the named ones: one outcome per user. 404 when the app
    /// has no Base44 backend running.
    pub async fn invite(
        &self,
        app: &str,
        request: &InviteRequest,
    ) -> Result<Vec<Invited>, ApiError> {
        let apps = self.apps.lock().await;
        let Some((hosted, users)) = apps.get(app).and_then(|h| h.users.as_ref().map(|u| (h, u)))
        else {
            return Err(ApiError::new(
                404,
                "no-backend",
                format!("`{app}` has no Base44 backend running"),
                "deploy a Base44 app first (`ferry deploy`)",
            ));
        };
        let config = auth_config(hosted, app);
        invite_users(&hosted.db, users, &config, request)
            .await
            .map_err(|err| {
                ApiError::new(
                    500,
                    "database",
                    format!("{}: {}", err.code, err.message),
                    "check the app's database",
                )
            })
    }

    /// Reads the app's settings from its secrets; makes the signing key when missing.
    fn settings(&self, state: &ServerState, app: &str, env: &str) -> Result<Settings, ApiError> {
        let mut values: BTreeMap<String, String> = state.control()?.secret_values(app, env)?;
        if !values.contains_key(SIGNING_KEY) {
            let key = generate_key().map_err(|err| {
                ApiError::new(
                    500,
                    "random",
                    err.to_string(),
                    "the system has no randomness",
                )
            })?;
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            state.control()?.apply(
                &ferry_control::Principal::system(ACTOR),
                Mutation::SetSecret {
                    app: app.into(),
                    env: env.into(),
                    name: SIGNING_KEY.into(),
                    value: hex.clone(),
                    scope: ferry_control::SecretScope::Runtime,
                },
            )?;
            values.insert(SIGNING_KEY.into(), hex);
        }
        let port = state
            .edge_addr
            .rsplit_once(':')
            .map_or("8080", |(_, p)| p)
            .to_string();
        let default_db = format!(
            "sqlite://{}",
            state
                .home
                .join("data")
                .join(app)
                .join("base44.sqlite3")
                .display()
        );
        Ok(Settings {
            database_url: values.get(DATABASE_URL).cloned().unwrap_or(default_db),
            smtp_url: values.get(SMTP_URL).cloned(),
            public_url: values
                .get(PUBLIC_URL)
                .cloned()
                .unwrap_or_else(|| format!("http://{app}.localhost:{port}")),
            verify_email: truthy(values.get(VERIFY_EMAIL)),
            key_hex: values.get(SIGNING_KEY).cloned().unwrap_or_default(),
            explicit_public_url: values.get(PUBLIC_URL).cloned(),
            llm: values
                .get(LLM_URL)
                .filter(|u| !u.trim().is_empty())
                .map(|url| LlmConfig {
                    url: url.trim().to_string(),
                    api_key: values.get(LLM_API_KEY).cloned(),
                    model: values.get(LLM_MODEL).cloned().filter(|m| !m.is_empty()),
                    image_model: values
                        .get(LLM_IMAGE_MODEL)
                        .cloned()
                        .filter(|m| !m.is_empty()),
                }),
            oidc: oidc_config(&values),
            functions: FunctionsConfig::from_values(&values),
        })
    }
}

/// The OpenID Connect provider of the app's secrets: issuer, client id and secret all set
/// (and not blank), else none.
fn oidc_config(values: &BTreeMap<String, String>) -> Option<OidcConfig> {
    let get = |k: &str| {
        values
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Some(OidcConfig {
        issuer: get(OIDC_ISSUER)?,
        client_id: get(OIDC_CLIENT_ID)?,
        client_secret: get(OIDC_CLIENT_SECRET)?,
        name: get(OIDC_NAME).unwrap_or_else(|| DEFAULT_PROVIDER_NAME.to_string()),
    })
}

/// The auth configuration of a hosted app: its key, mail and links.
fn auth_config(hosted: &Hosted, app: &str) -> AuthConfig {
    let mut auth = AuthConfig::new(
        hosted.key.clone(),
        app,
        format!(
            "{}{}",
            hosted.settings.public_url.trim_end_matches('/'),
            pages::PREFIX
        ),
        hosted.outbox.clone(),
    );
    auth.verify_email = hosted.settings.verify_email;
    auth.oidc = hosted.settings.oidc.clone();
    auth
}

/// Opens the app's database, mail and key.
async fn open(state: &ServerState, app: &str, settings: Settings) -> Result<Hosted, ApiError> {
    let data = state.home.join("data").join(app);
    std::fs::create_dir_all(&data).map_err(|err| {
        ApiError::new(
            500,
            "io",
            format!("cannot create `{}`: {err}", data.display()),
            "check the permissions of FERRY_HOME",
        )
    })?;
    {
        use std::os::unix::fs::PermissionsExt;
        // The app's data and mail (one-time codes) are the owner's only.
        let _ = std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700));
    }
    let db = Db::open(&settings.database_url).await.map_err(|err| {
        ApiError::new(
            502,
            "database-unreachable",
            format!("the Base44 database of `{app}`: {err}"),
            format!("check {DATABASE_URL} (`ferry env set {DATABASE_URL}=postgres://…`)"),
        )
    })?;
    let bytes: Vec<u8> = (0..settings.key_hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(settings.key_hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let key = SigningKey::from_bytes(&bytes).map_err(|err| {
        ApiError::new(
            400,
            "bad-signing-key",
            format!("{SIGNING_KEY}: {err}"),
            format!("unset it to get a new one: `ferry env unset {SIGNING_KEY}`"),
        )
    })?;
    let mail_err = |err: ferry_compat::base44::auth::MailError| {
        ApiError::new(
            400,
            "mail-config",
            err.to_string(),
            format!(
                "check {SMTP_URL}, e.g. smtps://user:password@smtp.example.com:465?from=app@example.com"
            ),
        )
    };
    let record = FileOutbox::open(outbox_path(&state.home, app)).map_err(mail_err)?;
    let outbox: Arc<dyn Outbox> = match &settings.smtp_url {
        Some(url) => {
            let config = SmtpConfig::parse(url).map_err(mail_err)?;
            Arc::new(SmtpOutbox::start(config, record, app).map_err(mail_err)?)
        }
        None => Arc::new(record),
    };
    Ok(Hosted {
        settings,
        db,
        outbox,
        key,
        by_release: HashMap::new(),
        users: None,
        files: None,
        data_dir: data,
        events: Events::default(),
    })
}

/// The app's file store under `$FERRY_HOME/data/<app>/files/`, made once per app id.
fn file_store(hosted: &mut Hosted, app: &str, app_id: &str) -> Result<Arc<FileStore>, ApiError> {
    if let Some(files) = hosted.files.as_ref().filter(|f| f.app_id() == app_id) {
        return Ok(files.clone());
    }
    let root = hosted.data_dir.join("files");
    let files = FileStore::open(&root, app_id, hosted.key.clone(), DEFAULT_MAX_FILE_BYTES)
        .map_err(|err| {
            ApiError::new(
                500,
                "io",
                format!("the file store of `{app}`: {err}"),
                "check the permissions of FERRY_HOME",
            )
        })?;
    let files = Arc::new(files);
    hosted.files = Some(files.clone());
    Ok(files)
}

/// Migrates the release's entities and builds its API and pages (with its backend functions,
/// when `functions` names their host and the release); also returns the deploy's warnings.
async fn build(
    hosted: &mut Hosted,
    app: &str,
    backend: &Base44Backend,
    functions: Option<(Arc<FunctionHosts>, &str)>,
) -> Result<(Vec<Mounted>, Vec<String>), ApiError> {
    let entities = parse_entities(
        backend
            .entities
            .iter()
            .map(|(name, text)| (name.clone(), text.clone())),
    )
    .map_err(|err| bad_backend(err.to_string(), &err.hint()))?;
    let applied = hosted.db.migrate(entities).await.map_err(|err| {
        ApiError::new(
            409,
            "migration-refused",
            format!("the entities of `{app}` cannot be migrated: {err}"),
            "only additive changes are applied: add a field with a new name instead of changing a type",
        )
    })?;
    let entities: Vec<Entity> = applied.into_iter().map(|a| a.entity).collect();
    hosted.users = entities.iter().find(|e| e.name == USER_ENTITY).cloned();
    let auth = auth_config(hosted, app);
    let files = file_store(hosted, app, &backend.app_id)?;
    let integrations = integrations::router(Arc::new(IntegrationsState {
        app_id: backend.app_id.clone(),
        caller_from: Arc::new(token_caller(&backend.app_id, &auth)),
        users: hosted.users.clone().map(|u| (hosted.db.clone(), u)),
        require_user: backend.requires_auth,
        files: files.clone(),
        outbox: hosted.outbox.clone(),
        llm: hosted.settings.llm.clone(),
        public_origin: hosted.settings.explicit_public_url.clone(),
    }));
    let service_key = auth.key.clone();
    let mut state = AppState::new(
        backend.app_id.clone(),
        hosted.db.clone(),
        entities,
        Some(auth),
    );
    state.events = hosted.events.clone();
    let state = Arc::new(state);
    let mut api = router(state.clone()).merge(integrations);
    let mut warnings = Vec::new();
    if let Some((hosts, release)) = functions {
        let (release_functions, notes) = hosts
            .prepare(PrepareFunctions {
                app,
                release,
                app_id: &backend.app_id,
                functions: &backend.functions,
                config: &hosted.settings.functions,
                key: &service_key,
            })
            .await?;
        warnings = notes;
        api = api.merge(release_functions.router());
        // The functions' own SDK calls reach this API on a loopback port.
        release_functions.serve_api(api.clone())?;
    }
    // The SDK 0.1 patch and the 0.8 build env point `serverUrl` at the pages' prefix, so the
    // API answers there too; uploaded files are served under the same prefix.
    let provider = hosted.settings.oidc.as_ref().map(|o| o.name.as_str());
    let pages = pages::router(&backend.app_id, app, provider)
        .merge(files::router(files))
        .nest(pages::PREFIX, api.clone());
    let mounts = vec![
        Mounted::new("/api/apps/", Arc::new(RouterMount(api))),
        Mounted::new(pages::PREFIX, Arc::new(RouterMount(pages))),
        // Realtime (socket.io) at the origin's root, whatever path `serverUrl` has.
        Mounted::new(
            "/ws-user-apps/",
            Arc::new(RouterMount(realtime_router(state))),
        ),
    ];
    Ok((mounts, warnings))
}
