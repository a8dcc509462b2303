//! TLS on the control listener (`--control-tls-cert`/`--control-tls-key`): one certificate and
//! key (PEM, read with the edge's loader), reloaded when either file changes on disk — new
//! handshakes get the new certificate, open connections keep theirs. Handshakes run on their
//! own tasks (a slow client holds up no one) and hand finished connections to `axum::serve`
//! through [`TlsListener`]. ALPN offers `h2` and `http/1.1`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

use crate::ApiError;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The control listener's certificate, reloadable.
#[derive(Debug)]
pub struct ControlCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Stamp)>,
}

/// Modification time and length of the certificate and key files.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    [cert, key].map(|p| {
        let meta = std::fs::metadata(p).ok();
        (
            meta.as_ref().and_then(|m| m.modified().ok()),
            meta.map_or(0, |m| m.len()),
        )
    })
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    ferry_edge::tls::load_pair(cert, key)?.ok_or_else(|| {
        let missing = if cert.exists() { key } else { cert };
        format!("{}: no such file", missing.display())
    })
}

impl ControlCert {
    /// Loads `cert` (the chain, leaf first) and `key`; a missing or unreadable file is an
    /// error (the server does not start without its certificate).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, ApiError> {
        let before = stamp(cert, key);
        let pair = load(cert, key).map_err(|why| {
            ApiError::new(
                500,
                "control-tls",
                format!("cannot load the control listener's certificate: {why}"),
                "give a PEM certificate chain and its private key with --control-tls-cert and --control-tls-key",
            )
        })?;
        Ok(Arc::new(ControlCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new((Arc::new(pair), before)),
        }))
    }

    /// Loads the files again when they changed; true when a new certificate is in use. A pair
    /// that does not load (a half-written file) keeps the old one and is tried again later.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.cert, &self.key);
        let unchanged = self.current.read().map_or(true, |c| c.1 == now);
        if unchanged {
            return false;
        }
        match load(&self.cert, &self.key) {
            Ok(pair) => {
                if let Ok(mut current) = self.current.write() {
                    *current = (Arc::new(pair), now);
                }
                true
            }
            Err(why) => {
                tracing::warn!(%why, "control listener certificate not reloaded");
                false
            }
        }
    }

    /// A rustls server configuration that takes this certificate (ALPN `h2`, `http/1.1`).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, ApiError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| {
                ApiError::new(
                    500,
                    "control-tls",
                    format!("TLS setup failed: {err}"),
                    "report this as a bug",
                )
            })?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ControlCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.0.clone())
    }
}

/// A listener for `axum::serve` that yields connections whose TLS handshake finished. The
/// accepting, the handshakes and the certificate reloads run on tasks that end when it drops.
pub struct TlsListener {
    local: std::net::SocketAddr,
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, std::net::SocketAddr)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl TlsListener {
    /// Starts accepting on `listener` with `cert`.
    pub fn new(listener: TcpListener, cert: Arc<ControlCert>) -> Result<Self, ApiError> {
        let local = listener.local_addr().map_err(|err| {
            ApiError::new(
                500,
                "bind",
                format!("the control listener has no address: {err}"),
                "choose another address with --control-listen",
            )
        })?;
        let acceptor = tokio_rustls::TlsAcceptor::from(cert.server_config()?);
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, %err, "control TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "control TLS handshake timed out"),
                    }
                });
            }
        });
        let reloading = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let cert = cert.clone();
                if let Ok(true) =
                    tokio::task::spawn_blocking(move || cert.reload_if_changed()).await
                {
                    tracing::info!("control listener certificate reloaded");
                }
            }
        });
        Ok(TlsListener {
            local,
            ready,
            tasks: vec![accepting, reloading],
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accepting task is gone (aborted): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
