//! One error type for every handler: JSON `{error: {code, message, hint}}` with a status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An API failure.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable kebab-case code.
    pub code: String,
    /// One line.
    pub message: String,
    /// What to do.
    pub hint: String,
}

impl ApiError {
    /// A new error.
    pub fn new(
        status: u16,
        code: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(
            404,
            "not-found",
            what,
            "list what exists with `ferry status`",
        )
    }

    /// 400.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message, "check the request")
    }
}

impl From<ferry_control::ControlError> for ApiError {
    fn from(err: ferry_control::ControlError) -> Self {
        let code = err.code();
        let status = match code {
            "app-not-found"
            | "release-not-found"
            | "environment-not-found"
            | "org-not-found"
            | "user-not-found"
            | "token-not-found" => 404,
            "app-exists" | "org-exists" | "user-exists" => 409,
            "forbidden" => 403,
            _ if err.is_bad_input() => 400,
            _ => 500,
        };
        ApiError::new(status, code, err.to_string(), err.hint())
    }
}

impl From<ferry_release::ReleaseError> for ApiError {
    fn from(err: ferry_release::ReleaseError) -> Self {
        let code = err.code();
        let status = match code {
            "not-found" | "missing-blob" => 404,
            "release-conflict" => 409,
            _ if err.is_bad_input() => 400,
            _ => 500,
        };
        ApiError::new(status, code, err.to_string(), err.hint())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = %self.code, message = %self.message, "request failed");
        }
        let body =
            serde_json::json!({"code": self.code, "message": self.message, "hint": self.hint});
        (status, Json(body)).into_response()
    }
}

/// Turns the answers axum gives on its own — an unknown path or method, a body or query its
/// extractors refuse (`Json`, `Query`, `Path`), a body over the limit — into the JSON error
/// shape every handler answers with, so a client (and the OpenAPI document) sees one error
/// format. Answers that are JSON already pass through.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let (code, hint) = match status.as_u16() {
        404 => ("no-route", "see /api/openapi.json for the routes"),
        405 => (
            "method-not-allowed",
            "see /api/openapi.json for the methods",
        ),
        413 => ("body-too-large", "send a smaller body"),
        415 => (
            "unsupported-media-type",
            "send `content-type: application/json`",
        ),
        422 => ("bad-body", "check the body against /api/openapi.json"),
        s if s < 500 => ("bad-request", "check the request against /api/openapi.json"),
        _ => ("internal", "see the server log"),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut answer = ApiError::new(status.as_u16(), code, message, hint).into_response();
    // Keep what the original answer said about itself (`allow`, `retry-after`, …).
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}
