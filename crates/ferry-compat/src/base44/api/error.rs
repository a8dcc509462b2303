//! The API's one error type: a status, a stable code and a message, sent as JSON.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::base44::auth::AuthError;
use crate::base44::auth::mail::MailError;
use crate::base44::query::QueryError;
use crate::base44::record::RecordError;
use crate::base44::rls::RlsError;
use crate::base44::store::StoreError;

/// An error answer: `{"message": …, "detail": …, "code": …}` with its HTTP status (the
/// shape `@base44/sdk` reads into `Base44Error`: `message`, `code`, `status`).
///
/// Server faults (500) carry a generic message; what really happened is kept out of the body
/// and attached to the response as an [`InternalError`] extension, for a logging layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code (`bad-query`, `not-found`, `forbidden`…).
    pub code: &'static str,
    /// A message safe to show the client.
    pub message: String,
    /// Extra detail for the client (`{"index": 3}` for a bulk record), or `null`.
    pub detail: Value,
    /// The server-side cause of a 500 (never sent to the client).
    pub internal: Option<String>,
}

/// The cause of a 500 answer, attached to the response's extensions (never in its body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalError(pub String);

impl ApiError {
    /// An error with `status`, `code` and `message`, no detail.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: Value::Null,
            internal: None,
        }
    }

    /// 400 with a client error code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 `unauthorized`: the credentials are missing, invalid or expired.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`: the entity's access rules refuse the operation.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 with `code` (`not-found`, `unknown-entity`, `unknown-app`).
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500 `internal`: a generic message; `cause` stays on the server.
    pub fn internal(cause: impl Into<String>) -> ApiError {
        ApiError {
            internal: Some(cause.into()),
            ..ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal server error",
            )
        }
    }

    /// The same error with `detail`.
    pub fn with_detail(mut self, detail: Value) -> ApiError {
        self.detail = detail;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"message": self.message, "detail": self.detail, "code": self.code});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(cause) = self.internal {
            response.extensions_mut().insert(InternalError(cause));
        }
        response
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> ApiError {
        ApiError::bad_request(e.code(), e.message())
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> ApiError {
        match &e {
            RecordError::BadRow(_) => ApiError::internal(e.to_string()),
            RecordError::InRecord { index, .. } => {
                ApiError::bad_request(e.code(), e.to_string()).with_detail(json!({"index": index}))
            }
            _ => ApiError::bad_request(e.code(), e.to_string()),
        }
    }
}

impl From<RlsError> for ApiError {
    fn from(e: RlsError) -> ApiError {
        ApiError {
            code: "bad-rls",
            message: "the entity's access rules are malformed".into(),
            ..ApiError::internal(e.to_string())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "a record with this id (or unique value) already exists",
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::WeakPassword { .. } => ApiError::bad_request(e.code(), e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<MailError> for ApiError {
    fn from(e: MailError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}
