//! `ferry serve`: binds the edge, the control TCP listener and the Unix socket, restores the
//! live releases, and runs until asked to stop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use ferry_control::Control;
use ferry_edge::Edge;
use ferry_release::{BlobStore, ReleaseStore};
use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::state::{Failpoint, ServerState};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `$FERRY_HOME`.
    pub home: PathBuf,
    /// Edge listen address (`127.0.0.1:8080`).
    pub edge_listen: String,
    /// Control TCP listen address (`127.0.0.1:8081`): `/healthz` and `/metrics` only.
    pub control_listen: String,
    /// Crash-test failpoint (`FERRY_FAILPOINT`).
    pub failpoint: Option<Failpoint>,
    /// Access log file (`-` for stderr), JSON lines; none when unset.
    pub access_log: Option<PathBuf>,
    /// TLS listen address; certificates come from `$FERRY_HOME/tls/<host>/{cert,key}.pem`.
    pub tls_listen: Option<String>,
    /// Connection and header-timeout limits of the edge.
    pub limits: ferry_edge::Limits,
    /// The control listener's certificate chain and key (PEM): TLS on it when set.
    pub control_tls: Option<(PathBuf, PathBuf)>,
}

/// What a running server publishes in `$FERRY_HOME/server.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Process id.
    pub pid: u32,
    /// Edge address actually bound.
    pub edge: String,
    /// Control TCP address actually bound.
    pub control: String,
    /// The Unix socket.
    pub socket: PathBuf,
    /// TLS address actually bound, when TLS is on.
    #[serde(default)]
    pub tls: Option<String>,
    /// Whether the control listener speaks TLS (`https://<control>`).
    #[serde(default)]
    pub control_tls: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ApiError + '_ {
    move |err| {
        ApiError::new(
            500,
            "io",
            format!("`{}`: {err}", path.display()),
            "check that $FERRY_HOME is writable",
        )
    }
}

/// Runs the server until `/api/v1/shutdown`, SIGINT or SIGTERM.
pub async fn run(config: ServerConfig) -> Result<(), ApiError> {
    let home = config.home.clone();
    std::fs::create_dir_all(&home).map_err(io(&home))?;
    let lock_path = home.join("server.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    if lock.try_lock().is_err() {
        return Err(ApiError::new(
            409,
            "already-running",
            "a ferry server is already running on this $FERRY_HOME",
            "use it (`ferry status`), or stop it with `ferry down`",
        ));
    }
    // The control listener's certificate first: a bad one stops the start before anything.
    let control_cert = match &config.control_tls {
        Some((cert, key)) => Some(crate::control_tls::ControlCert::load(cert, key)?),
        None => None,
    };
    let control = Control::open(&home)?;
    let blobs = BlobStore::open(&home.join("blobs"))?;
    let releases = ReleaseStore::open(&home.join("releases"))?;
    let bind = |addr: &str| {
        let addr = addr.to_string();
        async move {
            tokio::net::TcpListener::bind(&addr).await.map_err(|err| {
                ApiError::new(
                    500,
                    "bind",
                    format!("cannot listen on {addr}: {err}"),
                    "choose another address with --listen / --control-listen",
                )
            })
        }
    };
    let edge_listener = bind(&config.edge_listen).await?;
    let tls_listener = match &config.tls_listen {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let tls_addr = tls_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.to_string());
    let control_listener = bind(&config.control_listen).await?;
    let socket = home.join("ferry.sock");
    let _ = std::fs::remove_file(&socket);
    let unix = tokio::net::UnixListener::bind(&socket).map_err(io(&socket))?;
    set_private(&socket);
    let edge_addr = edge_listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let control_addr = control_listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut edge = Edge::new(BlobStore::open(&home.join("blobs"))?, home.join("variants"))
        .with_limits(config.limits);
    if let Some(path) = &config.access_log {
        let log = ferry_edge::observe::AccessLog::open(path).map_err(io(path))?;
        edge = edge.with_access_log(log);
    }
    let edge = Arc::new(edge);
    let (rollback_tx, mut rollback_rx) = tokio::sync::mpsc::unbounded_channel();
    let state = Arc::new(ServerState {
        home: home.clone(),
        control: Mutex::new(control),
        blobs,
        releases,
        edge: edge.clone(),
        activation: tokio::sync::Mutex::new(()),
        manifests: Mutex::new(HashMap::new()),
        variant_maps: Mutex::new(HashMap::new()),
        failpoint: config.failpoint,
        edge_addr: edge_addr.clone(),
        control_addr: control_addr.clone(),
        started: Instant::now(),
        shutdown: shutdown_tx,
        base44: Default::default(),
        processes: Arc::new(crate::processes::ProcessHosts::new(&home)),
        auto_rollback: rollback_tx,
        throttle: Default::default(),
        owner_links: Default::default(),
    });
    // Automatic rollbacks of server releases failing after their switch (see `processes`).
    // A weak reference: the state owns the sender, so the task ends when the state goes.
    let weak = Arc::downgrade(&state);
    tokio::spawn(async move {
        while let Some(req) = rollback_rx.recv().await {
            let Some(state) = weak.upgrade() else { break };
            if *state.shutdown.borrow() {
                break;
            }
            state.auto_rollback(req).await;
        }
    });
    let restored = state.load_routes().await?;
    let info = ServerInfo {
        pid: std::process::id(),
        edge: edge_addr.clone(),
        control: control_addr.clone(),
        socket: socket.clone(),
        tls: tls_addr.clone(),
        control_tls: control_cert.is_some(),
    };
    write_atomic(
        &home.join("server.json"),
        &serde_json::to_vec_pretty(&info).unwrap_or_default(),
    )?;
    tracing::info!(edge = %edge_addr, control = %control_addr, socket = %socket.display(), restored, "ferry serving");
    eprintln!(
        "ferry: edge http://{edge_addr}  control {}://{control_addr}  socket {}  ({restored} apps restored)",
        if control_cert.is_some() {
            "https"
        } else {
            "http"
        },
        socket.display()
    );

    let stopped = {
        let mut rx = shutdown_rx.clone();
        async move {
            tokio::select! {
                _ = rx.wait_for(|stop| *stop) => {}
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate() => {}
            }
        }
    };
    let wait = |rx: tokio::sync::watch::Receiver<bool>| async move {
        let mut rx = rx;
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let tls_task = match tls_listener {
        Some(listener) => {
            let certs = ferry_edge::tls::CertStore::load(&home.join("tls"))
                .map_err(io(&home.join("tls")))?;
            tracing::info!(hosts = ?certs.hosts(), "TLS certificates loaded");
            Some(tokio::spawn(ferry_edge::serve_tls(
                edge.clone(),
                listener,
                certs,
                wait(shutdown_rx.clone()),
            )))
        }
        None => None,
    };
    let edge_task = tokio::spawn(ferry_edge::serve(
        edge.clone(),
        edge_listener,
        wait(shutdown_rx.clone()),
    ));
    // The control listener: health and metrics open, `/api/v1` with bearer tokens.
    let tcp_router = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::handlers::router(
            state.clone(),
            crate::handlers::Access::Bearer,
        ))
        // The web dashboard (`/`, `/dashboard/…`): pages over the same bearer API.
        .merge(crate::dashboard::router(state.clone()))
        // MCP over streamable HTTP (`/mcp`): tools over the same bearer API, in process.
        .merge(ferry_mcp::http::router(
            crate::handlers::router(state.clone(), crate::handlers::Access::Bearer),
            ferry_mcp::http::Options::for_server(home.clone(), control_addr.clone()),
        ))
        // Any other path: the API's JSON `no-route` (merged routers keep no fallback).
        .fallback(|| async {
            crate::ApiError::new(
                404,
                "no-route",
                "no such route",
                "see /api/openapi.json for the routes",
            )
        });
    let tcp_task = match control_cert {
        Some(cert) => {
            use axum::serve::ListenerExt;
            // Over TLS the browser's session cookie gets `Secure` (the dashboard reads the
            // scheme from `x-forwarded-proto`, set here whatever the client sent). HTTP/2
            // carries the host as `:authority`, not `Host`: copied into `Host` for the
            // same-origin checks.
            let tcp_router = tcp_router.layer(axum::middleware::map_request(
                |mut req: axum::extract::Request| async move {
                    let authority = req
                        .uri()
                        .authority()
                        .and_then(|a| axum::http::HeaderValue::from_str(a.as_str()).ok());
                    let headers = req.headers_mut();
                    headers.insert(
                        "x-forwarded-proto",
                        axum::http::HeaderValue::from_static("https"),
                    );
                    if let Some(authority) = authority
                        && !headers.contains_key(axum::http::header::HOST)
                    {
                        headers.insert(axum::http::header::HOST, authority);
                    }
                    req
                },
            ));
            let listener = crate::control_tls::TlsListener::new(control_listener, cert)?
                // `tap_io` lends the listener axum's `ConnectInfo<SocketAddr>` support.
                .tap_io(|_| {});
            tokio::spawn(
                axum::serve(
                    listener,
                    tcp_router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .with_graceful_shutdown(wait(shutdown_rx.clone()))
                .into_future(),
            )
        }
        None => tokio::spawn(
            axum::serve(
                control_listener,
                tcp_router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(wait(shutdown_rx.clone()))
            .into_future(),
        ),
    };
    let api_task = tokio::spawn(
        axum::serve(
            unix,
            crate::handlers::router(state.clone(), crate::handlers::Access::Local),
        )
        .with_graceful_shutdown(wait(shutdown_rx.clone()))
        .into_future(),
    );
    stopped.await;
    let _ = state.shutdown.send(true);
    // `ferry down` stops the apps' processes too (a SIGKILL leaves them for adoption).
    state.processes.shutdown().await;
    state.base44.shutdown().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let _ = edge_task.await;
        if let Some(t) = tls_task {
            let _ = t.await;
        }
        let _ = tcp_task.await;
        let _ = api_task.await;
    })
    .await;
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(home.join("server.json"));
    drop(lock);
    eprintln!("ferry: stopped");
    Ok(())
}

async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

async fn metrics(State(s): State<Arc<ServerState>>) -> String {
    let apps = s.edge.routing().apps.len();
    let skew = s.edge.skew_hits.load(Ordering::Relaxed);
    let dropped = s
        .edge
        .access_log
        .as_ref()
        .map_or(0, |l| l.dropped.load(Ordering::Relaxed));
    format!(
        "{}# TYPE ferry_edge_skew_hits_total counter\nferry_edge_skew_hits_total {skew}\n# TYPE ferry_access_log_dropped_total counter\nferry_access_log_dropped_total {dropped}\n# TYPE ferry_apps_live gauge\nferry_apps_live {apps}\n# TYPE ferry_uptime_seconds gauge\nferry_uptime_seconds {}\n",
        s.edge.render_metrics(),
        s.started.elapsed().as_secs()
    )
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ApiError> {
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temp, bytes).map_err(io(&temp))?;
    std::fs::rename(&temp, path).map_err(io(path))
}
