//! The parts of a request the handlers read: path parameters, the query string, the JSON
//! body, and the small answer helpers they share.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ApiError, MAX_BODY};
use crate::base44::record::{RecordError, is_valid_id};

#[derive(Deserialize)]
pub(super) struct EntityPath {
    pub(super) app_id: String,
    pub(super) name: String,
}

#[derive(Deserialize)]
pub(super) struct RecordPath {
    pub(super) app_id: String,
    pub(super) name: String,
    pub(super) id: String,
}

pub(super) type PathIn<T> = Result<Path<T>, PathRejection>;
pub(super) type QueryIn = Result<Query<Vec<(String, String)>>, QueryRejection>;
pub(super) type BodyIn = Result<Bytes, BytesRejection>;

pub(super) fn path<T>(p: PathIn<T>) -> Result<T, ApiError> {
    p.map(|Path(p)| p)
        .map_err(|_| ApiError::bad_request("bad-path", "the path is malformed"))
}

pub(super) fn query_pairs(q: QueryIn) -> Result<Vec<(String, String)>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|_| ApiError::bad_request("bad-query", "the query string is malformed"))
}

/// The body as JSON (`null` when empty).
pub(super) fn body_json(body: BodyIn) -> Result<Value, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the body is larger than {MAX_BODY} bytes"),
            )
        } else {
            ApiError::bad_request("bad-body", "the body could not be read")
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("bad-json", format!("the body is not JSON: {e}")))
}

pub(super) fn body_object(body: BodyIn) -> Result<Map<String, Value>, ApiError> {
    match body_json(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "bad-record",
            "the body must be a JSON object",
        )),
    }
}

/// An id from the path: one that cannot exist is a 404, like a missing record.
pub(super) fn record_id(id: &str) -> Result<&str, ApiError> {
    if is_valid_id(id) {
        Ok(id)
    } else {
        Err(record_not_found())
    }
}

pub(super) fn record_not_found() -> ApiError {
    ApiError::not_found("not-found", "no such record")
}

pub(super) type Answer = Result<Response, ApiError>;

pub(super) fn ok(value: Value) -> Answer {
    Ok(axum::Json(value).into_response())
}

/// A batch route's error for its `index`-th record (`detail: {"index": i}`).
pub(super) fn in_record(index: usize, e: RecordError) -> ApiError {
    ApiError::from(RecordError::InRecord {
        index,
        source: Box::new(e),
    })
}

/// Refuses a batch of more than `max` records (`too-large`).
pub(super) fn at_most(items: &[Value], max: usize, route: &str) -> Result<(), ApiError> {
    if items.len() > max {
        return Err(ApiError::bad_request(
            "too-large",
            format!("{route} takes at most {max} records"),
        ));
    }
    Ok(())
}
