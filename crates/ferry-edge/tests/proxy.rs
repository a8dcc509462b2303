//! The reverse proxy mount against a real upstream (a small hyper server written here) behind a
//! real edge, both on 127.0.0.1 ports, driven by hyper clients and raw TCP.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_edge::mount::{Mount, Mounted};
use ferry_edge::{AppRoute, Edge, Proxy, ProxyLimits};
use ferry_release::{BlobStore, BuildInfo, FileEntry, ReleaseManifest, Routes, SourceRef};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Long enough for anything that should happen, short enough to fail rather than hang.
const PATIENCE: Duration = Duration::from_secs(10);

/// A body fed from a channel: the test decides when each piece is sent and when it ends.
struct Channel(mpsc::Receiver<Bytes>);

impl Body for Channel {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|piece| piece.map(|b| Ok(Frame::data(b))))
    }
}

type TestBody = BoxBody<Bytes, Infallible>;

fn full(s: impl Into<Bytes>) -> TestBody {
    Full::new(s.into()).boxed()
}

fn empty() -> TestBody {
    Empty::new().boxed()
}

/// The upstream: what it saw, and the event streams it opened.
struct Upstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    uploaded: Arc<AtomicU64>,
    events: mpsc::UnboundedReceiver<mpsc::Sender<Bytes>>,
}

#[derive(Clone)]
struct UpstreamState {
    uploaded: Arc<AtomicU64>,
    events: mpsc::UnboundedSender<mpsc::Sender<Bytes>>,
}

/// Answers by the path's last segment: `echo` (the request as text), `upload` (counts the
/// body's bytes as they arrive), `sse` (an event stream the test feeds), `ws` (an upgrade,
/// then echoes bytes), `slow` (never answers).
async fn upstream_answer(
    state: UpstreamState,
    mut req: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let last = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    let response = match last.as_str() {
        "echo" => {
            let mut text = format!("{} {}\n", req.method(), req.uri());
            for (name, value) in req.headers() {
                text.push_str(&format!(
                    "{}: {}\n",
                    name,
                    value.to_str().expect("ascii header")
                ));
            }
            text.push('\n');
            let body = req.into_body().collect().await.expect("body").to_bytes();
            text.push_str(std::str::from_utf8(&body).expect("utf-8 body"));
            Response::builder()
                .header("x-kept", "yes")
                .header("x-private", "hop")
                .header("connection", "x-private")
                .header("keep-alive", "timeout=5")
                .body(full(text))
                .expect("response")
        }
        "upload" => {
            let mut body = req.into_body();
            let mut total = 0u64;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.expect("frame").into_data() {
                    total += data.len() as u64;
                    state
                        .uploaded
                        .fetch_add(data.len() as u64, Ordering::SeqCst);
                }
            }
            Response::new(full(total.to_string()))
        }
        "sse" => {
            let (tx, rx) = mpsc::channel(8);
            state.events.send(tx).expect("test listens");
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(Channel(rx).boxed())
                .expect("response")
        }
        "ws" => {
            let asked = req
                .headers()
                .get("upgrade")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
            if !asked || !req.headers().contains_key("sec-websocket-key") {
                return Ok(Response::builder()
                    .status(400)
                    .body(full("not an upgrade"))
                    .expect("response"));
            }
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(upgraded) = on.await else { return };
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 4096];
                loop {
                    match io.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if io.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            Response::builder()
                .status(101)
                .header("upgrade", "websocket")
                .header("connection", "Upgrade")
                .header("sec-websocket-accept", "accepted")
                .body(empty())
                .expect("response")
        }
        "slow" => std::future::pending().await,
        _ => Response::builder()
            .status(404)
            .body(full("no such thing"))
            .expect("response"),
    };
    Ok(response)
}

async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let uploaded = Arc::new(AtomicU64::new(0));
    let (events_tx, events) = mpsc::unbounded_channel();
    let state = UpstreamState {
        uploaded: uploaded.clone(),
        events: events_tx,
    };
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| upstream_answer(state.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Upstream {
        addr,
        connections,
        uploaded,
        events,
    }
}

const INDEX: &str = "static index\n";

/// An edge serving one app whose release holds `index.html`, with `proxy` mounted at
/// `prefix`.
async fn edge(prefix: &str, proxy: Arc<Proxy>) -> (SocketAddr, tempfile::TempDir) {
    let (edge, dir) = edge_only(prefix, proxy);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(ferry_edge::serve(edge, listener, std::future::pending()));
    (addr, dir)
}

/// The edge of [`edge`], not yet serving.
fn edge_only(prefix: &str, proxy: Arc<Proxy>) -> (Arc<Edge>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let blobs = BlobStore::open(&dir.path().join("blobs")).expect("store");
    let put = blobs.put_bytes(INDEX.as_bytes(), None).expect("put");
    let mut files = BTreeMap::new();
    files.insert(
        "index.html".to_string(),
        FileEntry {
            hash: put.hash,
            size: put.size,
            mode: 0o644,
            content_type: "text/html; charset=utf-8".into(),
            link: None,
        },
    );
    let live = Arc::new(ReleaseManifest {
        schema: "ferry.release".into(),
        version: 1,
        id: "r1".into(),
        app: "shop".into(),
        created_at: 0,
        source: SourceRef {
            commit: None,
            path: None,
        },
        files,
        routes: Routes::default(),
        env: Vec::new(),
        build: BuildInfo {
            framework: None,
            unit: "web".into(),
            duration_ms: 0,
        },
        backend: None,
    });
    let edge = Arc::new(Edge::new(blobs, dir.path().join("variants")));
    let handler: Arc<dyn Mount> = proxy;
    edge.set_app(
        "shop",
        AppRoute {
            live,
            previous: Vec::new(),
            variants: Default::default(),
            mounts: vec![Mounted::new(prefix, handler)],
        },
    );
    (edge, dir)
}

fn proxy_to(addr: SocketAddr, limits: ProxyLimits) -> Arc<Proxy> {
    Arc::new(Proxy::new(addr, limits).expect("proxy"))
}

/// An HTTP/1.1 client connection to `addr`.
async fn client(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<TestBody> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn.with_upgrades());
    sender
}

fn request(method: &str, path: &str, body: TestBody) -> Request<TestBody> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "shop.example:8080")
        .body(body)
        .expect("request")
}

/// Sends `req` and reads the whole answer.
async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<TestBody>,
    req: Request<TestBody>,
) -> (StatusCode, HeaderMap, String) {
    let response = tokio::time::timeout(PATIENCE, sender.send_request(req))
        .await
        .expect("answered in time")
        .expect("response");
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(PATIENCE, body.collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

/// The upstream's echo: the request line, the headers (name → values), the body.
fn parse_echo(text: &str) -> (String, BTreeMap<String, Vec<String>>, String) {
    let (head, body) = text.split_once("\n\n").expect("echo");
    let mut lines = head.lines();
    let line = lines.next().expect("request line").to_string();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in lines {
        let (name, value) = l.split_once(": ").expect("header line");
        headers
            .entry(name.to_string())
            .or_default()
            .push(value.to_string());
    }
    (line, headers, body.to_string())
}

fn one<'a>(headers: &'a BTreeMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| {
        assert_eq!(v.len(), 1, "{name} appears once");
        v[0].as_str()
    })
}

/// Waits (polling) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn requests_and_answers_cross_with_forwarded_headers() {
    let up = upstream().await;
    let proxy = proxy_to(up.addr, ProxyLimits::default());
    let (addr, _dir) = edge("/", proxy.clone()).await;
    let mut c = client(addr).await;

    let mut req = request("GET", "/echo?x=1&y=%20", empty());
    let h = req.headers_mut();
    h.insert("connection", "keep-alive, x-secret".parse().expect("v"));
    h.insert("x-secret", "private".parse().expect("v"));
    h.insert("keep-alive", "timeout=5".parse().expect("v"));
    h.insert("te", "trailers".parse().expect("v"));
    h.insert("proxy-authorization", "Basic eDp5".parse().expect("v"));
    h.insert("x-forwarded-for", "203.0.113.7".parse().expect("v"));
    h.insert("x-forwarded-proto", "https".parse().expect("v"));
    h.insert("x-custom", "kept".parse().expect("v"));
    let (status, headers, text) = send(&mut c, req).await;
    assert_eq!(status, StatusCode::OK);
    let (line, seen, body) = parse_echo(&text);
    assert_eq!(line, "GET /echo?x=1&y=%20");
    assert_eq!(body, "");
    assert_eq!(one(&seen, "host"), Some("shop.example:8080"), "Host kept");
    assert_eq!(one(&seen, "x-forwarded-host"), Some("shop.example:8080"));
    assert_eq!(
        one(&seen, "x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1"),
        "the client's address is appended"
    );
    assert_eq!(
        one(&seen, "x-forwarded-proto"),
        Some("http"),
        "set by the edge, not the client"
    );
    assert_eq!(one(&seen, "x-custom"), Some("kept"));
    for hop in ["x-secret", "keep-alive", "te", "proxy-authorization"] {
        assert!(!seen.contains_key(hop), "{hop} must not reach the upstream");
    }
    assert_eq!(
        headers.get("x-kept").map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );
    assert!(headers.get("x-private").is_none(), "named by Connection");
    assert!(headers.get("keep-alive").is_none());
    assert_eq!(
        headers.get("x-ferry-release").map(|v| v.as_bytes()),
        Some(&b"r1"[..])
    );

    // HEAD: the upstream's length, no body.
    let (status, head_headers, text) = send(&mut c, request("HEAD", "/echo", empty())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "");
    assert!(
        head_headers.contains_key("content-length"),
        "{head_headers:?}"
    );
    assert_ne!(head_headers["content-length"], "0");

    let (status, _, text) = send(&mut c, request("POST", "/echo", full("hello upstream"))).await;
    assert_eq!(status, StatusCode::OK);
    let (line, seen, body) = parse_echo(&text);
    assert_eq!(line, "POST /echo");
    assert_eq!(body, "hello upstream");
    assert_eq!(one(&seen, "content-length"), Some("14"));
    assert_eq!(one(&seen, "x-forwarded-for"), Some("127.0.0.1"));
    until("the answers to end", || proxy.in_flight() == 0).await;
}

#[tokio::test]
async fn a_large_upload_streams_to_the_upstream() {
    const CHUNK: usize = 64 * 1024;
    const HALF: usize = 10 * 1024 * 1024;
    let up = upstream().await;
    let (addr, _dir) = edge("/", proxy_to(up.addr, ProxyLimits::default())).await;
    let mut c = client(addr).await;
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let answer =
        tokio::spawn(
            async move { send(&mut c, request("POST", "/upload", Channel(rx).boxed())).await },
        );
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    for _ in 0..HALF / CHUNK {
        tx.send(chunk.clone()).await.expect("send");
    }
    // Half of the body is out and the client holds the rest back: a proxy that buffered the
    // body would show the upstream nothing yet.
    until("the upstream to receive part of the body", || {
        up.uploaded.load(Ordering::SeqCst) > 0
    })
    .await;
    assert!(up.uploaded.load(Ordering::SeqCst) <= HALF as u64);
    for _ in 0..HALF / CHUNK {
        tx.send(chunk.clone()).await.expect("send");
    }
    drop(tx);
    let (status, _, text) = tokio::time::timeout(PATIENCE * 3, answer)
        .await
        .expect("answered")
        .expect("task");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, (2 * HALF).to_string());
    assert_eq!(up.uploaded.load(Ordering::SeqCst), 2 * HALF as u64);
}

/// Reads frames until `body` has yielded `want` in all.
async fn read_until(body: &mut Incoming, want: &str) {
    let mut got = String::new();
    while got.len() < want.len() {
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            got.push_str(std::str::from_utf8(&data).expect("utf-8"));
        }
    }
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_event_stream_arrives_event_by_event() {
    let mut up = upstream().await;
    let proxy = proxy_to(up.addr, ProxyLimits::default());
    let (addr, _dir) = edge("/", proxy.clone()).await;
    let mut c = client(addr).await;
    let pending = c.send_request(request("GET", "/sse", empty()));
    let events = tokio::time::timeout(PATIENCE, up.events.recv())
        .await
        .expect("the upstream got the request")
        .expect("an event stream");
    events
        .send(Bytes::from_static(b"data: one\n\n"))
        .await
        .expect("send");
    let response = tokio::time::timeout(PATIENCE, pending)
        .await
        .expect("head in time")
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/event-stream"[..])
    );
    let mut body = response.into_body();
    // The first event reaches the client while the upstream still holds the stream open.
    read_until(&mut body, "data: one\n\n").await;
    assert!(!events.is_closed(), "the upstream has not finished");
    assert_eq!(proxy.in_flight(), 1);
    assert_eq!(proxy.open_streams(), 1);
    events
        .send(Bytes::from_static(b"data: two\n\n"))
        .await
        .expect("send");
    read_until(&mut body, "data: two\n\n").await;
    drop(events);
    let end = tokio::time::timeout(PATIENCE, body.frame())
        .await
        .expect("end in time");
    assert!(end.is_none(), "the stream ends when the upstream's does");
    tokio::time::timeout(PATIENCE, proxy.idle())
        .await
        .expect("nothing in flight");
    assert_eq!(proxy.open_streams(), 0);
}

#[tokio::test]
async fn close_streams_ends_an_event_stream_and_counts_it_out() {
    let mut up = upstream().await;
    let proxy = proxy_to(up.addr, ProxyLimits::default());
    let (addr, _dir) = edge("/api/", proxy.clone()).await;
    let mut c = client(addr).await;
    let pending = c.send_request(request("GET", "/api/sse", empty()));
    let events = tokio::time::timeout(PATIENCE, up.events.recv())
        .await
        .expect("the upstream got the request")
        .expect("an event stream");
    events
        .send(Bytes::from_static(b"data: hello\n\n"))
        .await
        .expect("send");
    let response = tokio::time::timeout(PATIENCE, pending)
        .await
        .expect("head in time")
        .expect("response");
    let mut body = response.into_body();
    read_until(&mut body, "data: hello\n\n").await;
    assert_eq!(proxy.in_flight(), 1, "an open stream is in flight");
    assert_eq!(proxy.open_streams(), 1);

    proxy.close_streams();
    let end = tokio::time::timeout(PATIENCE, body.frame())
        .await
        .expect("the stream ends in time");
    assert!(end.is_none(), "a clean end, so the client reconnects");
    tokio::time::timeout(PATIENCE, proxy.idle())
        .await
        .expect("nothing in flight after close_streams");
    assert_eq!(proxy.open_streams(), 0);
    // The upstream never ended its stream: close_streams did.
    drop(events);

    // Ordinary requests still go through on the same connection.
    let (status, _, text) = send(&mut c, request("GET", "/api/echo", empty())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.starts_with("GET /api/echo\n"), "{text}");
}

/// Reads from `stream` until the end of a response head; returns the head and what followed.
async fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut piece = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8(buf).expect("utf-8 head"), rest);
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut piece))
            .await
            .expect("head in time")
            .expect("read");
        assert!(n > 0, "closed before the head ended: {buf:?}");
        buf.extend_from_slice(&piece[..n]);
    }
}

#[tokio::test]
async fn an_upgrade_splices_both_connections() {
    let up = upstream().await;
    let proxy = proxy_to(up.addr, ProxyLimits::default());
    let (addr, _dir) = edge("/", proxy.clone()).await;
    // Raw TCP through the HTTP/1.1 fast path, which hands the connection to hyper.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(
        b"GET /chat/ws HTTP/1.1\r\nHost: shop.example\r\nConnection: Upgrade\r\n\
          Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("write");
    let (head, rest) = read_head(&mut tcp).await;
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 101"), "{head}");
    assert!(lower.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(
        lower.contains("\r\nsec-websocket-accept: accepted\r\n"),
        "{head}"
    );
    assert!(rest.is_empty());

    for message in [&b"hello over the splice"[..], &[0u8, 1, 2, 255, 254][..]] {
        tcp.write_all(message).await.expect("write");
        let mut echoed = vec![0u8; message.len()];
        tokio::time::timeout(PATIENCE, tcp.read_exact(&mut echoed))
            .await
            .expect("echo in time")
            .expect("read");
        assert_eq!(echoed, message);
    }
    assert_eq!(proxy.in_flight(), 1, "the splice is in flight");
    assert_eq!(proxy.open_streams(), 1);

    proxy.close_streams();
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut byte))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "close_streams ends the splice");
    tokio::time::timeout(PATIENCE, proxy.idle())
        .await
        .expect("nothing in flight");
    assert_eq!(proxy.open_streams(), 0);
}

#[tokio::test]
async fn sequential_requests_reuse_one_upstream_connection() {
    let up = upstream().await;
    let (addr, _dir) = edge("/", proxy_to(up.addr, ProxyLimits::default())).await;
    for i in 0..5 {
        // A new client connection each time: reuse is the proxy's pool, not the client's.
        let mut c = client(addr).await;
        let (status, _, text) = send(&mut c, request("POST", "/echo", full(format!("n{i}")))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.ends_with(&format!("\n\nn{i}")), "{text}");
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_prefix_mount_leaves_the_files_to_the_edge() {
    let up = upstream().await;
    let (addr, _dir) = edge("/api/", proxy_to(up.addr, ProxyLimits::default())).await;
    let mut c = client(addr).await;
    // A static file (the fast path), then the mount (a plain GET: forwarded by the fast path
    // itself), then static files again on the same connection.
    let (status, headers, text) = send(&mut c, request("GET", "/index.html", empty())).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, INDEX));
    assert!(headers.get("x-ferry-error").is_none());
    let (status, _, text) = send(&mut c, request("GET", "/api/v1/echo?q=1", empty())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.starts_with("GET /api/v1/echo?q=1\n"), "{text}");
    for path in ["/index.html", "/"] {
        let (status, _, text) = send(&mut c, request("GET", path, empty())).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, INDEX), "{path}");
    }
    let (status, _, _) = send(&mut c, request("GET", "/apix/echo", empty())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "/apix is not under /api/");
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn http2_requests_are_forwarded_as_http1() {
    let up = upstream().await;
    let (addr, _dir) = edge("/", proxy_to(up.addr, ProxyLimits::default())).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let req = Request::builder()
        .method("POST")
        .uri("http://shop.example/echo")
        .body(full("over h2"))
        .expect("request");
    let response = tokio::time::timeout(PATIENCE, sender.send_request(req))
        .await
        .expect("in time")
        .expect("response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let text = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let (line, seen, body) = parse_echo(std::str::from_utf8(&text).expect("utf-8"));
    assert_eq!(line, "POST /echo");
    assert_eq!(body, "over h2");
    assert_eq!(one(&seen, "host"), Some("shop.example"));
    assert_eq!(one(&seen, "x-forwarded-host"), Some("shop.example"));
    assert_eq!(one(&seen, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(one(&seen, "x-forwarded-proto"), Some("http"));
}

/// A self-signed certificate for `host` (with the `openssl` command), in the edge's layout:
/// `<dir>/<host>/{cert,key}.pem`. Returns the certificate.
fn make_cert(dir: &std::path::Path, host: &str) -> rustls_pki_types::CertificateDer<'static> {
    use rustls_pki_types::pem::PemObject;
    let at = dir.join(host);
    std::fs::create_dir_all(&at).expect("mkdir");
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .arg("-keyout")
        .arg(at.join("key.pem"))
        .arg("-out")
        .arg(at.join("cert.pem"))
        .args(["-subj", &format!("/CN={host}")])
        .args(["-addext", &format!("subjectAltName=DNS:{host}")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl made a certificate");
    rustls_pki_types::CertificateDer::from_pem_file(at.join("cert.pem")).expect("cert")
}

#[tokio::test]
async fn requests_over_tls_are_forwarded_as_https() {
    let up = upstream().await;
    let (edge, dir) = edge_only("/", proxy_to(up.addr, ProxyLimits::default()));
    let cert = make_cert(&dir.path().join("certs"), "shop.localhost");
    let certs = ferry_edge::tls::CertStore::load(&dir.path().join("certs")).expect("certs");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(ferry_edge::serve_tls(
        edge,
        listener,
        certs,
        std::future::pending(),
    ));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("shop.localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let (mut c, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::builder()
        .uri("/echo")
        .header("host", "shop.localhost")
        .body(empty())
        .expect("request");
    let (status, _, text) = send(&mut c, req).await;
    assert_eq!(status, StatusCode::OK);
    let (_, seen, _) = parse_echo(&text);
    assert_eq!(one(&seen, "x-forwarded-proto"), Some("https"));
    assert_eq!(one(&seen, "x-forwarded-host"), Some("shop.localhost"));
    assert_eq!(one(&seen, "x-forwarded-for"), Some("127.0.0.1"));
}

fn error_of(headers: &HeaderMap) -> &str {
    headers
        .get("x-ferry-error")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr")
    };
    let proxy = proxy_to(closed, ProxyLimits::default());
    let (addr, _dir) = edge("/", proxy.clone()).await;
    let mut c = client(addr).await;
    let (status, headers, text) = send(&mut c, request("GET", "/anything", empty())).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(error_of(&headers), "upstream-unreachable");
    assert_eq!(text, "upstream unreachable\n");
    assert_eq!(proxy.in_flight(), 0);
    // The connection stays usable.
    let (status, _, _) = send(&mut c, request("POST", "/x", full("body"))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn an_upstream_slow_to_answer_is_a_504() {
    let up = upstream().await;
    let limits = ProxyLimits {
        response_header_timeout: Duration::from_millis(300),
        ..ProxyLimits::default()
    };
    let proxy = proxy_to(up.addr, limits);
    let (addr, _dir) = edge("/", proxy.clone()).await;
    let mut c = client(addr).await;
    let started = Instant::now();
    let (status, headers, text) = send(&mut c, request("GET", "/slow", empty())).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(error_of(&headers), "upstream-timeout");
    assert_eq!(text, "upstream timed out\n");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < PATIENCE, "{took:?}");
    assert_eq!(proxy.in_flight(), 0);
}

#[tokio::test]
async fn bodies_over_the_limit_are_a_413() {
    let up = upstream().await;
    let limits = ProxyLimits {
        max_request_body: 1024,
        ..ProxyLimits::default()
    };
    let (addr, _dir) = edge("/", proxy_to(up.addr, limits)).await;

    // A declared length over the limit: refused before any of the body is read.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(
        b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 1048576\r\n\r\n",
    )
    .await
    .expect("write");
    let (head, _) = read_head(&mut tcp).await;
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 413"), "{head}");
    assert!(
        lower.contains("\r\nx-ferry-error: body-too-large\r\n"),
        "{head}"
    );
    assert_eq!(
        up.connections.load(Ordering::SeqCst),
        0,
        "never sent upstream"
    );

    // A chunked body that grows past the limit: cut off on the way.
    let mut c = client(addr).await;
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    for _ in 0..4 {
        tx.send(Bytes::from(vec![b'y'; 512])).await.expect("send");
    }
    drop(tx);
    let (status, headers, _) = send(&mut c, request("POST", "/upload", Channel(rx).boxed())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(&headers), "body-too-large");
    assert!(up.uploaded.load(Ordering::SeqCst) <= 1024);

    // Within the limit, fine.
    let mut c = client(addr).await;
    let (status, _, text) = send(&mut c, request("POST", "/upload", full(vec![b'z'; 1024]))).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "1024"));
}

/// What a raw upstream does with the `n`th request (from 0) on one of its connections.
#[derive(Clone, Copy)]
enum Act {
    /// Writes these bytes, keeping the connection open.
    Answer(&'static [u8]),
    /// Writes these bytes, then closes without saying so (no `Connection: close`).
    AnswerThenClose(&'static [u8]),
    /// Closes without answering (the request was read).
    Drop,
}

/// A raw TCP upstream scripted per request: counts its connections and the requests it read.
async fn raw_upstream(
    script: fn(usize) -> Act,
) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (conns, reqs) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            conns.fetch_add(1, Ordering::SeqCst);
            let reqs = reqs.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut piece = [0u8; 4096];
                for n in 0.. {
                    let end = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break end + 4;
                        }
                        match stream.read(&mut piece).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&piece[..k]),
                        }
                    };
                    buf.drain(..end);
                    reqs.fetch_add(1, Ordering::SeqCst);
                    match script(n) {
                        Act::Answer(bytes) => {
                            if stream.write_all(bytes).await.is_err() {
                                return;
                            }
                        }
                        Act::AnswerThenClose(bytes) => {
                            let _ = stream.write_all(bytes).await;
                            return;
                        }
                        Act::Drop => return,
                    }
                }
            });
        }
    });
    (addr, connections, requests)
}

/// Reads one response with a `content-length` from `tcp` (after `pending`, bytes already
/// read): the head, the body, what followed.
async fn read_response(tcp: &mut TcpStream, mut pending: Vec<u8>) -> (String, String, Vec<u8>) {
    let mut piece = [0u8; 4096];
    let end = loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut piece))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0, "closed early: {pending:?}");
        pending.extend_from_slice(&piece[..n]);
    };
    let rest = pending.split_off(end);
    let head = String::from_utf8(pending).expect("utf-8");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().expect("length"))
        })
        .expect("a content-length");
    let mut rest = rest;
    while rest.len() < len {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut piece))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0, "closed in the body");
        rest.extend_from_slice(&piece[..n]);
    }
    let after = rest.split_off(len);
    (head, String::from_utf8(rest).expect("utf-8"), after)
}

#[tokio::test]
async fn pipelined_requests_share_one_upstream_connection() {
    let up = upstream().await;
    let proxy = proxy_to(up.addr, ProxyLimits::default());
    let (addr, _dir) = edge("/", proxy.clone()).await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut all = Vec::new();
    for i in 0..5 {
        all.extend_from_slice(
            format!("GET /p{i}/echo HTTP/1.1\r\nHost: shop.example\r\nX-N: {i}\r\n\r\n").as_bytes(),
        );
    }
    tcp.write_all(&all).await.expect("write");
    let mut pending = Vec::new();
    for i in 0..5 {
        let (head, body, after) = read_response(&mut tcp, pending).await;
        pending = after;
        let lower = head.to_ascii_lowercase();
        assert!(lower.starts_with("http/1.1 200"), "{head}");
        assert!(lower.contains("\r\nx-ferry-release: r1\r\n"), "{head}");
        assert!(lower.contains("\r\ndate: "), "{head}");
        assert!(!lower.contains("x-private"), "{head}");
        let (line, seen, _) = parse_echo(&body);
        assert_eq!(line, format!("GET /p{i}/echo"), "answers in order");
        assert_eq!(one(&seen, "x-n"), Some(i.to_string().as_str()));
        assert_eq!(one(&seen, "x-forwarded-for"), Some("127.0.0.1"));
    }
    assert!(pending.is_empty());
    assert_eq!(
        up.connections.load(Ordering::SeqCst),
        1,
        "one upstream connection"
    );
    until("the answers to end", || proxy.in_flight() == 0).await;
    // Connection: close is honoured.
    tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (head, _, _) = read_response(&mut tcp, Vec::new()).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{head}"
    );
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut byte))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "the edge closes after the answer");
}

const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

#[tokio::test]
async fn an_upstream_closing_a_reused_connection_is_retried_once_for_idempotent_requests() {
    // Each upstream connection answers its first request, then closes on the second without
    // answering: the race of an upstream closing an idle keep-alive connection just as the
    // proxy reuses it.
    let (up, connections, requests) = raw_upstream(|n| {
        if n == 0 {
            Act::Answer(HELLO)
        } else {
            Act::Drop
        }
    })
    .await;
    let proxy = proxy_to(up, ProxyLimits::default());
    let (addr, _dir) = edge("/", proxy.clone()).await;
    let mut c = client(addr).await;
    for method in ["GET", "GET", "OPTIONS", "DELETE"] {
        let (status, headers, text) = send(&mut c, request(method, "/x", empty())).await;
        assert_eq!(status, StatusCode::OK, "{method}: {headers:?}");
        if method != "HEAD" {
            assert_eq!(text, "hello");
        }
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        4,
        "a new connection per retry"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 7);
    // POST is not idempotent: not sent twice, the failure is the client's answer.
    let mut post = request("POST", "/x", empty());
    post.headers_mut()
        .insert("content-length", "0".parse().expect("v"));
    let (status, headers, _) = send(&mut c, post).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(error_of(&headers), "upstream-failed");
    assert_eq!(requests.load(Ordering::SeqCst), 8);
    assert_eq!(proxy.in_flight(), 0);
}

#[tokio::test]
async fn an_upstream_closing_idle_connections_costs_no_failure() {
    // Answers, then closes at once (as Node does past its keep-alive timeout).
    let (up, connections, _) = raw_upstream(|_| Act::AnswerThenClose(HELLO)).await;
    let (addr, _dir) = edge("/", proxy_to(up, ProxyLimits::default())).await;
    let mut c = client(addr).await;
    for _ in 0..5 {
        let (status, _, text) = send(&mut c, request("GET", "/x", empty())).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "hello"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(connections.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn chunked_and_close_delimited_answers_are_relayed() {
    let (chunked, _, _) = raw_upstream(|_| {
        Act::Answer(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-kept: 1\r\n\r\n\
              5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n",
        )
    })
    .await;
    let (addr, _dir) = edge("/", proxy_to(chunked, ProxyLimits::default())).await;
    let mut c = client(addr).await;
    for _ in 0..2 {
        let (status, headers, text) = send(&mut c, request("GET", "/c", empty())).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "hello, world"));
        assert_eq!(headers.get("x-kept").map(|v| v.as_bytes()), Some(&b"1"[..]));
    }

    let (eof, connections, _) = raw_upstream(|_| {
        Act::AnswerThenClose(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
    })
    .await;
    let (addr, _dir) = edge("/", proxy_to(eof, ProxyLimits::default())).await;
    let mut c = client(addr).await;
    for _ in 0..2 {
        let (status, _, text) = send(&mut c, request("GET", "/e", empty())).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "until the end"));
    }
    assert_eq!(connections.load(Ordering::SeqCst), 2, "never reused");

    // An upstream that breaks off inside a body: the client's connection is cut, not fed a
    // short answer as if whole.
    let (short, _, _) = raw_upstream(|_| {
        Act::AnswerThenClose(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
    })
    .await;
    let (addr, _dir) = edge("/", proxy_to(short, ProxyLimits::default())).await;
    let mut c = client(addr).await;
    let response = tokio::time::timeout(PATIENCE, c.send_request(request("GET", "/s", empty())))
        .await
        .expect("in time")
        .expect("head");
    let body = tokio::time::timeout(PATIENCE, response.into_body().collect())
        .await
        .expect("in time");
    assert!(body.is_err(), "a short body is an error");
}

#[tokio::test]
async fn answers_on_the_fast_path_are_counted_in_the_metrics() {
    let up = upstream().await;
    let (edge, _dir) = edge_only("/", proxy_to(up.addr, ProxyLimits::default()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(ferry_edge::serve(
        edge.clone(),
        listener,
        std::future::pending(),
    ));
    let mut c = client(addr).await;
    for _ in 0..3 {
        let (status, _, _) = send(&mut c, request("GET", "/echo", empty())).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, _) = send(&mut c, request("GET", "/nothing", empty())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let metrics = edge.render_metrics();
    let count = |status: &str| {
        metrics
            .lines()
            .find(|l| {
                l.contains("app=\"shop\"")
                    && l.contains(&format!("status=\"{status}\""))
                    && l.starts_with("ferry_edge_requests_total")
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    assert_eq!(count("200").as_deref(), Some("3"), "{metrics}");
    assert_eq!(count("404").as_deref(), Some("1"), "{metrics}");
}
