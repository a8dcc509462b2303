//! What the supervisor's tests share: a temporary folder laid out like ferry's (state, logs,
//! each process's writable folder), specs rooted in it, and small process helpers.
#![allow(dead_code)] // each test file uses its own part of it

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_run::{ProcessSpec, Supervisor};

/// A temporary folder for one test; the processes run in it as app `app`, release `r1`.
pub struct Sandbox {
    dir: tempfile::TempDir,
    app: &'static str,
}

impl Sandbox {
    /// An empty sandbox for `app`.
    pub fn new(app: &'static str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            app,
        }
    }

    /// The folder itself (the processes' working folder).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The supervisor's state folder.
    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    /// The processes' log folder.
    pub fn log_dir(&self) -> PathBuf {
        self.path().join("logs")
    }

    /// A supervisor on this sandbox's state folder.
    pub fn supervisor(&self) -> Supervisor {
        Supervisor::new(self.state_dir())
    }

    /// A spec running `command` as process `name` on `port`, in the sandbox.
    pub fn spec(&self, name: &str, command: &str, port: u16) -> ProcessSpec {
        ProcessSpec::new(
            self.app,
            "r1",
            name,
            command,
            port,
            self.path().to_path_buf(),
            self.path().join("work").join(name),
            self.log_dir(),
        )
    }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The pids whose process group is `pgid` (from `/proc`).
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        // After the name: state, parent, process group…
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let member = fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid);
        if member && !matches!(fields.first(), Some(&"Z" | &"X")) {
            out.push(pid);
        }
    }
    out
}

/// Polls `f` every 20 ms; panics naming `what` past `within`.
pub async fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
