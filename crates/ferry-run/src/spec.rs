//! What to run: the command, its environment, port, health check, limits and policies.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::RunError;

/// Secret values shorter than this are not masked: masking `1` or `ab` would mangle every line.
pub const MIN_REDACTED_LEN: usize = 4;

/// One server process of a release.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The process's name within its release, e.g. `web` (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The release it belongs to.
    pub release: String,
    /// The app it belongs to.
    pub app: String,
    /// The start command, run with `sh -c`.
    pub command: String,
    /// The working folder (the materialised release, read-only).
    pub cwd: PathBuf,
    /// Environment variables given to the process, secrets included. The process inherits
    /// nothing else from ferry but `PATH`, `LANG`, `LC_ALL` and `TZ`.
    pub env: BTreeMap<String, String>,
    /// The assigned port, exported as `PORT` and as [`ProcessSpec::port_env`].
    pub port: u16,
    /// The variable the app reads its port from (`PORT` unless `ferry.toml` says otherwise).
    pub port_env: String,
    /// How readiness is checked.
    pub health: HealthCheck,
    /// Resource limits applied before the command runs.
    pub limits: Limits,
    /// The process's own writable folder, created 0700, exported as `TMPDIR`, `HOME` and
    /// `XDG_CACHE_HOME`.
    pub writable_dir: PathBuf,
    /// The folder of the log files (`<log_dir>/<name>.log`, rotated); one per app and release.
    pub log_dir: PathBuf,
    /// Size caps of the log files.
    pub log: LogPolicy,
    /// Values masked as `***` in the logs (secret values; shorter than [`MIN_REDACTED_LEN`]
    /// bytes are ignored).
    pub redact: Vec<String>,
    /// When crashes are restarted and when they count as a crash loop.
    pub restart: RestartPolicy,
    /// Grace between SIGTERM and SIGKILL when the supervisor itself stops the process (a failed
    /// health check, group remnants after a crash).
    pub stop_grace: Duration,
}

impl ProcessSpec {
    /// A spec with the defaults: `PORT`, health `GET /` below 500, no limits, 10 MiB × 3 logs,
    /// the default restart policy, 5 s stop grace.
    #[allow(clippy::too_many_arguments)] // every argument is required; the rest has defaults
    pub fn new(
        app: impl Into<String>,
        release: impl Into<String>,
        name: impl Into<String>,
        command: impl Into<String>,
        port: u16,
        cwd: PathBuf,
        writable_dir: PathBuf,
        log_dir: PathBuf,
    ) -> Self {
        Self {
            name: name.into(),
            release: release.into(),
            app: app.into(),
            command: command.into(),
            cwd,
            env: BTreeMap::new(),
            port,
            port_env: "PORT".into(),
            health: HealthCheck::default(),
            limits: Limits::default(),
            writable_dir,
            log_dir,
            log: LogPolicy::default(),
            redact: Vec::new(),
            restart: RestartPolicy::default(),
            stop_grace: Duration::from_secs(5),
        }
    }

    /// `app/name@release`, the way errors and logs name the process.
    pub fn label(&self) -> String {
        label(&self.app, &self.name, &self.release)
    }

    /// Checks names (they become file names), the command and the port.
    pub(crate) fn validate(&self) -> Result<(), RunError> {
        for (field, value) in [
            ("name", &self.name),
            ("release", &self.release),
            ("app", &self.app),
        ] {
            if !is_safe_name(value) {
                return Err(RunError::InvalidSpec {
                    field,
                    detail: format!("`{}` is not a safe name", value.escape_default()),
                });
            }
        }
        if self.command.trim().is_empty() {
            return Err(RunError::InvalidSpec {
                field: "command",
                detail: "is empty".into(),
            });
        }
        if self.port == 0 {
            return Err(RunError::InvalidSpec {
                field: "port",
                detail: "is 0; assign a port".into(),
            });
        }
        let env_name_ok = |n: &str| {
            !n.is_empty()
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !env_name_ok(&self.port_env) {
            return Err(RunError::InvalidSpec {
                field: "port_env",
                detail: format!(
                    "`{}` is not a variable name",
                    self.port_env.escape_default()
                ),
            });
        }
        if let Some(bad) = self
            .env
            .keys()
            .find(|k| k.is_empty() || k.contains(['=', '\0']))
        {
            return Err(RunError::InvalidSpec {
                field: "env",
                detail: format!("`{}` is not a variable name", bad.escape_default()),
            });
        }
        if !self.health.path.starts_with('/') || self.health.path.contains([' ', '\r', '\n']) {
            return Err(RunError::InvalidSpec {
                field: "health.path",
                detail: format!(
                    "`{}` is not an absolute path",
                    self.health.path.escape_default()
                ),
            });
        }
        if self.log.files == 0 || self.log.max_file_bytes < 1024 {
            return Err(RunError::InvalidSpec {
                field: "log",
                detail: "needs at least one file of at least 1 KiB".into(),
            });
        }
        if self.log.max_bytes_per_sec == Some(0) {
            return Err(RunError::InvalidSpec {
                field: "log.max_bytes_per_sec",
                detail: "is 0; use None for no limit".into(),
            });
        }
        for (field, zero) in [
            ("limits.memory_bytes", self.limits.memory_bytes == Some(0)),
            ("limits.open_files", self.limits.open_files == Some(0)),
            ("limits.processes", self.limits.processes == Some(0)),
            ("limits.cpu_percent", self.limits.cpu_percent == Some(0)),
        ] {
            if zero {
                return Err(RunError::InvalidSpec {
                    field,
                    detail: "is 0; use None for no limit".into(),
                });
            }
        }
        if self.restart.crash_loop_exits == 0 {
            return Err(RunError::InvalidSpec {
                field: "restart.crash_loop_exits",
                detail: "is 0".into(),
            });
        }
        Ok(())
    }
}

/// `app/name@release`.
pub(crate) fn label(app: &str, name: &str, release: &str) -> String {
    format!("{app}/{name}@{release}")
}

/// Letters, digits, `-`, `_` and `.`, not starting with `.`, at most 100 characters.
pub(crate) fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The HTTP readiness check: `GET http://127.0.0.1:<port><path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The path asked for (default `/`).
    pub path: String,
    /// A status below this passes (default 500).
    pub ok_below: u16,
    /// Time between checks once the process is healthy (default 2 s); before that, checks run
    /// every 100 ms.
    pub interval: Duration,
    /// How long one check may take (default 2 s).
    pub timeout: Duration,
    /// Consecutive failures that turn a healthy process `Unhealthy` (default 3).
    pub failures: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: "/".into(),
            ok_below: 500,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
            failures: 3,
        }
    }
}

/// Resource limits, applied before the command runs; `None` leaves the limit unset.
///
/// Where the machine offers cgroup v2 (see [`crate::Supervisor::cgroup_support`]), each process
/// runs in a cgroup of its own: `memory_bytes` becomes its `memory.max` (the whole group,
/// children and page cache included), `processes` its `pids.max`, `cpu_percent` its `cpu.max`.
/// Elsewhere `memory_bytes` is `RLIMIT_DATA` (per process) and `processes` and `cpu_percent`
/// cannot be enforced (the process's log says so). `open_files` and `cpu_seconds` are rlimits
/// (soft and hard) in both cases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory in bytes: `memory.max` of the process's cgroup, or else `RLIMIT_DATA` (heap and
    /// private writable mappings; not `RLIMIT_AS`, which breaks runtimes that reserve large
    /// address ranges, such as V8 and Go).
    pub memory_bytes: Option<u64>,
    /// `RLIMIT_NOFILE`.
    pub open_files: Option<u64>,
    /// `RLIMIT_CPU` in seconds of CPU time.
    pub cpu_seconds: Option<u64>,
    /// Processes and threads in the group at once (`pids.max`; cgroup v2 only, because
    /// `RLIMIT_NPROC` counts every process of the user, ferry's own included).
    pub processes: Option<u64>,
    /// CPU time as a share of one CPU in percent, `200` for two CPUs (`cpu.max`; cgroup v2 only).
    pub cpu_percent: Option<u32>,
}

/// One limit a process runs under and how it is enforced, as [`crate::Supervisor::ps`] shows
/// it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnforcedLimit {
    /// `memory_bytes`, `open_files`, `cpu_seconds`, `processes` or `cpu_percent` (the field of
    /// [`Limits`]).
    pub limit: &'static str,
    /// Its value.
    pub value: u64,
    /// `cgroup` or `rlimit` when enforced, `none` when this machine cannot enforce it.
    pub enforced_by: &'static str,
    /// The kernel's name for it (`memory.max`, `RLIMIT_DATA`…), or why it is not enforced.
    pub detail: &'static str,
}

impl Limits {
    /// Each limit set and how it is enforced for a process that runs in a cgroup of its own
    /// (`in_cgroup`) or not.
    pub fn enforcement(&self, in_cgroup: bool) -> Vec<EnforcedLimit> {
        let cgroup_only = |limit, value: Option<u64>, file| {
            value.map(|value| EnforcedLimit {
                limit,
                value,
                enforced_by: if in_cgroup { "cgroup" } else { "none" },
                detail: if in_cgroup {
                    file
                } else {
                    "not enforced: needs cgroup v2, no rlimit does this"
                },
            })
        };
        let rlimit = |limit, value: Option<u64>, name| {
            value.map(|value| EnforcedLimit {
                limit,
                value,
                enforced_by: "rlimit",
                detail: name,
            })
        };
        let memory = self.memory_bytes.map(|value| EnforcedLimit {
            limit: "memory_bytes",
            value,
            enforced_by: if in_cgroup { "cgroup" } else { "rlimit" },
            detail: if in_cgroup {
                "memory.max"
            } else {
                "RLIMIT_DATA"
            },
        });
        [
            memory,
            cgroup_only("cpu_percent", self.cpu_percent.map(u64::from), "cpu.max"),
            cgroup_only("processes", self.processes, "pids.max"),
            rlimit("open_files", self.open_files, "RLIMIT_NOFILE"),
            rlimit("cpu_seconds", self.cpu_seconds, "RLIMIT_CPU"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl Limits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.memory_bytes.is_some()
            || self.open_files.is_some()
            || self.cpu_seconds.is_some()
            || self.processes.is_some()
            || self.cpu_percent.is_some()
    }
}

/// Size caps of a process's log: at most `files` files of `max_file_bytes` each, fed at most
/// `max_bytes_per_sec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPolicy {
    /// The size at which `<name>.log` is rotated to `<name>.log.1` (default 10 MiB). Files are
    /// cut at a line end when the line fits, and never exceed this size.
    pub max_file_bytes: u64,
    /// Files kept, the current one included (default 3).
    pub files: u32,
    /// Output accepted per second, on average (default 1 MiB/s; a burst of four seconds' worth
    /// passes at once). Output beyond it is read and dropped — the process never blocks on its
    /// log — and the log says how many bytes were dropped, at most once a second. `None` keeps
    /// everything (rotation still caps the files).
    pub max_bytes_per_sec: Option<u64>,
}

impl Default for LogPolicy {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 << 20,
            files: 3,
            max_bytes_per_sec: Some(1 << 20),
        }
    }
}

/// Restarts after unexpected exits: exponential backoff, and a crash-loop stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The first delay (default 0.5 s); each further restart doubles it.
    pub initial_backoff: Duration,
    /// The longest delay (default 30 s).
    pub max_backoff: Duration,
    /// A process healthy this long before it exits restarts from the first delay (default 60 s).
    pub reset_after: Duration,
    /// This many exits within `crash_loop_window` is a crash loop: no more restarts (default 5).
    pub crash_loop_exits: u32,
    /// See `crash_loop_exits` (default 60 s).
    pub crash_loop_window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
            crash_loop_exits: 5,
            crash_loop_window: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// The delay before restart number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RestartPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(2), Duration::from_secs(1));
        assert_eq!(p.backoff(3), Duration::from_secs(2));
        assert_eq!(p.backoff(7), Duration::from_secs(30));
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn names_are_checked() {
        let spec = |name: &str| {
            ProcessSpec::new(
                "app",
                "r1",
                name,
                "true",
                3000,
                "/".into(),
                "/tmp".into(),
                "/tmp".into(),
            )
        };
        assert!(spec("web").validate().is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert_eq!(
                spec(bad).validate().map_err(|e| e.code()),
                Err("invalid-spec")
            );
        }
        let mut s = spec("web");
        s.port_env = "1PORT".into();
        assert!(s.validate().is_err());
    }
}
