//! Handlers mounted under a path prefix of an app: what answers a request the static files do
//! not (the Base44-compatible backend at `/api/apps/`, the reverse proxy to an app's server
//! processes in [`proxy`](crate::proxy)). A mount takes the whole request, body included, and
//! streams its answer; the HTTP/1.1 fast path hands such a connection to hyper before reading
//! any body. Requests reach a mount with [`ClientAddr`] (and [`Tls`] over TLS) in their
//! extensions, and may be upgraded (`101`) on HTTP/1.1.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An error a mounted handler's body may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every answer on hyper's connections: a static answer or a mount's stream.
pub type EdgeBody = UnsyncBoxBody<Bytes, BoxError>;

/// A boxed future answering one request.
pub type MountFuture = Pin<Box<dyn Future<Output = Response<EdgeBody>> + Send>>;

/// A handler that answers requests under a path prefix.
pub trait Mount: Send + Sync + std::fmt::Debug {
    /// Answers `req`; the path and query are the client's, unchanged. An answer `101
    /// Switching Protocols` to an HTTP/1.1 upgrade request hands the connection over
    /// (`hyper::upgrade::on(req)` resolves once it is sent).
    fn call(&self, req: Request<Incoming>) -> MountFuture;

    /// The reverse proxy this mount is, if it is one: the HTTP/1.1 fast path then forwards
    /// plain requests itself (the lean client of `upstream.rs`) instead of handing the
    /// connection to hyper.
    fn as_proxy(&self) -> Option<&crate::proxy::Proxy> {
        None
    }
}

/// The address of the client a request came from: the edge puts it in the extensions of
/// every request it hands to a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// Marks a request that arrived over TLS: the edge puts it in the extensions of such requests
/// it hands to a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tls;

/// A mount placed under a prefix of one app's URL space.
#[derive(Debug, Clone)]
pub struct Mounted {
    /// The prefix, starting and ending with `/` (`/api/apps/`): it owns `/api/apps` and
    /// everything below `/api/apps/`.
    pub prefix: String,
    /// The handler.
    pub handler: Arc<dyn Mount>,
}

impl Mounted {
    /// A mount of `handler` at `prefix` (a `/` is added at either end when missing).
    pub fn new(prefix: &str, handler: Arc<dyn Mount>) -> Self {
        let trimmed = prefix.trim_matches('/');
        let prefix = if trimmed.is_empty() {
            "/".to_string()
        } else {
            format!("/{trimmed}/")
        };
        Mounted { prefix, handler }
    }

    /// Whether this mount owns `path` (percent-encoded, as received).
    pub fn owns(&self, path: &str) -> bool {
        path.starts_with(&self.prefix) || path == self.prefix.trim_end_matches('/')
    }
}

/// The mount that owns `path` among `mounts`: the longest prefix wins.
pub fn find<'a>(mounts: &'a [Mounted], path: &str) -> Option<&'a Mounted> {
    mounts
        .iter()
        .filter(|m| m.owns(path))
        .max_by_key(|m| m.prefix.len())
}

/// Boxes a complete body as an [`EdgeBody`].
pub fn boxed<B>(body: B) -> EdgeBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A stream that first yields bytes already read from it, then the rest: how the HTTP/1.1
/// fast path hands a connection it has started reading to hyper.
#[derive(Debug)]
pub struct Rewind<S> {
    pre: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    /// `inner`, with `pre` read again first.
    pub fn new(pre: Bytes, inner: S) -> Self {
        Rewind { pre, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pre.has_remaining() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Nothing;
    impl Mount for Nothing {
        fn call(&self, _: Request<Incoming>) -> MountFuture {
            Box::pin(async { Response::new(boxed(http_body_util::Empty::<Bytes>::new())) })
        }
    }

    #[test]
    fn prefixes_own_their_subtree_only() {
        let api = Mounted::new("/api/apps", Arc::new(Nothing));
        assert_eq!(api.prefix, "/api/apps/");
        assert!(api.owns("/api/apps/x/entities/Task"));
        assert!(api.owns("/api/apps"));
        assert!(!api.owns("/api/appsx"));
        assert!(!api.owns("/api/app"));
        let deeper = Mounted::new("/api/apps/x/", Arc::new(Nothing));
        let mounts = vec![api, deeper];
        assert_eq!(
            find(&mounts, "/api/apps/x/y").map(|m| m.prefix.as_str()),
            Some("/api/apps/x/")
        );
        assert_eq!(
            find(&mounts, "/api/apps/z").map(|m| m.prefix.as_str()),
            Some("/api/apps/")
        );
        assert!(find(&mounts, "/index.html").is_none());
    }

    #[tokio::test]
    async fn rewind_replays_then_reads_on() {
        use tokio::io::AsyncReadExt;
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b" world")
            .await
            .expect("write");
        drop(a);
        let mut r = Rewind::new(Bytes::from_static(b"hello"), b);
        let mut all = String::new();
        r.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "hello world");
    }
}
