//! The file routes: `GET`/`HEAD` `/_ferry/base44/files/public/<id>/<name>` (anyone) and
//! `/_ferry/base44/files/private/<id>/<name>?expires=&signature=` (a signed, unexpired link;
//! else 403). The body is streamed from disk.
//!
//! Every answer carries `X-Content-Type-Options: nosniff` and `Content-Security-Policy:
//! sandbox`, so an uploaded HTML or SVG file opened on the app's origin runs no script.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::json;

use super::{FILES_PREFIX, FileError, FileMeta, FileStore, Visibility};
use crate::base44::auth::unix_now;

/// The file routes of `store`, at [`FILES_PREFIX`]: mount this router at the app origin's
/// root (it has no fallback, so it can be merged with others).
pub fn router(store: Arc<FileStore>) -> Router {
    Router::new()
        .route(
            &format!("{FILES_PREFIX}/public/{{id}}/{{name}}"),
            get(public_file),
        )
        .route(
            &format!("{FILES_PREFIX}/private/{{id}}/{{name}}"),
            get(private_file),
        )
        .with_state(store)
}

#[derive(serde::Deserialize)]
struct Signed {
    expires: Option<String>,
    signature: Option<String>,
}

fn error(err: &FileError) -> Response {
    let status = match err {
        FileError::NotFound | FileError::BadUri(_) => StatusCode::NOT_FOUND,
        FileError::Expired | FileError::BadSignature => StatusCode::FORBIDDEN,
        FileError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        FileError::Io { .. } | FileError::Random => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match err {
        FileError::Io { .. } | FileError::Random => "internal server error".to_string(),
        other => other.to_string(),
    };
    let mut resp = (
        status,
        axum::Json(json!({"message": message, "detail": null, "code": err.code()})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn public_file(
    State(store): State<Arc<FileStore>>,
    method: Method,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    match store.find(Visibility::Public, &id).await {
        Ok((meta, path)) if meta.name == name => {
            serve(&meta, &path, &method, "public, max-age=31536000, immutable").await
        }
        Ok(_) => error(&FileError::NotFound),
        Err(e) => error(&e),
    }
}

async fn private_file(
    State(store): State<Arc<FileStore>>,
    method: Method,
    Path((id, name)): Path<(String, String)>,
    query: Result<Query<Signed>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (expires, signature) = query
        .map(|Query(q)| (q.expires, q.signature))
        .ok()
        .unwrap_or_default();
    // The signature is checked before the disk is looked at: an unsigned request learns
    // nothing about which ids exist.
    if let Err(e) = store.check_signature(&id, expires.as_deref(), signature.as_deref(), unix_now())
    {
        return error(&e);
    }
    match store.find(Visibility::Private, &id).await {
        Ok((meta, path)) if meta.name == name => {
            serve(&meta, &path, &method, "private, no-store").await
        }
        Ok(_) => error(&FileError::NotFound),
        Err(e) => error(&e),
    }
}

async fn serve(
    meta: &FileMeta,
    path: &std::path::Path,
    method: &Method,
    cache: &'static str,
) -> Response {
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return error(&FileError::NotFound),
        Err(e) => {
            return error(&FileError::Io {
                path: path.to_owned(),
                detail: e.to_string(),
            });
        }
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::new(FileBody {
            file,
            remaining: meta.size,
            buf: vec![0u8; 64 * 1024],
        })
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    let content_type = HeaderValue::from_str(&meta.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("inline; filename=\"{}\"", meta.name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    resp
}

/// A file's bytes as an HTTP body, read in 64 KiB chunks, at most `remaining` bytes.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        use tokio::io::AsyncRead as _;
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining)
            .unwrap_or(usize::MAX)
            .min(this.buf.len());
        let mut read_buf = tokio::io::ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut read_buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read_buf.filled().len();
                if n == 0 {
                    // The file shrank under us: end the body short (the length will not match
                    // and the client sees a truncated answer rather than made-up bytes).
                    this.remaining = 0;
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file is shorter than recorded",
                    ))));
                }
                this.remaining -= n as u64;
                Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::copy_from_slice(
                    read_buf.filled(),
                )))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}
