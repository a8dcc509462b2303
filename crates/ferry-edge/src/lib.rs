//! `ferry-edge` is the HTTP data plane: it serves the live release of each app, chosen by the
//! `Host` header, straight from the content-addressed blob store. Switching releases is one
//! atomic pointer swap ([`arc_swap::ArcSwap`]); a request keeps the routing snapshot it started
//! with, so it finishes on the release it started on. It never reads the control database on
//! the request path: the control plane pushes routes into it.

pub mod cache;
pub mod h1;
pub mod httpdate;
pub mod mount;
pub mod observe;
pub mod proxy;
mod resolve;
mod server;
pub mod tls;
mod upstream;
pub mod variants;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use ferry_release::{BlobStore, ReleaseManifest};

pub use mount::{ClientAddr, Tls};
pub use proxy::{Proxy, ProxyError, ProxyLimits};
pub use resolve::{Resolved, app_for_host, normalize, resolve};
pub use server::{Req, handle_with, matches_etag, parse_range, serve, serve_tls};

/// What the edge serves for one app: the live release and the previous ones kept for skew
/// protection (old HTML asking for old assets keeps working).
#[derive(Debug, Clone)]
pub struct AppRoute {
    /// The live release.
    pub live: Arc<ReleaseManifest>,
    /// Recently live releases, newest first, whose fingerprinted assets stay servable.
    pub previous: Vec<Arc<ReleaseManifest>>,
    /// Precompressed variants of the files of these releases.
    pub variants: Arc<variants::VariantMap>,
    /// Handlers under path prefixes of the live release (its backend), checked before files.
    pub mounts: Vec<mount::Mounted>,
}

/// The routing table: one immutable snapshot per switch.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// App name → route.
    pub apps: HashMap<String, AppRoute>,
    /// The app served for hosts that name no app (`127.0.0.1:8080`).
    pub default_app: Option<String>,
}

/// The edge: routes plus the blob store they point into.
#[derive(Debug)]
pub struct Edge {
    routing: ArcSwap<Routing>,
    blobs: BlobStore,
    variants_root: std::path::PathBuf,
    /// File contents in memory.
    pub cache: cache::ContentCache,
    /// Assets served from a previous release (skew protection), for `/metrics`.
    pub skew_hits: AtomicU64,
    /// Requests by app and status, bytes, latency.
    pub metrics: observe::Metrics,
    /// The access log, when enabled.
    pub access_log: Option<observe::AccessLog>,
    /// Connection and timing limits.
    pub limits: Limits,
    /// Serialised answers of the HTTP/1.x path, per routing snapshot.
    pub memo: h1::Memo,
}

/// Limits that keep hostile clients from holding the edge.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most simultaneous connections per listener; more are closed at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (slowloris).
    pub header_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: server::MAX_CONNECTIONS,
            header_timeout: server::HEADER_TIMEOUT,
        }
    }
}

/// The mount of the app a `Host` names that owns `path`, if any.
pub fn mount_for<'a>(
    routing: &'a Routing,
    host: Option<&str>,
    path: &str,
) -> Option<&'a mount::Mounted> {
    let route = app_for(routing, host)?;
    if route.mounts.is_empty() {
        return None;
    }
    mount::find(&route.mounts, path)
}

/// The route of the app a `Host` names.
pub fn app_for<'a>(routing: &'a Routing, host: Option<&str>) -> Option<&'a AppRoute> {
    app_for_host(routing, host).and_then(|name| routing.apps.get(name))
}

impl Edge {
    /// An edge serving nothing yet; precompressed variants live under `variants_root`.
    pub fn new(blobs: BlobStore, variants_root: std::path::PathBuf) -> Self {
        Edge {
            routing: ArcSwap::from_pointee(Routing::default()),
            blobs,
            variants_root,
            cache: cache::ContentCache::default(),
            skew_hits: AtomicU64::new(0),
            metrics: observe::Metrics::default(),
            access_log: None,
            limits: Limits::default(),
            memo: h1::Memo::default(),
        }
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Enables the access log.
    pub fn with_access_log(mut self, log: observe::AccessLog) -> Self {
        self.access_log = Some(log);
        self
    }

    /// Prometheus text for the edge, with the live release of each app.
    pub fn render_metrics(&self) -> String {
        let routing = self.routing();
        let mut live: Vec<(String, String)> = routing
            .apps
            .iter()
            .map(|(a, r)| (a.clone(), r.live.id.clone()))
            .collect();
        live.sort();
        format!(
            "{}# HELP ferry_edge_cache_bytes File contents held in memory.\n# TYPE ferry_edge_cache_bytes gauge\nferry_edge_cache_bytes {}\n",
            self.metrics.render(&live),
            self.cache.size()
        )
    }

    /// Where precompressed variants live.
    pub fn variants_root(&self) -> &std::path::Path {
        &self.variants_root
    }

    /// The current routing snapshot.
    pub fn routing(&self) -> Arc<Routing> {
        self.routing.load_full()
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Makes `route` the app's route: one atomic swap of the whole table.
    pub fn set_app(&self, app: &str, route: AppRoute) {
        self.routing.rcu(|current| {
            let mut next = Routing::clone(current);
            next.apps.insert(app.to_string(), route.clone());
            if next.default_app.is_none() {
                next.default_app = Some(app.to_string());
            }
            next
        });
    }

    /// Stops serving `app`.
    pub fn remove_app(&self, app: &str) {
        self.routing.rcu(|current| {
            let mut next = Routing::clone(current);
            next.apps.remove(app);
            if next.default_app.as_deref() == Some(app) {
                next.default_app = next.apps.keys().min().cloned();
            }
            next
        });
    }

    /// The id of the release `app` serves now.
    pub fn live_release(&self, app: &str) -> Option<String> {
        self.routing.load().apps.get(app).map(|r| r.live.id.clone())
    }

    /// Counts an asset served from a previous release.
    pub(crate) fn count_skew(&self) {
        self.skew_hits.fetch_add(1, Ordering::Relaxed);
    }
}
