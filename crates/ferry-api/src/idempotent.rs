//! `Idempotency-Key` on the deploy steps (`POST /api/v1/apps/{app}/releases` and
//! `…/activate`): a request carrying a key is acted on at most once per caller and key; a
//! repeat of the same request (method, path, body) within 24 hours gets the stored answer
//! (with `idempotent-replayed: true`), the same key with another request is
//! `422 idempotency-mismatch`, and a repeat while the first is still being handled is
//! `409 idempotency-in-progress` (retry shortly). Only successful answers are stored: after a
//! failure, a retry with the same key acts again.
//!
//! The work runs on its own task, so a client that disconnects mid-request (the case a retry
//! is for) does not cut it short: its answer is stored for the retry to find.

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferry_control::Claim;
use serde_json::Value;

use crate::ApiError;
use crate::auth::Caller;
use crate::state::ServerState;

/// The request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// The answer header saying the answer is a stored one.
pub const REPLAYED: &str = "idempotent-replayed";

/// Runs `act` for `who`'s request (`method`, `path`, `body` as parsed and serialised again),
/// at most once per `Idempotency-Key` when the request carries one.
pub async fn once<F>(
    s: &Arc<ServerState>,
    who: &Caller,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
    act: F,
) -> Result<Response, ApiError>
where
    F: Future<Output = Result<Json<Value>, ApiError>> + Send + 'static,
{
    let Some(raw) = headers.get(HEADER) else {
        return act.await.map(IntoResponse::into_response);
    };
    let key = raw
        .to_str()
        .ok()
        .filter(|k| ferry_control::idempotency::is_valid_key(k))
        .ok_or_else(|| {
            ApiError::new(
                400,
                "bad-idempotency-key",
                "the Idempotency-Key header is not 1 to 255 visible ASCII characters",
                "send a random key such as 32 hex digits",
            )
        })?
        .to_string();
    let request = ferry_control::request_fingerprint(method, path, body);
    let claim = s.control()?.idempotent_claim(&who.0, &key, &request)?;
    match claim {
        Claim::Replay(answer) => {
            tracing::debug!(%key, status = answer.status, "idempotent replay");
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            let value: Value = serde_json::from_str(&answer.response).unwrap_or(Value::Null);
            let mut response = (status, Json(value)).into_response();
            response
                .headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
        Claim::Mismatch => Err(ApiError::new(
            422,
            "idempotency-mismatch",
            format!("the Idempotency-Key `{key}` was used for another request"),
            "use a new key for each distinct request",
        )),
        Claim::InProgress => {
            let mut response = ApiError::new(
                409,
                "idempotency-in-progress",
                format!("a request with the Idempotency-Key `{key}` is still being handled"),
                "retry in a moment with the same key to get its answer",
            )
            .into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            Ok(response)
        }
        Claim::Claimed => {
            let state = s.clone();
            let principal = who.0.clone();
            let task = tokio::spawn(async move {
                let result = act.await;
                let stored = match &result {
                    Ok(Json(value)) => state.control().and_then(|mut c| {
                        c.idempotent_put(&principal, &key, &request, 200, &value.to_string())
                            .map_err(ApiError::from)
                    }),
                    Err(_) => state.control().and_then(|mut c| {
                        c.idempotent_release(&principal, &key)
                            .map_err(ApiError::from)
                    }),
                };
                if let Err(err) = stored {
                    tracing::warn!(error = %err, "could not store an idempotent answer");
                }
                result
            });
            let result = task.await.map_err(|err| {
                ApiError::new(500, "internal", err.to_string(), "see the server log")
            })?;
            result.map(IntoResponse::into_response)
        }
    }
}
