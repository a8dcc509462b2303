//! The listener: HTTP/1.1 and HTTP/2 (h2c prior knowledge) on one port, bounded headers,
//! header-read timeouts against slowloris, a connection limit, graceful shutdown injected by
//! the caller. Static semantics: ETag/If-None-Match, Last-Modified, single ranges, HEAD,
//! precompressed br/gzip with `Vary`, cache policy by kind of file, security headers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::mount::EdgeBody;
use crate::variants::{self, Variants};
use crate::{Edge, Resolved};

/// Header naming the release that answered.
pub const RELEASE_HEADER: &str = "x-ferry-release";
/// Most simultaneous connections.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Largest request head (request line + headers).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Time a client has to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

fn connection_builder(
    header_timeout: Duration,
) -> Arc<hyper_util::server::conn::auto::Builder<TokioExecutor>> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    Arc::new(builder)
}

/// Serves one connection (plain or TLS) with HTTP/1.1 or HTTP/2, upgrades included (a
/// mount may answer `101` and take the connection over). `peer` is the client's address.
async fn serve_io<I>(
    edge: Arc<Edge>,
    builder: Arc<hyper_util::server::conn::auto::Builder<TokioExecutor>>,
    io: I,
    tls: bool,
    peer: SocketAddr,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let edge = edge.clone();
        async move { Ok::<_, Infallible>(dispatch(&edge, req, tls, peer).await) }
    });
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await;
}

/// Serves the rest of a connection the HTTP/1.1 fast path started reading (`pre` holds what
/// it read) with hyper: for requests a mount answers, whose bodies that path does not read.
pub(crate) async fn serve_handed_over(
    edge: Arc<Edge>,
    stream: tokio::net::TcpStream,
    pre: Bytes,
    peer: SocketAddr,
) {
    let builder = connection_builder(edge.limits.header_timeout);
    let io = crate::mount::Rewind::new(pre, stream);
    serve_io(edge, builder, io, false, peer).await;
}

/// Answers one request on hyper's connections: a mount when one owns the path (with the
/// client's address and, over TLS, the [`Tls`](crate::mount::Tls) marker in the request's
/// extensions), else the static answer.
async fn dispatch(
    edge: &Edge,
    mut req: Request<Incoming>,
    tls: bool,
    peer: SocketAddr,
) -> Response<EdgeBody> {
    let routing = edge.routing();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .map(str::to_string);
    let host = host.as_deref();
    if let Some(mounted) = crate::mount_for(&routing, host, req.uri().path()) {
        let started = std::time::Instant::now();
        let app = crate::app_for_host(&routing, host)
            .unwrap_or("")
            .to_string();
        let (method, path) = (req.method().to_string(), req.uri().path().to_string());
        let version = req.version();
        let extensions = req.extensions_mut();
        extensions.insert(crate::mount::ClientAddr(peer));
        if tls {
            extensions.insert(crate::mount::Tls);
        }
        let mut response = mounted.handler.call(req).await;
        if let Some(route) = crate::app_for(&routing, host)
            && let Ok(v) = HeaderValue::from_str(&route.live.id)
        {
            response.headers_mut().insert(RELEASE_HEADER, v);
        }
        record(
            edge,
            Answered {
                app: &app,
                method: &method,
                path: &path,
                status: response.status().as_u16(),
                bytes: exact_len(response.body()),
                release: release_of(&response),
                version,
            },
            started,
        );
        return response;
    }
    let response = handle_with(edge, req, tls).await;
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, crate::mount::boxed(body))
}

/// What one answer was, for metrics and the access log.
pub(crate) struct Answered<'a> {
    pub app: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes: u64,
    pub release: Option<&'a str>,
    pub version: http::Version,
}

/// Records an answer: metrics and the access log.
pub(crate) fn record(edge: &Edge, a: Answered<'_>, started: std::time::Instant) {
    let took = started.elapsed();
    edge.metrics.record(a.app, a.status, a.bytes, took);
    if let Some(log) = &edge.access_log {
        log.log(crate::observe::AccessEntry {
            ts: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            app: a.app.to_string(),
            method: a.method.to_string(),
            path: a.path.chars().take(2048).collect(),
            status: a.status,
            bytes: a.bytes,
            us: took.as_micros() as u64,
            release: a.release.map(str::to_string),
            version: format!("{:?}", a.version),
        });
    }
}

/// The exact length of a body, when known (0 otherwise).
fn exact_len<B: http_body::Body>(body: &B) -> u64 {
    http_body::Body::size_hint(body).exact().unwrap_or(0)
}

/// The `x-ferry-release` of an answer.
fn release_of<B>(response: &Response<B>) -> Option<&str> {
    response
        .headers()
        .get(RELEASE_HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Serves `edge` on `listener` until `shutdown` resolves.
pub async fn serve(edge: Arc<Edge>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let permits = Arc::new(tokio::sync::Semaphore::new(edge.limits.max_connections));
    let builder = connection_builder(edge.limits.header_timeout);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over the limit: close at once rather than queue without bound.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (edge, builder) = (edge.clone(), builder.clone());
        tokio::spawn(async move {
            if crate::h1::is_h2(&stream, edge.limits.header_timeout).await {
                serve_io(edge, builder, stream, false, peer).await;
            } else {
                crate::h1::serve(edge, stream, peer).await;
            }
            drop(permit);
        });
    }
}

/// Serves `edge` over TLS on `listener` with certificates from `certs` (reloaded every
/// second when a file changes) until `shutdown` resolves.
pub async fn serve_tls(
    edge: Arc<Edge>,
    listener: TcpListener,
    certs: Arc<crate::tls::CertStore>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), rustls::Error> {
    let acceptor = tokio_rustls::TlsAcceptor::from(certs.server_config()?);
    let reloader = {
        let certs = certs.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let certs = certs.clone();
                if let Ok(true) =
                    tokio::task::spawn_blocking(move || certs.reload_if_changed()).await
                {
                    tracing::info!("TLS certificates reloaded");
                }
            }
        })
    };
    tokio::pin!(shutdown);
    let permits = Arc::new(tokio::sync::Semaphore::new(edge.limits.max_connections));
    let builder = connection_builder(edge.limits.header_timeout);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (edge, builder, acceptor) = (edge.clone(), builder.clone(), acceptor.clone());
        tokio::spawn(async move {
            if let Ok(Ok(tls)) = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await
            {
                serve_io(edge, builder, tls, true, peer).await;
            }
            drop(permit);
        });
    }
    reloader.abort();
    Ok(())
}

/// `date: <now>\r\n`, formatted at most once per second per thread.
pub(crate) fn date_header() -> String {
    use std::cell::RefCell;
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now {
            *c = (
                now,
                format!("date: {}\r\n", crate::httpdate::format(now * 1000)),
            );
        }
        c.1.clone()
    })
}

/// Marks an answer served from a previous release (skew protection).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SkewServed;

/// What the edge reads of a request.
#[derive(Debug, Default)]
pub struct Req<'a> {
    /// Method.
    pub method: Method,
    /// Host (header, or the HTTP/2 authority).
    pub host: Option<&'a str>,
    /// Path, percent-encoded as received.
    pub path: &'a str,
    /// `Accept-Encoding`.
    pub accept_encoding: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `Range`.
    pub range: Option<&'a str>,
    /// Query string (kept on rule redirects).
    pub query: Option<&'a str>,
    /// Arrived over TLS (adds HSTS).
    pub tls: bool,
}

/// Answers one request, then records it (metrics, access log).
pub async fn handle_with(edge: &Edge, req: Request<Incoming>, tls: bool) -> Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let (parts, _) = req.into_parts();
    let get = |h: header::HeaderName| parts.headers.get(h).and_then(|v| v.to_str().ok());
    let host = get(header::HOST).or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let r = Req {
        method: parts.method.clone(),
        host,
        path: parts.uri.path(),
        accept_encoding: get(header::ACCEPT_ENCODING),
        if_none_match: get(header::IF_NONE_MATCH),
        range: get(header::RANGE),
        query: parts.uri.query(),
        tls,
    };
    respond(edge, &edge.routing(), &r, started, parts.version).await
}

/// Answers `r` on one routing snapshot, then records it (metrics, access log). Shared by
/// hyper's connections and the HTTP/1.1 fast path.
pub(crate) async fn respond(
    edge: &Edge,
    routing: &crate::Routing,
    r: &Req<'_>,
    started: std::time::Instant,
    version: http::Version,
) -> Response<Full<Bytes>> {
    let response = answer_in(edge, routing, r).await;
    record(
        edge,
        Answered {
            app: crate::app_for_host(routing, r.host).unwrap_or(""),
            method: r.method.as_str(),
            path: r.path,
            status: response.status().as_u16(),
            bytes: exact_len(response.body()),
            release: release_of(&response),
            version,
        },
        started,
    );
    response
}

/// Answers a request against `routing` (one snapshot for the whole request).
async fn answer_in(edge: &Edge, routing: &crate::Routing, r: &Req<'_>) -> Response<Full<Bytes>> {
    if r.method != Method::GET && r.method != Method::HEAD {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let resolved = crate::resolve::resolve_query(routing, r.host, r.path, r.query);
    match resolved {
        Resolved::BadRequest => text(StatusCode::BAD_REQUEST, "bad request\n"),
        Resolved::NoApp if r.path == "/healthz" => text(StatusCode::OK, "ok\n"),
        Resolved::NoApp => text(
            StatusCode::NOT_FOUND,
            "no app is deployed here yet: run `ferry up`\n",
        ),
        Resolved::NotFound(release) => {
            if r.path == "/healthz" {
                text(StatusCode::OK, "ok\n")
            } else {
                not_found(edge, routing, r, &release).await
            }
        }
        Resolved::Redirect {
            location,
            status,
            release,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
            let mut resp = text(code, "redirecting\n");
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&location) {
                h.insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&release) {
                h.insert(RELEASE_HEADER, v);
            }
            resp
        }
        Resolved::File {
            release,
            path,
            entry,
            skew,
            fallback,
            status,
        } => {
            let variants = crate::app_for(routing, r.host)
                .and_then(|route| route.variants.get(&entry.hash).copied())
                .unwrap_or_default();
            let file = FileAnswer {
                release_id: &release.id,
                created_at: release.created_at,
                path: &path,
                entry: &entry,
                fallback,
                variants,
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                extra: if release.routes.rules.is_empty() {
                    Vec::new()
                } else {
                    release
                        .routes
                        .rules
                        .headers_for(&format!("/{}", r.path.trim_start_matches('/')))
                },
            };
            let mut resp = serve_file(edge, r, &file).await;
            if skew {
                edge.count_skew();
                resp.extensions_mut().insert(SkewServed);
            }
            resp
        }
    }
}

/// A file about to be served.
struct FileAnswer<'a> {
    release_id: &'a str,
    created_at: u64,
    path: &'a str,
    entry: &'a ferry_release::FileEntry,
    fallback: bool,
    variants: Variants,
    status: StatusCode,
    /// Headers from the release's rules.
    extra: Vec<(String, String)>,
}

async fn serve_file(edge: &Edge, r: &Req<'_>, f: &FileAnswer<'_>) -> Response<Full<Bytes>> {
    let hash = f.entry.hash.as_str();
    let compressible = variants::compressible(&f.entry.content_type);
    let encoding = if r.range.is_none() {
        variants::negotiate(r.accept_encoding, f.variants)
    } else {
        None
    };
    let etag = match encoding {
        Some(enc) => format!("\"{}-{enc}\"", &hash[..24]),
        None => format!("\"{}\"", &hash[..24]),
    };
    let mut headers = HeaderMap::new();
    let mut put = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put(header::CONTENT_TYPE, &f.entry.content_type);
    put(header::ETAG, &etag);
    put(
        header::LAST_MODIFIED,
        &crate::httpdate::format(f.created_at),
    );
    put(
        header::HeaderName::from_static(RELEASE_HEADER),
        f.release_id,
    );
    let stat = HeaderValue::from_static;
    headers.insert(
        header::CACHE_CONTROL,
        stat(cache_control(f.path, f.fallback)),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, stat("nosniff"));
    headers.insert(
        header::REFERRER_POLICY,
        stat("strict-origin-when-cross-origin"),
    );
    headers.insert(header::ACCEPT_RANGES, stat("bytes"));
    if compressible {
        headers.insert(header::VARY, stat("accept-encoding"));
    }
    if r.tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, stat("max-age=31536000"));
    }
    if let Some(enc) = encoding {
        headers.insert(header::CONTENT_ENCODING, stat(enc));
    }
    for (name, v) in &f.extra {
        if let (Ok(name), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(name, v);
        }
    }
    if f.status == StatusCode::OK && matches_etag(r.if_none_match, &etag) {
        return with(StatusCode::NOT_MODIFIED, headers, Bytes::new());
    }
    use crate::cache::Repr;
    let (repr, ext) = match encoding {
        Some("br") => (Repr::Brotli, "br"),
        Some(_) => (Repr::Gzip, "gz"),
        None => (Repr::Identity, ""),
    };
    let path = || match repr {
        Repr::Identity => edge.blobs().path(&f.entry.hash),
        _ => variants::variant_path(edge.variants_root(), &f.entry.hash, ext),
    };
    let body = match edge.cache.get(repr, hash, path).await {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(%hash, %err, "content unreadable");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        }
    };
    let len = body.len() as u64;
    if let (Some(range), StatusCode::OK) = (r.range, f.status) {
        match parse_range(range, len) {
            Some(Ok((start, end))) => {
                headers.insert(
                    header::CONTENT_RANGE,
                    value(&format!("bytes {start}-{end}/{len}")),
                );
                headers.insert(
                    header::CONTENT_LENGTH,
                    value(&(end - start + 1).to_string()),
                );
                let part = if r.method == Method::HEAD {
                    Bytes::new()
                } else {
                    body.slice(start as usize..=end as usize)
                };
                return with(StatusCode::PARTIAL_CONTENT, headers, part);
            }
            Some(Err(())) => {
                headers.insert(header::CONTENT_RANGE, value(&format!("bytes */{len}")));
                return with(StatusCode::RANGE_NOT_SATISFIABLE, headers, Bytes::new());
            }
            None => {}
        }
    }
    headers.insert(header::CONTENT_LENGTH, value(&len.to_string()));
    let body = if r.method == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut resp = with(f.status, headers, body);
    if len >= crate::h1::SENDFILE_MIN && r.method == Method::GET {
        let file = match repr {
            Repr::Identity => edge.blobs().path(&f.entry.hash),
            _ => variants::variant_path(edge.variants_root(), &f.entry.hash, ext),
        };
        resp.extensions_mut().insert(crate::h1::BodyFile(file));
    }
    resp
}

/// The release's custom not-found page (the rules' `not_found`, else `404.html`) with status
/// 404, else a plain 404.
async fn not_found(
    edge: &Edge,
    routing: &crate::Routing,
    r: &Req<'_>,
    release: &str,
) -> Response<Full<Bytes>> {
    if let Some(route) = crate::app_for(routing, r.host) {
        let page = route
            .live
            .routes
            .rules
            .not_found
            .as_deref()
            .unwrap_or("404.html");
        let page = page.trim_start_matches('/');
        if let Some(entry) = route.live.files.get(page) {
            let file = FileAnswer {
                release_id: &route.live.id,
                created_at: route.live.created_at,
                path: page,
                entry,
                fallback: true,
                variants: route.variants.get(&entry.hash).copied().unwrap_or_default(),
                status: StatusCode::NOT_FOUND,
                extra: Vec::new(),
            };
            return serve_file(edge, r, &file).await;
        }
    }
    let mut resp = text(StatusCode::NOT_FOUND, "not found\n");
    if let Ok(v) = HeaderValue::from_str(release) {
        resp.headers_mut().insert(RELEASE_HEADER, v);
    }
    resp
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn with(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// Whether `If-None-Match` names `etag` (weak comparison; `*` matches).
pub fn matches_etag(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(list) = if_none_match else {
        return false;
    };
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// A single `bytes=` range against `len`: `None` to ignore the header (multi-range or
/// malformed), `Some(Err)` when unsatisfiable, else the inclusive bounds.
pub fn parse_range(header: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, true) => return None,
        (true, false) => {
            let n: u64 = b.parse().ok()?;
            if n == 0 || len == 0 {
                return Some(Err(()));
            }
            (len.saturating_sub(n), len - 1)
        }
        (false, _) => {
            let start: u64 = a.parse().ok()?;
            let end: u64 = if b.is_empty() {
                len.saturating_sub(1)
            } else {
                b.parse().ok()?
            };
            if start >= len || end < start {
                return Some(Err(()));
            }
            (start, end.min(len - 1))
        }
    };
    Some(Ok(range))
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
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=9-3", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=x-1", 100), None);
    }

    #[test]
    fn etags() {
        assert!(matches_etag(Some("\"abc\""), "\"abc\""));
        assert!(matches_etag(Some("W/\"abc\", \"def\""), "\"abc\""));
        assert!(matches_etag(Some("*"), "\"abc\""));
        assert!(!matches_etag(Some("\"abd\""), "\"abc\""));
        assert!(!matches_etag(None, "\"abc\""));
    }
}
