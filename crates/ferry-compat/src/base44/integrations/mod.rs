//! The integrations `@base44/sdk` calls (`base44.integrations.Core.<Endpoint>(params)` →
//! `POST /api/apps/{app_id}/integration-endpoints/Core/{Endpoint}`, JSON or multipart when a
//! param is a `File`), served by ferry:
//!
//! - `UploadFile {file}` → `{file_url}` and `UploadPrivateFile {file}` → `{file_uri}` store
//!   the file in the app's [`FileStore`]; `CreateFileSignedUrl {file_uri, expires_in = 300}`
//!   → `{signed_url}` (an expiring, HMAC-signed link);
//! - `SendEmail {to, subject, body, from_name?}` → the app's outbox (SMTP or the outbox file);
//! - `InvokeLLM {prompt, response_json_schema?, file_urls?}`, `GenerateImage {prompt}` →
//!   `{url}` and `ExtractDataFromUploadedFile {file_url, json_schema}` → `{status, details,
//!   output}` through the OpenAI-compatible endpoint the owner configured ([`LlmConfig`]);
//!   without one, 501 `llm-not-configured`;
//! - any other Core endpoint, installable package
//!   (`…/integration-endpoints/installable/{pkg}/integration-endpoints/{Endpoint}`) or custom
//!   integration (`…/integrations/custom/{slug}/{operation}`): 501
//!   `integration-not-supported` naming it.
//!
//! Callers: a signed-in user (whose `User` record must still exist) or the service role;
//! anonymous callers only when the app does not require sign-in
//! ([`IntegrationsState::require_user`] false), as Base44 allows for public apps.

pub mod http;
pub mod llm;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

pub use http::HttpError;
pub use llm::{LlmConfig, LlmError};

use crate::base44::api::{ApiError, CallerFn};
use crate::base44::auth::mail::one_line;
use crate::base44::auth::{Mail, Outbox, unix_now};
use crate::base44::files::{
    DEFAULT_SIGNED_TTL_SECS, FILES_PREFIX, FileError, FileMeta, FileStore, Visibility, is_file_id,
};
use crate::base44::model::Entity;
use crate::base44::record::{get_sql, public_columns};
use crate::base44::rls::Caller;
use crate::base44::store::Db;

/// The largest JSON body an integration accepts: 1 MiB.
pub const MAX_JSON_BODY: usize = 1 << 20;
/// The most bytes of a file sent to the LLM (`ExtractDataFromUploadedFile`, `file_urls`).
pub const MAX_LLM_FILE_BYTES: u64 = 10 << 20;
/// The longest email subject accepted (characters).
pub const MAX_SUBJECT_CHARS: usize = 998;

/// The hint every "no endpoint" answer carries.
const LLM_SETTINGS: &str = "set FERRY_LLM_URL (an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1) and, as needed, FERRY_LLM_API_KEY and FERRY_LLM_MODEL with `ferry env set`, then `ferry deploy` again";

/// What the integrations serve for one app.
pub struct IntegrationsState {
    /// The only `{app_id}` (and `X-App-Id`) served; another is a 404.
    pub app_id: String,
    /// Who is calling (the same function the entities API uses).
    pub caller_from: CallerFn,
    /// The app's database and applied `User` entity: a signed-in caller's record must exist.
    pub users: Option<(Db, Entity)>,
    /// Anonymous callers are refused (401): the app requires sign-in.
    pub require_user: bool,
    /// Where uploads go.
    pub files: Arc<FileStore>,
    /// Where `SendEmail` goes.
    pub outbox: Arc<dyn Outbox>,
    /// The OpenAI-compatible endpoint, when the owner configured one.
    pub llm: Option<LlmConfig>,
    /// The origin file URLs start with (`https://app.example.com`); `None`: the request's
    /// `Host` (and `X-Forwarded-Proto`).
    pub public_origin: Option<String>,
}

impl std::fmt::Debug for IntegrationsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationsState")
            .field("app_id", &self.app_id)
            .field("require_user", &self.require_user)
            .field("files", &self.files)
            .field("llm", &self.llm)
            .field("public_origin", &self.public_origin)
            .finish_non_exhaustive()
    }
}

/// The integration routes (under `/api/apps/{app_id}/`); no fallback, so it merges with the
/// entities router.
pub fn router(state: Arc<IntegrationsState>) -> Router {
    let app = "/api/apps/{app_id}";
    // Uploads stream to disk and are capped by the store; the slack covers multipart framing.
    let limit = usize::try_from(state.files.max_bytes())
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20);
    Router::new()
        .route(
            &format!("{app}/integration-endpoints/Core/{{endpoint}}"),
            post(core),
        )
        .route(
            &format!(
                "{app}/integration-endpoints/installable/{{package}}/integration-endpoints/{{endpoint}}"
            ),
            post(installable),
        )
        .route(
            &format!("{app}/integrations/custom/{{slug}}/{{operation}}"),
            post(custom),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The Core endpoints ferry serves.
const CORE: [&str; 7] = [
    "UploadFile",
    "UploadPrivateFile",
    "CreateFileSignedUrl",
    "SendEmail",
    "InvokeLLM",
    "GenerateImage",
    "ExtractDataFromUploadedFile",
];

fn not_supported(name: &str) -> ApiError {
    let name: String = name.chars().take(200).collect();
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "integration-not-supported",
        format!(
            "the integration {name} is not supported by ferry (supported: Core.{})",
            CORE.join(", Core.")
        ),
    )
    .with_detail(json!({ "integration": name }))
}

fn no_llm(endpoint: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "llm-not-configured",
        format!("{endpoint} needs an OpenAI-compatible endpoint: {LLM_SETTINGS}"),
    )
    .with_detail(json!({ "integration": format!("Core.{endpoint}") }))
}

fn bad_params(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("bad-params", message)
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> ApiError {
        match e {
            FileError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.code(), e.to_string())
            }
            FileError::NotFound => ApiError::not_found("not-found", "no such file"),
            FileError::BadUri(_) => ApiError::bad_request(e.code(), e.to_string()),
            FileError::Expired | FileError::BadSignature => ApiError::forbidden(e.to_string()),
            FileError::Io { .. } | FileError::Random => ApiError::internal(e.to_string()),
        }
    }
}

impl From<LlmError> for ApiError {
    fn from(e: LlmError) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, e.code(), e.to_string())
    }
}

impl IntegrationsState {
    fn check_app(&self, headers: &HeaderMap, app_id: &str) -> Result<(), ApiError> {
        let header_ok = headers
            .get("x-app-id")
            .is_none_or(|h| h.as_bytes() == self.app_id.as_bytes());
        if app_id != self.app_id || !header_ok {
            return Err(ApiError::not_found("unknown-app", "no such app"));
        }
        Ok(())
    }

    /// The caller, when allowed to use integrations.
    async fn authorize(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let caller = (self.caller_from)(headers)?;
        if caller.service {
            return Ok(caller);
        }
        let Some(user) = &caller.user else {
            if self.require_user {
                return Err(ApiError::unauthorized(
                    "sign in to use this app's integrations",
                ));
            }
            return Ok(caller);
        };
        if let (Some((db, users)), Some(Value::String(id))) = (&self.users, user.get("id")) {
            let sql = get_sql(users, id, db.dialect(), None)
                .map_err(|_| ApiError::unauthorized("unknown user"))?;
            let rows = db.query(&sql, public_columns(users).len()).await?;
            if rows.is_empty() {
                return Err(ApiError::unauthorized("unknown user"));
            }
        }
        Ok(caller)
    }

    /// The origin of file URLs: the configured one, else the request's (`Host`, and
    /// `X-Forwarded-Proto: https` when a proxy says so); empty (relative URLs) when the
    /// `Host` header is missing or odd.
    fn origin(&self, headers: &HeaderMap) -> String {
        if let Some(origin) = &self.public_origin {
            return origin.trim_end_matches('/').to_string();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                    })
            });
        let Some(host) = host else {
            return String::new();
        };
        let https = headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
        format!("{}://{host}", if https { "https" } else { "http" })
    }

    /// The stored file a URL (or `file_uri`) given back by the app names: a public file URL,
    /// a signed private one (checked), or a `private/<id>/<name>` uri.
    async fn resolve(&self, url: &str) -> Result<(FileMeta, std::path::PathBuf), ApiError> {
        let unsupported = || {
            ApiError::bad_request(
                "unsupported-file-url",
                format!(
                    "`{}` is not a file uploaded to this app (only UploadFile / UploadPrivateFile files can be read)",
                    url.chars().take(200).collect::<String>()
                ),
            )
        };
        if url.starts_with("private/") {
            let id = FileStore::parse_private_uri(url)?;
            return Ok(self.files.find(Visibility::Private, &id).await?);
        }
        // Drop the origin, whichever it is: only the path names a file.
        let rest = url
            .split_once("://")
            .map_or(url, |(_, r)| r.find('/').map_or("", |i| &r[i..]));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let Some(tail) = path.strip_prefix(FILES_PREFIX) else {
            return Err(unsupported());
        };
        let parts: Vec<&str> = tail.trim_start_matches('/').split('/').collect();
        let [visibility, id, _name] = parts.as_slice() else {
            return Err(unsupported());
        };
        if !is_file_id(id) {
            return Err(unsupported());
        }
        match *visibility {
            "public" => Ok(self.files.find(Visibility::Public, id).await?),
            "private" => {
                let param = |key: &str| {
                    query.split('&').find_map(|pair| {
                        pair.split_once('=')
                            .filter(|(k, _)| *k == key)
                            .map(|(_, v)| v.to_string())
                    })
                };
                self.files.check_signature(
                    id,
                    param("expires").as_deref(),
                    param("signature").as_deref(),
                    unix_now(),
                )?;
                Ok(self.files.find(Visibility::Private, id).await?)
            }
            _ => Err(unsupported()),
        }
    }
}

type Answer = Result<Response, ApiError>;

async fn installable(
    State(state): State<Arc<IntegrationsState>>,
    Path((app_id, package, endpoint)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Answer {
    state.check_app(&headers, &app_id)?;
    Err(not_supported(&format!("{package}.{endpoint}")))
}

async fn custom(
    State(state): State<Arc<IntegrationsState>>,
    Path((app_id, slug, operation)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Answer {
    state.check_app(&headers, &app_id)?;
    Err(not_supported(&format!("custom.{slug}.{operation}")))
}

async fn core(
    State(state): State<Arc<IntegrationsState>>,
    Path((app_id, endpoint)): Path<(String, String)>,
    request: Request<Body>,
) -> Answer {
    let headers = request.headers().clone();
    state.check_app(&headers, &app_id)?;
    if !CORE.contains(&endpoint.as_str()) {
        return Err(not_supported(&format!("Core.{endpoint}")));
    }
    state.authorize(&headers).await?;
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    match endpoint.as_str() {
        "UploadFile" | "UploadPrivateFile" => {
            let visibility = if endpoint == "UploadFile" {
                Visibility::Public
            } else {
                Visibility::Private
            };
            if !multipart {
                return Err(bad_params(format!(
                    "{endpoint} needs a multipart/form-data body with a `file` part"
                )));
            }
            let meta = upload(&state, request, visibility).await?;
            let answer = match visibility {
                Visibility::Public => json!({
                    "file_url": format!("{}{}", state.origin(&headers), state.files.public_path(&meta)),
                }),
                Visibility::Private => json!({ "file_uri": state.files.private_uri(&meta) }),
            };
            Ok(axum::Json(answer).into_response())
        }
        _ => {
            let params = if multipart {
                multipart_params(request).await?
            } else {
                json_params(request).await?
            };
            let answer = match endpoint.as_str() {
                "CreateFileSignedUrl" => signed_url(&state, &headers, &params).await?,
                "SendEmail" => send_email(&state, &params)?,
                "InvokeLLM" => invoke_llm(&state, &params).await?,
                "GenerateImage" => generate_image(&state, &headers, &params).await?,
                "ExtractDataFromUploadedFile" => extract(&state, &params).await?,
                other => return Err(not_supported(&format!("Core.{other}"))),
            };
            Ok(axum::Json(answer).into_response())
        }
    }
}

/// A multipart text value as JSON when it looks like an object or array (the SDK
/// JSON-stringifies object params), else as a string.
fn field_value(text: String) -> Value {
    let t = text.trim_start();
    if (t.starts_with('{') || t.starts_with('['))
        && let Ok(value) = serde_json::from_str(&text)
    {
        return value;
    }
    Value::String(text)
}

async fn json_params(request: Request<Body>) -> Result<Map<String, Value>, ApiError> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_JSON_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the body is larger than {MAX_JSON_BODY} bytes"),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "bad-body",
            "the body must be a JSON object of named parameters",
        )),
        Err(e) => Err(ApiError::bad_request(
            "bad-json",
            format!("the body is not JSON: {e}"),
        )),
    }
}

fn multipart_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("bad-body", format!("unreadable multipart body: {e}"))
}

async fn multipart_params(request: Request<Body>) -> Result<Map<String, Value>, ApiError> {
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(multipart_error)?;
    let mut params = Map::new();
    let mut total = 0usize;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if field.file_name().is_some() {
            return Err(bad_params(format!(
                "the file part `{name}` is not accepted here: upload it with UploadFile and pass its file_url"
            )));
        }
        let text = field.text().await.map_err(multipart_error)?;
        total += text.len();
        if total > MAX_JSON_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the parameters are larger than {MAX_JSON_BODY} bytes"),
            ));
        }
        params.insert(name, field_value(text));
    }
    Ok(params)
}

/// Streams the multipart `file` part into the store.
async fn upload(
    state: &IntegrationsState,
    request: Request<Body>,
    visibility: Visibility,
) -> Result<FileMeta, ApiError> {
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(multipart_error)?;
    let mut stored = None;
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        if field.name() != Some("file") {
            continue;
        }
        if stored.is_some() {
            return Err(bad_params("send one `file` part"));
        }
        let name = field.file_name().unwrap_or("file").to_string();
        let declared = field.content_type().map(str::to_string);
        let mut upload = state.files.begin(visibility).await?;
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            // The body limit (or a broken connection) ends the stream.
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from(FileError::TooLarge {
                    max: state.files.max_bytes(),
                })
            } else {
                multipart_error(e)
            }
        })? {
            upload.write(&chunk).await?;
        }
        stored = Some(upload.finish(&name, declared.as_deref()).await?);
    }
    stored.ok_or_else(|| bad_params("no `file` part in the body"))
}

fn string_param<'a>(params: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

fn required<'a>(
    params: &'a Map<String, Value>,
    key: &str,
    endpoint: &str,
) -> Result<&'a str, ApiError> {
    string_param(params, key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| bad_params(format!("{endpoint} needs `{key}` (a non-empty string)")))
}

/// A JSON schema param: an object, or a string holding one.
fn schema_param(params: &Map<String, Value>, key: &str) -> Result<Option<Value>, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(_)) => Ok(params.get(key).cloned()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(value @ Value::Object(_)) => Ok(Some(value)),
            _ => Err(bad_params(format!("`{key}` must be a JSON schema object"))),
        },
        Some(_) => Err(bad_params(format!("`{key}` must be a JSON schema object"))),
    }
}

async fn signed_url(
    state: &IntegrationsState,
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let uri = required(params, "file_uri", "CreateFileSignedUrl")?;
    let ttl = match params.get("expires_in") {
        None | Some(Value::Null) => DEFAULT_SIGNED_TTL_SECS as f64,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(-1.0),
        Some(Value::String(s)) => s.trim().parse::<f64>().unwrap_or(-1.0),
        Some(_) => -1.0,
    };
    if !(ttl.is_finite() && ttl >= 1.0) {
        return Err(bad_params(
            "`expires_in` must be a number of seconds, at least 1",
        ));
    }
    let id = FileStore::parse_private_uri(uri)?;
    let (meta, _) = state.files.find(Visibility::Private, &id).await?;
    // Saturating float-to-int conversion; the store clamps to its maximum.
    let path = state
        .files
        .signed_url_path(&meta, ttl.ceil() as u64, unix_now());
    Ok(json!({ "signed_url": format!("{}{path}", state.origin(headers)) }))
}

/// A loose check of one address: no spaces, control or header characters, one `@` with a
/// dotted domain.
fn plausible_email(to: &str) -> bool {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c);
    to.len() <= 254
        && !to.chars().any(bad)
        && to.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
}

fn send_email(state: &IntegrationsState, params: &Map<String, Value>) -> Result<Value, ApiError> {
    let to = required(params, "to", "SendEmail")?.trim();
    if !plausible_email(to) {
        return Err(ApiError::bad_request(
            "bad-email",
            "`to` must be one email address",
        ));
    }
    let subject = one_line(string_param(params, "subject").unwrap_or(""));
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(bad_params(format!(
            "`subject` is longer than {MAX_SUBJECT_CHARS} characters"
        )));
    }
    let body = string_param(params, "body").unwrap_or("").to_string();
    state.outbox.send(Mail {
        to: to.to_string(),
        subject,
        text: body,
    })?;
    Ok(json!({ "status": "queued" }))
}

fn llm<'a>(state: &'a IntegrationsState, endpoint: &str) -> Result<&'a LlmConfig, ApiError> {
    state.llm.as_ref().ok_or_else(|| no_llm(endpoint))
}

/// Whether a file's content can go to the model as text.
fn text_like(meta: &FileMeta) -> bool {
    let essence = meta
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ext = meta
        .name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json" | "application/csv" | "application/x-ndjson"
        )
        || matches!(
            ext.as_str(),
            "csv" | "tsv" | "json" | "jsonl" | "txt" | "md"
        )
}

async fn read_for_llm(
    meta: &FileMeta,
    path: &std::path::Path,
    endpoint: &str,
) -> Result<Vec<u8>, ApiError> {
    if meta.size > MAX_LLM_FILE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!(
                "{endpoint} reads files of at most {MAX_LLM_FILE_BYTES} bytes; `{}` has {}",
                meta.name, meta.size
            ),
        ));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| ApiError::internal(format!("reading {}: {e}", path.display())))
}

async fn invoke_llm(
    state: &IntegrationsState,
    params: &Map<String, Value>,
) -> Result<Value, ApiError> {
    use base64::Engine as _;
    let config = llm(state, "InvokeLLM")?;
    let prompt = required(params, "prompt", "InvokeLLM")?;
    let schema = schema_param(params, "response_json_schema")?;
    let urls: Vec<String> = match params.get("file_urls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(url)) => vec![url.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad_params("`file_urls` must be URLs"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad_params("`file_urls` must be a list of URLs")),
    };
    let mut text = prompt.to_string();
    let mut images = Vec::new();
    for url in &urls {
        let (meta, path) = state.resolve(url).await?;
        let is_image = meta.content_type.starts_with("image/");
        if !is_image && !text_like(&meta) {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "integration-not-supported",
                format!(
                    "InvokeLLM cannot read {} files (`{}`) yet: text, CSV, JSON and images only",
                    meta.content_type, meta.name
                ),
            )
            .with_detail(json!({"integration": "Core.InvokeLLM"})));
        }
        let bytes = read_for_llm(&meta, &path, "InvokeLLM").await?;
        if is_image {
            let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
            images.push(json!({
                "type": "image_url",
                "image_url": {"url": format!("data:{};base64,{data}", meta.content_type)},
            }));
        } else {
            text.push_str(&format!(
                "\n\n--- file {} ({}) ---\n{}",
                meta.name,
                meta.content_type,
                String::from_utf8_lossy(&bytes)
            ));
        }
    }
    let content = if images.is_empty() {
        Value::String(text)
    } else {
        let mut parts = vec![json!({"type": "text", "text": text})];
        parts.extend(images);
        Value::Array(parts)
    };
    Ok(config.chat(content, schema.as_ref()).await?)
}

async fn generate_image(
    state: &IntegrationsState,
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> Result<Value, ApiError> {
    let config = llm(state, "GenerateImage")?;
    let prompt = required(params, "prompt", "GenerateImage")?;
    let bytes = config.image(prompt).await?;
    let meta = state
        .files
        .put(Visibility::Public, "image.png", None, &bytes)
        .await?;
    Ok(json!({
        "url": format!("{}{}", state.origin(headers), state.files.public_path(&meta)),
    }))
}

async fn extract(
    state: &IntegrationsState,
    params: &Map<String, Value>,
) -> Result<Value, ApiError> {
    const NAME: &str = "ExtractDataFromUploadedFile";
    let config = llm(state, NAME)?;
    let url = required(params, "file_url", NAME)?;
    let schema = schema_param(params, "json_schema")?
        .ok_or_else(|| bad_params(format!("{NAME} needs `json_schema` (a JSON schema object)")))?;
    let (meta, path) = state.resolve(url).await?;
    if !text_like(&meta) {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "integration-not-supported",
            format!(
                "{NAME} cannot read {} files (`{}`) yet: CSV, JSON and text files only",
                meta.content_type, meta.name
            ),
        )
        .with_detail(json!({"integration": format!("Core.{NAME}")})));
    }
    let bytes = read_for_llm(&meta, &path, NAME).await?;
    let prompt = format!(
        "Extract the data of the file below as JSON matching the given schema. Answer with the JSON only.\n\n--- file {} ({}) ---\n{}",
        meta.name,
        meta.content_type,
        String::from_utf8_lossy(&bytes)
    );
    let output = config.chat(Value::String(prompt), Some(&schema)).await?;
    Ok(json!({"status": "success", "details": null, "output": output}))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::base44::auth::MemoryOutbox;
    use crate::base44::auth::token::SigningKey;
    use tower::ServiceExt as _;

    fn state(dir: &std::path::Path, require_user: bool, outbox: Arc<MemoryOutbox>) -> Router {
        let key = SigningKey::from_bytes(&[3u8; 32]).expect("key");
        let files = FileStore::open(dir, "app1", key, 100).expect("store");
        router(Arc::new(IntegrationsState {
            app_id: "app1".into(),
            caller_from: Arc::new(|_: &HeaderMap| Ok(Caller::anonymous())),
            users: None,
            require_user,
            files: Arc::new(files),
            outbox,
            llm: None,
            public_origin: Some("https://app.example".into()),
        }))
    }

    async fn call(router: &Router, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    const MAIL: &str = "/api/apps/app1/integration-endpoints/Core/SendEmail";

    #[tokio::test]
    async fn anonymous_callers_only_when_the_app_is_public() {
        let tmp = tempfile::tempdir().expect("tmp");
        let outbox = Arc::new(MemoryOutbox::new());
        let mail = br#"{"to":"a@b.co","subject":"s\r\nBcc: x@y.z","body":"b"}"#.to_vec();
        let private = state(tmp.path(), true, outbox.clone());
        let (status, body) = call(&private, MAIL, "application/json", mail.clone()).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
        assert!(outbox.sent().is_empty());
        // Another app id: 404 before anything else.
        let other = "/api/apps/app2/integration-endpoints/Core/SendEmail";
        assert_eq!(
            call(&private, other, "application/json", mail.clone())
                .await
                .0,
            404
        );

        let public = state(tmp.path(), false, outbox.clone());
        let (status, body) = call(&public, MAIL, "application/json", mail).await;
        assert_eq!((status, body), (200, json!({"status": "queued"})));
        let sent = outbox.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "a@b.co");
        assert_eq!(
            sent[0].subject, "s  Bcc: x@y.z",
            "the subject stays one line"
        );
    }

    #[tokio::test]
    async fn uploads_are_capped_and_bad_bodies_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let router = state(tmp.path(), false, Arc::new(MemoryOutbox::new()));
        let multipart = |bytes: &[u8]| {
            let mut body = b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../a.bin\"\r\n\r\n".to_vec();
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n--XX--\r\n");
            body
        };
        let upload = "/api/apps/app1/integration-endpoints/Core/UploadFile";
        let form = "multipart/form-data; boundary=XX";
        let (status, body) = call(&router, upload, form, multipart(&[1u8; 50])).await;
        assert_eq!(status, 200, "{body}");
        let url = body["file_url"].as_str().expect("file_url");
        assert!(
            url.starts_with("https://app.example/_ferry/base44/files/public/"),
            "{url}"
        );
        assert!(url.ends_with("/a.bin"), "{url}");
        let (status, body) = call(&router, upload, form, multipart(&[1u8; 101])).await;
        assert_eq!((status, body["code"].as_str()), (413, Some("too-large")));
        // One file kept, no partial one.
        assert_eq!(
            std::fs::read_dir(tmp.path().join("public"))
                .expect("dir")
                .count(),
            1
        );
        assert_eq!(
            std::fs::read_dir(tmp.path().join("tmp"))
                .expect("dir")
                .count(),
            0
        );
        // JSON instead of multipart; garbage JSON; a private file without a signature.
        assert_eq!(
            call(&router, upload, "application/json", b"{}".to_vec())
                .await
                .0,
            400
        );
        let (status, body) = call(&router, MAIL, "application/json", b"{nope".to_vec()).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("bad-json")));
        let sign = "/api/apps/app1/integration-endpoints/Core/CreateFileSignedUrl";
        let (status, body) = call(
            &router,
            sign,
            "application/json",
            br#"{"file_uri":"private/x/../../y"}"#.to_vec(),
        )
        .await;
        assert_eq!((status, body["code"].as_str()), (400, Some("bad-file-uri")));
        let (status, _) = call(
            &router,
            sign,
            "application/json",
            br#"{"file_uri":"private/0123456789abcdef0123456789abcdef/a","expires_in":0}"#.to_vec(),
        )
        .await;
        assert_eq!(status, 400);
        let llm = "/api/apps/app1/integration-endpoints/Core/InvokeLLM";
        let (status, body) = call(
            &router,
            llm,
            "application/json",
            br#"{"prompt":"hi"}"#.to_vec(),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (501, Some("llm-not-configured"))
        );
    }

    #[test]
    fn emails() {
        assert!(plausible_email("a@b.co"));
        for bad in [
            "",
            "a",
            "a@b",
            "a b@c.d",
            "a@b.c\r\nBcc: x@y.z",
            "<a@b.c>",
            "a@@b.c",
            "a@.b",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn multipart_values() {
        assert_eq!(field_value("{\"a\":1}".into()), json!({"a": 1}));
        assert_eq!(field_value("300".into()), json!("300"));
        assert_eq!(field_value("{not json".into()), json!("{not json"));
    }

    #[test]
    fn not_supported_names_the_integration() {
        let e = not_supported("Core.SendSMS");
        assert_eq!(e.status, StatusCode::NOT_IMPLEMENTED);
        assert!(e.message.contains("Core.SendSMS"));
        assert_eq!(e.detail["integration"], "Core.SendSMS");
        let e = no_llm("InvokeLLM");
        assert!(
            e.message
                .starts_with("InvokeLLM needs an OpenAI-compatible endpoint: set FERRY_LLM_URL")
        );
    }
}
