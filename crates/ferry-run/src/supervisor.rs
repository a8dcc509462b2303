//! The supervisor: starting, watching, restarting, stopping and adopting processes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::logs::{self, EofCounter, LogSink};
use crate::spec::ProcessSpec;
use crate::state::{self, Liveness, Recorded};
use crate::{RunError, health, lock, procfs};

/// Health checks before a process is first healthy run this often (or at the spec's interval
/// when that is shorter).
const STARTUP_POLL: Duration = Duration::from_millis(100);
/// How often an adopted process (not ferry's child, so it cannot be waited for) is looked up.
const ADOPTED_POLL: Duration = Duration::from_millis(100);
/// How often a group is looked up while it is being stopped.
const GROUP_POLL: Duration = Duration::from_millis(20);
/// How long the survivors of a SIGKILL are waited for.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Grace given to what is left of a group after its leader exited on its own.
const REMNANT_GRACE: Duration = Duration::from_secs(1);
/// How long the log pipe is given to drain after an exit.
const DRAIN_WAIT: Duration = Duration::from_millis(300);

/// Where a supervised process stands. Sent on [`Handle::subscribe`] at every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
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
    /// Resident memory summed over the live members of its group, when it runs.
    pub rss_bytes: Option<u64>,
    /// Whether it was adopted from a previous ferry rather than spawned by this one.
    pub adopted: bool,
    /// The current log file.
    pub log_file: PathBuf,
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

    /// How the last exit ended, e.g. `exit status 1`, when there was one.
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

/// A request to a process's monitor task.
enum Command {
    Stop {
        grace: Duration,
        reply: oneshot::Sender<Result<(), RunError>>,
    },
}

/// What the supervisor knows of one process, shared by handles and its monitor task.
struct Entry {
    spec: ProcessSpec,
    /// `<app>-<release>-<name>`: the state files' base name and the supervisor's key.
    base: String,
    label: String,
    status: watch::Sender<Status>,
    details: Mutex<Details>,
    sink: Arc<Mutex<LogSink>>,
    eofs: EofCounter,
    commands: mpsc::UnboundedSender<Command>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Entry {
    fn set_status(&self, new: Status) {
        self.status.send_if_modified(|s| {
            let changed = *s != new;
            *s = new;
            changed
        });
    }

    fn note(&self, message: &str) {
        lock(&self.sink).note(message);
    }

    fn is_live(&self) -> bool {
        let task_running = lock(&self.task).as_ref().is_some_and(|t| !t.is_finished());
        task_running && self.status.borrow().is_live()
    }
}

/// The changing facts about a process.
struct Details {
    pid: u32,
    pgid: u32,
    start_ticks: u64,
    started_at: SystemTime,
    restarts: u32,
    exits: u32,
    ever_healthy: bool,
    healthy_since: Option<Instant>,
    last_exit: Option<String>,
    last_exit_tail: Vec<String>,
    last_check: String,
    adopted: bool,
}

/// A running group leader: ferry's child, or an adopted process watched through `/proc`.
struct Instance {
    child: Option<tokio::process::Child>,
    pid: u32,
    pgid: u32,
    start_ticks: u64,
}

impl Instance {
    /// Waits for the leader to exit; cancel-safe. Returns how it ended.
    async fn wait_exit(&mut self) -> String {
        match &mut self.child {
            Some(child) => match child.wait().await {
                Ok(status) => describe_exit(status),
                Err(e) => format!("could not be waited for: {e}"),
            },
            None => loop {
                match procfs::stat(self.pid) {
                    Some(s) if s.start_ticks == self.start_ticks && !s.is_dead() => {
                        tokio::time::sleep(ADOPTED_POLL).await;
                    }
                    _ => return "exited (status unknown: the process was adopted)".into(),
                }
            },
        }
    }

    /// Reaps a dead child (no-op for an adopted process).
    async fn reap(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = tokio::time::timeout(KILL_WAIT, child.wait()).await;
        }
    }
}

/// `exit status 1`, `killed by SIGKILL`.
fn describe_exit(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(sig) => {
            let name = match sig {
                1 => "SIGHUP",
                2 => "SIGINT",
                6 => "SIGABRT",
                9 => "SIGKILL",
                11 => "SIGSEGV",
                15 => "SIGTERM",
                24 => "SIGXCPU",
                _ => return format!("killed by signal {sig}"),
            };
            format!("killed by {name}")
        }
        None => "exited".into(),
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
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            shared: Arc::new(Shared {
                state_dir,
                entries: Mutex::new(HashMap::new()),
                reserved: Mutex::new((HashSet::new(), HashSet::new())),
            }),
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
                pid: previous.pid,
            });
        }
        check_port_free(spec.port)?;
        for dir in [&self.shared.state_dir, &spec.log_dir, &spec.writable_dir] {
            private_dir(dir)?;
        }
        let fifo = state::fifo_path(&self.shared.state_dir, &base);
        logs::make_fifo(&fifo).map_err(|e| RunError::io(&fifo, e))?;
        let reader = logs::open_reader(&fifo).map_err(|e| RunError::io(&fifo, e))?;
        let instance = spawn_instance(&spec, &fifo)?;
        let started_at = SystemTime::now();
        let record = record_of(&spec, &instance, started_at);
        if let Err(e) = state::write(&self.shared.state_dir, &record) {
            let _ = terminate_group(&spec.label(), instance.pgid, Duration::ZERO).await;
            let _ = state::remove(&self.shared.state_dir, &base);
            return Err(e);
        }
        let sink = LogSink::new(&spec.log_dir, &spec.name, spec.log, &spec.redact);
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
        let entry = self.install(spec, base, details, sink, Some(reader), instance);
        entry.note(&format!(
            "started pid {} on port {}: {}",
            entry.details_pid(),
            entry.spec.port,
            entry.spec.command
        ));
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
    /// reaps it, removes its state files, and sets `Stopped`. Stopping a stopped process is a
    /// no-op.
    pub async fn stop(&self, handle: &Handle, grace: Duration) -> Result<(), RunError> {
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
                    rss_bytes: if running {
                        procfs::group_rss_bytes(d.pgid)
                    } else {
                        None
                    },
                    adopted: d.adopted,
                    log_file: lock(&entry.sink).path().to_path_buf(),
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
        let sink = LogSink::new(&spec.log_dir, &spec.name, spec.log, &spec.redact);
        let entry = self.install(spec, base, details, sink, reader, instance);
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
        let outcome = match recorded.liveness() {
            Liveness::Alive => {
                terminate_group(&recorded.label(), recorded.pgid, grace).await?;
                Orphan::Killed
            }
            Liveness::Gone => {
                // The pid is unused (or ours, unreaped), so it cannot have been reused as a new
                // group's id: whatever is left in the group is the orphan's.
                if procfs::group_members(recorded.pgid).is_empty() {
                    Orphan::AlreadyGone
                } else {
                    terminate_group(&recorded.label(), recorded.pgid, grace).await?;
                    Orphan::Killed
                }
            }
            Liveness::Reused(_) => Orphan::PidReused,
        };
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
                pid: e.details_pid(),
            });
        }
        if reserved.0.contains(base) {
            return Err(RunError::AlreadyRunning {
                process: spec.label(),
                pid: 0,
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
        sink: LogSink,
        reader: Option<tokio::net::unix::pipe::Receiver>,
        instance: Instance,
    ) -> Arc<Entry> {
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
    async fn stop_unmonitored(&self, entry: &Entry, grace: Duration) -> Result<(), RunError> {
        let (pid, pgid, start_ticks) = {
            let d = lock(&entry.details);
            (d.pid, d.pgid, d.start_ticks)
        };
        let ours = match procfs::stat(pid) {
            None => true,
            Some(s) => s.start_ticks == start_ticks,
        };
        let result = if ours {
            terminate_group(&entry.label, pgid, grace).await
        } else {
            Ok(())
        };
        state::remove(&self.shared.state_dir, &entry.base)?;
        entry.set_status(Status::Stopped);
        result
    }
}

impl Entry {
    fn details_pid(&self) -> u32 {
        lock(&self.details).pid
    }
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

/// Aborts a task when dropped (the log reader dies with its monitor).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How one run of a process ended.
enum Outcome {
    Exited(String),
    Stop {
        grace: Duration,
        reply: oneshot::Sender<Result<(), RunError>>,
    },
}

/// Watches one process for its whole supervised life: health checks, restarts, stop.
async fn monitor(
    state_dir: PathBuf,
    entry: Arc<Entry>,
    mut instance: Instance,
    mut commands: mpsc::UnboundedReceiver<Command>,
    _pump: Option<AbortOnDrop>,
) {
    let spec = &entry.spec;
    let policy = spec.restart;
    let fifo = state::fifo_path(&state_dir, &entry.base);
    let mut attempt = 0u32;
    let mut recent_exits: VecDeque<Instant> = VecDeque::new();
    loop {
        let how = match run(&entry, &mut instance, &mut commands).await {
            Outcome::Stop { grace, reply } => {
                let result = stop_instance(&entry, &mut instance, grace).await;
                let removed = state::remove(&state_dir, &entry.base);
                entry.note("stopped");
                entry.set_status(Status::Stopped);
                let _ = reply.send(result.and(removed));
                return;
            }
            Outcome::Exited(how) => how,
        };

        // An unexpected exit: clear what is left of the group (never two owners of a port),
        // let the log drain, record the exit.
        let mut how = how;
        loop {
            let _ = terminate_group(&entry.label, instance.pgid, REMNANT_GRACE).await;
            instance.reap().await;
            drain_logs(&entry).await;
            let healthy_long = {
                let mut d = lock(&entry.details);
                d.exits += 1;
                d.last_exit = Some(how.clone());
                d.last_exit_tail = lock(&entry.sink).tail();
                let long = d
                    .healthy_since
                    .is_some_and(|t| t.elapsed() >= policy.reset_after);
                d.healthy_since = None;
                long
            };
            if healthy_long {
                attempt = 0;
            }
            let now = Instant::now();
            recent_exits.push_back(now);
            while recent_exits
                .front()
                .is_some_and(|t| now.duration_since(*t) > policy.crash_loop_window)
            {
                recent_exits.pop_front();
            }
            if recent_exits.len() >= policy.crash_loop_exits as usize {
                entry.note(&format!(
                    "{how}; crash loop: {} exits within {} s, not restarting",
                    recent_exits.len(),
                    policy.crash_loop_window.as_secs()
                ));
                let _ = state::remove(&state_dir, &entry.base);
                entry.set_status(Status::CrashLoop);
                // Nothing runs; wait for the stop that retires the entry.
                if let Some(Command::Stop { reply, .. }) = commands.recv().await {
                    entry.set_status(Status::Stopped);
                    let _ = reply.send(Ok(()));
                }
                return;
            }
            attempt += 1;
            let delay = policy.backoff(attempt);
            entry.note(&format!(
                "{how}; restarting in {:.1} s (attempt {attempt})",
                delay.as_secs_f32()
            ));
            entry.set_status(Status::Restarting { attempt });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                command = commands.recv() => {
                    if let Some(Command::Stop { reply, .. }) = command {
                        let removed = state::remove(&state_dir, &entry.base);
                        entry.note("stopped");
                        entry.set_status(Status::Stopped);
                        let _ = reply.send(removed);
                    }
                    return;
                }
            }
            match spawn_instance(spec, &fifo) {
                Ok(new) => {
                    instance = new;
                    let started_at = SystemTime::now();
                    if let Err(error) =
                        state::write(&state_dir, &record_of(spec, &instance, started_at))
                    {
                        tracing::warn!(process = %entry.label, %error, "cannot record a restarted process");
                    }
                    {
                        let mut d = lock(&entry.details);
                        d.pid = instance.pid;
                        d.pgid = instance.pgid;
                        d.start_ticks = instance.start_ticks;
                        d.started_at = started_at;
                        d.restarts += 1;
                        d.adopted = false;
                    }
                    entry.note(&format!("restarted as pid {}", instance.pid));
                    entry.set_status(Status::Starting);
                    break;
                }
                Err(error) => {
                    how = format!("could not restart: {error}");
                }
            }
        }
    }
}

/// Health-checks a running process until it exits or a stop is asked for.
async fn run(
    entry: &Entry,
    instance: &mut Instance,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Outcome {
    let health = &entry.spec.health;
    let mut failures = 0u32;
    let mut healthy_once = false;
    let mut next_check = tokio::time::Instant::now() + STARTUP_POLL.min(health.interval);
    loop {
        tokio::select! {
            how = instance.wait_exit() => return Outcome::Exited(how),
            command = commands.recv() => match command {
                Some(Command::Stop { grace, reply }) => return Outcome::Stop { grace, reply },
                // The supervisor is gone with every handle: stop watching, leave it running.
                None => std::future::pending::<()>().await,
            },
            () = tokio::time::sleep_until(next_check) => {
                let result = health::check(entry.spec.port, &health.path, health.timeout).await;
                let passed = matches!(result, Ok(code) if code < health.ok_below);
                let text = match result {
                    Ok(code) => format!("status {code}"),
                    Err(reason) => reason,
                };
                let status = *entry.status.borrow();
                if passed {
                    failures = 0;
                    healthy_once = true;
                    if status != Status::Healthy {
                        {
                            let mut d = lock(&entry.details);
                            d.ever_healthy = true;
                            d.healthy_since.get_or_insert_with(Instant::now);
                            d.last_check = text;
                        }
                        entry.note("healthy");
                        entry.set_status(Status::Healthy);
                    }
                } else {
                    lock(&entry.details).last_check = text.clone();
                    if healthy_once {
                        failures += 1;
                        if failures >= health.failures && status == Status::Healthy {
                            lock(&entry.details).healthy_since = None;
                            entry.note(&format!("unhealthy: {text}"));
                            entry.set_status(Status::Unhealthy);
                        }
                    }
                }
                let every = if healthy_once { health.interval } else { STARTUP_POLL.min(health.interval) };
                next_check = tokio::time::Instant::now() + every;
            }
        }
    }
}

/// SIGTERM, grace, SIGKILL for a running instance, then reaps it.
async fn stop_instance(
    entry: &Entry,
    instance: &mut Instance,
    grace: Duration,
) -> Result<(), RunError> {
    let result = terminate_group(&entry.label, instance.pgid, grace).await;
    instance.reap().await;
    drain_logs(entry).await;
    result
}

/// Waits (briefly) for the log reader to reach the end of the pipe.
async fn drain_logs(entry: &Entry) {
    let before = entry.eofs.load(Ordering::SeqCst);
    let deadline = Instant::now() + DRAIN_WAIT;
    while entry.eofs.load(Ordering::SeqCst) == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// SIGTERM to the group, SIGKILL to what is left after `grace`; done when no live member
/// remains. An empty group is fine.
async fn terminate_group(label: &str, pgid: u32, grace: Duration) -> Result<(), RunError> {
    if group_gone(pgid) {
        return Ok(());
    }
    signal_group(pgid, rustix::process::Signal::TERM)?;
    if wait_group_gone(pgid, grace).await {
        return Ok(());
    }
    signal_group(pgid, rustix::process::Signal::KILL)?;
    if wait_group_gone(pgid, KILL_WAIT).await {
        return Ok(());
    }
    Err(RunError::StopTimeout {
        process: label.to_owned(),
        pgid,
        remaining: procfs::group_members(pgid),
    })
}

/// Whether no live (non-zombie) process is left in the group.
fn group_gone(pgid: u32) -> bool {
    let Some(id) = rustix::process::Pid::from_raw(pgid as i32) else {
        return true;
    };
    // No process at all (not even a zombie) answers signal 0: gone without reading /proc.
    if rustix::process::test_kill_process_group(id).is_err() {
        return true;
    }
    procfs::group_members(pgid).is_empty()
}

async fn wait_group_gone(pgid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if group_gone(pgid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
}

/// Sends a signal to a whole group; a group that no longer exists is fine.
fn signal_group(pgid: u32, signal: rustix::process::Signal) -> Result<(), RunError> {
    let Some(id) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return Ok(());
    };
    match rustix::process::kill_process_group(id, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(RunError::Signal {
            pgid,
            source: e.into(),
        }),
    }
}

/// Refuses a port something listens on (checked by binding it briefly, on every IPv4
/// address, then IPv6 where the machine has it).
fn check_port_free(port: u16) -> Result<(), RunError> {
    for host in ["0.0.0.0", "::"] {
        match std::net::TcpListener::bind((host, port)) {
            Ok(listener) => drop(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(RunError::PortTaken { port, by: None });
            }
            // No IPv6 on this machine, or similar: nothing to learn from this address.
            Err(_) => {}
        }
    }
    Ok(())
}

/// Creates a folder (and its parents) and makes it 0700.
fn private_dir(dir: &Path) -> Result<(), RunError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| RunError::io(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| RunError::io(dir, e))
}

/// The shell script run: limits first (`ulimit` sets them with `setrlimit` in the shell that
/// then runs the command, so they bind the command and everything it starts), then the command.
fn script(spec: &ProcessSpec) -> String {
    let mut s = String::from("ulimit -c 0 2>/dev/null\n");
    let limits = &spec.limits;
    let mut set = |flag: &str, value: u64| {
        s.push_str(&format!(
            "ulimit -{flag} {value} || {{ echo 'ferry: cannot set ulimit -{flag} {value}' >&2; exit 125; }}\n"
        ));
    };
    if let Some(n) = limits.open_files {
        set("n", n);
    }
    if let Some(bytes) = limits.memory_bytes {
        set("d", bytes.div_ceil(1024).max(1));
    }
    if let Some(secs) = limits.cpu_seconds {
        set("t", secs.max(1));
    }
    s.push_str(&spec.command);
    s.push('\n');
    s
}

/// Spawns the group leader `sh -c <script>` with the spec's environment.
fn spawn_instance(spec: &ProcessSpec, fifo: &Path) -> Result<Instance, RunError> {
    let (out, err) = logs::child_stdio(fifo).map_err(|e| RunError::io(fifo, e))?;
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script(spec))
        .current_dir(&spec.cwd)
        .env_clear();
    for var in ["PATH", "LANG", "LC_ALL", "TZ"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    if std::env::var_os("PATH").is_none() {
        cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    }
    cmd.envs(&spec.env);
    for var in ["TMPDIR", "HOME", "XDG_CACHE_HOME"] {
        cmd.env(var, &spec.writable_dir);
    }
    let port = spec.port.to_string();
    cmd.env("PORT", &port).env(&spec.port_env, &port);
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(false);
    let child = cmd.spawn().map_err(|source| RunError::Spawn {
        process: spec.label(),
        source,
    })?;
    // Dropping `cmd` closes ferry's copies of the pipe: only the process holds it now.
    drop(cmd);
    let pid = child.id().unwrap_or(0);
    // The child is not reaped until ferry waits for it, so its stat exists even if it exited.
    let start_ticks = procfs::stat(pid).map_or(0, |s| s.start_ticks);
    Ok(Instance {
        child: Some(child),
        pid,
        pgid: pid,
        start_ticks,
    })
}

fn record_of(spec: &ProcessSpec, instance: &Instance, started_at: SystemTime) -> Recorded {
    Recorded {
        version: state::STATE_VERSION,
        app: spec.app.clone(),
        release: spec.release.clone(),
        name: spec.name.clone(),
        pid: instance.pid,
        pgid: instance.pgid,
        port: spec.port,
        started_at: started_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        start_ticks: instance.start_ticks,
        boot_id: procfs::boot_id(),
        command: spec.command.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_sets_limits_before_the_command() {
        let mut spec = ProcessSpec::new(
            "a",
            "r",
            "web",
            "exec server",
            3000,
            "/".into(),
            "/tmp".into(),
            "/tmp".into(),
        );
        spec.limits.open_files = Some(256);
        spec.limits.memory_bytes = Some(1 << 30);
        let s = script(&spec);
        assert!(s.contains("ulimit -n 256 ||"));
        assert!(s.contains("ulimit -d 1048576 ||"));
        assert!(s.ends_with("exec server\n"));
    }

    #[test]
    fn exits_are_described() {
        assert_eq!(
            describe_exit(std::process::ExitStatus::from_raw(1 << 8)),
            "exit status 1"
        );
        assert_eq!(
            describe_exit(std::process::ExitStatus::from_raw(9)),
            "killed by SIGKILL"
        );
    }
}
