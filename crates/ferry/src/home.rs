//! `$FERRY_HOME` and the server a command talks to: the local one (find it, start it as a
//! daemon, wait for it) or the remote one `--server URL`/`FERRY_SERVER` names, with its token
//! from `FERRY_TOKEN` or `$FERRY_HOME/credentials.json` (written by `ferry login`, mode 0600).
//!
//! The choice is explicit: `--server`/`FERRY_SERVER` when set, else the local socket; stored
//! credentials never pick a server by themselves.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cli::ListenArgs;
use crate::client::{Api, Remote};
use crate::failure::{EXIT_BAD_INPUT, EXIT_FAILED, Failure};

/// The credentials file's name inside `$FERRY_HOME`.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// The remote server of this run (`None`: the local socket), set once by [`select`].
static SELECTED: OnceLock<Option<Remote>> = OnceLock::new();

/// Chooses the server of this run: `server` (`--server`/`FERRY_SERVER`) when given, with its
/// token (`FERRY_TOKEN`, else `credentials.json`) and, for https, the CA to trust besides the
/// web's roots (`FERRY_CA`, else the one stored at login); else the local socket. Fails on a
/// bad URL, an unreadable `FERRY_CA` or an unsafe credentials file. Plain http to a host
/// outside this machine and private networks works, with a warning on stderr.
pub fn select(home: &Path, server: Option<&str>) -> Result<(), Failure> {
    let remote = match server.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(url) => {
            let mut remote = Remote::parse(url)?;
            remote.token = token_for(home, &remote.url)?;
            if remote.tls {
                remote.ca = match env_ca() {
                    Some(path) => Some(crate::tls::read_ca(&path)?),
                    None => read_credentials(home)?
                        .servers
                        .get(&remote.url)
                        .and_then(|c| c.ca.clone()),
                };
            } else if !remote.is_private() {
                warn_clear(&remote);
            }
            Some(remote)
        }
    };
    let _ = SELECTED.set(remote);
    Ok(())
}

/// The remote server [`select`] chose, if any.
pub fn selected_remote() -> Option<Remote> {
    SELECTED.get().cloned().flatten()
}

/// The token for `url`: `FERRY_TOKEN` when set, else the one `ferry login` stored.
pub fn token_for(home: &Path, url: &str) -> Result<Option<String>, Failure> {
    if let Some(token) = env_token() {
        return Ok(Some(token));
    }
    Ok(read_credentials(home)?
        .servers
        .get(url)
        .map(|c| c.token.clone()))
}

/// `FERRY_CA`, when set and not empty.
pub fn env_ca() -> Option<PathBuf> {
    std::env::var_os("FERRY_CA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The one-line warning for plain http to a host outside this machine and private networks.
pub fn warn_clear(remote: &Remote) {
    eprintln!(
        "warning: {} is not this machine or a private network: the token travels unencrypted over http (serve the control listener with --control-tls-cert and use https://)",
        remote.url
    );
}

/// `FERRY_TOKEN`, when set and not empty.
pub fn env_token() -> Option<String> {
    std::env::var("FERRY_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// `$FERRY_HOME/credentials.json`: one entry per server URL.
#[derive(Default, Serialize, Deserialize)]
pub struct Credentials {
    /// By canonical server URL (`https://host:port` or `http://host:port`).
    #[serde(default)]
    pub servers: BTreeMap<String, Credential>,
}

/// A stored token and what the server said about it at login. (No `Debug`: it holds the
/// token.)
#[derive(Clone, Serialize, Deserialize)]
pub struct Credential {
    /// The token (`fy_<id>_<secret>`).
    pub token: String,
    /// Its public id.
    #[serde(default)]
    pub token_id: Option<String>,
    /// Who it acts as (`token:<name>`).
    #[serde(default)]
    pub label: Option<String>,
    /// Its organisation.
    #[serde(default)]
    pub org: Option<String>,
    /// Its scope (`read`, `deploy`, `admin`).
    #[serde(default)]
    pub scope: Option<String>,
    /// When it was stored (unix ms).
    #[serde(default)]
    pub saved_at: u64,
    /// Certificates to trust for this https server besides the web's roots (PEM, `--ca`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

fn credentials_failure(path: &Path, what: String) -> Failure {
    Failure {
        code: "credentials",
        message: format!("`{}`: {what}", path.display()),
        hint: "fix or remove the file, then `ferry login URL` again".into(),
        exit: EXIT_FAILED,
    }
}

/// Reads `credentials.json` (empty when absent). A file others may read is refused, as ssh
/// refuses a private key.
pub fn read_credentials(home: &Path) -> Result<Credentials, Failure> {
    let path = home.join(CREDENTIALS_FILE);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::default()),
        Err(e) => return Err(credentials_failure(&path, e.to_string())),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure {
            code: "credentials-permissions",
            message: format!(
                "`{}` is accessible to group or others (mode {mode:o})",
                path.display()
            ),
            hint: format!(
                "`chmod 600 {}` (and consider revoking its tokens)",
                path.display()
            ),
            exit: EXIT_FAILED,
        });
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| credentials_failure(&path, e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| credentials_failure(&path, format!("not valid: {e}")))
}

/// Writes `credentials.json` atomically: a temporary file created with mode 0600 (never
/// readable by others, not even briefly), synced, then renamed over the old one.
pub fn write_credentials(home: &Path, creds: &Credentials) -> Result<PathBuf, Failure> {
    let path = home.join(CREDENTIALS_FILE);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
        .map_err(|e| credentials_failure(home, e.to_string()))?;
    let tmp = home.join(format!(".{CREDENTIALS_FILE}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let text = serde_json::to_string_pretty(creds).unwrap_or_default();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(credentials_failure(&path, e.to_string()));
    }
    Ok(path)
}

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

/// The running server's API, starting a daemon first when none runs (with `listen`'s
/// addresses and control listener certificate).
pub fn ensure_server(home: &Path, listen: &ListenArgs) -> Result<(Api, bool), Failure> {
    // A remote server is never started from here.
    if selected_remote().is_some() {
        return Ok((require_server(home)?, false));
    }
    if let Some(api) = Api::local(home) {
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
    let mut command = Command::new(exe);
    command
        .arg("serve")
        .arg("--home")
        .arg(home)
        .arg("--listen")
        .arg(&listen.listen)
        .arg("--control-listen")
        .arg(&listen.control_listen);
    if let (Some(cert), Some(key)) = (&listen.control_tls_cert, &listen.control_tls_key) {
        command
            .arg("--control-tls-cert")
            .arg(cert)
            .arg("--control-tls-key")
            .arg(key);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| fail(e.to_string()))?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("cannot start the server: {e}")))?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if let Some(api) = Api::local(home) {
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

/// The selected server's API: the remote one (which must have a token), else the local one,
/// or a failure telling the user to start one.
pub fn require_server(home: &Path) -> Result<Api, Failure> {
    if let Some(remote) = selected_remote() {
        if remote.token.is_none() {
            return Err(Failure {
                code: "no-token",
                message: format!("no token for {}", remote.url),
                hint: format!(
                    "`ferry login {}` (with a token from `ferry token create` on the server), or set FERRY_TOKEN",
                    remote.url
                ),
                exit: EXIT_BAD_INPUT,
            });
        }
        return Ok(Api::remote(remote));
    }
    require_local_server(home)
}

/// The local server's API (its socket under `home`), or a failure telling the user to start one.
pub fn require_local_server(home: &Path) -> Result<Api, Failure> {
    Api::local(home).ok_or_else(|| Failure {
        code: "no-server",
        message: format!(
            "no ferry server is running (looked for {})",
            home.join("ferry.sock").display()
        ),
        hint: "start one with `ferry up <app>` or `ferry serve`".into(),
        exit: EXIT_FAILED,
    })
}
