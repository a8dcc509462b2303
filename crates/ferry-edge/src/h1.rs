//! A lean HTTP/1.1 path for plain connections: static hosting needs only GET and HEAD, so the
//! edge parses request heads itself (httparse, bounded), answers through the same
//! [`respond`](crate::server) as every other path, writes small answers with one vectored
//! write and large bodies with `sendfile(2)` straight from the blob file (no copy through user
//! memory — the copy that dominates large responses). Connections that open with the HTTP/2
//! preface go to hyper instead.

use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Response, StatusCode, Version, header};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::Edge;
use crate::server::{MAX_HEAD_BYTES, Req, respond};

/// Bodies at least this large are sent with `sendfile(2)`.
pub const SENDFILE_MIN: u64 = 16 * 1024;
/// Most header fields in one request.
pub const MAX_HEADERS: usize = 100;
/// Idle time allowed between keep-alive requests.
const IDLE: Duration = Duration::from_secs(60);

/// Marks a response whose body may be sent from this file instead of from memory.
#[derive(Debug, Clone)]
pub struct BodyFile(pub std::path::PathBuf);

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Most memoised answers kept before the table is cleared.
const MEMO_MAX: usize = 10_000;
/// Most files the memo keeps open (beyond it, answers open their file per request).
const MEMO_OPEN_FILES: usize = 256;
static OPEN_FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// An open body file, counted against [`MEMO_OPEN_FILES`].
#[derive(Debug)]
struct OpenFile(std::fs::File);

impl OpenFile {
    fn open(path: &std::path::Path) -> Option<Self> {
        use std::sync::atomic::Ordering;
        if OPEN_FILES.fetch_add(1, Ordering::Relaxed) >= MEMO_OPEN_FILES {
            OPEN_FILES.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        match std::fs::File::open(path) {
            Ok(f) => Some(OpenFile(f)),
            Err(_) => {
                OPEN_FILES.fetch_sub(1, Ordering::Relaxed);
                None
            }
        }
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        OPEN_FILES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A fully serialised answer to a plain GET: the head (without `date` and `connection`)
/// and the body, plus what metrics and logs need. Valid for one routing snapshot.
#[derive(Debug)]
pub struct Prepared {
    head: Bytes,
    body: Bytes,
    /// The body's file, open: `sendfile` reads it at explicit offsets, so one descriptor
    /// serves every concurrent request (what nginx's `open_file_cache` does).
    file: Option<OpenFile>,
    /// The body's path, when the file is not kept open.
    path: Option<std::path::PathBuf>,
    status: u16,
    /// The status carries no body (304, 204, 1xx).
    no_body: bool,
    /// Served from a previous release (skew protection).
    skew: bool,
    app: String,
    release: Option<String>,
}

/// Answers memoised per routing snapshot: a response is a pure function of (snapshot, host,
/// request target, Accept-Encoding) for a GET without conditional or range headers.
///
/// The table holds the snapshot it belongs to (not its address), so a new snapshot can never
/// be mistaken for an old one whose memory was reused.
#[derive(Debug, Default)]
pub struct Memo {
    table: std::sync::Mutex<MemoTable>,
}

type MemoTable = (
    Option<Arc<crate::Routing>>,
    std::collections::HashMap<Vec<u8>, Arc<Prepared>>,
);

impl Memo {
    fn get(&self, snapshot: &Arc<crate::Routing>, key: &[u8]) -> Option<Arc<Prepared>> {
        let table = self.table.lock().ok()?;
        match &table.0 {
            Some(current) if Arc::ptr_eq(current, snapshot) => table.1.get(key).cloned(),
            _ => None,
        }
    }

    fn put(&self, snapshot: &Arc<crate::Routing>, key: Vec<u8>, prepared: Arc<Prepared>) {
        let Ok(mut table) = self.table.lock() else {
            return;
        };
        let same = table.0.as_ref().is_some_and(|c| Arc::ptr_eq(c, snapshot));
        if !same || table.1.len() >= MEMO_MAX {
            table.1.clear();
            table.0 = Some(snapshot.clone());
        }
        table.1.insert(key, prepared);
    }
}

/// Whether the connection speaks HTTP/2 (prior knowledge): peeks without consuming.
pub async fn is_h2(stream: &TcpStream, timeout: Duration) -> bool {
    let mut buf = [0u8; 24];
    let deadline = Instant::now() + timeout;
    loop {
        let n = match tokio::time::timeout_at(deadline.into(), stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        if n == 0 || buf[..n] != H2_PREFACE[..n] {
            return false;
        }
        if n == H2_PREFACE.len() {
            return true;
        }
        // A partial preface so far: wait for more bytes.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Serves HTTP/1.x requests on `stream` (from the client at `peer`) until the client closes,
/// asks to close, times out, or sends something this path does not accept.
pub async fn serve(edge: Arc<Edge>, mut stream: TcpStream, peer: std::net::SocketAddr) {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let header_timeout = edge.limits.header_timeout;
    let mut served = 0usize;
    loop {
        // Read one request head: the header timeout runs from the connection's start (first
        // request) or from the first byte (later ones); an idle keep-alive waits longer.
        let mut first = served > 0;
        let head_len = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() >= MAX_HEAD_BYTES {
                return refuse(&mut stream, 431, "request header fields too large\n").await;
            }
            let wait = if first && buf.is_empty() {
                IDLE
            } else {
                header_timeout
            };
            first = false;
            match tokio::time::timeout(wait, stream.read_buf(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {}
                Err(_) if buf.is_empty() => return,
                Err(_) => return refuse(&mut stream, 408, "request timeout\n").await,
            }
        };
        let started = Instant::now();
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        match parsed.parse(&buf[..head_len]) {
            Ok(httparse::Status::Complete(_)) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return refuse(&mut stream, 431, "too many header fields\n").await;
            }
            _ => return refuse(&mut stream, 400, "bad request\n").await,
        }
        let (Some(method), Some(target), Some(minor)) =
            (parsed.method, parsed.path, parsed.version)
        else {
            return refuse(&mut stream, 400, "bad request\n").await;
        };
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return refuse(&mut stream, 400, "bad request\n").await;
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        if !path.starts_with('/') {
            return refuse(&mut stream, 400, "bad request\n").await;
        }
        let get = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
        };
        // Static hosting takes no request bodies: a request with one is answered, then closed.
        let has_body = get("transfer-encoding").is_some()
            || get("content-length").is_some_and(|l| l.trim() != "0");
        let connection = get("connection").map(str::to_ascii_lowercase);
        let keep_alive = match minor {
            1 => !connection.as_deref().is_some_and(|c| c.contains("close")),
            _ => connection
                .as_deref()
                .is_some_and(|c| c.contains("keep-alive")),
        };
        let close = !keep_alive || has_body;
        let version = if minor == 1 {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        };
        let req = Req {
            method: method.clone(),
            host: get("host"),
            path,
            accept_encoding: get("accept-encoding"),
            if_none_match: get("if-none-match"),
            range: get("range"),
            query,
            tls: false,
        };
        let routing = edge.routing();
        if let Some(mounted) = crate::mount_for(&routing, req.host, path) {
            if let Some(proxy) = mounted.handler.as_proxy()
                && crate::upstream::eligible(minor, method.as_str(), parsed.headers)
            {
                // A plain request to the reverse proxy: forwarded from this task, and the
                // connection stays on this path.
                let inner = proxy.lean();
                let app = crate::app_for_host(&routing, req.host)
                    .unwrap_or("")
                    .to_string();
                let release = crate::app_for(&routing, req.host).map(|r| r.live.id.clone());
                drop(routing);
                let lean = crate::upstream::LeanRequest {
                    method: method.as_str(),
                    target,
                    headers: parsed.headers,
                    peer,
                    close,
                    release: release.as_deref(),
                };
                let on_head = |status: u16, bytes: u64| {
                    crate::server::record(
                        &edge,
                        crate::server::Answered {
                            app: &app,
                            method: method.as_str(),
                            path,
                            status,
                            bytes,
                            release: release.as_deref(),
                            version,
                        },
                        started,
                    );
                };
                if !crate::upstream::forward(&inner, &mut stream, lean, on_head).await {
                    return;
                }
                served += 1;
                buf.advance(head_len);
                continue;
            }
            // A mount takes bodies, upgrades and streams: hyper serves the rest of this
            // connection, starting with the request already buffered.
            drop(routing);
            let pre = buf.split().freeze();
            return crate::server::serve_handed_over(edge, stream, pre, peer).await;
        }
        let memoisable = method == Method::GET
            && req.range.is_none()
            && req.if_none_match.is_none()
            && !has_body;
        let prepared = if memoisable {
            let key = memo_key(&req, target);
            match edge.memo.get(&routing, &key) {
                Some(p) => {
                    if p.skew {
                        edge.count_skew();
                    }
                    crate::server::record(
                        &edge,
                        crate::server::Answered {
                            app: &p.app,
                            method: req.method.as_str(),
                            path: req.path,
                            status: p.status,
                            bytes: p.body.len() as u64,
                            release: p.release.as_deref(),
                            version,
                        },
                        started,
                    );
                    p
                }
                None => {
                    let response = respond(&edge, &routing, &req, started, version).await;
                    let app = crate::app_for_host(&routing, req.host)
                        .unwrap_or("")
                        .to_string();
                    let p = Arc::new(prepare(response, app, true).await);
                    if matches!(p.status, 200 | 404) {
                        edge.memo.put(&routing, key, p.clone());
                    }
                    p
                }
            }
        } else {
            let response = respond(&edge, &routing, &req, started, version).await;
            Arc::new(prepare(response, String::new(), false).await)
        };
        let head_only = method == Method::HEAD;
        if write_prepared(&mut stream, &prepared, head_only, close, minor)
            .await
            .is_err()
            || close
        {
            return;
        }
        served += 1;
        buf.advance(head_len);
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The memo key: host, request target and `Accept-Encoding`, NUL-separated.
fn memo_key(req: &Req<'_>, target: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(target.len() + 64);
    key.extend_from_slice(req.host.unwrap_or("").as_bytes());
    key.push(0);
    key.extend_from_slice(target.as_bytes());
    key.push(0);
    key.extend_from_slice(req.accept_encoding.unwrap_or("").as_bytes());
    key
}

/// Answers a request this path refuses, then closes gracefully: stop writing, and read
/// (and drop) what the client still sends for up to a second, so the answer is not lost to a
/// reset caused by unread data.
async fn refuse(stream: &mut TcpStream, status: u16, body: &'static str) {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{}connection: close\r\n\r\n{body}",
        body.len(),
        crate::server::date_header()
    );
    if stream.write_all(head.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut scratch = [0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut drained = 0usize;
    while drained < 1024 * 1024 {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// Serialises a response: its head (from the status code on, without `date` and
/// `connection`) and its body. With `keep_open`, the body's file stays open for `sendfile`.
async fn prepare(response: Response<Full<Bytes>>, app: String, keep_open: bool) -> Prepared {
    let (parts, body) = response.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let status = parts.status;
    let no_body = status == StatusCode::NOT_MODIFIED
        || status == StatusCode::NO_CONTENT
        || status.is_informational();
    let mut head = Vec::with_capacity(512);
    let reason = status.canonical_reason().unwrap_or("");
    head.extend_from_slice(format!("{} {reason}\r\n", status.as_u16()).as_bytes());
    let mut has_length = false;
    for (name, value) in &parts.headers {
        has_length |= name == header::CONTENT_LENGTH;
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !has_length && !no_body {
        head.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    let path = parts.extensions.get::<BodyFile>().map(|f| f.0.clone());
    Prepared {
        head: Bytes::from(head),
        file: if keep_open {
            path.as_deref().and_then(OpenFile::open)
        } else {
            None
        },
        path,
        body,
        status: status.as_u16(),
        no_body,
        skew: parts
            .extensions
            .get::<crate::server::SkewServed>()
            .is_some(),
        app,
        release: parts
            .headers
            .get(crate::server::RELEASE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// Writes a prepared answer: status line, the stored head, date, connection, then the body
/// (none for HEAD or bodiless statuses; `sendfile` from 16 KiB when the file is known).
async fn write_prepared(
    stream: &mut TcpStream,
    p: &Prepared,
    head_only: bool,
    close: bool,
    minor: u8,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(p.head.len() + 96);
    head.extend_from_slice(if minor == 1 {
        b"HTTP/1.1 "
    } else {
        b"HTTP/1.0 "
    });
    head.extend_from_slice(&p.head);
    head.extend_from_slice(crate::server::date_header().as_bytes());
    if close {
        head.extend_from_slice(b"connection: close\r\n");
    } else if minor == 0 {
        head.extend_from_slice(b"connection: keep-alive\r\n");
    }
    head.extend_from_slice(b"\r\n");
    if head_only || p.no_body {
        return stream.write_all(&head).await;
    }
    let len = p.body.len() as u64;
    if len >= SENDFILE_MIN {
        if let Some(file) = &p.file {
            send_more(stream, &head).await?;
            return send_open_file(stream, &file.0, len).await;
        }
        if let Some(path) = &p.path {
            let file = std::fs::File::open(path)?;
            send_more(stream, &head).await?;
            return send_open_file(stream, &file, len).await;
        }
    }
    write_all_vectored(stream, &head, &p.body).await
}

async fn write_all_vectored(
    stream: &mut TcpStream,
    head: &[u8],
    body: &[u8],
) -> std::io::Result<()> {
    let (mut h, mut b) = (0usize, 0usize);
    while h < head.len() || b < body.len() {
        let slices = [IoSlice::new(&head[h..]), IoSlice::new(&body[b..])];
        let n = stream.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len() - h);
        h += from_head;
        b += n - from_head;
    }
    Ok(())
}

/// Writes `bytes` with `MSG_MORE`, so the head and the file that follows leave in full
/// packets (what `TCP_CORK`/nginx's `tcp_nopush` achieve).
async fn send_more(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    let mut sent = 0;
    while sent < bytes.len() {
        stream.writable().await?;
        match stream.try_io(Interest::WRITABLE, || {
            rustix::net::send(
                &*stream,
                &bytes[sent..],
                rustix::net::SendFlags::MORE | rustix::net::SendFlags::NOSIGNAL,
            )
            .map_err(std::io::Error::from)
        }) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `sendfile(2)` from an open file at explicit offsets (the file position is never used, so
/// one descriptor can serve concurrent requests), waiting for writability in between.
async fn send_open_file(
    stream: &mut TcpStream,
    file: &std::fs::File,
    len: u64,
) -> std::io::Result<()> {
    let mut offset: u64 = 0;
    while offset < len {
        stream.writable().await?;
        let result = stream.try_io(Interest::WRITABLE, || {
            let count = usize::try_from(len - offset)
                .unwrap_or(usize::MAX)
                .min(1 << 20);
            rustix::fs::sendfile(&*stream, file, Some(&mut offset), count)
                .map_err(std::io::Error::from)
        });
        match result {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
