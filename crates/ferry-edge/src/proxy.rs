//! The reverse proxy mount: forwards the requests under a prefix of an app to one of its
//! server processes, listening on a loopback port and speaking HTTP/1.1.
//!
//! - **Two paths:** a plain HTTP/1.1 request without a body (no upgrade, no `Expect`) that
//!   arrives on the edge's HTTP/1.1 fast path is forwarded by that connection's task itself
//!   over the lean client of `upstream.rs` (its own keep-alive pool, one retry of an
//!   idempotent request whose reused connection the upstream had closed); everything else
//!   (bodies, upgrades, HTTP/1.0, HTTP/2, TLS) goes through [`Mount::call`] below, with
//!   hyper-util's pooling client. Both give the same answers, headers, errors and counts.
//! - **Pool:** keep-alive connections to the upstream, closed after
//!   [`ProxyLimits::pool_idle_timeout`] unused.
//! - **Streaming:** request and response bodies pass through frame by frame, never buffered,
//!   so uploads of any size (up to [`ProxyLimits::max_request_body`], else `413`) and
//!   server-sent events work.
//! - **Upgrades:** an HTTP/1.1 request with `Connection: upgrade` (WebSocket and others) is
//!   forwarded with its `Upgrade` header; when the upstream answers `101`, the client's and
//!   the upstream's connections are spliced together.
//! - **Headers:** hop-by-hop headers are removed both ways (`Connection` and the headers it
//!   names, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade` unless
//!   upgrading, and `Expect`, which the edge has already answered); `Host` is kept and
//!   `X-Forwarded-For` (appended), `X-Forwarded-Proto` and `X-Forwarded-Host` are set.
//! - **Errors:** an unreachable upstream answers `502`, one that sends no response head in
//!   time `504`, each with a short text body and [`ERROR_HEADER`].
//! - **Draining:** a proxy counts the requests it is answering ([`Proxy::in_flight`]), long
//!   streams included, and [`Proxy::close_streams`] ends its event streams and upgraded
//!   connections, so an old release can be stopped without cutting ordinary requests.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Extensions, Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::{Notify, watch};

use crate::mount::{BoxError, ClientAddr, EdgeBody, Mount, MountFuture, Tls, boxed};

/// Header naming why the proxy answered instead of the upstream: `upstream-unreachable`
/// (`502`, the connection was refused or timed out), `upstream-failed` (`502`, the upstream
/// closed or broke the connection before a valid response head), `upstream-timeout` (`504`),
/// `body-too-large` (`413`), `method-not-allowed` (`405`, `CONNECT`), `bad-request` (`400`).
pub const ERROR_HEADER: &str = "x-ferry-error";

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// How long a proxy waits and how much it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyLimits {
    /// Time to open a connection to the upstream (default 5 s); past it, `502`.
    pub connect_timeout: Duration,
    /// Time the upstream has to send its response head once the request's body stops
    /// arriving (default 60 s); past it, `504`. Each body frame forwarded restarts it, so a
    /// long upload is not cut.
    pub response_header_timeout: Duration,
    /// Largest request body, in bytes (default 100 MiB); larger, `413`.
    pub max_request_body: u64,
    /// Time an unused keep-alive connection to the upstream stays open (default 4 s: below
    /// the 5 s after which Node's and uvicorn's servers close idle connections, so the pool
    /// seldom sends a request on a connection the upstream is closing; reconnecting over
    /// loopback is cheap).
    pub pool_idle_timeout: Duration,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        ProxyLimits {
            connect_timeout: Duration::from_secs(5),
            response_header_timeout: Duration::from_secs(60),
            max_request_body: 100 * 1024 * 1024,
            pool_idle_timeout: Duration::from_secs(4),
        }
    }
}

/// Why a proxy cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream is not a loopback address with a port: the edge proxies only to
    /// processes on its own machine.
    #[error("upstream {0} is not a loopback address with a port")]
    NotLoopback(SocketAddr),
}

impl ProxyError {
    /// A stable, kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotLoopback(_) => "proxy-upstream-not-loopback",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NotLoopback(_) => {
                "point the proxy at the app's process on this machine: 127.0.0.1:<port> or [::1]:<port>"
            }
        }
    }
}

/// A reverse proxy to one upstream on a loopback port: a [`Mount`].
pub struct Proxy {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) upstream: SocketAddr,
    pub(crate) authority: Authority,
    pub(crate) limits: ProxyLimits,
    client: Client<HttpConnector, Upload>,
    pub(crate) shared: Arc<Shared>,
    /// Idle connections of the lean path ([`crate::upstream`]).
    pub(crate) pool: crate::upstream::Pool,
}

/// What a proxy's requests and streams share with it.
#[derive(Debug)]
pub(crate) struct Shared {
    in_flight: AtomicUsize,
    streams: AtomicUsize,
    /// Becomes `true` once, when the streams are closed.
    closing: watch::Sender<bool>,
    /// Woken when `in_flight` drops to zero.
    idle: Notify,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.inner.upstream)
            .field("limits", &self.inner.limits)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy to `upstream`, which must be a loopback address with a non-zero port. No
    /// connection is opened until the first request.
    pub fn new(upstream: SocketAddr, limits: ProxyLimits) -> Result<Self, ProxyError> {
        if !upstream.ip().is_loopback() || upstream.port() == 0 {
            return Err(ProxyError::NotLoopback(upstream));
        }
        let authority = Authority::try_from(upstream.to_string().as_str())
            .map_err(|_| ProxyError::NotLoopback(upstream))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(limits.connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(limits.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .set_host(false)
            .build(connector);
        let (closing, _) = watch::channel(false);
        Ok(Proxy {
            inner: Arc::new(Inner {
                upstream,
                authority,
                limits,
                client,
                pool: crate::upstream::Pool::default(),
                shared: Arc::new(Shared {
                    in_flight: AtomicUsize::new(0),
                    streams: AtomicUsize::new(0),
                    closing,
                    idle: Notify::new(),
                }),
            }),
        })
    }

    /// The upstream's address.
    pub fn upstream(&self) -> SocketAddr {
        self.inner.upstream
    }

    /// The limits.
    pub fn limits(&self) -> ProxyLimits {
        self.inner.limits
    }

    /// Requests being answered now: from their arrival until their response body ends (or
    /// the client goes away); an event stream or an upgraded connection counts until it ends.
    pub fn in_flight(&self) -> usize {
        self.inner.shared.in_flight.load(Ordering::Acquire)
    }

    /// Long-lived streams open now (event streams and upgraded connections), counted in
    /// [`in_flight`](Self::in_flight) too.
    pub fn open_streams(&self) -> usize {
        self.inner.shared.streams.load(Ordering::Acquire)
    }

    /// Resolves once no request is in flight (at once when none is).
    pub async fn idle(&self) {
        let shared = &self.inner.shared;
        loop {
            let notified = shared.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Ends the long-lived streams, for good: every event stream (`text/event-stream`
    /// response) ends cleanly at once, so clients reconnect (to the new release), and every
    /// upgraded connection is closed — those open now and any opened later. Ordinary
    /// responses run to their end.
    pub fn close_streams(&self) {
        self.inner.shared.closing.send_replace(true);
    }
}

impl Mount for Proxy {
    fn call(&self, req: Request<Incoming>) -> MountFuture {
        Box::pin(self.inner.clone().forward(req))
    }

    fn as_proxy(&self) -> Option<&Proxy> {
        Some(self)
    }
}

impl Proxy {
    /// What the lean path ([`crate::upstream`]) forwards with.
    pub(crate) fn lean(&self) -> Arc<Inner> {
        self.inner.clone()
    }
}

/// Counts one request in flight until dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Shared>);

impl InFlight {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Counts one long-lived stream until dropped, and knows when streams are closed.
pub(crate) struct Stream {
    shared: Arc<Shared>,
    pub(crate) closed: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Stream {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.streams.fetch_add(1, Ordering::AcqRel);
        let mut closing = shared.closing.subscribe();
        Stream {
            shared: shared.clone(),
            closed: Box::pin(async move {
                // An error means the proxy is gone: close as well.
                let _ = closing.wait_for(|closed| *closed).await;
            }),
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shared.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Inner {
    async fn forward(self: Arc<Self>, mut req: Request<Incoming>) -> Response<EdgeBody> {
        let in_flight = InFlight::new(&self.shared);
        if req.method() == Method::CONNECT {
            return failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "method not allowed\n",
            );
        }
        if req.body().size_hint().lower() > self.limits.max_request_body {
            return failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "request body too large\n",
            );
        }
        let version = req.version();
        let upgrade = if version == Version::HTTP_11 && names(req.headers(), "upgrade") {
            req.headers().get(header::UPGRADE).cloned()
        } else {
            None
        };
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let Ok(uri) = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
        else {
            return failure(StatusCode::BAD_REQUEST, "bad-request", "bad request\n");
        };
        let headers = self.upstream_headers(&mut parts, upgrade.as_ref());
        let sent = Arc::new(Sent::default());
        let mut out = Request::new(Upload {
            inner: body,
            left: self.limits.max_request_body,
            sent: sent.clone(),
        });
        *out.method_mut() = parts.method;
        *out.uri_mut() = uri;
        *out.version_mut() = Version::HTTP_11;
        *out.headers_mut() = headers;

        let mut response = match self.response_head(out, &sent).await {
            Ok(response) => response,
            Err(Failure::Timeout) => {
                return failure(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream-timeout",
                    "upstream timed out\n",
                );
            }
            Err(Failure::Client(_)) if sent.too_large.load(Ordering::Acquire) => {
                return failure(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "request body too large\n",
                );
            }
            Err(Failure::Client(err)) if err.is_connect() => {
                tracing::debug!(upstream = %self.upstream, %err, "upstream unreachable");
                return failure(
                    StatusCode::BAD_GATEWAY,
                    "upstream-unreachable",
                    "upstream unreachable\n",
                );
            }
            Err(Failure::Client(err)) => {
                tracing::debug!(upstream = %self.upstream, %err, "upstream failed");
                return failure(
                    StatusCode::BAD_GATEWAY,
                    "upstream-failed",
                    "upstream failed\n",
                );
            }
        };

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let (Some(client_upgrade), Some(asked)) = (client_upgrade, upgrade) else {
                return failure(
                    StatusCode::BAD_GATEWAY,
                    "upstream-failed",
                    "upstream switched protocols unasked\n",
                );
            };
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let (mut parts, _) = response.into_parts();
            let protocol = parts.headers.get(header::UPGRADE).cloned().unwrap_or(asked);
            strip_hop_by_hop(&mut parts.headers);
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, protocol);
            parts.extensions = Extensions::new();
            parts.version = version;
            let stream = Stream::new(&self.shared);
            tokio::spawn(splice(client_upgrade, upstream_upgrade, stream, in_flight));
            return Response::from_parts(parts, boxed(Empty::<Bytes>::new()));
        }

        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts.extensions = Extensions::new();
        parts.version = version;
        let stream = is_event_stream(&parts.headers).then(|| Stream::new(&self.shared));
        let body = Relay {
            inner: body,
            in_flight: Some(in_flight),
            stream,
            done: false,
        };
        Response::from_parts(parts, boxed(body))
    }

    /// The headers sent upstream: the client's without hop-by-hop ones, `Host` kept (or
    /// taken from an HTTP/2 authority), `X-Forwarded-*` set.
    fn upstream_headers(
        &self,
        parts: &mut http::request::Parts,
        upgrade: Option<&HeaderValue>,
    ) -> HeaderMap {
        let mut headers = std::mem::take(&mut parts.headers);
        let host = headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        strip_hop_by_hop(&mut headers);
        headers.remove(header::EXPECT);
        match &host {
            Some(host) => {
                headers.insert(header::HOST, host.clone());
                headers.insert(X_FORWARDED_HOST, host.clone());
            }
            None => {
                if let Ok(v) = HeaderValue::from_str(self.authority.as_str()) {
                    headers.insert(header::HOST, v);
                }
            }
        }
        if let Some(ClientAddr(client)) = parts.extensions.get::<ClientAddr>() {
            let ip = client.ip().to_canonical().to_string();
            let mut prior = headers
                .get_all(&X_FORWARDED_FOR)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .peekable();
            let chain = if prior.peek().is_some() {
                let mut chain = prior.collect::<Vec<_>>().join(", ");
                chain.push_str(", ");
                chain.push_str(&ip);
                chain
            } else {
                ip
            };
            if let Ok(v) = HeaderValue::from_str(&chain) {
                headers.insert(X_FORWARDED_FOR, v);
            }
        }
        let proto = if parts.extensions.get::<Tls>().is_some() {
            "https"
        } else {
            "http"
        };
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        if let Some(protocol) = upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }
        headers
    }

    /// Sends `out` and waits for the response head, for at most the response-header timeout
    /// after the last body frame went out.
    async fn response_head(
        &self,
        out: Request<Upload>,
        sent: &Sent,
    ) -> Result<Response<Incoming>, Failure> {
        let answer = self.client.request(out);
        tokio::pin!(answer);
        let mut seen = sent.frames.load(Ordering::Acquire);
        loop {
            match tokio::time::timeout(self.limits.response_header_timeout, answer.as_mut()).await {
                Ok(result) => return result.map_err(Failure::Client),
                Err(_) => {
                    let now = sent.frames.load(Ordering::Acquire);
                    if now == seen {
                        return Err(Failure::Timeout);
                    }
                    seen = now;
                }
            }
        }
    }
}

/// Why no response head came from the upstream.
enum Failure {
    Timeout,
    Client(hyper_util::client::legacy::Error),
}

/// Splices an upgraded client connection to the upgraded upstream one until either side
/// closes or the streams are closed.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    mut stream: Stream,
    in_flight: InFlight,
) {
    let copy = async move {
        let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
            return;
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    };
    tokio::select! {
        () = copy => {}
        () = stream.closed.as_mut() => {}
    }
    drop(stream);
    drop(in_flight);
}

/// How much of a request body went upstream.
#[derive(Debug, Default)]
struct Sent {
    /// Frames forwarded.
    frames: AtomicU64,
    /// The body went past the limit.
    too_large: AtomicBool,
}

/// A request body past the limit.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than the proxy's limit")]
struct BodyTooLarge;

/// The client's request body on its way upstream, counted against the limit.
struct Upload {
    inner: Incoming,
    left: u64,
    sent: Arc<Sent>,
}

impl Body for Upload {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.left {
                        this.sent.too_large.store(true, Ordering::Release);
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                    }
                    this.left -= len;
                }
                this.sent.frames.fetch_add(1, Ordering::AcqRel);
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => Poll::Ready(Some(Err(Box::new(err)))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The upstream's response body on its way to the client: counted in flight until it ends,
/// and, for an event stream, ended when the streams are closed.
struct Relay {
    inner: Incoming,
    in_flight: Option<InFlight>,
    stream: Option<Stream>,
    done: bool,
}

impl Relay {
    fn finish(&mut self) {
        self.done = true;
        self.stream = None;
        self.in_flight = None;
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(stream) = &mut this.stream
            && stream.closed.as_mut().poll(cx).is_ready()
        {
            this.finish();
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

/// Whether the `Connection` header lists `token`.
fn names(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Removes the hop-by-hop headers: those `Connection` names, then the standard ones.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .chain(
            headers
                .keys()
                .filter(|name| name.as_str().starts_with("proxy-"))
                .cloned(),
        )
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
    ] {
        headers.remove(name);
    }
}

/// Whether a response is a server-sent event stream.
fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// The proxy's own answer: `status`, a short text, and `code` in [`ERROR_HEADER`].
fn failure(status: StatusCode, code: &'static str, text: &'static str) -> Response<EdgeBody> {
    let mut response = Response::new(boxed(Full::new(Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(ERROR_HEADER, HeaderValue::from_static(code));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Private"),
            ("connection", "other"),
            ("x-private", "1"),
            ("other", "2"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("content-type", "text/plain"),
            ("x-kept", "3"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-kept"]);
    }

    #[test]
    fn connection_tokens_and_event_streams() {
        let h = map(&[("connection", "keep-alive, Upgrade")]);
        assert!(names(&h, "upgrade"));
        assert!(!names(&h, "close"));
        assert!(is_event_stream(&map(&[(
            "content-type",
            "Text/Event-Stream; charset=utf-8"
        )])));
        assert!(!is_event_stream(&map(&[("content-type", "text/plain")])));
    }

    #[test]
    fn only_loopback_upstreams() {
        let limits = ProxyLimits::default();
        for bad in ["10.0.0.1:80", "0.0.0.0:80", "127.0.0.1:0"] {
            let err = Proxy::new(bad.parse().expect("addr"), limits).expect_err(bad);
            assert_eq!(err.code(), "proxy-upstream-not-loopback");
        }
        for good in ["127.0.0.1:3000", "[::1]:3000"] {
            let proxy = Proxy::new(good.parse().expect("addr"), limits).expect(good);
            assert_eq!(proxy.in_flight(), 0);
        }
    }

    #[tokio::test]
    async fn idle_resolves_when_nothing_is_in_flight() {
        let proxy = Arc::new(
            Proxy::new("127.0.0.1:9".parse().expect("addr"), ProxyLimits::default()).expect("new"),
        );
        proxy.idle().await;
        let guard = InFlight::new(&proxy.inner.shared);
        assert_eq!(proxy.in_flight(), 1);
        let waiting = tokio::spawn({
            let proxy = proxy.clone();
            async move { proxy.idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(guard);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("idle after the last request")
            .expect("task");
        assert_eq!(proxy.in_flight(), 0);
    }
}
