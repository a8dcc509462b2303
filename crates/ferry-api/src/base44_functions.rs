//! Base44 backend functions (`base44/functions/<name>/entry.ts`) run under Deno, one
//! supervised process per function of a release, started on its first call.
//!
//! - **Files**: a release's functions travel in its manifest (`backend.functions`); at
//!   activation they are written to `$FERRY_HOME/data/<app>/functions/<release>/<name>/`
//!   beside ferry's bootstrap module ([`ferry_compat::base44::functions::bootstrap`]), and each
//!   function's `npm:` imports are fetched into Deno's cache, `$FERRY_HOME/cache/deno`
//!   (`deno cache`), so a missing package fails the deploy rather than the first call. A
//!   function importing `jsr:`/`https:` modules is not prepared (those hosts are not reachable
//!   here; the deploy warns).
//! - **Deno**: `FERRY_DENO` (an app secret, else ferry's own environment), else `deno` on
//!   `PATH`. Without it the deploy warns and every call answers 503 `deno-missing`.
//! - **Calls**: `/api/apps/{appId}/functions/{name}` (any method; also under the pages prefix)
//!   starts the function's process when it does not run (`fn.<name>` under `ferry-run`, its
//!   log in `ferry logs --process fn.<name>`), forwards the call with the headers
//!   `createClientFromRequest` reads (see [`ferry_compat::base44::functions::forward`]) and
//!   answers with the function's status, headers and body, the service token scrubbed out.
//! - **The function's own SDK calls** go to `Base44-Api-Url`: a loopback listener serving the
//!   release's API (the edge routes by `Host`, which the SDK cannot set), where the caller's
//!   token acts as that user and the service token as the service role.
//! - **Limits**: a call has `FERRY_FUNCTIONS_TIMEOUT_SECS` (default 60) to answer, else 504
//!   `function-timeout` and the process is killed (the next call starts a fresh one); the JS heap
//!   is capped at `FERRY_FUNCTIONS_MEMORY_MIB` (default 256, `--max-old-space-size`), the
//!   process's memory at that plus 768 MiB (cgroup or `RLIMIT_DATA`: V8 cannot start under
//!   less); a process that dies answering gives 502 `function-crashed` and is restarted.
//! - **Permissions**: `--allow-net` for loopback and the npm registry only (plus the hosts in
//!   `FERRY_FUNCTIONS_ALLOW_NET`, or `*` for any), `--allow-read` of the release's functions and
//!   Deno's cache, `--allow-env` (the environment is ferry's cleared one: the app's runtime
//!   secrets, `PORT`, Deno's settings), no write, run or FFI permission.
//! - **Lifetime**: a process idle for `FERRY_FUNCTIONS_IDLE_SECS` (ferry's environment, default
//!   900) is stopped; all stop with the server; processes a killed ferry left are stopped at the
//!   first activation.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use ferry_compat::base44::auth::token::SigningKey;
use ferry_compat::base44::functions::{
    BOOTSTRAP_FILE, ENTRY_ENV, ForwardContext, HEALTH_PATH, bootstrap_module, forward_headers,
    remote_imports, scrub, scrub_headers, service_token,
};
use ferry_release::Base44Function;
use ferry_run::{Handle, HealthCheck, ProcessSpec, Status, Supervisor};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use crate::ApiError;

/// Secret (or ferry's env) naming the Deno binary.
pub const DENO: &str = "FERRY_DENO";
/// Secret: seconds a call may take (default [`DEFAULT_TIMEOUT`]).
pub const TIMEOUT_SECS: &str = "FERRY_FUNCTIONS_TIMEOUT_SECS";
/// Secret: the JS heap of a function process, MiB (default [`DEFAULT_MEMORY_MIB`]).
pub const MEMORY_MIB: &str = "FERRY_FUNCTIONS_MEMORY_MIB";
/// Secret: more hosts a function may reach (comma-separated), or `*` for any.
pub const ALLOW_NET: &str = "FERRY_FUNCTIONS_ALLOW_NET";
/// ferry's env: seconds a function process may stay idle before it is stopped.
pub const IDLE_SECS: &str = "FERRY_FUNCTIONS_IDLE_SECS";

/// How long a call may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The JS heap of a function process by default, MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 256;
/// What a function process may use beyond its JS heap (V8 reserves address space up front).
const PROCESS_OVERHEAD_MIB: u64 = 768;
/// The largest call body forwarded (multipart uploads included).
const MAX_CALL_BYTES: usize = 50 << 20;
/// The largest answer a function may give.
const MAX_ANSWER_BYTES: usize = 32 << 20;
/// How long a function process has to answer its first health check.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long fetching one function's packages may take at deploy.
const WARM_DEADLINE: Duration = Duration::from_secs(300);
/// Grace between SIGTERM and SIGKILL for a function process.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long a process may stay idle by default.
const DEFAULT_IDLE: Duration = Duration::from_secs(900);
/// The npm registry Deno uses unless `NPM_CONFIG_REGISTRY` says otherwise.
const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org/";
/// What the 503 of a server without Deno suggests.
const DENO_HINT: &str = "install Deno (npm i -g deno, or pip install deno) or set FERRY_DENO";

/// How an app's functions run, from its secrets and ferry's environment.
#[derive(Clone, PartialEq, Eq)]
pub struct FunctionsConfig {
    /// The Deno binary, or why there is none.
    pub deno: Result<PathBuf, String>,
    /// How long a call may take.
    pub timeout: Duration,
    /// The JS heap limit, MiB.
    pub memory_mib: u64,
    /// Hosts beyond loopback and the registry (`["*"]`: any).
    pub allow_net: Vec<String>,
    /// The npm registry (`NPM_CONFIG_REGISTRY` of ferry's environment).
    pub registry: Option<String>,
    /// The app's runtime secrets (never ferry's `FERRY_*`), the functions' environment.
    pub env: BTreeMap<String, String>,
}

impl std::fmt::Debug for FunctionsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionsConfig")
            .field("deno", &self.deno)
            .field("timeout", &self.timeout)
            .field("memory_mib", &self.memory_mib)
            .field("allow_net", &self.allow_net)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl FunctionsConfig {
    /// The configuration from an app's secret `values` (ferry's own environment second).
    pub fn from_values(values: &BTreeMap<String, String>) -> FunctionsConfig {
        let get = |name: &str| {
            values
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let deno = match get(DENO) {
            Some(path) => {
                let path = PathBuf::from(path);
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(format!(
                        "{DENO} names `{}`, which is not a file",
                        path.display()
                    ))
                }
            }
            None => on_path("deno").ok_or_else(|| "no `deno` on PATH".to_string()),
        };
        let registry = std::env::var("NPM_CONFIG_REGISTRY")
            .or_else(|_| std::env::var("npm_config_registry"))
            .ok()
            .filter(|r| r.starts_with("http://") || r.starts_with("https://"));
        FunctionsConfig {
            deno,
            timeout: get(TIMEOUT_SECS)
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|s| *s > 0)
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            memory_mib: get(MEMORY_MIB)
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|m| *m >= 16)
                .unwrap_or(DEFAULT_MEMORY_MIB),
            allow_net: get(ALLOW_NET)
                .map(|v| {
                    v.split(',')
                        .map(|h| h.trim().to_string())
                        .filter(|h| !h.is_empty() && !h.contains([' ', '\'', '"', '\\']))
                        .collect()
                })
                .unwrap_or_default(),
            registry,
            env: values
                .iter()
                .filter(|(k, _)| !ferry_control::is_ferry_setting(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// `host[:port]` of the registry, for `--allow-net`.
    fn registry_host(&self) -> String {
        let url = self.registry.as_deref().unwrap_or(DEFAULT_REGISTRY);
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.split('/').next().unwrap_or_default().to_string()
    }
}

/// The machine's TLS trust and proxy settings from ferry's environment, for Deno's fetches:
/// `DENO_CERT` (else `SSL_CERT_FILE`, which Deno does not read itself), `DENO_TLS_CA_STORE`,
/// and the proxy variables.
fn machine_env() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let cert = std::env::var("DENO_CERT")
        .or_else(|_| std::env::var("SSL_CERT_FILE"))
        .ok()
        .filter(|c| !c.is_empty());
    if let Some(cert) = cert {
        out.push(("DENO_CERT".to_string(), cert));
    }
    for name in [
        "DENO_TLS_CA_STORE",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "https_proxy",
        "http_proxy",
        "no_proxy",
    ] {
        if let Ok(value) = std::env::var(name) {
            out.push((name.to_string(), value));
        }
    }
    out
}

/// The first executable `name` in `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Single-quoted for `sh`.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Every app's function processes, kept across activations.
pub struct FunctionHosts {
    home: PathBuf,
    supervisor: Arc<Supervisor>,
    releases: Mutex<HashMap<String, Arc<ReleaseFunctions>>>,
    /// Processes a killed ferry left behind were stopped (once, at the first activation).
    swept: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for FunctionHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionHosts").finish_non_exhaustive()
    }
}

/// The guarded value, even after a panic elsewhere poisoned the lock.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What [`FunctionHosts::prepare`] needs to know about a release.
pub struct PrepareFunctions<'a> {
    /// ferry's app name.
    pub app: &'a str,
    /// The release.
    pub release: &'a str,
    /// The Base44 app id.
    pub app_id: &'a str,
    /// The release's functions.
    pub functions: &'a BTreeMap<String, Base44Function>,
    /// How they run.
    pub config: &'a FunctionsConfig,
    /// The app's signing key (the service token is derived from it).
    pub key: &'a SigningKey,
}

impl FunctionHosts {
    /// Function processes recorded in `$FERRY_HOME/run/functions`.
    pub fn new(home: &Path) -> FunctionHosts {
        FunctionHosts {
            home: home.to_path_buf(),
            supervisor: Arc::new(Supervisor::new(home.join("run").join("functions"))),
            releases: Mutex::new(HashMap::new()),
            swept: tokio::sync::OnceCell::new(),
        }
    }

    /// Readies a release's functions: files written, packages fetched (a failure is the
    /// activation's error), nothing started. Returns what serves their calls and the
    /// deploy's warnings. Called again for the same release and configuration, it returns the
    /// same functions; with another configuration the old processes are stopped.
    pub async fn prepare(
        self: &Arc<Self>,
        p: PrepareFunctions<'_>,
    ) -> Result<(Arc<ReleaseFunctions>, Vec<String>), ApiError> {
        self.sweep_orphans().await;
        let existing = lock(&self.releases).get(p.release).cloned();
        if let Some(rf) = existing {
            if rf.config == *p.config {
                return Ok((rf, Vec::new()));
            }
            rf.stop_all().await;
        }
        let root = self
            .home
            .join("data")
            .join(p.app)
            .join("functions")
            .join(p.release);
        write_files(&root, p.functions)?;
        let mut warnings = Vec::new();
        let deno_dir = self.home.join("cache").join("deno");
        match &p.config.deno {
            Err(why) => warnings.push(format!(
                "the app's {} backend function(s) cannot run: {why}; calls answer 503 until Deno is there ({DENO_HINT})",
                p.functions.len()
            )),
            Ok(deno) => {
                for (name, f) in p.functions {
                    let remote: Vec<String> =
                        f.files.values().flat_map(|t| remote_imports(t)).collect();
                    if !remote.is_empty() {
                        warnings.push(format!(
                            "function `{name}` imports {}: not fetched at deploy (only `npm:` imports are); its first call needs those hosts",
                            remote.join(", ")
                        ));
                        continue;
                    }
                    warm(deno, &deno_dir, &root.join(name).join(&f.entry), p.config)
                        .await
                        .map_err(|why| {
                            ApiError::new(
                                400,
                                "function-dependencies",
                                format!("function `{name}`: cannot fetch its imports: {why}"),
                                "its `npm:` packages must exist on the npm registry (set NPM_CONFIG_REGISTRY for another one)",
                            )
                        })?;
                }
            }
        }
        let slots = p
            .functions
            .iter()
            .map(|(name, f)| {
                (
                    name.clone(),
                    Slot {
                        entry: f.entry.clone(),
                        handle: tokio::sync::Mutex::new(None),
                        last_used: Mutex::new(Instant::now()),
                    },
                )
            })
            .collect();
        let rf = Arc::new(ReleaseFunctions {
            supervisor: self.supervisor.clone(),
            home: self.home.clone(),
            app: p.app.to_string(),
            release: p.release.to_string(),
            app_id: p.app_id.to_string(),
            root,
            deno_dir,
            config: p.config.clone(),
            token: service_token(p.key, p.app_id),
            api_url: OnceLock::new(),
            api_task: Mutex::new(None),
            slots,
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        lock(&self.releases).insert(p.release.to_string(), rf.clone());
        Ok((rf, warnings))
    }

    /// Stops what a killed ferry left running (once per server), and starts the idle reaper.
    async fn sweep_orphans(self: &Arc<Self>) {
        self.swept
            .get_or_init(|| async {
                for rec in self.supervisor.recorded() {
                    let outcome = self.supervisor.kill_orphan(&rec, STOP_GRACE).await;
                    tracing::info!(process = %rec.label(), ?outcome, "orphaned function process");
                }
                let idle = std::env::var(IDLE_SECS)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .map_or(DEFAULT_IDLE, Duration::from_secs);
                let hosts = Arc::downgrade(self);
                tokio::spawn(async move {
                    let tick = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
                    loop {
                        tokio::time::sleep(tick).await;
                        let Some(hosts) = hosts.upgrade() else { return };
                        let releases: Vec<_> = lock(&hosts.releases).values().cloned().collect();
                        for rf in releases {
                            rf.stop_idle(idle).await;
                        }
                    }
                });
            })
            .await;
    }

    /// Stops every function process (server shutdown).
    pub async fn shutdown(&self) {
        let releases: Vec<_> = lock(&self.releases).drain().map(|(_, r)| r).collect();
        for rf in releases {
            rf.stop_all().await;
        }
    }
}

/// Writes the release's functions and the bootstrap under `root` (read-only), unless they are
/// there already; a half-written folder from a crash is replaced.
fn write_files(root: &Path, functions: &BTreeMap<String, Base44Function>) -> Result<(), ApiError> {
    let io = |what: &Path, err: std::io::Error| {
        ApiError::new(
            500,
            "io",
            format!("cannot write `{}`: {err}", what.display()),
            "check the permissions of FERRY_HOME",
        )
    };
    if root.join(BOOTSTRAP_FILE).is_file() {
        return Ok(());
    }
    let parent = root.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let temp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        root.file_name().and_then(|n| n.to_str()).unwrap_or("r")
    ));
    let _ = std::fs::remove_dir_all(&temp);
    for (name, f) in functions {
        for (rel, text) in &f.files {
            // Names and paths were checked with the manifest (plain, relative, no `..`).
            let path = temp.join(name).join(rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            }
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        }
    }
    let boot = temp.join(BOOTSTRAP_FILE);
    std::fs::write(&boot, bootstrap_module()).map_err(|e| io(&boot, e))?;
    let _ = std::fs::remove_dir_all(root);
    std::fs::rename(&temp, root).map_err(|e| io(root, e))
}

/// `deno cache` of one entry module into `deno_dir`, bounded by [`WARM_DEADLINE`].
async fn warm(
    deno: &Path,
    deno_dir: &Path,
    entry: &Path,
    config: &FunctionsConfig,
) -> Result<(), String> {
    std::fs::create_dir_all(deno_dir).map_err(|e| format!("{}: {e}", deno_dir.display()))?;
    let mut cmd = std::process::Command::new(deno);
    cmd.args(["cache", "--quiet", "--no-config", "--no-lock"])
        .arg(entry)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", deno_dir)
        .env("DENO_DIR", deno_dir)
        .env("NO_COLOR", "1")
        .env("DENO_NO_UPDATE_CHECK", "1")
        .envs(machine_env())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(registry) = &config.registry {
        cmd.env("NPM_CONFIG_REGISTRY", registry);
    }
    let task = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut child = cmd.spawn().map_err(|e| format!("cannot run Deno: {e}"))?;
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let mut err = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        use std::io::Read;
                        let _ = pipe.read_to_string(&mut err);
                    }
                    return if status.success() {
                        Ok(())
                    } else {
                        let tail: Vec<&str> = err.lines().rev().take(6).collect();
                        let tail: Vec<&str> = tail.into_iter().rev().collect();
                        Err(format!("`deno cache` {status}: {}", tail.join(" / ")))
                    };
                }
                Ok(None) if started.elapsed() > WARM_DEADLINE => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "`deno cache` took more than {} s",
                        WARM_DEADLINE.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(e.to_string()),
            }
        }
    });
    task.await.map_err(|e| e.to_string())?
}

/// One function of a release: its entry and its process, when it runs.
struct Slot {
    entry: String,
    handle: tokio::sync::Mutex<Option<Handle>>,
    last_used: Mutex<Instant>,
}

/// The functions of one release: where their files are, how they run, their processes.
pub struct ReleaseFunctions {
    supervisor: Arc<Supervisor>,
    home: PathBuf,
    app: String,
    release: String,
    app_id: String,
    root: PathBuf,
    deno_dir: PathBuf,
    config: FunctionsConfig,
    token: String,
    /// `http://127.0.0.1:<port>`, the loopback listener of the release's API.
    api_url: OnceLock<String>,
    api_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    slots: HashMap<String, Slot>,
    client: Client<HttpConnector, Limited<Body>>,
}

impl std::fmt::Debug for ReleaseFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseFunctions")
            .field("app", &self.app)
            .field("release", &self.release)
            .finish_non_exhaustive()
    }
}

/// A JSON error answer.
fn refuse(status: u16, code: &str, message: String, hint: &str, function: &str) -> Response {
    let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "hint": hint,
            "function": function,
        })),
    )
        .into_response()
}

impl ReleaseFunctions {
    /// The routes answering the functions' calls (to merge into the release's API router).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/api/apps/{app_id}/functions/{name}", any(call))
            .with_state(self.clone())
    }

    /// Serves `api` (the release's API, these routes included) on a loopback port: the
    /// functions' `Base44-Api-Url`. Once per release; later calls do nothing.
    pub fn serve_api(&self, api: Router) -> Result<(), ApiError> {
        if self.api_url.get().is_some() {
            return Ok(());
        }
        let fail = |e: std::io::Error| {
            ApiError::new(
                500,
                "no-port",
                format!("cannot listen on loopback for the functions' API: {e}"),
                "free some ports",
            )
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        let addr = listener.local_addr().map_err(fail)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(fail)?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, api).await;
        });
        let _ = self.api_url.set(format!("http://{addr}"));
        *lock(&self.api_task) = Some(task);
        Ok(())
    }

    /// The running process of `name`, started (and healthy) when it was not.
    async fn running(&self, name: &str, slot: &Slot, deno: &Path) -> Result<Handle, Response> {
        let mut guard = slot.handle.lock().await;
        if let Some(h) = guard.as_ref() {
            match h.status() {
                Status::Healthy => return Ok(h.clone()),
                Status::Stopped | Status::CrashLoop => {
                    let _ = self.supervisor.stop(h, STOP_GRACE).await;
                }
                // Starting, restarting after a crash, or slow to answer its checks.
                _ => {
                    if self
                        .supervisor
                        .wait_healthy(h, START_DEADLINE)
                        .await
                        .is_ok()
                    {
                        return Ok(h.clone());
                    }
                }
            }
            *guard = None;
        }
        let spec = self
            .spec(name, slot, deno)
            .map_err(|e| refuse(e.status, &e.code, e.message, "see the server log", name))?;
        let handle = self.supervisor.start(spec).await.map_err(|e| {
            refuse(
                502,
                "function-start-failed",
                format!("function `{name}` cannot start: {e}"),
                &e.hint(),
                name,
            )
        })?;
        if let Err(e) = self.supervisor.wait_healthy(&handle, START_DEADLINE).await {
            return Err(refuse(
                502,
                "function-start-failed",
                format!("function `{name}` did not start: {e}"),
                &format!(
                    "its log: `ferry logs --app {} --process fn.{name}`",
                    self.app
                ),
                name,
            ));
        }
        *guard = Some(handle.clone());
        Ok(handle)
    }

    /// The process spec of function `name`.
    fn spec(&self, name: &str, slot: &Slot, deno: &Path) -> Result<ProcessSpec, ApiError> {
        let port = crate::processes::free_port()?;
        let process = format!("fn.{name}");
        let dir = self.root.join(name);
        let mut net = vec!["127.0.0.1".to_string(), self.config.registry_host()];
        net.extend(self.config.allow_net.iter().cloned());
        let allow_net = if net.iter().any(|h| h == "*") {
            "--allow-net".to_string()
        } else {
            format!("--allow-net={}", net.join(","))
        };
        let command = format!(
            "exec {deno} run --quiet --no-prompt --no-config --no-lock {allow_net} --allow-env --allow-read={read} --v8-flags=--max-old-space-size={heap} {boot}",
            deno = sh_quote(&deno.display().to_string()),
            read = sh_quote(&format!(
                "{},{}",
                self.root.display(),
                self.deno_dir.display()
            )),
            heap = self.config.memory_mib,
            boot = sh_quote(&self.root.join(BOOTSTRAP_FILE).display().to_string()),
        );
        let run = self.home.join("run");
        let mut spec = ProcessSpec::new(
            &self.app,
            &self.release,
            &process,
            command,
            port,
            dir.clone(),
            run.join("work")
                .join(&self.app)
                .join(&self.release)
                .join(&process),
            self.home
                .join("logs")
                .join("apps")
                .join(&self.app)
                .join(&self.release),
        );
        spec.env = self.config.env.clone();
        let entry = dir.join(&slot.entry);
        spec.env
            .insert(ENTRY_ENV.into(), format!("file://{}", entry.display()));
        spec.env
            .insert("DENO_DIR".into(), self.deno_dir.display().to_string());
        spec.env.insert("NO_COLOR".into(), "1".into());
        spec.env.insert("DENO_NO_UPDATE_CHECK".into(), "1".into());
        spec.env.extend(machine_env());
        if let Some(registry) = &self.config.registry {
            spec.env
                .insert("NPM_CONFIG_REGISTRY".into(), registry.clone());
        }
        spec.redact = self.config.env.values().cloned().collect();
        spec.redact.push(self.token.clone());
        spec.health = HealthCheck {
            path: HEALTH_PATH.into(),
            ..HealthCheck::default()
        };
        spec.limits.memory_bytes = Some((self.config.memory_mib + PROCESS_OVERHEAD_MIB) << 20);
        spec.stop_grace = STOP_GRACE;
        Ok(spec)
    }

    /// Kills `handle` (a call ran out of time) and forgets it, so the next call starts anew.
    async fn kill(&self, slot: &Slot, handle: &Handle) {
        let _ = self
            .supervisor
            .stop(handle, Duration::from_millis(200))
            .await;
        let mut guard = slot.handle.lock().await;
        if guard.as_ref().is_some_and(|h| h.pid() == handle.pid()) {
            *guard = None;
        }
    }

    /// Stops the processes not called for `idle`.
    async fn stop_idle(&self, idle: Duration) {
        for slot in self.slots.values() {
            if lock(&slot.last_used).elapsed() < idle {
                continue;
            }
            let mut guard = slot.handle.lock().await;
            if let Some(h) = guard.take() {
                let _ = self.supervisor.stop(&h, STOP_GRACE).await;
            }
        }
    }

    /// Stops every process and the API listener.
    async fn stop_all(&self) {
        for slot in self.slots.values() {
            if let Some(h) = slot.handle.lock().await.take() {
                let _ = self.supervisor.stop(&h, STOP_GRACE).await;
            }
        }
        if let Some(task) = lock(&self.api_task).take() {
            task.abort();
        }
    }
}

/// `ANY /api/apps/{app_id}/functions/{name}`: the call, forwarded to the function's process.
async fn call(
    State(rf): State<Arc<ReleaseFunctions>>,
    UrlPath((app_id, name)): UrlPath<(String, String)>,
    req: Request,
) -> Response {
    if app_id != rf.app_id {
        return refuse(
            404,
            "app-not-found",
            format!("no app `{app_id}` here"),
            "check the app id",
            &name,
        );
    }
    let Some(slot) = rf.slots.get(&name) else {
        return refuse(
            404,
            "function-not-found",
            format!("the app has no backend function `{name}`"),
            "functions live in base44/functions/<name>/entry.ts",
            &name,
        );
    };
    let deno = match &rf.config.deno {
        Ok(deno) => deno.clone(),
        Err(why) => {
            return refuse(
                503,
                "deno-missing",
                format!(
                    "backend function `{name}` cannot run: Deno is not installed on the server ({why})"
                ),
                DENO_HINT,
                &name,
            );
        }
    };
    *lock(&slot.last_used) = Instant::now();
    let handle = match rf.running(&name, slot, &deno).await {
        Ok(h) => h,
        Err(answer) => return answer,
    };
    let (parts, body) = req.into_parts();
    let api_url = rf.api_url.get().cloned().unwrap_or_default();
    let ctx = ForwardContext {
        app_id: &rf.app_id,
        api_url: &api_url,
        service_token: &rf.token,
    };
    let Some(headers) = forward_headers(&parts.headers, &ctx) else {
        return refuse(
            500,
            "internal",
            "cannot forward the call".into(),
            "see the server log",
            &name,
        );
    };
    // The function sees the SDK's path, whichever prefix the call came in under.
    let path = parts.uri.path();
    let path = path.find("/api/apps/").map_or(path, |at| &path[at..]);
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let uri = format!("http://127.0.0.1:{}{path}{query}", handle.port());
    let mut forward = http::Request::new(Limited::new(body, MAX_CALL_BYTES));
    *forward.method_mut() = parts.method.clone();
    *forward.headers_mut() = headers;
    match uri.parse() {
        Ok(uri) => *forward.uri_mut() = uri,
        Err(_) => {
            return refuse(
                400,
                "bad-path",
                "the call's path cannot be forwarded".into(),
                "",
                &name,
            );
        }
    }
    let work = async {
        let answer = rf
            .client
            .request(forward)
            .await
            .map_err(|e| e.to_string())?;
        let (head, body) = answer.into_parts();
        let bytes = Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((head, bytes))
    };
    match tokio::time::timeout(rf.config.timeout, work).await {
        Err(_) => {
            rf.kill(slot, &handle).await;
            tracing::warn!(app = %rf.app, function = %name, "function call timed out: process killed");
            refuse(
                504,
                "function-timeout",
                format!(
                    "function `{name}` did not answer within {} s; its process was stopped",
                    rf.config.timeout.as_secs()
                ),
                &format!("the limit is {TIMEOUT_SECS} (`ferry env set {TIMEOUT_SECS}=120`)"),
                &name,
            )
        }
        Ok(Err(why)) => {
            // Let the supervisor see the exit, then say whether it was memory.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let tail = handle.log_tail().join("\n");
            let memory = tail.contains("out of memory") || tail.contains("heap limit");
            if memory {
                refuse(
                    502,
                    "function-out-of-memory",
                    format!(
                        "function `{name}` ran out of memory (its limit is {} MiB) and was restarted",
                        rf.config.memory_mib
                    ),
                    &format!("the limit is {MEMORY_MIB} (`ferry env set {MEMORY_MIB}=512`)"),
                    &name,
                )
            } else {
                refuse(
                    502,
                    "function-crashed",
                    format!("function `{name}` failed while answering ({why})"),
                    &format!("its log: `ferry logs --app {} --process fn.{name}`", rf.app),
                    &name,
                )
            }
        }
        Ok(Ok((head, bytes))) => {
            let mut answer = Response::new(Body::from(scrub(bytes, &rf.token)));
            *answer.status_mut() = head.status;
            *answer.headers_mut() = scrub_headers(&head.headers, &rf.token);
            answer
        }
    }
}
