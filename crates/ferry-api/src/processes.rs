//! Server units: a release whose backend is `processes` runs from its materialised tree under
//! `ferry-run`'s supervisor, and the edge proxies the app's requests to its first process.
//!
//! Blue/green: at activation the new release's processes start on fresh ports and must pass
//! their health check before anything is recorded or switched; the previous release's
//! processes stay running, unrouted, for the warm window (`FERRY_WARM_SECS`, default 600 s), so
//! a rollback inside it is a pointer move; then they drain (in-flight requests finish, streams
//! are closed) and stop (SIGTERM, then SIGKILL). A code that binds a fixed port whatever `PORT`
//! says cannot run twice: the old release is stopped first and the downtime reported.
//! After a crash of ferry, the live release's recorded processes are adopted and every other
//! recorded process is stopped before anything starts.
//!
//! Automatic rollback: for the watch window after a switch (`FERRY_WATCH_SECS`, default 60 s;
//! 0 turns it off) a watcher follows the status channels of the new release's processes. The
//! release is abandoned when, while it is still live and its previous release is still warm,
//! one of its processes
//! - crash-loops (`ferry-run` gave up on it), or
//! - exits [`WATCH_EXITS`] times (3) within the window: its restarts back off (0.5 s, 1 s, 2 s…)
//!   and `ferry-run`'s own crash-loop verdict (5 exits) would come too late to matter, so the
//!   watcher counts exits itself; a single crash that restarts (a killed backend) is tolerated, or
//! - stays out of `Healthy` (`Unhealthy`, `Restarting`, or `Starting` again after a restart) for
//!   longer than [`WATCH_UNWELL`] (10 s).
//!
//! The watcher then asks the server (an [`AutoRollback`] on `ServerState::auto_rollback`) to make
//! the previous release live again: recorded as a rollback by the actor `ferry`, its reason
//! logged; the abandoned release's processes are then drained and stopped.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_edge::mount::{Mount, Mounted};
use ferry_edge::proxy::{Proxy, ProxyLimits};
use ferry_release::{ProcessEntry, ProcessesBackend, ReleaseManifest};
use ferry_run::{Handle, HealthCheck, ProcessSpec, Recorded, Status, Supervisor};

use crate::ApiError;
use crate::state::ServerState;

/// How long a release's processes stay warm after it stops being live (default).
pub const DEFAULT_WARM: Duration = Duration::from_secs(600);
/// How long a new release has to pass its health check.
pub const HEALTH_DEADLINE: Duration = Duration::from_secs(60);
/// How long in-flight requests of a retired release may take before its processes stop.
pub const DRAIN: Duration = Duration::from_secs(30);
/// Grace between SIGTERM and SIGKILL when a release stops.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long after a switch a failing release is rolled back automatically (default).
pub const DEFAULT_WATCH: Duration = Duration::from_secs(60);
/// Exits of one process within the watch window that abandon the release.
pub const WATCH_EXITS: u32 = 3;
/// How long a process of a release in its watch window may stay out of `Healthy`.
pub const WATCH_UNWELL: Duration = Duration::from_secs(10);

/// A request, from the watcher of a freshly switched release, to make the app's previous release
/// live again.
#[derive(Debug, Clone)]
pub struct AutoRollback {
    /// The app.
    pub app: String,
    /// Its environment.
    pub env: String,
    /// The failing release (live when the request was made).
    pub abandoned: String,
    /// The warm release to serve again.
    pub previous: String,
    /// Why, for the log.
    pub reason: String,
}

/// The path prefixes a process answers and the proxy to it.
type Routed = (Vec<String>, Arc<Proxy>);

/// The processes of one release and the proxies to those that answer requests.
struct Running {
    app: String,
    handles: Vec<Handle>,
    /// Each routed process's proxy and the path prefixes it answers.
    proxies: Vec<Routed>,
    /// When the release stopped being live (None while live or not yet routed).
    retired_at: Option<Instant>,
    /// The frozen env its processes were started with (a re-frozen env restarts them).
    env: BTreeMap<String, String>,
}

/// Every running release's processes.
pub struct ProcessHosts {
    supervisor: Supervisor,
    running: tokio::sync::Mutex<HashMap<String, Running>>,
    warm: Duration,
    /// The watch window after a switch (zero: no automatic rollback).
    watch: Duration,
    /// Stop-start activations under way: new release → (the stopped release, when it stopped).
    outages: std::sync::Mutex<HashMap<String, (String, Instant)>>,
    /// Releases whose processes the last `prepare` had to start (not warm): how long the start
    /// and health checks took.
    cold_starts: std::sync::Mutex<HashMap<String, Duration>>,
}

/// The guarded value, even after a panic elsewhere poisoned the lock.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl std::fmt::Debug for ProcessHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessHosts").finish_non_exhaustive()
    }
}

fn failed(code: &'static str, message: String, hint: &str) -> ApiError {
    ApiError::new(502, code, message, hint)
}

/// A free loopback port (bound, then released: the supervisor checks it again at start).
pub(crate) fn free_port() -> Result<u16, ApiError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| {
            ApiError::new(
                500,
                "no-port",
                format!("no free port: {e}"),
                "free some ports",
            )
        })
}

impl ProcessHosts {
    /// Processes recorded in `$FERRY_HOME/run/state`; the warm window from `FERRY_WARM_SECS`,
    /// the watch window from `FERRY_WATCH_SECS`.
    pub fn new(home: &std::path::Path) -> Self {
        let secs = |name: &str, default: Duration| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(default, Duration::from_secs)
        };
        ProcessHosts {
            supervisor: Supervisor::new(home.join("run").join("state")),
            running: tokio::sync::Mutex::new(HashMap::new()),
            warm: secs("FERRY_WARM_SECS", DEFAULT_WARM),
            watch: secs("FERRY_WATCH_SECS", DEFAULT_WATCH),
            outages: std::sync::Mutex::new(HashMap::new()),
            cold_starts: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The mounts of a server release, its processes started and healthy (or still warm from
    /// an earlier activation); `None` for other releases.
    pub async fn prepare(
        &self,
        state: &ServerState,
        app: &str,
        env: &str,
        manifest: &ReleaseManifest,
    ) -> Result<Option<Vec<Mounted>>, ApiError> {
        let Some(backend) = manifest.backend.as_ref().and_then(|b| b.processes()) else {
            return Ok(None);
        };
        // The env the release was frozen with (see `frozen_env`): processes that run with
        // another (the release was re-frozen: a deploy after `ferry env set`, or
        // `--env-current`) are restarted in place, a short outage.
        let secrets = frozen_env(state, app, env, &manifest.id)?;
        let mut running = self.running.lock().await;
        if let Some(r) = running.get_mut(&manifest.id)
            && r.handles.iter().all(|h| h.status().is_live())
            && r.env == secrets
        {
            r.retired_at = None;
            return Ok(Some(mounts(&r.proxies)));
        }
        if let Some(stale) = running.remove(&manifest.id) {
            self.drain_and_stop(&stale).await;
        }
        // A code bound to a fixed port cannot run beside its previous release: stop-start. The
        // outage runs from the old processes' stop to the switch (see `take_outage`).
        let mut stopped_live = None;
        if backend.processes.iter().any(|p| p.fixed_port.is_some()) {
            let live = state.edge.live_release(app);
            let same_app: Vec<String> = running
                .iter()
                .filter(|(_, r)| r.app == app)
                .map(|(id, _)| id.clone())
                .collect();
            for id in same_app {
                if let Some(old) = running.remove(&id) {
                    tracing::warn!(%app, release = %id, "fixed port: stopping the previous release before starting the new one");
                    self.drain_and_stop(&old).await;
                    if live.as_deref() == Some(id.as_str()) {
                        stopped_live = Some(id);
                    }
                }
            }
            if let Some(id) = &stopped_live {
                lock(&self.outages).insert(manifest.id.clone(), (id.clone(), Instant::now()));
            }
        }
        // A retired copy of this release may still be stopping (its warm window just ended):
        // its processes own their names until they are gone.
        self.wait_stopped(&manifest.id, STOP_GRACE + DRAIN).await;
        let starting = Instant::now();
        let handles = match self.start(state, manifest, backend, &secrets).await {
            Ok(h) => {
                lock(&self.cold_starts).insert(manifest.id.clone(), starting.elapsed());
                h
            }
            Err(err) => {
                // Stop-start failed: the live release comes back (on its fixed port, so the
                // route's proxies reach it again), and the outage is reported.
                if let Some(id) = stopped_live {
                    let outage = lock(&self.outages).remove(&manifest.id);
                    let restarted = self.restart_live(state, app, env, &id, &mut running).await;
                    let down = outage.map_or(0, |(_, t)| t.elapsed().as_millis());
                    return Err(ApiError {
                        message: format!(
                            "{} — stop-start: the live release {id} {} after {down} ms down",
                            err.message,
                            if restarted {
                                "was restarted"
                            } else {
                                "could NOT be restarted"
                            }
                        ),
                        ..err
                    });
                }
                return Err(err);
            }
        };
        let proxies = match proxies_to(backend, &handles) {
            Ok(p) => p,
            Err(e) => {
                self.stop_handles(&handles).await;
                return Err(ApiError::new(
                    500,
                    "proxy",
                    e.to_string(),
                    "see the server log",
                ));
            }
        };
        let m = mounts(&proxies);
        running.insert(
            manifest.id.clone(),
            Running {
                app: app.to_string(),
                handles,
                proxies,
                retired_at: None,
                env: secrets,
            },
        );
        Ok(Some(m))
    }

    /// Starts the processes of `release` (the live release a failed stop-start deploy stopped)
    /// again; whether they are healthy.
    async fn restart_live(
        &self,
        state: &ServerState,
        app: &str,
        env: &str,
        release: &str,
        running: &mut HashMap<String, Running>,
    ) -> bool {
        let Ok(manifest) = state.manifest(release) else {
            return false;
        };
        let Some(backend) = manifest.backend.as_ref().and_then(|b| b.processes()) else {
            return false;
        };
        let Ok(secrets) = frozen_env(state, app, env, release) else {
            return false;
        };
        let Ok(handles) = self.start(state, &manifest, backend, &secrets).await else {
            return false;
        };
        match proxies_to(backend, &handles) {
            Ok(proxies) => {
                running.insert(
                    release.to_string(),
                    Running {
                        app: app.to_string(),
                        handles,
                        proxies,
                        retired_at: None,
                        env: secrets,
                    },
                );
                true
            }
            Err(_) => {
                self.stop_handles(&handles).await;
                false
            }
        }
    }

    /// The outage of a stop-start activation of `release` (its previous release's processes
    /// stopped before it could start), ended now that the edge routes to it: how long the app
    /// was down. `None` for a blue/green activation.
    pub fn take_outage(&self, release: &str) -> Option<Duration> {
        lock(&self.outages)
            .remove(release)
            .map(|(_, since)| since.elapsed())
    }

    /// Waits (at most `within`) until the supervisor runs no process of `release`.
    async fn wait_stopped(&self, release: &str, within: Duration) {
        let until = Instant::now() + within;
        while self
            .supervisor
            .ps()
            .iter()
            .any(|p| p.release == release && p.status.is_live())
            && Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How long the last activation of `release` spent starting its processes and waiting for
    /// their health checks; `None` when they were warm (a pointer move).
    pub fn take_cold_start(&self, release: &str) -> Option<Duration> {
        lock(&self.cold_starts).remove(release)
    }

    /// Starts every process of the release and waits for each to be healthy; on failure the
    /// ones started are stopped again and the error names the process and its log tail.
    /// `secrets` is the release's frozen env.
    async fn start(
        &self,
        state: &ServerState,
        manifest: &ReleaseManifest,
        backend: &ProcessesBackend,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Vec<Handle>, ApiError> {
        let tree = ferry_release::materialize(&state.blobs, manifest, &trees_dir(&state.home))
            .map_err(|e| ApiError::new(500, e.code(), e.to_string(), e.hint()))?;
        let mut handles = Vec::new();
        for entry in &backend.processes {
            let spec = self.spec(state, &manifest.app, manifest, entry, &tree, secrets)?;
            let handle = match self.supervisor.start(spec).await {
                Ok(h) => h,
                Err(e) => {
                    self.stop_handles(&handles).await;
                    return Err(failed(e.code(), e.to_string(), &e.hint()));
                }
            };
            if let Err(e) = self.supervisor.wait_healthy(&handle, HEALTH_DEADLINE).await {
                let _ = self.supervisor.stop(&handle, STOP_GRACE).await;
                self.stop_handles(&handles).await;
                return Err(failed(
                    "health-check-failed",
                    format!("process `{}` of {}: {e}", entry.name, manifest.id),
                    &format!(
                        "nothing was switched; its log: {}",
                        handle.log_file().display()
                    ),
                ));
            }
            handles.push(handle);
        }
        Ok(handles)
    }

    fn spec(
        &self,
        state: &ServerState,
        app: &str,
        manifest: &ReleaseManifest,
        entry: &ProcessEntry,
        tree: &std::path::Path,
        secrets: &BTreeMap<String, String>,
    ) -> Result<ProcessSpec, ApiError> {
        let port = match entry.fixed_port {
            Some(p) => p,
            None => free_port()?,
        };
        let run = state.home.join("run");
        let mut spec = ProcessSpec::new(
            app,
            &manifest.id,
            &entry.name,
            &entry.command,
            port,
            tree.join(&entry.cwd),
            run.join("work")
                .join(app)
                .join(&manifest.id)
                .join(&entry.name),
            state
                .home
                .join("logs")
                .join("apps")
                .join(app)
                .join(&manifest.id),
        );
        spec.port_env.clone_from(&entry.port_env);
        // The release's frozen runtime env (never ferry's own `FERRY_*`), production mode.
        spec.env = secrets
            .iter()
            .filter(|(k, _)| !ferry_control::is_ferry_setting(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        spec.env
            .entry("NODE_ENV".into())
            .or_insert_with(|| "production".into());
        runtime_env(&mut spec.env, &tree.join(&entry.cwd), &spec.writable_dir);
        spec.redact = spec.env.values().cloned().collect();
        spec.health = HealthCheck {
            path: entry.health.clone().unwrap_or_else(|| "/".into()),
            ..HealthCheck::default()
        };
        // The limits of the app's ferry.toml (none unless declared).
        spec.limits = ferry_run::Limits {
            memory_bytes: entry.limits.memory_bytes,
            open_files: entry.limits.open_files,
            cpu_seconds: None,
            processes: entry.limits.pids,
            cpu_percent: entry.limits.cpu_percent,
        };
        Ok(spec)
    }

    /// After `live` became the app's live release: every other running release of the app is
    /// retired — kept warm for the window, then drained and stopped.
    pub async fn retire_others(self: &Arc<Self>, app: &str, live: &str) {
        let now = Instant::now();
        let mut running = self.running.lock().await;
        for (id, r) in running.iter_mut() {
            if r.app == app && id != live && r.retired_at.is_none() {
                r.retired_at = Some(now);
                let (hosts, id, warm) = (self.clone(), id.clone(), self.warm);
                tokio::spawn(async move {
                    tokio::time::sleep(warm).await;
                    hosts.stop_if_still_retired(&id, now).await;
                });
            }
        }
    }

    /// After `release` became live in place of `previous`: watches its processes for the watch
    /// window and sends an [`AutoRollback`] when they fail (see the module doc). Nothing is
    /// watched for a release without processes, or without a previous release.
    pub async fn watch_after_switch(
        self: &Arc<Self>,
        app: &str,
        env: &str,
        release: &str,
        previous: Option<String>,
        requests: tokio::sync::mpsc::UnboundedSender<AutoRollback>,
    ) {
        let Some(previous) = previous else {
            return;
        };
        if self.watch.is_zero() || previous == release {
            return;
        }
        let handles = match self.running.lock().await.get(release) {
            Some(r) => r.handles.clone(),
            None => return,
        };
        let (hosts, app, env, release) = (
            self.clone(),
            app.to_string(),
            env.to_string(),
            release.to_string(),
        );
        tokio::spawn(async move {
            let reason = hosts.watch(&release, &previous, &handles).await;
            if let Some(reason) = reason {
                tracing::warn!(%app, %release, %previous, %reason, "release failing after its switch: rolling back");
                let _ = requests.send(AutoRollback {
                    app,
                    env,
                    abandoned: release,
                    previous,
                    reason,
                });
            }
        });
    }

    /// Follows `handles` until the window ends, `release` stops being live or `previous` warm
    /// (None), or the release fails (Some(why)).
    async fn watch(&self, release: &str, previous: &str, handles: &[Handle]) -> Option<String> {
        let until = tokio::time::Instant::now() + self.watch;
        // Every status change wakes the watcher; a tick measures how long a process is unwell.
        let (wake_tx, mut wake) = tokio::sync::mpsc::unbounded_channel::<()>();
        let forwarders: Vec<_> = handles
            .iter()
            .map(|h| {
                let (mut rx, tx) = (h.subscribe(), wake_tx.clone());
                tokio::spawn(
                    async move { while rx.changed().await.is_ok() && tx.send(()).is_ok() {} },
                )
            })
            .collect();
        drop(wake_tx);
        let base: Vec<u32> = handles.iter().map(Handle::restarts).collect();
        let mut unwell_since: Vec<Option<Instant>> = vec![None; handles.len()];
        let verdict = loop {
            {
                let running = self.running.lock().await;
                let live = running.get(release).is_some_and(|r| r.retired_at.is_none());
                let warm = running.get(previous).is_some_and(|r| {
                    r.retired_at.is_some() && r.handles.iter().all(|h| h.status().is_live())
                });
                if !live || !warm {
                    break None;
                }
            }
            // Stopped by someone else: nothing to watch any more.
            if handles.iter().any(|h| h.status() == Status::Stopped) {
                break None;
            }
            let failing = handles.iter().enumerate().find_map(|(i, h)| {
                let status = h.status();
                if status == Status::Healthy {
                    unwell_since[i] = None;
                } else {
                    unwell_since[i].get_or_insert_with(Instant::now);
                }
                let exits = h.restarts().saturating_sub(base[i])
                    + u32::from(matches!(
                        status,
                        Status::Restarting { .. } | Status::CrashLoop
                    ));
                let unwell = unwell_since[i].map_or(Duration::ZERO, |t| t.elapsed());
                if status == Status::CrashLoop {
                    Some(format!("{} crash-loops", h.label()))
                } else if exits >= WATCH_EXITS {
                    Some(format!(
                        "{} exited {exits} times since the switch (last: {})",
                        h.label(),
                        h.last_exit().unwrap_or_default()
                    ))
                } else {
                    (unwell >= WATCH_UNWELL).then(|| {
                        format!("{} has been {status} for {} s", h.label(), unwell.as_secs())
                    })
                }
            });
            if failing.is_some() {
                break failing;
            }
            if tokio::time::Instant::now() >= until {
                break None;
            }
            tokio::select! {
                _ = wake.recv() => {}
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                () = tokio::time::sleep_until(until) => {}
            }
        };
        for f in forwarders {
            f.abort();
        }
        verdict
    }

    /// Whether `release`'s processes run, all of them (live or warm).
    pub async fn is_warm(&self, release: &str) -> bool {
        self.running
            .lock()
            .await
            .get(release)
            .is_some_and(|r| r.handles.iter().all(|h| h.status().is_live()))
    }

    /// Takes a release that is no longer live out of the running set and stops its processes
    /// in the background (drained first).
    pub async fn abandon(self: &Arc<Self>, release: &str) {
        let Some(r) = self.running.lock().await.remove(release) else {
            return;
        };
        let hosts = self.clone();
        tokio::spawn(async move {
            hosts.drain_and_stop(&r).await;
            tracing::info!(release = %r.handles.first().map_or("", |h| &h.spec().release), "abandoned release stopped");
        });
    }

    async fn stop_if_still_retired(&self, release: &str, since: Instant) {
        let mut running = self.running.lock().await;
        if running.get(release).and_then(|r| r.retired_at) != Some(since) {
            return;
        }
        if let Some(r) = running.remove(release) {
            drop(running);
            self.drain_and_stop(&r).await;
        }
    }

    /// Waits for in-flight requests (at most [`DRAIN`]), ends streams, stops the processes.
    async fn drain_and_stop(&self, r: &Running) {
        let idle = async {
            for (_, proxy) in &r.proxies {
                proxy.idle().await;
            }
        };
        let _ = tokio::time::timeout(DRAIN, idle).await;
        for (_, proxy) in &r.proxies {
            proxy.close_streams();
        }
        self.stop_handles(&r.handles).await;
    }

    async fn stop_handles(&self, handles: &[Handle]) {
        for h in handles {
            if let Err(e) = self.supervisor.stop(h, STOP_GRACE).await {
                tracing::warn!(process = %h.label(), %e, "could not stop a process cleanly");
            }
        }
    }

    /// At server start, before anything runs: recorded processes of a live release are
    /// adopted (they keep serving); every other recorded process is stopped.
    pub async fn recover(
        &self,
        state: &ServerState,
        live: &HashMap<String, String>,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        let mut adopt: HashMap<String, Vec<Recorded>> = HashMap::new();
        for rec in self.supervisor.recorded() {
            if live.get(&rec.app) == Some(&rec.release) {
                adopt.entry(rec.release.clone()).or_default().push(rec);
            } else {
                let outcome = self.supervisor.kill_orphan(&rec, STOP_GRACE).await;
                notes.push(format!("{}: orphan {outcome:?}", rec.label()));
            }
        }
        let mut running = self.running.lock().await;
        for (release, recs) in adopt {
            let Ok(manifest) = state.manifest(&release) else {
                continue;
            };
            let Some(backend) = manifest.backend.as_ref().and_then(|b| b.processes()) else {
                continue;
            };
            let Ok(tree) =
                ferry_release::materialize(&state.blobs, &manifest, &trees_dir(&state.home))
            else {
                continue;
            };
            let secrets = frozen_env(state, &manifest.app, ferry_control::DEFAULT_ENV, &release)
                .unwrap_or_default();
            let mut handles = Vec::new();
            for entry in &backend.processes {
                let Some(rec) = recs.iter().find(|r| r.name == entry.name) else {
                    continue;
                };
                let Ok(mut spec) =
                    self.spec(state, &manifest.app, &manifest, entry, &tree, &secrets)
                else {
                    continue;
                };
                spec.port = rec.port;
                match self.supervisor.adopt(rec, spec).await {
                    Ok(h) => {
                        notes.push(format!("{}: adopted", rec.label()));
                        handles.push(h);
                    }
                    Err(e) => notes.push(format!("{}: not adopted: {e}", rec.label())),
                }
            }
            if handles.len() == backend.processes.len()
                && let Ok(proxies) = proxies_to(backend, &handles)
            {
                running.insert(
                    release.clone(),
                    Running {
                        app: manifest.app.clone(),
                        handles,
                        proxies,
                        retired_at: None,
                        env: secrets,
                    },
                );
            } else {
                self.stop_handles(&handles).await;
            }
        }
        notes
    }

    /// Whether processes get cgroup v2 limits here, and why not.
    pub fn cgroup_support(&self) -> ferry_run::CgroupSupport {
        self.supervisor.cgroup_support()
    }

    /// What runs, for `ferry ps`.
    pub fn ps(&self) -> Vec<ferry_run::ProcessInfo> {
        self.supervisor.ps()
    }

    /// Stops everything (server shutdown).
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        for (_, r) in running.drain() {
            self.drain_and_stop(&r).await;
        }
    }
}

/// The env `release`'s processes run with: the runtime env frozen into it when it went live
/// (`ferry_control::Control::frozen_env`), so a rollback runs with the env it was deployed
/// with. A release never frozen (deployed before envs were frozen) is frozen now, by `ferry`,
/// with the current values.
fn frozen_env(
    state: &ServerState,
    app: &str,
    env: &str,
    release: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut control = state.control()?;
    if let Some(values) = control.frozen_env(app, env, release)? {
        return Ok(values);
    }
    control.freeze_env(
        &ferry_control::Principal::system(crate::state::AUTO_ACTOR),
        app,
        env,
        release,
    )?;
    Ok(control.frozen_env(app, env, release)?.unwrap_or_default())
}

/// The edge mounts of a server release: each routed process's prefixes to its proxy.
fn mounts(proxies: &[Routed]) -> Vec<Mounted> {
    let mut out = Vec::new();
    for (prefixes, proxy) in proxies {
        let handler: Arc<dyn Mount> = proxy.clone();
        for prefix in prefixes {
            out.push(Mounted::new(prefix, handler.clone()));
        }
    }
    out
}

/// A proxy to each process that answers requests (see [`ProcessesBackend::routed`]), found
/// among `handles` by name.
fn proxies_to(
    backend: &ProcessesBackend,
    handles: &[Handle],
) -> Result<Vec<Routed>, ferry_edge::proxy::ProxyError> {
    let mut out = Vec::new();
    for (entry, prefixes) in backend.routed() {
        let port = handles
            .iter()
            .find(|h| h.spec().name == entry.name)
            .map_or(0, Handle::port);
        let proxy = Proxy::new(
            SocketAddr::from(([127, 0, 0, 1], port)),
            ProxyLimits::default(),
        )?;
        out.push((prefixes, Arc::new(proxy)));
    }
    Ok(out)
}

/// What a process finds in its folder `cwd` of the release: a virtualenv (`.venv`, made
/// relocatable by the build) and `node_modules/.bin` come first on `PATH` so a start command
/// such as `uvicorn server:app` or `next start` runs the release's own copy; Python writes its
/// bytecode cache into the process's own writable folder (the tree is read-only) and its
/// output unbuffered (logs arrive as they are written); npm skips its update check and Next.js
/// its telemetry. An owner's value always wins.
fn runtime_env(
    env: &mut BTreeMap<String, String>,
    cwd: &std::path::Path,
    writable: &std::path::Path,
) {
    let mut first = Vec::new();
    let venv = cwd.join(".venv");
    let python = venv.join("bin").join("python");
    if python.exists() {
        first.push(venv.join("bin"));
        env.entry("VIRTUAL_ENV".into())
            .or_insert_with(|| venv.display().to_string());
        env.entry("PYTHONPYCACHEPREFIX".into())
            .or_insert_with(|| writable.join("pycache").display().to_string());
        env.entry("PYTHONUNBUFFERED".into())
            .or_insert_with(|| "1".into());
    }
    let bin = cwd.join("node_modules").join(".bin");
    if bin.is_dir() {
        first.push(bin);
        // `npm run start` would ask the registry for a newer npm at every start (each process
        // has a fresh HOME), and Next.js would report telemetry.
        env.entry("npm_config_update_notifier".into())
            .or_insert_with(|| "false".into());
        env.entry("NEXT_TELEMETRY_DISABLED".into())
            .or_insert_with(|| "1".into());
    }
    if first.is_empty() || env.contains_key("PATH") {
        return;
    }
    let inherited = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let mut path: Vec<String> = first.iter().map(|p| p.display().to_string()).collect();
    path.push(inherited);
    env.insert("PATH".into(), path.join(":"));
}

/// Where the releases' materialised trees live.
fn trees_dir(home: &std::path::Path) -> PathBuf {
    home.join("run").join("trees")
}
