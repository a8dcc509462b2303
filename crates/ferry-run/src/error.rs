//! Why a process could not be started, checked, adopted or stopped.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors of the process supervisor.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A field of a [`crate::ProcessSpec`] is unusable.
    #[error("invalid process spec: {field} {detail}")]
    InvalidSpec {
        /// The field, e.g. `name`.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The port is bound by another process, or owned by another supervised process.
    #[error("port {port} is taken{}", by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default())]
    PortTaken {
        /// The port.
        port: u16,
        /// Who owns it, when known: the supervised process (`shop/web@r1`), else, best
        /// effort, the listener found through `/proc/net/tcp{,6}` and `/proc/*/fd`
        /// (`pid 4242 (node)`, or `a process of uid 1000` when its process is not visible).
        by: Option<String>,
    },
    /// A process with the same app, release and name is supervised or recorded as running.
    #[error("{process} is already running{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_else(|| " (being started)".into()))]
    AlreadyRunning {
        /// `app/name@release`.
        process: String,
        /// Its pid; `None` while another call is starting it.
        pid: Option<u32>,
    },
    /// `sh` could not be started.
    #[error("could not start {process}: {source}")]
    Spawn {
        /// `app/name@release`.
        process: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process exited before it answered its health check.
    #[error(
        "{process} exited before it was healthy ({status}){}",
        tail_text(log_tail)
    )]
    ExitedEarly {
        /// `app/name@release`.
        process: String,
        /// How it ended, e.g. `exit status 1` or `killed by signal 9`.
        status: String,
        /// Its last log lines, secrets redacted.
        log_tail: Vec<String>,
    },
    /// The health check did not pass before the deadline.
    #[error(
        "{process} did not answer GET {path} on port {port} below {ok_below} within {}s (last: {last}){}",
        waited.as_secs_f32(), tail_text(log_tail)
    )]
    HealthTimeout {
        /// `app/name@release`.
        process: String,
        /// The port checked.
        port: u16,
        /// The path checked.
        path: String,
        /// The status the check needed to stay under.
        ok_below: u16,
        /// How long it was given.
        waited: Duration,
        /// The last check's outcome, e.g. `connection refused` or `status 503`.
        last: String,
        /// Its last log lines, secrets redacted.
        log_tail: Vec<String>,
    },
    /// The process was stopped (or never restarted after a crash loop) while it was awaited.
    #[error("{process} is {status}")]
    NotRunning {
        /// `app/name@release`.
        process: String,
        /// `stopped` or `crash-loop`.
        status: &'static str,
    },
    /// A recorded process no longer exists.
    #[error("{process} (pid {pid}) is no longer running")]
    ProcessGone {
        /// `app/name@release`.
        process: String,
        /// The recorded pid.
        pid: u32,
    },
    /// A recorded pid now belongs to another process (or left the recorded group).
    #[error("pid {pid} recorded for {process} now belongs to another process: {reason}")]
    PidReused {
        /// `app/name@release`.
        process: String,
        /// The recorded pid.
        pid: u32,
        /// What did not match.
        reason: &'static str,
    },
    /// The spec passed to `adopt` does not describe the recorded process.
    #[error("the spec does not match the recorded {process}: {detail}")]
    SpecMismatch {
        /// `app/name@release` as recorded.
        process: String,
        /// Which field differs.
        detail: String,
    },
    /// `kill_orphan` was asked to kill a process this supervisor supervises.
    #[error("{process} is supervised; stop it instead of killing it as an orphan")]
    Supervised {
        /// `app/name@release`.
        process: String,
    },
    /// Sending a signal to a process group failed for another reason than its absence.
    #[error("could not signal process group {pgid}: {source}")]
    Signal {
        /// The group.
        pgid: u32,
        /// The OS error.
        source: std::io::Error,
    },
    /// Members of a process group were still alive after SIGKILL.
    #[error("process group {pgid} of {process} survived SIGKILL: pids {remaining:?}")]
    StopTimeout {
        /// `app/name@release`.
        process: String,
        /// The group.
        pgid: u32,
        /// The pids still there.
        remaining: Vec<u32>,
    },
    /// Reading or writing a file failed.
    #[error("could not access `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl RunError {
    /// A stable, kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSpec { .. } => "invalid-spec",
            Self::PortTaken { .. } => "port-taken",
            Self::AlreadyRunning { .. } => "already-running",
            Self::Spawn { .. } => "spawn-failed",
            Self::ExitedEarly { .. } => "exited-early",
            Self::HealthTimeout { .. } => "health-timeout",
            Self::NotRunning { .. } => "not-running",
            Self::ProcessGone { .. } => "process-gone",
            Self::PidReused { .. } => "pid-reused",
            Self::SpecMismatch { .. } => "spec-mismatch",
            Self::Supervised { .. } => "supervised",
            Self::Signal { .. } => "signal-failed",
            Self::StopTimeout { .. } => "stop-timeout",
            Self::Io { .. } => "io",
        }
    }

    /// One line telling the user what to do.
    pub fn hint(&self) -> String {
        match self {
            Self::InvalidSpec { .. } => {
                "names are letters, digits, `-`, `_` and `.`; the command must not be empty".into()
            }
            Self::PortTaken { port, .. } => format!(
                "stop whatever listens on port {port} (`ss -ltnp 'sport = :{port}'` shows it) or let ferry assign another port"
            ),
            Self::AlreadyRunning { .. } => {
                "stop the running process first, or adopt it after a restart of ferry".into()
            }
            Self::Spawn { .. } => "check that `sh` exists and the working folder is readable".into(),
            Self::ExitedEarly { .. } => {
                "the start command failed; the log lines above say why (`ferry logs` has the rest)"
                    .into()
            }
            Self::HealthTimeout { .. } => {
                "make the app listen on $PORT and answer its health path, or set `health` in ferry.toml"
                    .into()
            }
            Self::NotRunning { .. } => "start it again (deploy or restart the release)".into(),
            Self::ProcessGone { .. } => "start the process afresh; nothing is left to adopt".into(),
            Self::PidReused { .. } => {
                "the recorded process is gone; remove its record and start the process afresh".into()
            }
            Self::SpecMismatch { .. } => {
                "adopt with the spec of the recorded release, or kill the orphan and start afresh"
                    .into()
            }
            Self::Supervised { .. } => "use stop on its handle".into(),
            Self::Signal { .. } => "ferry must run as the same user as the app's processes".into(),
            Self::StopTimeout { .. } => {
                "a process stuck in the kernel (disk or NFS wait) cannot be killed; check `ps -o stat`"
                    .into()
            }
            Self::Io { .. } => "check the path, its permissions and the free disk space".into(),
        }
    }

    /// An `Io` error for `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The log tail as text appended to a message: nothing, or one indented line per log line.
fn tail_text(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("; last log lines:");
    for line in lines {
        out.push_str("\n  | ");
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_hints_present() {
        let errors = [
            RunError::PortTaken {
                port: 3000,
                by: None,
            },
            RunError::ExitedEarly {
                process: "a/web@r1".into(),
                status: "exit status 1".into(),
                log_tail: vec!["boom".into()],
            },
            RunError::io(Path::new("/x"), std::io::Error::other("x")),
        ];
        for e in &errors {
            assert!(e.code().chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(!e.hint().is_empty());
        }
        assert_eq!(errors[0].to_string(), "port 3000 is taken");
        assert!(errors[1].to_string().ends_with("last log lines:\n  | boom"));
    }
}
