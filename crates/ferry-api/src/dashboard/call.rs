//! The dashboard's only way to the control plane: a request to an in-process `/api/v1` router
//! carrying the browser's address: the TCP listener's (bearer middleware included) with the
//! session's token, or, for the server's owner, the Unix socket's (the owner's authorisation,
//! no token). Authentication, throttling, authorisation and auditing are therefore the API's
//! own; the pages add none of their own.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, header};
use serde_json::Value;
use tower::ServiceExt as _;

/// Answers larger than this are refused (the API's own JSON answers are far smaller).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// What the API said when it did not answer 2xx.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// HTTP status.
    pub status: u16,
    /// The API's error code (`forbidden`, `app-not-found`, …).
    pub code: String,
    /// Its message.
    pub message: String,
    /// Its hint.
    pub hint: String,
}

impl Failure {
    fn internal(message: impl Into<String>) -> Self {
        Failure {
            status: 500,
            code: "dashboard".into(),
            message: message.into(),
            hint: "see the server log".into(),
        }
    }
}

/// The label the server's owner acts under through the dashboard (the audit log's actor).
pub const OWNER_LABEL: &str = "local/dashboard-owner";

/// The in-process API.
#[derive(Clone)]
pub struct Api {
    router: axum::Router,
    owner: bool,
}

impl Api {
    /// Wraps the TCP listener's `/api/v1` router (`Access::Bearer`): calls carry a token.
    pub fn bearer(router: axum::Router) -> Self {
        Api {
            router,
            owner: false,
        }
    }

    /// Wraps the Unix socket's `/api/v1` router (`Access::Local`): calls act as the server's
    /// owner, audited as [`OWNER_LABEL`] from the browser's address.
    pub fn owner(router: axum::Router) -> Self {
        Api {
            router,
            owner: true,
        }
    }

    /// `method path` with `token` (none on the owner's router), from `peer`: the JSON answer,
    /// or the API's failure.
    pub async fn call(
        &self,
        token: Option<&str>,
        peer: Option<SocketAddr>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let bytes = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                serde_json::to_vec(v).map_err(|e| Failure::internal(e.to_string()))?
            }
            None => Vec::new(),
        };
        let mut request = request
            .body(Body::from(bytes))
            .map_err(|e| Failure::internal(e.to_string()))?;
        if let Some(addr) = peer {
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        if self.owner {
            let ip = peer.map_or_else(|| "127.0.0.1".to_string(), |a| a.ip().to_string());
            request.extensions_mut().insert(crate::auth::OwnerVia {
                label: OWNER_LABEL.to_string(),
                source: format!("tcp:{ip}"),
            });
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        // The API's error shape: `{code, message, hint}`.
        let text = |key: &str| value[key].as_str().unwrap_or_default().to_string();
        Err(Failure {
            status,
            code: text("code"),
            message: match text("message") {
                m if m.is_empty() => format!("the API answered {status}"),
                m => m,
            },
            hint: text("hint"),
        })
    }
}
