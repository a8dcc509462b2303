//! The one seam between the tools and the server: an [`Api`] sends one `/api/v1` request and
//! answers `(status, JSON body)`. [`RouterApi`] calls the server's own router in process
//! (streamable HTTP, the caller's bearer token forwarded); `crate::SocketApi` speaks HTTP over
//! the local Unix socket (stdio).

use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::ToolError;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Largest API answer a tool reads (logs are bounded well below it).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Who a call acts for.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The bearer token of the MCP request (streamable HTTP); none on stdio (the socket's
    /// owner).
    pub bearer: Option<String>,
    /// The client's address (streamable HTTP), for the API's audit and throttling.
    pub client: Option<std::net::SocketAddr>,
}

/// One `/api/v1` request.
pub trait Api: Send + Sync + 'static {
    /// Sends `method path` (with a JSON `body`) as `who`: the status and the JSON answer
    /// (`null` when the answer is not JSON). `Err` only when the server cannot be reached.
    fn call<'a>(
        &'a self,
        who: &'a Credentials,
        method: &'a str,
        path: &'a str,
        body: Option<Value>,
    ) -> BoxFuture<'a, Result<(u16, Value), ToolError>>;
}

/// The server's `/api/v1` router (the bearer-token one), called in process.
#[derive(Clone)]
pub struct RouterApi {
    router: axum::Router,
}

impl RouterApi {
    /// Wraps the `/api/v1` router of the control listener (bearer tokens).
    pub fn new(router: axum::Router) -> Self {
        RouterApi { router }
    }

    /// Sends one request as it is (the `/mcp` authentication check uses it too).
    pub async fn send(&self, request: Request<Body>) -> Result<(u16, Value), ToolError> {
        let answer = self.router.clone().oneshot(request).await.map_err(|err| {
            ToolError::new("api-unreachable", err.to_string(), "see the server log")
        })?;
        let status = answer.status().as_u16();
        let bytes = http_body_util::Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|err| {
                ToolError::new(
                    "api-answer",
                    format!("cannot read the API's answer: {err}"),
                    "see the server log",
                )
            })?
            .to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

/// A request for `path` with an optional JSON body and bearer token.
pub fn request(
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Result<Request<Body>, ToolError> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "ferry")
        .header(http::header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(value) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    builder
        .body(body)
        .map_err(|err| ToolError::invalid(format!("cannot make the request: {err}")))
}

impl Api for RouterApi {
    fn call<'a>(
        &'a self,
        who: &'a Credentials,
        method: &'a str,
        path: &'a str,
        body: Option<Value>,
    ) -> BoxFuture<'a, Result<(u16, Value), ToolError>> {
        Box::pin(async move {
            let mut request = request(method, path, who.bearer.as_deref(), body.as_ref())?;
            if let Some(addr) = who.client {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(addr));
            }
            self.send(request).await
        })
    }
}
