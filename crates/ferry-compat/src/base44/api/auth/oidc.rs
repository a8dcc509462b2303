//! Sign-in with the owner's OpenID Connect provider (Google by default): `GET
//! /api/apps/auth/login?app_id=&from_url=` (the URL `@base44/sdk`'s
//! `loginWithProvider('google')` opens, under `appBaseUrl`) sends the browser to the provider
//! with a sealed flow cookie; `GET /oidc/callback` (under the pages' prefix:
//! `{app_url}/oidc/callback`, the redirect URI the owner registers) exchanges the code,
//! verifies the ID token ([`crate::base44::auth::oidc`]), finds the user by email (a migrated
//! user keeps their id and fields) or creates one, and returns to `from_url` with
//! `?access_token=`, exactly as the password sign-in page does. Failures are HTML pages.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::sql::{By, UserRow, set_verified_sql};
use super::{AuthConfig, normalize_email};
use crate::base44::api::{ApiError, Shared};
use crate::base44::auth::oidc::{
    Discovery, Expected, FLOW_TTL_SECS, Flow, OidcConfig, OidcError, authorize_url, id_token_of,
    token_request, verify_id_token,
};
use crate::base44::auth::role::role_for_new_user;
use crate::base44::auth::unix_now;
use crate::base44::integrations::http::send;
use crate::base44::pages::{self, PREFIX};
use crate::base44::record::Author;

/// The cookie carrying the sealed [`Flow`] between the start and the callback.
pub const FLOW_COOKIE: &str = "ferry_oidc";
/// The limit on each request to the provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The cap on each answer of the provider.
const PROVIDER_MAX_BYTES: usize = 256 * 1024;

/// The start's query.
#[derive(Deserialize)]
pub(in crate::base44::api) struct StartQuery {
    app_id: Option<String>,
    from_url: Option<String>,
}

/// The callback's query.
#[derive(Deserialize)]
pub(in crate::base44::api) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Why a flow step failed: an error page's status and text.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl From<OidcError> for Refusal {
    fn from(e: OidcError) -> Refusal {
        let status = match e {
            OidcError::Provider(_) | OidcError::Discovery(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::BAD_REQUEST,
        };
        Refusal {
            status,
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal {
            status: e.status,
            code: e.code,
            message: e.message,
        }
    }
}

impl Shared {
    fn oidc_page(&self, refusal: &Refusal) -> Response {
        let name = self
            .app
            .auth
            .as_ref()
            .map_or(self.app.app_id.as_str(), |c| c.app_name.as_str());
        pages::message_page(
            &self.app.app_id,
            name,
            refusal.status,
            "Sign-in failed",
            &format!("{} ({})", refusal.message, refusal.code),
        )
    }

    fn oidc_config(&self) -> Result<(&AuthConfig, &OidcConfig), Refusal> {
        let config = self.app.auth.as_ref();
        match config.and_then(|c| c.oidc.as_ref().map(|o| (c, o))) {
            Some(pair) => Ok(pair),
            None => Err(Refusal {
                status: StatusCode::NOT_FOUND,
                code: "oidc-not-configured",
                message: "sign-in with a provider is not configured for this app".into(),
            }),
        }
    }
}

/// `GET {provider}/.well-known/openid-configuration`.
async fn discover(oidc: &OidcConfig) -> Result<Discovery, OidcError> {
    let answer = get(&oidc.discovery_url()).await?;
    Discovery::parse(oidc, &answer)
}

async fn get(url: &str) -> Result<bytes::Bytes, OidcError> {
    let answer = send(
        http::Method::GET,
        url,
        &[(header::ACCEPT, "application/json".into())],
        None,
        PROVIDER_TIMEOUT,
        PROVIDER_MAX_BYTES,
    )
    .await
    .map_err(|e| OidcError::Provider(e.to_string()))?;
    if answer.status != 200 {
        return Err(OidcError::Provider(format!(
            "{} answered {}",
            crate::base44::integrations::http::redact(url),
            answer.status
        )));
    }
    Ok(answer.body)
}

/// `GET /api/apps/auth/login?app_id=&from_url=`: to the provider, with the flow cookie.
pub(in crate::base44::api) async fn oidc_start(
    State(s): State<Arc<Shared>>,
    Query(q): Query<StartQuery>,
) -> Response {
    match start(&s, &q).await {
        Ok(resp) => resp,
        Err(refusal) => s.oidc_page(&refusal),
    }
}

async fn start(s: &Shared, q: &StartQuery) -> Result<Response, Refusal> {
    if q.app_id.as_deref().is_some_and(|id| id != s.app.app_id) {
        return Err(ApiError::not_found("unknown-app", "no such app").into());
    }
    let (config, oidc) = s.oidc_config()?;
    let discovery = discover(oidc).await?;
    let flow =
        Flow::new(q.from_url.as_deref().unwrap_or("/"), unix_now()).map_err(ApiError::from)?;
    let url = authorize_url(&discovery, oidc, &config.redirect_uri(), &flow);
    let cookie = format!(
        "{FLOW_COOKIE}={}; Path={PREFIX}/; Max-Age={FLOW_TTL_SECS}; HttpOnly; SameSite=Lax{}",
        flow.seal(&config.key),
        secure_attr(config)
    );
    Ok(redirect(&url, &cookie))
}

fn secure_attr(config: &AuthConfig) -> &'static str {
    if config.app_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

fn redirect(to: &str, cookie: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(cookie) {
        h.insert(header::SET_COOKIE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// The flow cookie's value, if the request carries one.
fn flow_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == FLOW_COOKIE).then_some(value)
        })
}

/// `GET {PREFIX}/oidc/callback?code=&state=`: verifies, signs in, returns to the app.
pub(in crate::base44::api) async fn oidc_callback(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let mut resp = match callback(&s, &headers, &q).await {
        Ok(resp) => resp,
        Err(refusal) => s.oidc_page(&refusal),
    };
    // The flow is spent either way.
    let secure = s.app.auth.as_ref().map_or("", secure_attr);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{FLOW_COOKIE}=; Path={PREFIX}/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

async fn callback(s: &Shared, headers: &HeaderMap, q: &CallbackQuery) -> Result<Response, Refusal> {
    let (config, oidc) = s.oidc_config()?;
    let now = unix_now();
    let flow = Flow::open(&config.key, flow_cookie(headers).unwrap_or(""), now)?;
    flow.check_state(q.state.as_deref().unwrap_or(""))?;
    if let Some(error) = &q.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return Err(
            OidcError::Provider(format!("the provider refused the sign-in: {error}")).into(),
        );
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OidcError::Provider("the callback carries no code".into()))?;
    let discovery = discover(oidc).await?;
    let (authorization, body) =
        token_request(&discovery, oidc, code, &config.redirect_uri(), &flow);
    let mut token_headers = vec![(header::ACCEPT, "application/json".to_owned())];
    if let Some(a) = authorization {
        token_headers.push((header::AUTHORIZATION, a));
    }
    let answer = send(
        http::Method::POST,
        &discovery.token_endpoint,
        &token_headers,
        Some(("application/x-www-form-urlencoded", body.into_bytes())),
        PROVIDER_TIMEOUT,
        PROVIDER_MAX_BYTES,
    )
    .await
    .map_err(|e| OidcError::Provider(e.to_string()))?;
    let id_token = id_token_of(answer.status, &answer.body)?;
    let jwks: Value = serde_json::from_slice(&get(&discovery.jwks_uri).await?)
        .map_err(|e| OidcError::Provider(format!("the JWKS is not JSON: {e}")))?;
    let identity = verify_id_token(
        &id_token,
        &jwks,
        &Expected {
            issuer: &discovery.issuer,
            client_id: &oidc.client_id,
            nonce: &flow.nonce,
            now,
        },
    )?;
    let email = normalize_email(&identity.email).ok_or(OidcError::NoEmail)?;
    let user = signed_in_user(s, &email, identity.name.as_deref()).await?;
    let token = s.session_token(config, &user)?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let mut to = pages::local_target(&flow.from_url, host);
    let (path, fragment) = match to.split_once('#') {
        Some((p, f)) => (p.to_owned(), format!("#{f}")),
        None => (to.clone(), String::new()),
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    to = format!("{path}{sep}access_token={token}{fragment}");
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The user with `email` (their email now verified), or a new `user` with it.
async fn signed_in_user(s: &Shared, email: &str, name: Option<&str>) -> Result<UserRow, Refusal> {
    let users = s.users()?;
    let dialect = s.db().dialect();
    if s.find_user(By::Email(email)).await?.is_none() {
        let mut record = Map::new();
        record.insert("email".into(), Value::String(email.to_owned()));
        if let Some(name) = name {
            record.insert("full_name".into(), Value::String(name.to_owned()));
        }
        record.insert("role".into(), role_for_new_user(None).into());
        let mut tx = s.db().begin().await.map_err(ApiError::from)?;
        s.insert_user(&mut tx, &record, &Author::default()).await?;
        tx.commit().await.map_err(ApiError::from)?;
    }
    s.db()
        .execute(&set_verified_sql(users, dialect, By::Email(email)))
        .await
        .map_err(ApiError::from)?;
    Ok(s.find_user(By::Email(email))
        .await?
        .ok_or_else(|| ApiError::internal("the signed-in user vanished"))?)
}
