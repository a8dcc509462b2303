//! Shared server state and the activation path: record first, then one pointer swap.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ferry_control::{ActivationKind, Applied, Control, Mutation};
use ferry_edge::{AppRoute, Edge};
use ferry_release::{BlobStore, ReleaseManifest, ReleaseStore};
use serde::Serialize;

use crate::ApiError;

/// Releases whose assets stay servable after a switch (skew protection), besides the live one.
pub const SKEW_RELEASES: usize = 5;
/// Releases kept per app by garbage collection.
pub const KEEP_RELEASES: usize = 20;
/// The actor of automatic rollbacks.
pub const AUTO_ACTOR: &str = "ferry";

/// Where a deploy may be killed on purpose, for crash tests (`FERRY_FAILPOINT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// After the blobs are stored, before the manifest is written.
    AfterBlobs,
    /// After the manifest is written, before the release is recorded.
    AfterManifest,
    /// After the live row is written, before the edge pointer moves.
    AfterState,
    /// After the pointer moves, before the client hears back.
    AfterPointer,
}

impl Failpoint {
    /// Parses `after-blobs`, `after-manifest`, `after-state`, `after-pointer`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "after-blobs" => Some(Self::AfterBlobs),
            "after-manifest" => Some(Self::AfterManifest),
            "after-state" => Some(Self::AfterState),
            "after-pointer" => Some(Self::AfterPointer),
            _ => None,
        }
    }
}

/// Everything the handlers share.
pub struct ServerState {
    /// `$FERRY_HOME`.
    pub home: PathBuf,
    /// The state database (only this process opens it).
    pub control: Mutex<Control>,
    /// Content-addressed blobs.
    pub blobs: BlobStore,
    /// Release manifests.
    pub releases: ReleaseStore,
    /// The data plane.
    pub edge: Arc<Edge>,
    /// Serialises activations so the database and the pointer move in the same order.
    pub activation: tokio::sync::Mutex<()>,
    /// Parsed manifests by id.
    pub manifests: Mutex<HashMap<String, Arc<ReleaseManifest>>>,
    /// Precompressed variants by release id.
    pub variant_maps: Mutex<HashMap<String, Arc<ferry_edge::variants::VariantMap>>>,
    /// Crash-test failpoint.
    pub failpoint: Option<Failpoint>,
    /// Where the edge listens.
    pub edge_addr: String,
    /// Where the control TCP listener listens.
    pub control_addr: String,
    /// When the server started.
    pub started: Instant,
    /// Signals shutdown.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The Base44-compatible backends of the apps that have one.
    pub base44: crate::base44::Base44Hosts,
    /// The processes of server releases.
    pub processes: Arc<crate::processes::ProcessHosts>,
    /// Where the watcher of a freshly switched server release asks for an automatic rollback
    /// (received in `server.rs`, which calls [`ServerState::auto_rollback`]).
    pub auto_rollback: tokio::sync::mpsc::UnboundedSender<crate::processes::AutoRollback>,
    /// Failed authentications per client address (the TCP control listener).
    pub throttle: crate::auth::Throttle,
    /// Open one-time dashboard sign-in links for the server's owner (hashes only).
    pub owner_links: crate::owner_link::OwnerLinks,
}

/// What an activation did.
#[derive(Debug, Clone, Serialize)]
pub struct ActivateOutcome {
    /// The app.
    pub app: String,
    /// The release now live.
    pub release_id: String,
    /// The release live before.
    pub previous: Option<String>,
    /// False when the release was already live (nothing moved).
    pub switched: bool,
    /// Time from the request reaching the server to the pointer move, in microseconds.
    pub server_micros: u64,
    /// A stop-start activation (the app binds a fixed port): how long it was down, from the
    /// previous release's stop to the switch, in milliseconds. Absent for blue/green.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<u64>,
    /// A server release whose processes were not running (not warm): milliseconds spent
    /// starting them and waiting for their health checks. Absent for a warm release or files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start_ms: Option<u64>,
    /// What readying the release's backend found worth telling (e.g. no Deno for its Base44
    /// functions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ServerState {
    /// Stops the process here when the failpoint matches: SIGKILL, like a power cut.
    pub fn failpoint(&self, at: Failpoint) {
        if self.failpoint == Some(at) {
            tracing::warn!(?at, "failpoint reached: killing the server");
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &std::process::id().to_string()])
                .status();
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }

    /// Locks the control database.
    pub fn control(&self) -> Result<std::sync::MutexGuard<'_, Control>, ApiError> {
        self.control.lock().map_err(|_| {
            ApiError::new(
                500,
                "poisoned",
                "the state lock is poisoned",
                "restart the server",
            )
        })
    }

    /// A release manifest by id (cached).
    pub fn manifest(&self, id: &str) -> Result<Arc<ReleaseManifest>, ApiError> {
        if let Some(m) = self.manifests.lock().ok().and_then(|c| c.get(id).cloned()) {
            return Ok(m);
        }
        let m = Arc::new(self.releases.load(id)?);
        if let Ok(mut cache) = self.manifests.lock() {
            cache.insert(id.to_string(), m.clone());
        }
        Ok(m)
    }

    /// The edge route of `app` in `env` as the database says it should be.
    pub fn route_for(
        &self,
        app: &str,
        env: &str,
        live: &str,
        mounts: Vec<ferry_edge::mount::Mounted>,
    ) -> Result<AppRoute, ApiError> {
        let recent = self
            .control()?
            .recent_live_releases(app, env, SKEW_RELEASES + 1)?;
        let mut previous = Vec::new();
        for id in recent
            .iter()
            .filter(|id| id.as_str() != live)
            .take(SKEW_RELEASES)
        {
            match self.manifest(id) {
                Ok(m) => previous.push(m),
                Err(err) => {
                    tracing::warn!(%id, %err, "previous release unavailable for skew protection")
                }
            }
        }
        let live = self.manifest(live)?;
        let mut variants = ferry_edge::variants::VariantMap::new();
        for m in std::iter::once(&live).chain(previous.iter()) {
            for (hash, v) in self.variants_of(m).iter() {
                variants.entry(hash.clone()).or_insert(*v);
            }
        }
        Ok(AppRoute {
            live,
            previous,
            variants: Arc::new(variants),
            mounts,
        })
    }

    /// The precompressed variants of one release's files (cached: a release never changes,
    /// and its variants are made before it can be activated).
    pub fn variants_of(&self, m: &ReleaseManifest) -> Arc<ferry_edge::variants::VariantMap> {
        if let Some(v) = self
            .variant_maps
            .lock()
            .ok()
            .and_then(|c| c.get(&m.id).cloned())
        {
            return v;
        }
        let map = Arc::new(ferry_edge::variants::load(
            &self.home.join("variants"),
            &[m],
        ));
        if let Ok(mut cache) = self.variant_maps.lock() {
            cache.insert(m.id.clone(), map.clone());
        }
        map
    }

    /// Loads every live release into the edge (server start).
    pub async fn load_routes(&self) -> Result<usize, ApiError> {
        let live = self.control()?.all_live()?;
        // Processes a killed ferry left: the live releases' are adopted, the rest stopped.
        let live_map: HashMap<String, String> = live
            .iter()
            .filter(|l| l.env == ferry_control::DEFAULT_ENV)
            .map(|l| (l.app.clone(), l.release_id.clone()))
            .collect();
        for note in self.processes.recover(self, &live_map).await {
            tracing::info!(%note, "recovered processes");
        }
        let mut loaded = 0;
        for l in live.iter().filter(|l| l.env == ferry_control::DEFAULT_ENV) {
            let route = match self.manifest(&l.release_id) {
                Ok(manifest) => {
                    let mounts = match self
                        .processes
                        .prepare(self, &l.app, &l.env, &manifest)
                        .await
                    {
                        Ok(Some(m)) => Ok(m),
                        Ok(None) => self.base44.mounts(self, &l.app, &l.env, &manifest).await,
                        Err(err) => Err(err),
                    };
                    mounts.and_then(|m| self.route_for(&l.app, &l.env, &l.release_id, m))
                }
                Err(err) => Err(err),
            };
            match route {
                Ok(route) => {
                    self.edge.set_app(&l.app, route);
                    loaded += 1;
                }
                Err(err) => {
                    tracing::error!(app = %l.app, release = %l.release_id, %err, "cannot serve the live release")
                }
            }
        }
        Ok(loaded)
    }

    /// Makes `release_id` live for `app`: the database row first, then the pointer swap.
    pub async fn activate(
        &self,
        app: &str,
        env: &str,
        release_id: &str,
        action: ActivationKind,
        actor: &ferry_control::Principal,
    ) -> Result<ActivateOutcome, ApiError> {
        let started = Instant::now();
        let _serial = self.activation.lock().await;
        self.activate_locked(started, app, env, release_id, action, actor)
            .await
    }

    /// Audits an activation that ended before its record (`apply` audits the record itself):
    /// a failure to ready the release, or the release already live (`unchanged`).
    fn audit_unapplied(
        &self,
        actor: &ferry_control::Principal,
        app: &str,
        env: &str,
        action: ActivationKind,
        release_id: &str,
        result: Result<(), &ApiError>,
    ) {
        let done = result.map(|()| crate::audited::Done {
            changed: false,
            detail: Some(format!("{action} in {env}: already live")),
            after: Some(release_id.to_string()),
        });
        self.audit_outcome(actor, "activate", &format!("app/{app}"), done);
    }

    /// A server release that fails within its watch window after a switch: when it is still
    /// live and its previous release still warm, the previous release is made live again
    /// (a rollback by `ferry`) and the failing release's processes are stopped.
    pub async fn auto_rollback(&self, req: crate::processes::AutoRollback) {
        let crate::processes::AutoRollback {
            app,
            env,
            abandoned,
            previous,
            reason,
        } = req;
        let started = Instant::now();
        let _serial = self.activation.lock().await;
        let live = self
            .control()
            .and_then(|c| Ok(c.live(&app, &env)?))
            .ok()
            .flatten()
            .map(|l| l.release_id);
        if live.as_deref() != Some(abandoned.as_str()) {
            tracing::info!(%app, %abandoned, ?live, "no automatic rollback: the release is no longer live");
            return;
        }
        if !self.processes.is_warm(&previous).await {
            tracing::warn!(%app, %abandoned, %previous, "no automatic rollback: the previous release is no longer warm");
            return;
        }
        match self
            .activate_locked(
                started,
                &app,
                &env,
                &previous,
                ActivationKind::Rollback,
                &ferry_control::Principal::system(AUTO_ACTOR),
            )
            .await
        {
            Ok(_) => {
                tracing::warn!(%app, %abandoned, %previous, %reason, "rolled back automatically: the new release failed after its switch");
                self.processes.abandon(&abandoned).await;
            }
            Err(err) => {
                tracing::error!(%app, %abandoned, %previous, %reason, %err, "automatic rollback failed")
            }
        }
    }

    /// [`ServerState::activate`] with the activation lock held.
    async fn activate_locked(
        &self,
        started: Instant,
        app: &str,
        env: &str,
        release_id: &str,
        action: ActivationKind,
        actor: &ferry_control::Principal,
    ) -> Result<ActivateOutcome, ApiError> {
        let readied = self.ready_release(app, env, release_id).await;
        let (current, mounts, rebuilt) = match readied {
            Ok(ready) => ready,
            Err(err) => {
                self.audit_unapplied(actor, app, env, action, release_id, Err(&err));
                return Err(err);
            }
        };
        if current.as_deref() == Some(release_id)
            && self.edge.live_release(app).as_deref() == Some(release_id)
        {
            self.audit_unapplied(actor, app, env, action, release_id, Ok(()));
            let cold_start = self.processes.take_cold_start(release_id);
            // Same release, new backend settings (e.g. another database), or its processes
            // started again (a re-frozen env, or they had stopped) on new ports: swap the route.
            if rebuilt || cold_start.is_some() {
                let route = self.route_for(app, env, release_id, mounts)?;
                self.edge.set_app(app, route);
            }
            return Ok(ActivateOutcome {
                app: app.into(),
                release_id: release_id.into(),
                previous: current,
                switched: false,
                server_micros: started.elapsed().as_micros() as u64,
                downtime_ms: self
                    .processes
                    .take_outage(release_id)
                    .map(|d| d.as_millis() as u64),
                cold_start_ms: cold_start.map(|d| d.as_millis() as u64),
                warnings: self.base44.take_warnings(release_id),
            });
        }
        let applied = self.control()?.apply(
            actor,
            Mutation::Activate {
                app: app.into(),
                env: env.into(),
                release_id: release_id.into(),
                action,
            },
        )?;
        let previous = match applied {
            Applied::Activated { previous } => previous,
            _ => current,
        };
        self.failpoint(Failpoint::AfterState);
        let route = self.route_for(app, env, release_id, mounts)?;
        self.edge.set_app(app, route);
        let server_micros = started.elapsed().as_micros() as u64;
        let downtime_ms = self
            .processes
            .take_outage(release_id)
            .map(|d| d.as_millis() as u64);
        let cold_start_ms = self
            .processes
            .take_cold_start(release_id)
            .map(|d| d.as_millis() as u64);
        // The previous release's processes stay warm (unrouted) for the window, then stop; the
        // new one is watched and rolled back automatically if it fails soon after the switch.
        self.processes.retire_others(app, release_id).await;
        self.processes
            .watch_after_switch(
                app,
                env,
                release_id,
                previous.clone(),
                self.auto_rollback.clone(),
            )
            .await;
        self.failpoint(Failpoint::AfterPointer);
        tracing::info!(%app, release = %release_id, ?previous, server_micros, "activated");
        Ok(ActivateOutcome {
            app: app.into(),
            release_id: release_id.into(),
            previous,
            switched: true,
            server_micros,
            downtime_ms,
            cold_start_ms,
            warnings: self.base44.take_warnings(release_id),
        })
    }

    /// Everything an activation needs before it changes anything: the manifest and its blobs,
    /// the backend readied (schemas migrated; a server release's processes started and
    /// healthy). The release live now, the route's mounts, whether the backend was rebuilt.
    async fn ready_release(
        &self,
        app: &str,
        env: &str,
        release_id: &str,
    ) -> Result<(Option<String>, Vec<ferry_edge::mount::Mounted>, bool), ApiError> {
        // Everything the edge will need is read before anything changes.
        let manifest = self.manifest(release_id)?;
        let missing = self.blobs.missing(
            &manifest
                .files
                .values()
                .map(|f| f.hash.clone())
                .collect::<Vec<_>>(),
        );
        if !missing.is_empty() {
            return Err(ApiError::new(
                409,
                "missing-blobs",
                format!("release `{release_id}` lacks {} blobs", missing.len()),
                "upload them again with `ferry deploy`",
            ));
        }
        let current = self.control()?.live(app, env)?.map(|l| l.release_id);
        // The backend is ready (schemas migrated) before anything is recorded or switched.
        // A server release's processes are started and healthy before anything switches.
        let (mounts, rebuilt) = match self.processes.prepare(self, app, env, &manifest).await? {
            Some(mounts) => (mounts, false),
            None => self.base44.prepare(self, app, env, &manifest).await?,
        };
        Ok((current, mounts, rebuilt))
    }

    /// Garbage-collects releases and blobs no kept release needs.
    pub fn gc(&self) -> Result<ferry_release::GcStats, ApiError> {
        let all = self.releases.list()?;
        let mut pinned = BTreeSet::new();
        {
            let control = self.control()?;
            for l in control.all_live()? {
                pinned.extend(control.recent_live_releases(&l.app, &l.env, SKEW_RELEASES + 1)?);
            }
        }
        let keep = ferry_release::retention(&all, KEEP_RELEASES, &pinned);
        let stats = ferry_release::gc(
            &self.blobs,
            &self.releases,
            &keep,
            std::time::Duration::from_secs(600),
        )?;
        if let Ok(mut cache) = self.manifests.lock() {
            cache.retain(|id, _| keep.contains(id));
        }
        if let Ok(mut cache) = self.variant_maps.lock() {
            cache.retain(|id, _| keep.contains(id));
        }
        if let Err(err) = ferry_edge::variants::prune(&self.home.join("variants"), &self.blobs) {
            tracing::warn!(%err, "could not prune precompressed variants");
        }
        self.edge.cache.clear();
        Ok(stats)
    }
}
