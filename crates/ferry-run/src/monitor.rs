//! The task watching one process: health checks, restarts with backoff, crash loops, stop.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::logs::{EofCounter, LogSink};
use crate::process::{Ended, Instance, record_of, spawn_instance, terminate_group};
use crate::spec::ProcessSpec;
use crate::state;
use crate::supervisor::{Status, StopReport};
use crate::{RunError, cgroup, health, lock};

/// Health checks before a process is first healthy run this often (or at the spec's interval
/// when that is shorter).
const STARTUP_POLL: Duration = Duration::from_millis(100);
/// Grace given to what is left of a group after its leader exited on its own.
const REMNANT_GRACE: Duration = Duration::from_secs(1);
/// How long the log pipe is given to drain after an exit.
const DRAIN_WAIT: Duration = Duration::from_millis(300);

/// A request to a process's monitor task.
pub(crate) enum Command {
    Stop {
        grace: Duration,
        reply: oneshot::Sender<Result<StopReport, RunError>>,
    },
}

/// What the supervisor knows of one process, shared by handles and its monitor task.
pub(crate) struct Entry {
    pub(crate) spec: ProcessSpec,
    /// `<app>-<release>-<name>`: the state files' base name and the supervisor's key.
    pub(crate) base: String,
    pub(crate) label: String,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) details: Mutex<Details>,
    pub(crate) sink: Arc<Mutex<LogSink>>,
    pub(crate) eofs: EofCounter,
    /// The process's cgroup, when cgroup v2 limits apply.
    pub(crate) cgroup: Option<PathBuf>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) task: Mutex<Option<JoinHandle<()>>>,
}

impl Entry {
    pub(crate) fn set_status(&self, new: Status) {
        self.status.send_if_modified(|s| {
            let changed = *s != new;
            *s = new;
            changed
        });
    }

    pub(crate) fn note(&self, message: &str) {
        lock(&self.sink).note(message);
    }

    pub(crate) fn is_live(&self) -> bool {
        let task_running = lock(&self.task).as_ref().is_some_and(|t| !t.is_finished());
        task_running && self.status.borrow().is_live()
    }
}

/// The changing facts about a process.
pub(crate) struct Details {
    pub(crate) pid: u32,
    pub(crate) pgid: u32,
    pub(crate) start_ticks: u64,
    pub(crate) started_at: SystemTime,
    pub(crate) restarts: u32,
    pub(crate) exits: u32,
    pub(crate) ever_healthy: bool,
    pub(crate) healthy_since: Option<Instant>,
    pub(crate) last_exit: Option<String>,
    pub(crate) last_exit_tail: Vec<String>,
    pub(crate) last_check: String,
    pub(crate) adopted: bool,
}

impl Entry {
    /// The current (or last) leader's pid.
    pub(crate) fn details_pid(&self) -> u32 {
        lock(&self.details).pid
    }
}

/// Aborts a task when dropped (the log reader dies with its monitor).
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How one run of a process ended.
pub(crate) enum Outcome {
    /// It exited on its own: how, and whether it had passed a health check in this run.
    Exited { how: String, was_healthy: bool },
    Stop {
        grace: Duration,
        reply: oneshot::Sender<Result<StopReport, RunError>>,
    },
}

/// `0.4 s`, `10 s`, `1 min`, `3 min 5 s`, `2 h 10 min`.
pub(crate) fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let unit = |big: u64, big_name: &str, small: u64, small_name: &str| {
        if small == 0 {
            format!("{big} {big_name}")
        } else {
            format!("{big} {big_name} {small} {small_name}")
        }
    };
    if secs >= 3600 {
        unit(secs / 3600, "h", secs % 3600 / 60, "min")
    } else if secs >= 60 {
        unit(secs / 60, "min", secs % 60, "s")
    } else if d.subsec_millis() == 0 && secs > 0 {
        format!("{secs} s")
    } else {
        format!("{:.1} s", d.as_secs_f32())
    }
}

/// Watches one process for its whole supervised life: health checks, restarts, stop.
pub(crate) async fn monitor(
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
        let (how, was_healthy) = match run(&entry, &mut instance, &mut commands).await {
            Outcome::Stop { grace, reply } => {
                let asked = Instant::now();
                let result = stop_instance(&entry, &mut instance, grace).await;
                let removed = state::remove(&state_dir, &entry.base);
                if let Some(dir) = &entry.cgroup {
                    cgroup::remove(dir).await;
                }
                let report = result.map(|ended| StopReport {
                    was_running: ended != Ended::AlreadyGone,
                    forced: ended == Ended::OnKill,
                    took: asked.elapsed(),
                });
                match &report {
                    Ok(r) if r.forced => entry.note(&format!(
                        "stopped with SIGKILL: SIGTERM was ignored for {}",
                        human(grace)
                    )),
                    _ => entry.note("stopped"),
                }
                entry.set_status(Status::Stopped);
                let _ = reply.send(report.and_then(|r| removed.map(|()| r)));
                return;
            }
            Outcome::Exited { how, was_healthy } => (how, was_healthy),
        };
        let ran_for = SystemTime::now()
            .duration_since(lock(&entry.details).started_at)
            .unwrap_or_default();
        let how = if was_healthy {
            format!("{how} after {}", human(ran_for))
        } else {
            format!("{how} at start")
        };

        // An unexpected exit: clear what is left of the group (never two owners of a port),
        // let the log drain, record the exit.
        let mut how = how;
        let mut ran = true;
        loop {
            if ran {
                let _ = terminate_group(
                    &entry.label,
                    instance.pgid,
                    REMNANT_GRACE,
                    entry.cgroup.as_deref(),
                )
                .await;
                instance.reap().await;
                drain_logs(&entry).await;
            }
            let now = Instant::now();
            recent_exits.push_back(now);
            while recent_exits
                .front()
                .is_some_and(|t| now.duration_since(*t) > policy.crash_loop_window)
            {
                recent_exits.pop_front();
            }
            // "exited with code 3 at start (3 times in 10 s)": how, and how often lately.
            let last_exit = if recent_exits.len() > 1 {
                format!(
                    "{how} ({} times in {})",
                    recent_exits.len(),
                    human(policy.crash_loop_window)
                )
            } else {
                how.clone()
            };
            let healthy_long = {
                let mut d = lock(&entry.details);
                d.exits += 1;
                d.last_exit = Some(last_exit.clone());
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
            if recent_exits.len() >= policy.crash_loop_exits as usize {
                entry.note(&format!("{last_exit}; crash loop, not restarting"));
                let _ = state::remove(&state_dir, &entry.base);
                if let Some(dir) = &entry.cgroup {
                    cgroup::remove(dir).await;
                }
                entry.set_status(Status::CrashLoop);
                // Nothing runs; wait for the stop that retires the entry.
                if let Some(Command::Stop { reply, .. }) = commands.recv().await {
                    entry.set_status(Status::Stopped);
                    let _ = reply.send(Ok(StopReport::not_running()));
                }
                return;
            }
            attempt += 1;
            let delay = policy.backoff(attempt);
            entry.note(&format!(
                "{last_exit}; restarting in {:.1} s (attempt {attempt})",
                delay.as_secs_f32()
            ));
            entry.set_status(Status::Restarting { attempt });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                command = commands.recv() => {
                    if let Some(Command::Stop { reply, .. }) = command {
                        let removed = state::remove(&state_dir, &entry.base);
                        if let Some(dir) = &entry.cgroup {
                            cgroup::remove(dir).await;
                        }
                        entry.note("stopped");
                        entry.set_status(Status::Stopped);
                        let _ = reply.send(removed.map(|()| StopReport::not_running()));
                    }
                    return;
                }
            }
            match spawn_instance(spec, &fifo, entry.cgroup.as_deref()) {
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
                    // Nothing ran: the old group is gone already and must not be signalled
                    // again (its id may belong to someone else by now).
                    how = format!("could not restart: {error}");
                    ran = false;
                }
            }
        }
    }
}

/// Health-checks a running process until it exits or a stop is asked for.
pub(crate) async fn run(
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
            how = instance.wait_exit() => return Outcome::Exited { how, was_healthy: healthy_once },
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
pub(crate) async fn stop_instance(
    entry: &Entry,
    instance: &mut Instance,
    grace: Duration,
) -> Result<Ended, RunError> {
    let result = terminate_group(&entry.label, instance.pgid, grace, entry.cgroup.as_deref()).await;
    instance.reap().await;
    drain_logs(entry).await;
    result
}

/// Waits (briefly) for the log reader to reach the end of the pipe.
pub(crate) async fn drain_logs(entry: &Entry) {
    let before = entry.eofs.load(Ordering::SeqCst);
    let deadline = Instant::now() + DRAIN_WAIT;
    while entry.eofs.load(Ordering::SeqCst) == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
