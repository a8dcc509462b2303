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
