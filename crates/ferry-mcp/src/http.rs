//! `/mcp`: streamable HTTP on the server's control listener. Every request needs a valid bearer
//! token (checked by the API itself, so failed attempts are audited and throttled as the API's
//! are); tools then call the `/api/v1` router in process with that same token.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::jobs::{Jobs, Runner};
use crate::local::Roots;
use crate::{Ferry, RouterApi, Transport};

/// Where `/mcp` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// `$FERRY_HOME` (deploy children build with its caches).
    pub home: PathBuf,
    /// The control listener's address (`127.0.0.1:8081`): deploy children talk to it with the
    /// caller's token.
    pub control_addr: String,
    /// The `ferry` executable deploy children run.
    pub exe: PathBuf,
    /// The folders `inspect`, `plan` and `deploy` may read.
    pub roots: Roots,
}

impl Options {
    /// For the server running now: its own executable, `FERRY_MCP_ROOTS`.
    pub fn for_server(home: PathBuf, control_addr: String) -> Self {
        Options {
            home,
            control_addr,
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ferry")),
            roots: Roots::from_env(),
        }
    }
}

/// The `/mcp` route over `api`, the control listener's `/api/v1` router (bearer tokens).
pub fn router(api: axum::Router, options: Options) -> axum::Router {
    let api = RouterApi::new(api);
    let runner = Runner {
        exe: options.exe,
        env: vec![
            ("FERRY_HOME".into(), options.home.display().to_string()),
            (
                "FERRY_SERVER".into(),
                format!("http://{}", options.control_addr),
            ),
        ],
        remove_env: vec!["FERRY_TOKEN".into()],
    };
    let ferry = Ferry::new(
        Arc::new(api.clone()),
        Jobs::new(runner),
        options.roots,
        Transport::Http,
    );
    // Stateless: each request stands alone with its own token (no session to hijack), answers
    // as plain JSON. The `Host` check guards against DNS rebinding of ambient credentials;
    // `/mcp` has none (a bearer token is never sent by a browser on its own), and a remote
    // server is reached by names this process cannot know.
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .disable_allowed_hosts();
    let service: StreamableHttpService<Ferry, NeverSessionManager> = StreamableHttpService::new(
        move || Ok(ferry.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    axum::Router::new()
        .route_service("/mcp", service)
        .route_layer(axum::middleware::from_fn_with_state(api, require_token))
}

/// No valid bearer token: the API's own `401` (or `429`), audited and throttled by it.
async fn require_token(State(api): State<RouterApi>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut check = http::Request::builder()
        .method("GET")
        .uri("/api/v1/status")
        .header(http::header::HOST, "ferry");
    if let Some(t) = &token {
        check = check.header(http::header::AUTHORIZATION, t);
    }
    let Ok(mut check) = check.body(axum::body::Body::empty()) else {
        return unauthenticated("the Authorization header is not valid");
    };
    if let Some(info) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        check.extensions_mut().insert(*info);
    }
    match api.send(check).await {
        Ok((status, _)) if (200..300).contains(&status) => next.run(request).await,
        Ok((status, body)) if status == 401 || status == 429 => {
            let mut r = (
                http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::UNAUTHORIZED),
                axum::Json(body),
            )
                .into_response();
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            r
        }
        Ok((status, body)) => (
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY),
            axum::Json(body),
        )
            .into_response(),
        Err(err) => unauthenticated(&err.message),
    }
}

fn unauthenticated(reason: &str) -> Response {
    let body = serde_json::json!({
        "code": "unauthenticated",
        "message": reason,
        "hint": "send `Authorization: Bearer <token>` with a valid token (`ferry token create`)",
    });
    let mut r = (http::StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    r
}
