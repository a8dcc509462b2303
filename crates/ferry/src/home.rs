//! `$FERRY_HOME` and the local server: find it, start it as a daemon, wait for it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Api;
use crate::failure::{EXIT_FAILED, Failure};

/// `--home`, else `$FERRY_HOME`, else `$XDG_DATA_HOME/ferry`, else `~/.local/share/ferry`.
pub fn resolve(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("FERRY_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(p).join("ferry");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/ferry")
}

/// What `server.json` says about the running server.
pub fn server_info(home: &Path) -> Option<ferry_api::ServerInfo> {
    let text = std::fs::read_to_string(home.join("server.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The running server's API, starting a daemon first when none runs.
pub fn ensure_server(
    home: &Path,
    listen: &str,
    control_listen: &str,
) -> Result<(Api, bool), Failure> {
    if let Some(api) = Api::connect(home) {
        return Ok((api, false));
    }
    let fail = |message: String| Failure {
        code: "server-start",
        message,
        hint: format!("see {}", home.join("logs/server.log").display()),
        exit: EXIT_FAILED,
    };
    std::fs::create_dir_all(home.join("logs"))
        .map_err(|e| fail(format!("cannot create {}: {e}", home.display())))?;
    let log_path = home.join("logs/server.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| fail(format!("cannot open {}: {e}", log_path.display())))?;
    let exe =
        std::env::current_exe().map_err(|e| fail(format!("cannot find the ferry binary: {e}")))?;
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(exe)
        .arg("serve")
        .arg("--home")
        .arg(home)
        .arg("--listen")
        .arg(listen)
        .arg("--control-listen")
        .arg(control_listen)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| fail(e.to_string()))?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("cannot start the server: {e}")))?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if let Some(api) = Api::connect(home) {
            return Ok((api, true));
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = tail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string();
            return Err(fail(format!("the server exited ({status}): {last}")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(fail("the server did not answer within 15 s".into()))
}

/// The running server's API, or a failure telling the user to start one.
pub fn require_server(home: &Path) -> Result<Api, Failure> {
    Api::connect(home).ok_or_else(|| Failure {
        code: "no-server",
        message: format!(
            "no ferry server is running (looked for {})",
            home.join("ferry.sock").display()
        ),
        hint: "start one with `ferry up <app>` or `ferry serve`".into(),
        exit: EXIT_FAILED,
    })
}
