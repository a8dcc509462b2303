//! Spawning a process and signalling its group.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::spec::ProcessSpec;
use crate::state::{self, Recorded};
use crate::{RunError, cgroup, logs, procfs};

/// How often an adopted process (not ferry's child, so it cannot be waited for) is looked up.
const ADOPTED_POLL: Duration = Duration::from_millis(100);
/// How often a group is looked up while it is being stopped.
const GROUP_POLL: Duration = Duration::from_millis(20);
/// How long the survivors of a SIGKILL are waited for.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// A running group leader: ferry's child, or an adopted process watched through `/proc`.
pub(crate) struct Instance {
    pub(crate) child: Option<tokio::process::Child>,
    pub(crate) pid: u32,
    pub(crate) pgid: u32,
    pub(crate) start_ticks: u64,
}

impl Instance {
    /// Waits for the leader to exit; cancel-safe. Returns how it ended.
    pub(crate) async fn wait_exit(&mut self) -> String {
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
    pub(crate) async fn reap(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = tokio::time::timeout(KILL_WAIT, child.wait()).await;
        }
    }
}

/// `exited with code 1`, `exited with code 127 (command not found)`, `killed by SIGKILL`.
pub(crate) fn describe_exit(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        // What `sh` means by them.
        let meaning = match code {
            126 => " (not executable)",
            127 => " (command not found)",
            _ => "",
        };
        return format!("exited with code {code}{meaning}");
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

/// How [`terminate_group`] ended a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Nothing of it was running.
    AlreadyGone,
    /// It exited after SIGTERM, within the grace.
    OnTerm,
    /// It was still there after the grace: SIGKILL ended it.
    OnKill,
}

/// SIGTERM to the group, SIGKILL to what is left after `grace`; done when no live member
/// remains. An empty group is fine. With a cgroup, its members are signalled too (a process
/// that left the group with `setsid` is still in the cgroup), and SIGKILL is `cgroup.kill`.
pub(crate) async fn terminate_group(
    label: &str,
    pgid: u32,
    grace: Duration,
    cgroup: Option<&Path>,
) -> Result<Ended, RunError> {
    if all_gone(pgid, cgroup) {
        return Ok(Ended::AlreadyGone);
    }
    signal_group(pgid, rustix::process::Signal::TERM)?;
    if let Some(dir) = cgroup {
        for pid in cgroup::members(dir) {
            cgroup::signal(pid, rustix::process::Signal::TERM);
        }
    }
    if wait_all_gone(pgid, cgroup, grace).await {
        return Ok(Ended::OnTerm);
    }
    signal_group(pgid, rustix::process::Signal::KILL)?;
    if let Some(dir) = cgroup {
        cgroup::kill_all(dir);
    }
    if wait_all_gone(pgid, cgroup, KILL_WAIT).await {
        return Ok(Ended::OnKill);
    }
    let mut remaining = procfs::group_members(pgid);
    if let Some(dir) = cgroup {
        remaining.extend(cgroup::members(dir));
        remaining.sort_unstable();
        remaining.dedup();
    }
    Err(RunError::StopTimeout {
        process: label.to_owned(),
        pgid,
        remaining,
    })
}

/// Whether nothing is left of the group, nor of the cgroup.
fn all_gone(pgid: u32, cgroup: Option<&Path>) -> bool {
    group_gone(pgid) && cgroup.is_none_or(|dir| cgroup::members(dir).is_empty())
}

async fn wait_all_gone(pgid: u32, cgroup: Option<&Path>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if all_gone(pgid, cgroup) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
}

/// Whether no live (non-zombie) process is left in the group.
pub(crate) fn group_gone(pgid: u32) -> bool {
    let Some(id) = rustix::process::Pid::from_raw(pgid as i32) else {
        return true;
    };
    // No process at all (not even a zombie) answers signal 0: gone without reading /proc.
    if rustix::process::test_kill_process_group(id).is_err() {
        return true;
    }
    procfs::group_members(pgid).is_empty()
}

/// Sends a signal to a whole group; a group that no longer exists is fine.
pub(crate) fn signal_group(pgid: u32, signal: rustix::process::Signal) -> Result<(), RunError> {
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
/// address, then IPv6 where the machine has it), naming its owner when ferry can see it.
pub(crate) fn check_port_free(port: u16) -> Result<(), RunError> {
    for host in ["0.0.0.0", "::"] {
        match std::net::TcpListener::bind((host, port)) {
            Ok(listener) => drop(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(RunError::PortTaken {
                    port,
                    by: procfs::port_owner(port),
                });
            }
            // No IPv6 on this machine, or similar: nothing to learn from this address.
            Err(_) => {}
        }
    }
    Ok(())
}

/// Creates a folder (and its parents) and makes it 0700.
pub(crate) fn private_dir(dir: &Path) -> Result<(), RunError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| RunError::io(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| RunError::io(dir, e))
}

/// The shell script run: the cgroup first (the shell writes its own pid into the cgroup's
/// `cgroup.procs`, so everything it starts later is inside), then limits (`ulimit` sets them
/// with `setrlimit` in the shell that then runs the command, so they bind the command and
/// everything it starts), then the command. A step that fails exits 125 with a line saying why.
pub(crate) fn script(spec: &ProcessSpec, cgroup: Option<&Path>) -> String {
    let mut s = String::new();
    if let Some(dir) = cgroup {
        let procs = shell_quote(&dir.join("cgroup.procs").to_string_lossy());
        let shown = shell_quote(&format!("ferry: cannot join the cgroup {}", dir.display()));
        s.push_str(&format!(
            "echo $$ > {procs} || {{ echo {shown} >&2; exit 125; }}\n"
        ));
    }
    s.push_str("ulimit -c 0 2>/dev/null\n");
    let limits = &spec.limits;
    let mut set = |flag: &str, value: u64| {
        s.push_str(&format!(
            "ulimit -{flag} {value} || {{ echo 'ferry: cannot set ulimit -{flag} {value}' >&2; exit 125; }}\n"
        ));
    };
    if let Some(n) = limits.open_files {
        set("n", n);
    }
    // In a cgroup, memory is its `memory.max` (the whole group), not a per-process rlimit.
    if let Some(bytes) = limits.memory_bytes
        && cgroup.is_none()
    {
        set("d", bytes.div_ceil(1024).max(1));
    }
    if let Some(secs) = limits.cpu_seconds {
        set("t", secs.max(1));
    }
    s.push_str(&spec.command);
    s.push('\n');
    s
}

/// `'text'` for `sh`, single quotes inside escaped.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Spawns the group leader `sh -c <script>` with the spec's environment.
pub(crate) fn spawn_instance(
    spec: &ProcessSpec,
    fifo: &Path,
    cgroup: Option<&Path>,
) -> Result<Instance, RunError> {
    let (out, err) = logs::child_stdio(fifo).map_err(|e| RunError::io(fifo, e))?;
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script(spec, cgroup))
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

pub(crate) fn record_of(
    spec: &ProcessSpec,
    instance: &Instance,
    started_at: SystemTime,
) -> Recorded {
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
        let s = script(&spec, None);
        assert!(s.contains("ulimit -n 256 ||"));
        assert!(s.contains("ulimit -d 1048576 ||"));
        assert!(s.ends_with("exec server\n"));
        // In a cgroup: joined first, memory left to `memory.max`.
        let s = script(&spec, Some(Path::new("/sys/fs/cgroup/x/it's")));
        assert!(
            s.starts_with("echo $$ > '/sys/fs/cgroup/x/it'\\''s/cgroup.procs' || {"),
            "{s}"
        );
        assert!(s.contains("ulimit -n 256 ||"));
        assert!(!s.contains("ulimit -d"));
    }

    #[test]
    fn exits_are_described() {
        assert_eq!(
            describe_exit(std::process::ExitStatus::from_raw(1 << 8)),
            "exited with code 1"
        );
        assert_eq!(
            describe_exit(std::process::ExitStatus::from_raw(127 << 8)),
            "exited with code 127 (command not found)"
        );
        assert_eq!(
            describe_exit(std::process::ExitStatus::from_raw(9)),
            "killed by SIGKILL"
        );
    }
}
