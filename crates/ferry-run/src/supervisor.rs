//! The supervisor's public face: starting, adopting, awaiting, stopping, listing processes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use crate::cgroup::{self, CgroupSupport, Cgroups};
use crate::logs::{self, EofCounter, LogSink};
use crate::monitor::{AbortOnDrop, Command, Details, Entry, monitor};
use crate::process::{
    Ended, Instance, check_port_free, private_dir, record_of, spawn_instance, terminate_group,
};
use crate::spec::{Limits, ProcessSpec};
use crate::state::{self, Liveness, Recorded};
use crate::{RunError, lock, procfs};

/// Where a supervised process stands. Sent on [`Handle::subscribe`] at every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Spawned (or adopted); its health check has not passed yet.
    Starting,
    /// Its health check passes.
    Healthy,
    /// It was healthy, then failed [`crate::HealthCheck::failures`] checks in a row.
    Unhealthy,
    /// It exited unexpectedly and waits for restart number `attempt` (backoff).
    Restarting {
        /// 1 for the first restart after a healthy run, then 2, 3…
        attempt: u32,
    },
    /// It exited too often within the window and is not restarted any more.
    CrashLoop,
    /// It was stopped (or never restarted); nothing runs.
    Stopped,
}

impl Status {
    /// A stable, kebab-case name (`restarting` for every attempt).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::Restarting { .. } => "restarting",
            Self::CrashLoop => "crash-loop",
            Self::Stopped => "stopped",
        }
    }

    /// Whether a process runs or will run again (it owns its port).
    pub fn is_live(&self) -> bool {
        !matches!(self, Self::CrashLoop | Self::Stopped)
    }
}

/// Serialised as its [`Status::as_str`] name (the attempt is in [`ProcessInfo::restarts`]).
impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Restarting { attempt } => write!(f, "restarting (attempt {attempt})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// One row of [`Supervisor::ps`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    /// The app.
    pub app: String,
    /// The release.
    pub release: String,
    /// The process's name.
    pub name: String,
    /// The group leader's pid (the last one, when nothing runs).
    pub pid: u32,
    /// The process group.
    pub pgid: u32,
    /// The assigned port.
    pub port: u16,
    /// Where it stands.
    pub status: Status,
    /// Restarts since it was started or adopted.
    pub restarts: u32,
    /// Seconds since the current process was spawned (0 when nothing runs).
    pub uptime_secs: u64,
    /// Memory in bytes, when it runs: its cgroup's `memory.current` (page cache included) when
    /// it runs in one, else resident memory summed over the live members of its group.
    pub rss_bytes: Option<u64>,
    /// Whether it was adopted from a previous ferry rather than spawned by this one.
    pub adopted: bool,
    /// The current log file.
    pub log_file: PathBuf,
    /// How its last exit ended, e.g. `exited with code 3 at start (3 times in 1 min)`.
    pub last_exit: Option<String>,
    /// Its cgroup, when cgroup v2 limits apply to it.
    pub cgroup: Option<PathBuf>,
    /// The limits it runs under, each with how it is enforced (empty when it has none).
    pub limits: Vec<crate::EnforcedLimit>,
    /// Bytes of output it wrote since it was started or adopted.
    pub log_bytes: u64,
    /// Of those, bytes dropped for going over [`crate::LogPolicy::max_bytes_per_sec`].
    pub log_dropped_bytes: u64,
}

/// What [`Supervisor::stop_and_report`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StopReport {
    /// Whether anything of the process was running when the stop began.
    pub was_running: bool,
    /// Whether SIGKILL was needed: something was still there when the grace ended.
    pub forced: bool,
    /// How long the stop took.
    pub took: Duration,
}

impl StopReport {
    /// A stop that found nothing running.
    pub(crate) fn not_running() -> Self {
        Self {
            was_running: false,
            forced: false,
            took: Duration::ZERO,
        }
    }
}

/// What [`Supervisor::kill_orphan`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Orphan {
    /// The recorded group was running and is now gone.
    Killed,
    /// Nothing of it was running any more.
    AlreadyGone,
    /// The pid belongs to another process now: nothing was signalled.
    PidReused,
}

/// A supervised process. Cheap to clone; stays valid (with its last status) after a stop.
#[derive(Clone)]
pub struct Handle {
    entry: Arc<Entry>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("process", &self.entry.label)
            .field("status", &self.status())
            .field("pid", &self.pid())
            .finish()
    }
}

impl Handle {
    /// The spec it runs.
    pub fn spec(&self) -> &ProcessSpec {
        &self.entry.spec
    }

    /// `app/name@release`.
    pub fn label(&self) -> &str {
        &self.entry.label
    }

    /// The assigned port.
    pub fn port(&self) -> u16 {
        self.entry.spec.port
    }

    /// The current (or last) group leader's pid.
    pub fn pid(&self) -> u32 {
        lock(&self.entry.details).pid
    }

    /// The current status.
    pub fn status(&self) -> Status {
        *self.entry.status.borrow()
    }

    /// A receiver of every status change (e.g. to abandon a release that crash-loops after a
    /// switch).
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.entry.status.subscribe()
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u32 {
        lock(&self.entry.details).restarts
    }

    /// How the last exit ended, when there was one: `exited with code 3 at start`, `killed by
    /// SIGKILL after 42 s`, with `(N times in 1 min)` once it exited more than once within the
    /// crash-loop window.
    pub fn last_exit(&self) -> Option<String> {
        lock(&self.entry.details).last_exit.clone()
    }

    /// The last lines of output (secrets masked).
    pub fn log_tail(&self) -> Vec<String> {
        lock(&self.entry.sink).tail()
    }

    /// The current log file (`<log_dir>/<name>.log`; older ones are `.1`, `.2`…).
    pub fn log_file(&self) -> PathBuf {
        lock(&self.entry.sink).path().to_path_buf()
    }
}

/// State shared by the supervisor's methods.
struct Shared {
    state_dir: PathBuf,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    /// Keys and ports being started or adopted right now, so two calls cannot race.
    reserved: Mutex<(HashSet<String>, HashSet<u16>)>,
}

/// A claim on a key and a port while a process is being started; released on drop.
struct Reservation<'a> {
    shared: &'a Shared,
    base: String,
    port: u16,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut reserved = lock(&self.shared.reserved);
        reserved.0.remove(&self.base);
        reserved.1.remove(&self.port);
    }
}

/// Runs processes and keeps track of them. Dropping it stops watching without stopping the
/// processes (as a crash of ferry would): a later supervisor over the same state folder adopts
/// them or kills them. Call [`Supervisor::stop`] (or [`Supervisor::stop_all`]) to stop them.
pub struct Supervisor {
    shared: Arc<Shared>,
    /// Whether cgroup v2 limits are used when the machine offers them.
    use_cgroups: bool,
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for entry in lock(&self.shared.entries).values() {
            if let Some(task) = lock(&entry.task).take() {
                task.abort();
            }
        }
    }
}

impl Supervisor {
    /// A supervisor recording its processes in `state_dir` (created 0700 at the first start).
    /// Its processes run in cgroups of their own when the machine offers cgroup v2 (see
    /// [`Self::cgroup_support`]), else under rlimits only.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            shared: Arc::new(Shared {
                state_dir,
                entries: Mutex::new(HashMap::new()),
                reserved: Mutex::new((HashSet::new(), HashSet::new())),
            }),
            use_cgroups: true,
        }
    }

    /// A supervisor that never uses cgroups: rlimits only, and ferry's own process is never
    /// moved into another cgroup.
    pub fn without_cgroups(state_dir: PathBuf) -> Self {
        let mut supervisor = Self::new(state_dir);
        supervisor.use_cgroups = false;
        supervisor
    }

    /// Whether cgroup v2 limits apply to the processes this supervisor starts, and why (or why
    /// not): `cgroup v2 at <folder> (memory, pids, cpu)` or `not usable: <why>`. The first call
    /// in a ferry process detects (and, when usable, prepares `<ferry's cgroup>/ferry`, which
    /// may move ferry itself into `<ferry's cgroup>/supervisor`; see the crate's docs).
    pub fn cgroup_support(&self) -> CgroupSupport {
        if !self.use_cgroups {
            return CgroupSupport {
                usable: false,
                reason: "not usable: turned off for this supervisor (Supervisor::without_cgroups)"
                    .into(),
            };
        }
        cgroup::support(cgroup::detected())
    }

    /// The cgroups to use, when usable.
    fn cgroups(&self) -> Option<&'static Cgroups> {
        if self.use_cgroups {
            cgroup::detected().as_ref().ok()
        } else {
            None
        }
    }

    /// The state folder.
    pub fn state_dir(&self) -> &Path {
        &self.shared.state_dir
    }

    /// Starts a process: checks that its port is free, spawns `sh -c <command>` in a new
    /// process group with its env, port, writable folder and limits, records it, and watches
    /// it (health checks, restarts). Returns as soon as it runs; see [`Self::wait_healthy`].
    pub async fn start(&self, spec: ProcessSpec) -> Result<Handle, RunError> {
        spec.validate()?;
        let base = state::base_name(&spec.app, &spec.release, &spec.name);
        let _reservation = self.reserve(&spec, &base)?;
        if let Some(previous) = state::read(&self.shared.state_dir, &base)
            && previous.liveness() == Liveness::Alive
        {
            return Err(RunError::AlreadyRunning {
                process: spec.label(),
                pid: Some(previous.pid),
            });
        }
        check_port_free(spec.port)?;
        for dir in [&self.shared.state_dir, &spec.log_dir, &spec.writable_dir] {
            private_dir(dir)?;
        }
        let fifo = state::fifo_path(&self.shared.state_dir, &base);
        logs::make_fifo(&fifo).map_err(|e| RunError::io(&fifo, e))?;
        let reader = logs::open_reader(&fifo).map_err(|e| RunError::io(&fifo, e))?;
        let cgroup = match self.cgroups().map(|c| c.create(&base, &spec.limits)) {
            None => None,
            Some(Ok(dir)) => Some(dir),
            Some(Err(e)) => {
                let _ = state::remove(&self.shared.state_dir, &base);
                return Err(e);
            }
        };
        let instance = match spawn_instance(&spec, &fifo, cgroup.as_deref()) {
            Ok(instance) => instance,
            Err(e) => {
                let _ = state::remove(&self.shared.state_dir, &base);
                if let Some(dir) = &cgroup {
                    cgroup::remove(dir).await;
                }
                return Err(e);
            }
        };
        let started_at = SystemTime::now();
        let record = record_of(&spec, &instance, started_at);
        if let Err(e) = state::write(&self.shared.state_dir, &record) {
            let _ = terminate_group(
                &spec.label(),
                instance.pgid,
                Duration::ZERO,
                cgroup.as_deref(),
            )
            .await;
            let _ = state::remove(&self.shared.state_dir, &base);
            if let Some(dir) = &cgroup {
                cgroup::remove(dir).await;
            }
            return Err(e);
        }
        let details = Details {
            pid: instance.pid,
            pgid: instance.pgid,
            start_ticks: instance.start_ticks,
            started_at,
            restarts: 0,
            exits: 0,
            ever_healthy: false,
            healthy_since: None,
            last_exit: None,
            last_exit_tail: Vec::new(),
            last_check: "not checked yet".into(),
            adopted: false,
        };
        let entry = self.install(spec, base, details, Some(reader), instance, cgroup);
        entry.note(&format!(
            "started pid {} on port {}: {}",
            entry.details_pid(),
            entry.spec.port,
            entry.spec.command
        ));
        if let Some(note) = limits_note(
            &entry.spec.limits,
            entry.cgroup.as_deref(),
            &self.cgroup_support(),
        ) {
            entry.note(&note);
        }
        Ok(Handle { entry })
    }

    /// Waits until the process answers its health check. On failure — the deadline passes
    /// (`health-timeout`) or it exits first (`exited-early`, with its exit status and last log
    /// lines) — the process is stopped (with the spec's `stop_grace`) before the error returns.
    pub async fn wait_healthy(&self, handle: &Handle, within: Duration) -> Result<(), RunError> {
        let entry = &handle.entry;
        let mut rx = entry.status.subscribe();
        let exits_at_call = lock(&entry.details).exits;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let status = *rx.borrow_and_update();
            let early = {
                let d = lock(&entry.details);
                let exited = if d.ever_healthy {
                    d.exits > exits_at_call
                } else {
                    d.exits > 0
                };
                exited.then(|| RunError::ExitedEarly {
                    process: entry.label.clone(),
                    status: d.last_exit.clone().unwrap_or_else(|| "exited".into()),
                    log_tail: d.last_exit_tail.clone(),
                })
            };
            if let Some(error) = early {
                self.stop(handle, entry.spec.stop_grace).await?;
                return Err(error);
            }
            match status {
                Status::Healthy => return Ok(()),
                Status::Stopped | Status::CrashLoop => {
                    return Err(RunError::NotRunning {
                        process: entry.label.clone(),
                        status: status.as_str(),
                    });
                }
                _ => {}
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(RunError::NotRunning {
                        process: entry.label.clone(),
                        status: "stopped",
                    });
                }
                Err(_) => {
                    let error = RunError::HealthTimeout {
                        process: entry.label.clone(),
                        port: entry.spec.port,
                        path: entry.spec.health.path.clone(),
                        ok_below: entry.spec.health.ok_below,
                        waited: within,
                        last: lock(&entry.details).last_check.clone(),
                        log_tail: lock(&entry.sink).tail(),
                    };
                    self.stop(handle, entry.spec.stop_grace).await?;
                    return Err(error);
                }
            }
        }
    }

    /// Stops a process: SIGTERM to its whole group, SIGKILL to what is left after `grace`;
    /// reaps it, removes its state files (and its cgroup), and sets `Stopped`. Stopping a
    /// stopped process is a no-op. [`Self::stop_and_report`] says whether SIGKILL was needed.
    pub async fn stop(&self, handle: &Handle, grace: Duration) -> Result<(), RunError> {
        self.stop_and_report(handle, grace).await.map(|_| ())
    }

    /// [`Self::stop`], saying whether anything ran, whether SIGKILL was needed (the process
    /// ignored SIGTERM for the whole grace) and how long the stop took. The process's log
    /// says it too (`[ferry] stopped with SIGKILL: SIGTERM was ignored for 10 s`).
    pub async fn stop_and_report(
        &self,
        handle: &Handle,
        grace: Duration,
    ) -> Result<StopReport, RunError> {
        let entry = &handle.entry;
        let (reply, answer) = oneshot::channel();
        let sent = entry.commands.send(Command::Stop { grace, reply }).is_ok();
        let result = match (sent, answer.await) {
            (true, Ok(result)) => result,
            // The monitor is gone (its supervisor was dropped, or it failed): stop directly.
            _ => self.stop_unmonitored(entry, grace).await,
        };
        let mut entries = lock(&self.shared.entries);
        if entries
            .get(&entry.base)
            .is_some_and(|e| Arc::ptr_eq(e, entry))
        {
            entries.remove(&entry.base);
        }
        result
    }

    /// Stops every supervised process (in parallel), each with `grace`; returns the first error.
    pub async fn stop_all(&self, grace: Duration) -> Result<(), RunError> {
        let handles = self.handles();
        let mut first_error = None;
        let stops = handles.iter().map(|h| self.stop(h, grace));
        for result in futures_join_all(stops).await {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Handles of every supervised process, sorted by app, release and name.
    pub fn handles(&self) -> Vec<Handle> {
        let entries = lock(&self.shared.entries);
        let mut keys: Vec<&String> = entries.keys().collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|k| entries.get(k))
            .map(|entry| Handle {
                entry: entry.clone(),
            })
            .collect()
    }

    /// A snapshot of every supervised process: pid, port, status, restarts, uptime, memory.
    pub fn ps(&self) -> Vec<ProcessInfo> {
        self.handles()
            .into_iter()
            .map(|h| {
                let entry = &h.entry;
                let status = h.status();
                let d = lock(&entry.details);
                let sink = lock(&entry.sink);
                let running = !matches!(status, Status::Stopped | Status::CrashLoop);
                let running = running && !matches!(status, Status::Restarting { .. });
                ProcessInfo {
                    app: entry.spec.app.clone(),
                    release: entry.spec.release.clone(),
                    name: entry.spec.name.clone(),
                    pid: d.pid,
                    pgid: d.pgid,
                    port: entry.spec.port,
                    status,
                    restarts: d.restarts,
                    uptime_secs: if running {
                        SystemTime::now()
                            .duration_since(d.started_at)
                            .map_or(0, |u| u.as_secs())
                    } else {
                        0
                    },
                    rss_bytes: if !running {
                        None
                    } else if let Some(dir) = &entry.cgroup {
                        cgroup::memory_current(dir).or_else(|| procfs::group_rss_bytes(d.pgid))
                    } else {
                        procfs::group_rss_bytes(d.pgid)
                    },
                    adopted: d.adopted,
                    last_exit: d.last_exit.clone(),
                    cgroup: entry.cgroup.clone(),
                    limits: entry.spec.limits.enforcement(entry.cgroup.is_some()),
                    log_file: sink.path().to_path_buf(),
                    log_bytes: sink.received(),
                    log_dropped_bytes: sink.dropped(),
                }
            })
            .collect()
    }

    /// The processes recorded in the state folder (by this or an earlier ferry), whether or
    /// not they still run; see [`Recorded::liveness`].
    pub fn recorded(&self) -> Vec<Recorded> {
        state::list(&self.shared.state_dir)
    }

    /// Takes over a recorded process that still runs (same pid, same start time, same group),
    /// typically after ferry was restarted. `spec` is what the process runs (from its release);
    /// it must name the same app, release, process and port, and is used for health checks and
    /// restarts. The process's output keeps going to its log through the recorded pipe.
    pub async fn adopt(&self, recorded: &Recorded, spec: ProcessSpec) -> Result<Handle, RunError> {
        spec.validate()?;
        let mismatch = [
            ("app", recorded.app != spec.app),
            ("release", recorded.release != spec.release),
            ("name", recorded.name != spec.name),
            ("port", recorded.port != spec.port),
        ]
        .into_iter()
        .find(|(_, differs)| *differs);
        if let Some((field, _)) = mismatch {
            return Err(RunError::SpecMismatch {
                process: recorded.label(),
                detail: format!("its {field} differs"),
            });
        }
        match recorded.liveness() {
            Liveness::Alive => {}
            Liveness::Gone => {
                return Err(RunError::ProcessGone {
                    process: recorded.label(),
                    pid: recorded.pid,
                });
            }
            Liveness::Reused(reason) => {
                return Err(RunError::PidReused {
                    process: recorded.label(),
                    pid: recorded.pid,
                    reason,
                });
            }
        }
        let base = state::base_name(&spec.app, &spec.release, &spec.name);
        let _reservation = self.reserve(&spec, &base)?;
        private_dir(&spec.log_dir)?;
        let fifo = state::fifo_path(&self.shared.state_dir, &base);
        let reader = logs::open_reader(&fifo)
            .or_else(|_| logs::open_reader(Path::new(&format!("/proc/{}/fd/1", recorded.pid))));
        let reader = match reader {
            Ok(r) => Some(r),
            Err(error) => {
                tracing::warn!(process = %recorded.label(), %error, "adopted without its output: the log pipe cannot be opened");
                None
            }
        };
        let instance = Instance {
            child: None,
            pid: recorded.pid,
            pgid: recorded.pgid,
            start_ticks: recorded.start_ticks,
        };
        let details = Details {
            pid: recorded.pid,
            pgid: recorded.pgid,
            start_ticks: recorded.start_ticks,
            started_at: UNIX_EPOCH + Duration::from_secs(recorded.started_at),
            restarts: 0,
            exits: 0,
            ever_healthy: false,
            healthy_since: None,
            last_exit: None,
            last_exit_tail: Vec::new(),
            last_check: "not checked yet".into(),
            adopted: true,
        };
        // Its cgroup, if the earlier ferry put it in one (and it is still there).
        let cgroup = self
            .cgroups()
            .map(|c| c.dir_for(&base))
            .filter(|dir| cgroup::contains(dir, recorded.pid));
        let entry = self.install(spec, base, details, reader, instance, cgroup);
        entry.note(&format!(
            "adopted pid {} after a restart of ferry",
            recorded.pid
        ));
        Ok(Handle { entry })
    }

    /// Stops a recorded process that should not run (SIGTERM to its group, SIGKILL after
    /// `grace`) and removes its state files. A pid now used by another process is left alone.
    pub async fn kill_orphan(
        &self,
        recorded: &Recorded,
        grace: Duration,
    ) -> Result<Orphan, RunError> {
        let base = state::base_name(&recorded.app, &recorded.release, &recorded.name);
        if lock(&self.shared.entries)
            .get(&base)
            .is_some_and(|e| e.is_live())
        {
            return Err(RunError::Supervised {
                process: recorded.label(),
            });
        }
        // Its cgroup, if the earlier ferry put it in one: everything in it is the orphan's.
        let cgroup = self
            .cgroups()
            .map(|c| c.dir_for(&base))
            .filter(|dir| dir.is_dir());
        let cgroup = cgroup.as_deref();
        let outcome = match recorded.liveness() {
            Liveness::Alive => {
                terminate_group(&recorded.label(), recorded.pgid, grace, cgroup).await?;
                Orphan::Killed
            }
            Liveness::Gone => {
                // The pid is unused (or ours, unreaped), so it cannot have been reused as a new
                // group's id: whatever is left in the group is the orphan's.
                let left = !procfs::group_members(recorded.pgid).is_empty()
                    || cgroup.is_some_and(|dir| !cgroup::members(dir).is_empty());
                if left {
                    terminate_group(&recorded.label(), recorded.pgid, grace, cgroup).await?;
                    Orphan::Killed
                } else {
                    Orphan::AlreadyGone
                }
            }
            Liveness::Reused(_) => Orphan::PidReused,
        };
        if let Some(dir) = cgroup
            && cgroup::members(dir).is_empty()
        {
            cgroup::remove(dir).await;
        }
        state::remove(&self.shared.state_dir, &base)?;
        Ok(outcome)
    }

    /// Claims the key and the port, refusing when a live process has either.
    fn reserve(&self, spec: &ProcessSpec, base: &str) -> Result<Reservation<'_>, RunError> {
        let entries = lock(&self.shared.entries);
        let mut reserved = lock(&self.shared.reserved);
        if let Some(e) = entries.get(base).filter(|e| e.is_live()) {
            return Err(RunError::AlreadyRunning {
                process: e.label.clone(),
                pid: Some(e.details_pid()),
            });
        }
        if reserved.0.contains(base) {
            return Err(RunError::AlreadyRunning {
                process: spec.label(),
                pid: None,
            });
        }
        if let Some(e) = entries
            .values()
            .find(|e| e.spec.port == spec.port && e.is_live())
        {
            return Err(RunError::PortTaken {
                port: spec.port,
                by: Some(e.label.clone()),
            });
        }
        if reserved.1.contains(&spec.port) {
            return Err(RunError::PortTaken {
                port: spec.port,
                by: None,
            });
        }
        reserved.0.insert(base.to_owned());
        reserved.1.insert(spec.port);
        Ok(Reservation {
            shared: &self.shared,
            base: base.to_owned(),
            port: spec.port,
        })
    }

    /// Creates the entry, starts its log reader and monitor, and registers it.
    fn install(
        &self,
        spec: ProcessSpec,
        base: String,
        details: Details,
        reader: Option<tokio::net::unix::pipe::Receiver>,
        instance: Instance,
        cgroup: Option<PathBuf>,
    ) -> Arc<Entry> {
        let sink = LogSink::new(&spec.log_dir, &spec.name, spec.log, &spec.redact);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (status, _) = watch::channel(Status::Starting);
        let entry = Arc::new(Entry {
            label: spec.label(),
            spec,
            base,
            status,
            details: Mutex::new(details),
            sink: Arc::new(Mutex::new(sink)),
            eofs: EofCounter::default(),
            cgroup,
            commands,
            task: Mutex::new(None),
        });
        let pump = reader.map(|r| {
            AbortOnDrop(tokio::spawn(logs::pump(
                r,
                entry.sink.clone(),
                entry.eofs.clone(),
            )))
        });
        let task = tokio::spawn(monitor(
            self.shared.state_dir.clone(),
            entry.clone(),
            instance,
            command_rx,
            pump,
        ));
        *lock(&entry.task) = Some(task);
        let previous = lock(&self.shared.entries).insert(entry.base.clone(), entry.clone());
        if let Some(previous) = previous
            && let Some(task) = lock(&previous.task).take()
        {
            // A crash-looped or stopped entry of the same process, replaced.
            task.abort();
        }
        entry
    }

    /// Stops a process whose monitor task is gone: kills its group if the recorded leader (or
    /// its group) is still there, removes its state files.
    async fn stop_unmonitored(
        &self,
        entry: &Entry,
        grace: Duration,
    ) -> Result<StopReport, RunError> {
        if *entry.status.borrow() == Status::Stopped {
            return Ok(StopReport::not_running());
        }
        let asked = std::time::Instant::now();
        let (pid, pgid, start_ticks) = {
            let d = lock(&entry.details);
            (d.pid, d.pgid, d.start_ticks)
        };
        let ours = match procfs::stat(pid) {
            None => true,
            Some(s) => s.start_ticks == start_ticks,
        };
        let result = if ours {
            terminate_group(&entry.label, pgid, grace, entry.cgroup.as_deref()).await
        } else {
            Ok(Ended::AlreadyGone)
        };
        if let Some(dir) = &entry.cgroup {
            cgroup::remove(dir).await;
        }
        // The record is this process's only if no later start of the same process replaced it.
        if state::read(&self.shared.state_dir, &entry.base)
            .is_some_and(|r| r.pid == pid && r.start_ticks == start_ticks)
        {
            state::remove(&self.shared.state_dir, &entry.base)?;
        }
        entry.set_status(Status::Stopped);
        result.map(|ended| StopReport {
            was_running: ended != Ended::AlreadyGone,
            forced: ended == Ended::OnKill,
            took: asked.elapsed(),
        })
    }
}

/// The log line saying which limits bind a process, when it has any.
fn limits_note(limits: &Limits, cgroup: Option<&Path>, support: &CgroupSupport) -> Option<String> {
    if !limits.any() {
        return None;
    }
    let mut rlimits = Vec::new();
    if let Some(n) = limits.open_files {
        rlimits.push(format!("open files {n}"));
    }
    if let Some(s) = limits.cpu_seconds {
        rlimits.push(format!("cpu time {s} s"));
    }
    let mut parts = Vec::new();
    match cgroup {
        Some(dir) => {
            let mut set = Vec::new();
            if let Some(b) = limits.memory_bytes {
                set.push(format!("memory.max {b}"));
            }
            if let Some(n) = limits.processes {
                set.push(format!("pids.max {n}"));
            }
            if let Some(p) = limits.cpu_percent {
                set.push(format!("cpu.max {}", cgroup::cpu_max(Some(p))));
            }
            parts.push(format!("cgroup {} ({})", dir.display(), set.join(", ")));
        }
        None => {
            if let Some(b) = limits.memory_bytes {
                rlimits.push(format!("data {b} bytes"));
            }
            let mut unenforced = Vec::new();
            if limits.processes.is_some() {
                unenforced.push("processes");
            }
            if limits.cpu_percent.is_some() {
                unenforced.push("cpu_percent");
            }
            if !unenforced.is_empty() {
                parts.push(format!(
                    "{} not enforced without cgroup v2 (cgroup {})",
                    unenforced.join(" and "),
                    support.reason
                ));
            }
        }
    }
    if !rlimits.is_empty() {
        parts.insert(0, format!("rlimits: {}", rlimits.join(", ")));
    }
    Some(format!("limits: {}", parts.join("; ")))
}

/// Awaits futures concurrently and returns their outputs in order (a small `join_all`, so
/// that stopping several processes does not add up their graces).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> =
        futures.map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => {
                        *result = Some(out);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.into_iter().flatten().collect()
}
