//! The HTTP/1.1 listener: one task per connection, graceful shutdown injected by the caller.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{Edge, Resolved, resolve};

/// Header naming the release that answered.
pub const RELEASE_HEADER: &str = "x-ferry-release";

/// Serves `edge` on `listener` until `shutdown` resolves.
pub async fn serve(edge: Arc<Edge>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let edge = edge.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let edge = edge.clone();
                async move { Ok::<_, Infallible>(handle(&edge, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Answers one request (exposed for tests).
pub async fn handle(edge: &Edge, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, _) = req.into_parts();
    answer(
        edge,
        &parts.method,
        parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok()),
        parts.uri.path(),
    )
    .await
}

/// Answers a request given its method, host and path.
pub async fn answer(
    edge: &Edge,
    method: &Method,
    host: Option<&str>,
    path: &str,
) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        edge.count(405, false);
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let routing = edge.routing();
    let resolved = resolve(&routing, host, path);
    let response = match resolved {
        Resolved::BadRequest => text(StatusCode::BAD_REQUEST, "bad request\n"),
        Resolved::NoApp => text(
            StatusCode::NOT_FOUND,
            "no app is deployed here yet: run `ferry up`\n",
        ),
        Resolved::NotFound(release) => {
            let mut r = text(StatusCode::NOT_FOUND, "not found\n");
            if let Ok(v) = HeaderValue::from_str(&release) {
                r.headers_mut().insert(RELEASE_HEADER, v);
            }
            r
        }
        Resolved::File {
            release,
            path,
            entry,
            skew,
            fallback,
        } => {
            let blob_path = edge.blobs().path(&entry.hash);
            match tokio::fs::read(&blob_path).await {
                Ok(bytes) => {
                    let mut r = Response::new(Full::new(if method == Method::HEAD {
                        Bytes::new()
                    } else {
                        Bytes::from(bytes)
                    }));
                    let h = r.headers_mut();
                    if let Ok(v) = HeaderValue::from_str(&entry.content_type) {
                        h.insert(header::CONTENT_TYPE, v);
                    }
                    if let Ok(v) = HeaderValue::from_str(&entry.size.to_string()) {
                        h.insert(header::CONTENT_LENGTH, v);
                    }
                    if let Ok(v) = HeaderValue::from_str(&release.id) {
                        h.insert(RELEASE_HEADER, v);
                    }
                    h.insert(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static(cache_control(&path, fallback)),
                    );
                    h.insert(
                        "x-content-type-options",
                        HeaderValue::from_static("nosniff"),
                    );
                    edge.count(200, skew);
                    return r;
                }
                Err(err) => {
                    tracing::error!(blob = %blob_path.display(), %err, "blob unreadable");
                    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
                }
            }
        }
    };
    edge.count(response.status().as_u16(), false);
    response
}

fn cache_control(path: &str, fallback: bool) -> &'static str {
    if fallback || path.ends_with(".html") {
        "no-cache"
    } else if path.starts_with("assets/")
        || path.contains("/_next/static/")
        || path.starts_with("_next/static/")
    {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
