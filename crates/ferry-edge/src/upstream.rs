//! The proxy's lean HTTP/1.1 path: a request without a body that arrives on the edge's
//! HTTP/1.1 fast path ([`h1`](crate::h1)) is forwarded by that connection's own task, over
//! a keep-alive connection from a small pool of plain TCP connections to the upstream, and
//! the answer is relayed straight back: no hyper server or client, no connection task, no
//! channel between the two. Everything else (request bodies, upgrades, `Expect`, HTTP/1.0,
//! HTTP/2, TLS) keeps the hyper path of [`proxy`](crate::proxy), which gives the same answers.
//!
//! - **Pool:** idle connections are kept last-in first-out, at most [`MAX_IDLE`], each for
//!   at most [`ProxyLimits::pool_idle_timeout`](crate::ProxyLimits); one the upstream closed
//!   while idle (its readiness says so, without a system call) is dropped at checkout.
//! - **Retry:** an idempotent request sent on a reused connection that fails before any byte of
//!   the answer arrived (the upstream closed it as it was being reused) is sent once more,
//!   on a new connection, as nginx does.
//! - **Framing:** the answer's body is relayed by its length, or decoded from chunks and sent
//!   on in chunks, or read to the upstream's close and sent in chunks; `HEAD`, `204` and `304`
//!   carry none. `1xx` heads other than `101` are skipped; an unasked `101` is a `502`.
//! - **Draining:** the request counts in flight until its answer ends; an event stream counts
//!   as a stream too and ends cleanly (last chunk) when the streams are closed.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::task::{Context, Waker};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::proxy::{InFlight, Inner, Stream};

/// Most idle connections a proxy keeps.
pub const MAX_IDLE: usize = 256;
/// Largest response head read from the upstream.
const MAX_HEAD: usize = 64 * 1024;
/// Most header fields in a response head.
const MAX_FIELDS: usize = 128;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 8 * 1024;
/// Room made in the read buffer before each read.
const READ_ROOM: usize = 16 * 1024;

/// One connection to the upstream with its read buffer.
pub(crate) struct Conn {
    io: TcpStream,
    buf: BytesMut,
    /// Served an earlier request (came from the pool).
    reused: bool,
}

/// The idle connections of one proxy.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<(Conn, Instant)>>,
}

impl Pool {
    /// The most recently used idle connection still open and fresh enough.
    fn checkout(&self, inner: &Inner) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        let max = inner.limits.pool_idle_timeout;
        while let Some((mut conn, since)) = idle.pop() {
            if since.elapsed() >= max {
                // The rest are older still.
                idle.clear();
                return None;
            }
            // Readable while idle means the upstream closed it (or sent what it should not).
            let mut cx = Context::from_waker(Waker::noop());
            if conn.io.poll_read_ready(&mut cx).is_pending() {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` for a later request, when it is clean and the pool has room.
    fn checkin(&self, mut conn: Conn) {
        if !conn.buf.is_empty() {
            return;
        }
        // Clears the read readiness left by the last read, so a close while idle shows.
        let mut probe = [0u8; 1];
        match conn.io.try_read(&mut probe) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            _ => return,
        }
        conn.buf.clear();
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push((conn, Instant::now()));
        }
    }
}

/// A request the fast path forwards itself: HTTP/1.1, no body, no upgrade, no `Expect`.
pub(crate) struct LeanRequest<'a> {
    /// Method, as received.
    pub method: &'a str,
    /// Request target (origin form), as received.
    pub target: &'a str,
    /// The client's header fields.
    pub headers: &'a [httparse::Header<'a>],
    /// The client's address.
    pub peer: SocketAddr,
    /// The client asked to close after this answer.
    pub close: bool,
    /// `x-ferry-release` for the answer.
    pub release: Option<&'a str>,
}

/// Whether the fast path may forward a request itself (it has no body, no upgrade, no
/// `Expect`, and speaks HTTP/1.1).
pub(crate) fn eligible(minor: u8, method: &str, headers: &[httparse::Header<'_>]) -> bool {
    if minor != 1 || method.eq_ignore_ascii_case("CONNECT") {
        return false;
    }
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return false;
        }
        if name.eq_ignore_ascii_case("content-length") && trim(h.value) != b"0" {
            return false;
        }
        if name.eq_ignore_ascii_case("connection") && has_token(h.value, "upgrade") {
            return false;
        }
    }
    true
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// Whether a comma-separated header value lists `token`.
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether a header is hop-by-hop: the standard ones, `proxy-*`, or one `Connection` names.
fn hop_by_hop(name: &str, connection: &[&[u8]]) -> bool {
    const HOP: [&str; 6] = [
        "connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "keep-alive",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || (name.len() >= 6 && name.as_bytes()[..6].eq_ignore_ascii_case(b"proxy-"))
        || connection
            .iter()
            .any(|v| has_token(v, name) && !name.is_empty())
}

/// The request head sent upstream: the client's fields without hop-by-hop ones and `Expect`,
/// `Host` kept (else the upstream's authority), `X-Forwarded-*` set.
fn request_head(inner: &Inner, req: &LeanRequest<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let connection: Vec<&[u8]> = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .map(|h| h.value)
        .collect();
    let mut host: Option<&[u8]> = None;
    let mut prior_xff: Vec<&[u8]> = Vec::new();
    for h in req.headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            host.get_or_insert(h.value);
            continue;
        }
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            let v = trim(h.value);
            if !v.is_empty() {
                prior_xff.push(v);
            }
            continue;
        }
        if name.eq_ignore_ascii_case("x-forwarded-proto")
            || name.eq_ignore_ascii_case("x-forwarded-host")
            || name.eq_ignore_ascii_case("expect")
            || hop_by_hop(name, &connection)
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    match host {
        Some(host) => {
            for name in [&b"host: "[..], b"x-forwarded-host: "] {
                out.extend_from_slice(name);
                out.extend_from_slice(host);
                out.extend_from_slice(b"\r\n");
            }
        }
        None => {
            out.extend_from_slice(b"host: ");
            out.extend_from_slice(inner.authority.as_str().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    for v in &prior_xff {
        out.extend_from_slice(v);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(req.peer.ip().to_canonical().to_string().as_bytes());
    out.extend_from_slice(b"\r\nx-forwarded-proto: http\r\n\r\n");
    out
}

/// Why no usable response head came.
enum HeadError {
    /// Nothing within the response-header timeout: `504`.
    Timeout,
    /// The connection failed or closed; `early` when no byte of an answer had arrived.
    Failed { early: bool },
    /// A head that is not HTTP/1.x, too large, or an unasked `101`: `502`.
    Bad,
}

/// How the answer's body is framed upstream.
#[derive(Clone, Copy)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Eof,
}

/// What a response head said.
struct Head {
    status: u16,
    /// The head as sent to the client, up to (not including) the blank line.
    out: Vec<u8>,
    framing: Framing,
    /// The upstream keeps the connection open after this answer.
    keep_alive: bool,
    event_stream: bool,
    length: u64,
}

/// Forwards `req` and relays the answer to `down`; `on_head(status, bytes)` is called once
/// the answer's head is known (for metrics and the access log). Returns whether the client's
/// connection may serve another request.
pub(crate) async fn forward(
    inner: &Inner,
    down: &mut TcpStream,
    req: LeanRequest<'_>,
    on_head: impl FnOnce(u16, u64),
) -> bool {
    let in_flight = InFlight::new(&inner.shared);
    let head_bytes = request_head(inner, &req);
    let head_request = req.method.eq_ignore_ascii_case("HEAD");
    let idempotent = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]
        .iter()
        .any(|m| req.method.eq_ignore_ascii_case(m));
    let mut retried = false;
    let (mut conn, head) = loop {
        let pooled = if retried {
            None
        } else {
            inner.pool.checkout(inner)
        };
        let mut conn = match pooled {
            Some(conn) => conn,
            None => match connect(inner).await {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::debug!(upstream = %inner.upstream, %err, "upstream unreachable");
                    return answer_failure(
                        down,
                        &req,
                        on_head,
                        StatusCode::BAD_GATEWAY,
                        "upstream-unreachable",
                        "upstream unreachable\n",
                    )
                    .await;
                }
            },
        };
        match exchange(inner, &mut conn, &head_bytes, head_request, req.release).await {
            Ok(head) => break (conn, head),
            Err(HeadError::Failed { early: true }) if conn.reused && idempotent && !retried => {
                retried = true;
            }
            Err(HeadError::Timeout) => {
                return answer_failure(
                    down,
                    &req,
                    on_head,
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream-timeout",
                    "upstream timed out\n",
                )
                .await;
            }
            Err(HeadError::Failed { .. } | HeadError::Bad) => {
                tracing::debug!(upstream = %inner.upstream, "upstream failed");
                return answer_failure(
                    down,
                    &req,
                    on_head,
                    StatusCode::BAD_GATEWAY,
                    "upstream-failed",
                    "upstream failed\n",
                )
                .await;
            }
        }
    };
    on_head(head.status, head.length);
    let mut out = head.out;
    let chunked_out = matches!(head.framing, Framing::Chunked | Framing::Eof);
    if chunked_out {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if req.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let mut stream = head.event_stream.then(|| Stream::new(&inner.shared));
    let relayed = relay(&mut conn, down, out, head.framing, stream.as_mut()).await;
    drop(stream);
    drop(in_flight);
    match relayed {
        Relayed::Done => {
            if head.keep_alive {
                inner.pool.checkin(conn);
            }
            !req.close
        }
        Relayed::Closed => !req.close,
        Relayed::Broken => false,
    }
}

/// Opens a connection to the upstream within the connect timeout.
async fn connect(inner: &Inner) -> std::io::Result<Conn> {
    let io = tokio::time::timeout(
        inner.limits.connect_timeout,
        TcpStream::connect(inner.upstream),
    )
    .await
    .map_err(|_| std::io::Error::from(ErrorKind::TimedOut))??;
    let _ = io.set_nodelay(true);
    Ok(Conn {
        io,
        buf: BytesMut::with_capacity(READ_ROOM),
        reused: false,
    })
}

/// Sends the request head and reads the response head (1xx skipped) within the
/// response-header timeout.
async fn exchange(
    inner: &Inner,
    conn: &mut Conn,
    request: &[u8],
    head_request: bool,
    release: Option<&str>,
) -> Result<Head, HeadError> {
    let work = async {
        if conn.io.write_all(request).await.is_err() {
            return Err(HeadError::Failed { early: true });
        }
        let mut any = false;
        loop {
            if let Some(head) = parse_head(&mut conn.buf, head_request, release)? {
                return Ok(head);
            }
            if conn.buf.len() >= MAX_HEAD {
                return Err(HeadError::Bad);
            }
            conn.buf.reserve(READ_ROOM);
            match conn.io.read_buf(&mut conn.buf).await {
                Ok(0) | Err(_) => return Err(HeadError::Failed { early: !any }),
                Ok(_) => any = true,
            }
        }
    };
    tokio::time::timeout(inner.limits.response_header_timeout, work)
        .await
        .unwrap_or(Err(HeadError::Timeout))
}

/// Parses a response head at the start of `buf` (and consumes it): `None` until complete;
/// informational heads other than `101` are consumed and skipped.
fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
    release: Option<&str>,
) -> Result<Option<Head>, HeadError> {
    loop {
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut parsed = httparse::Response::new(&mut fields);
        let len = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HeadError::Bad),
        };
        let (Some(code), Some(minor)) = (parsed.code, parsed.version) else {
            return Err(HeadError::Bad);
        };
        if code == 101 {
            return Err(HeadError::Bad);
        }
        if (100..200).contains(&code) {
            buf.advance(len);
            continue;
        }
        let status = StatusCode::from_u16(code).map_err(|_| HeadError::Bad)?;
        let connection: Vec<&[u8]> = parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .map(|h| h.value)
            .collect();
        let mut keep_alive = if minor == 1 {
            !connection.iter().any(|v| has_token(v, "close"))
        } else {
            false
        };
        let mut chunked = false;
        let mut te = false;
        let mut length: Option<u64> = None;
        let mut event_stream = false;
        let mut has_date = false;
        let mut out = Vec::with_capacity(len + 128);
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut content_length: Option<&[u8]> = None;
        for h in parsed.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("transfer-encoding") {
                te = true;
                chunked = h
                    .value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|t| trim(t).eq_ignore_ascii_case(b"chunked"));
                continue;
            }
            if name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(trim(h.value))
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(HeadError::Bad)?;
                if length.is_some_and(|l| l != n) {
                    return Err(HeadError::Bad);
                }
                if length.is_none() {
                    content_length = Some(h.value);
                }
                length = Some(n);
                continue;
            }
            if hop_by_hop(name, &connection) || name.eq_ignore_ascii_case(RELEASE) {
                continue;
            }
            if name.eq_ignore_ascii_case("content-type") {
                event_stream = is_event_stream(h.value);
            }
            has_date |= name.eq_ignore_ascii_case("date");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
        let bodiless = head_request || code == 204 || code == 304;
        let framing = if bodiless {
            Framing::None
        } else if te {
            if chunked {
                Framing::Chunked
            } else {
                Framing::Eof
            }
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            Framing::Eof
        };
        if let (Some(v), false) = (content_length, te && !bodiless) {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(trim(v));
            out.extend_from_slice(b"\r\n");
        }
        if matches!(framing, Framing::Eof) {
            keep_alive = false;
        }
        if let Some(release) = release {
            out.extend_from_slice(RELEASE.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(release.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !has_date {
            out.extend_from_slice(crate::server::date_header().as_bytes());
        }
        buf.advance(len);
        return Ok(Some(Head {
            status: code,
            out,
            framing,
            keep_alive,
            event_stream,
            length: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
        }));
    }
}

const RELEASE: &str = crate::server::RELEASE_HEADER;

fn is_event_stream(value: &[u8]) -> bool {
    value
        .split(|b| *b == b';')
        .next()
        .is_some_and(|v| trim(v).eq_ignore_ascii_case(b"text/event-stream"))
}

/// How a relay ended.
enum Relayed {
    /// The whole body went through; the upstream connection is clean.
    Done,
    /// The streams were closed: the client got a clean end, the upstream connection is
    /// dropped.
    Closed,
    /// The upstream or the client broke off: both connections are dropped.
    Broken,
}

/// Where a chunked body's decoding stands.
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Decodes what `buf` holds of a chunked body, re-chunking the data into `out`.
fn decode_chunks(buf: &mut BytesMut, state: &mut Chunk, out: &mut Vec<u8>) -> Result<(), ()> {
    loop {
        match state {
            Chunk::Size => {
                let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                    return if buf.len() > MAX_LINE {
                        Err(())
                    } else {
                        Ok(())
                    };
                };
                let line = &buf[..end];
                let hex = line.split(|b| *b == b';').next().map_or(&[][..], trim);
                let size = std::str::from_utf8(hex)
                    .ok()
                    .filter(|h| !h.is_empty())
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .ok_or(())?;
                buf.advance(end + 2);
                *state = if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                if buf.is_empty() {
                    return Ok(());
                }
                let take = (*left).min(buf.len() as u64) as usize;
                push_chunk(out, &buf[..take]);
                buf.advance(take);
                *left -= take as u64;
                if *left == 0 {
                    *state = Chunk::DataEnd;
                }
            }
            Chunk::DataEnd => {
                if buf.len() < 2 {
                    return Ok(());
                }
                if &buf[..2] != b"\r\n" {
                    return Err(());
                }
                buf.advance(2);
                *state = Chunk::Size;
            }
            Chunk::Trailers => {
                let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                    return if buf.len() > MAX_LINE {
                        Err(())
                    } else {
                        Ok(())
                    };
                };
                buf.advance(end + 2);
                if end == 0 {
                    *state = Chunk::Done;
                }
            }
            Chunk::Done => return Ok(()),
        }
    }
}

fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Relays the body after the head (`out` holds the client's head): reads the upstream,
/// writes the client, until the body ends, either side breaks, or the event `stream` is
/// closed (then
/// the client gets the last chunk).
async fn relay(
    conn: &mut Conn,
    down: &mut TcpStream,
    mut out: Vec<u8>,
    framing: Framing,
    mut stream: Option<&mut Stream>,
) -> Relayed {
    let mut left = match framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    let mut chunk = Chunk::Size;
    let mut eof = false;
    loop {
        // Move what the buffer holds into `out`.
        let done = match framing {
            Framing::None => true,
            Framing::Length(_) => {
                let take = left.min(conn.buf.len() as u64) as usize;
                out.extend_from_slice(&conn.buf[..take]);
                conn.buf.advance(take);
                left -= take as u64;
                left == 0
            }
            Framing::Chunked => {
                if decode_chunks(&mut conn.buf, &mut chunk, &mut out).is_err() {
                    return Relayed::Broken;
                }
                matches!(chunk, Chunk::Done)
            }
            Framing::Eof => {
                let data = conn.buf.split();
                push_chunk(&mut out, &data);
                eof
            }
        };
        if done && matches!(framing, Framing::Chunked | Framing::Eof) {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        if !out.is_empty() {
            if down.write_all(&out).await.is_err() {
                return Relayed::Broken;
            }
            out.clear();
        }
        if done {
            return Relayed::Done;
        }
        conn.buf.reserve(READ_ROOM);
        let read = match stream.as_mut() {
            None => conn.io.read_buf(&mut conn.buf).await,
            Some(stream) => {
                tokio::select! {
                    read = conn.io.read_buf(&mut conn.buf) => read,
                    () = stream.closed.as_mut() => {
                        if matches!(framing, Framing::Length(_)) {
                            return Relayed::Broken;
                        }
                        let _ = down.write_all(b"0\r\n\r\n").await;
                        return Relayed::Closed;
                    }
                }
            }
        };
        match read {
            Ok(0) if matches!(framing, Framing::Eof) => eof = true,
            Ok(0) | Err(_) => return Relayed::Broken,
            Ok(_) => {}
        }
    }
}

/// The proxy's own answer on the lean path (the same as [`crate::proxy`]'s `failure`).
async fn answer_failure(
    down: &mut TcpStream,
    req: &LeanRequest<'_>,
    on_head: impl FnOnce(u16, u64),
    status: StatusCode,
    code: &str,
    text: &str,
) -> bool {
    on_head(status.as_u16(), text.len() as u64);
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(
        b"\r\ncontent-type: text/plain; charset=utf-8\r\nx-content-type-options: nosniff\r\n",
    );
    out.extend_from_slice(crate::proxy::ERROR_HEADER.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(code.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(release) = req.release {
        out.extend_from_slice(RELEASE.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(release.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n", text.len()).as_bytes());
    out.extend_from_slice(crate::server::date_header().as_bytes());
    if req.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !req.method.eq_ignore_ascii_case("HEAD") {
        out.extend_from_slice(text.as_bytes());
    }
    down.write_all(&out).await.is_ok() && !req.close
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_decoded_and_sent_on() {
        let mut buf =
            BytesMut::from(&b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 1\r\n\r\n"[..]);
        let mut state = Chunk::Size;
        let mut out = Vec::new();
        decode_chunks(&mut buf, &mut state, &mut out).expect("valid");
        assert!(matches!(state, Chunk::Done));
        assert_eq!(out, b"5\r\nhello\r\n6\r\n world\r\n");
        assert!(buf.is_empty());
        // Piece by piece.
        let all = b"3\r\nabc\r\n0\r\n\r\n";
        let (mut buf, mut state, mut out) = (BytesMut::new(), Chunk::Size, Vec::new());
        for b in all {
            buf.extend_from_slice(&[*b]);
            decode_chunks(&mut buf, &mut state, &mut out).expect("valid");
        }
        assert!(matches!(state, Chunk::Done));
        assert_eq!(out, b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n");
        let mut bad = BytesMut::from(&b"zz\r\n"[..]);
        assert!(decode_chunks(&mut bad, &mut Chunk::Size, &mut Vec::new()).is_err());
    }

    #[test]
    fn heads_keep_end_to_end_fields_only() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: x-private\r\nx-private: 1\r\nKeep-Alive: timeout=5\r\nContent-Type: text/event-stream\r\nx-ferry-release: theirs\r\nContent-Length: 3\r\n\r\nabc"[..],
        );
        let head = parse_head(&mut buf, false, Some("r1"))
            .ok()
            .flatten()
            .expect("a head");
        let text = String::from_utf8(head.out).expect("utf-8");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("private"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("keep-alive"), "{text}");
        assert!(text.contains("x-ferry-release: r1\r\n"), "{text}");
        assert!(!text.contains("theirs"), "{text}");
        assert!(text.contains("content-length: 3\r\n"), "{text}");
        assert!(head.event_stream && head.keep_alive);
        assert!(matches!(head.framing, Framing::Length(3)));
        assert_eq!(&buf[..], b"abc");
        let mut unasked = BytesMut::from(&b"HTTP/1.1 101 Switching Protocols\r\n\r\n"[..]);
        assert!(parse_head(&mut unasked, false, None).is_err());
    }

    #[test]
    fn only_plain_bodiless_requests_are_eligible() {
        let h = |name: &'static str, value: &'static [u8]| httparse::Header { name, value };
        assert!(eligible(1, "GET", &[h("host", b"a")]));
        assert!(eligible(1, "GET", &[h("content-length", b" 0")]));
        assert!(!eligible(0, "GET", &[]));
        assert!(!eligible(1, "POST", &[h("content-length", b"3")]));
        assert!(!eligible(1, "POST", &[h("transfer-encoding", b"chunked")]));
        assert!(!eligible(
            1,
            "GET",
            &[h("connection", b"keep-alive, Upgrade")]
        ));
        assert!(!eligible(1, "GET", &[h("upgrade", b"websocket")]));
        assert!(!eligible(1, "PUT", &[h("expect", b"100-continue")]));
    }
}
