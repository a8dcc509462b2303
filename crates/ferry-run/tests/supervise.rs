//! The supervisor against real processes: small Python HTTP servers bound to `$PORT`, and `sh`
//! scripts that crash, ignore SIGTERM or print without end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::{Sandbox, free_port, group_members, wait_for};
use ferry_run::{
    Handle, Liveness, LogPolicy, Orphan, ProcessSpec, Recorded, RestartPolicy, Status, Supervisor,
};

/// A tiny HTTP server: `/env` answers the environment as JSON, everything else the status in
/// the file `status` when there is one, else `$STATUS` (default 200); each request is logged as
/// `req <path>` on stdout.
const SERVER: &str = r#"
import http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/env':
            code, body = 200, json.dumps(dict(os.environ)).encode()
        elif os.path.exists('status'):
            code, body = int(open('status').read()), b'file'
        else:
            code, body = int(os.environ.get('STATUS', '200')), b'ok'
        self.send_response(code)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        print('req', self.path, flush=True)
print('listening on', os.environ['PORT'], flush=True)
http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()
"#;

struct Env {
    sandbox: Sandbox,
}

impl std::ops::Deref for Env {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Env {
    fn new() -> Self {
        let sandbox = Sandbox::new("shop");
        std::fs::write(sandbox.path().join("server.py"), SERVER).expect("write server");
        Self { sandbox }
    }

    fn server(&self, port: u16) -> ProcessSpec {
        self.spec("web", "exec python3 server.py", port)
    }

    fn log_text(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_dir().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn state_file(&self, name: &str) -> PathBuf {
        self.state_dir().join(format!("shop-r1-{name}.json"))
    }
}

/// A blocking `GET`; returns the status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text[9..12].parse().expect("status");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// Whether the pid is gone (absent or a zombie).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat[stat.rfind(')').expect(")") + 2..].chars().next();
            matches!(state, Some('Z' | 'X'))
        }
    }
}

async fn wait_status(
    rx: &mut tokio::sync::watch::Receiver<Status>,
    within: Duration,
    want: impl Fn(&Status) -> bool,
) -> Status {
    tokio::time::timeout(within, rx.wait_for(|s| want(s)))
        .await
        .expect("status in time")
        .map(|s| *s)
        .expect("channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_healthy_on_its_port_with_its_env_and_stops() {
    let env = Env::new();
    let sup = env.supervisor();
    let port = free_port();
    let mut spec = env.server(port);
    spec.port_env = "APP_PORT".into();
    spec.env = BTreeMap::from([("GREETING".to_string(), "hello".to_string())]);
    let handle = sup.start(spec).await.expect("start");
    sup.wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect("healthy");
    assert_eq!(handle.status(), Status::Healthy);

    let (status, body) = get(port, "/env");
    assert_eq!(status, 200);
    let vars: BTreeMap<String, String> = serde_json::from_str(&body).expect("json");
    let work = env.path().join("work/web");
    assert_eq!(vars["PORT"], port.to_string());
    assert_eq!(vars["APP_PORT"], port.to_string());
    assert_eq!(vars["GREETING"], "hello");
    for var in ["TMPDIR", "HOME", "XDG_CACHE_HOME"] {
        assert_eq!(Path::new(&vars[var]), work);
    }
    assert!(!vars.contains_key("CARGO_PKG_NAME"), "ferry's env leaked");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&work).expect("work").permissions().mode();
    assert_eq!(mode & 0o777, 0o700);

    // Recorded, with the pid and group.
    let recorded = sup.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].pid, handle.pid());
    assert_eq!(recorded[0].pgid, handle.pid());
    assert_eq!(recorded[0].port, port);
    assert_eq!(recorded[0].liveness(), Liveness::Alive);

    let ps = sup.ps();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].status, Status::Healthy);
    assert_eq!(ps[0].port, port);
    assert!(ps[0].rss_bytes.expect("rss") > 1 << 20);
    assert_eq!(ps[0].restarts, 0);

    let pid = handle.pid();
    sup.stop(&handle, Duration::from_secs(5))
        .await
        .expect("stop");
    assert_eq!(handle.status(), Status::Stopped);
    assert!(is_gone(pid));
    assert!(!env.state_file("web").exists());
    assert!(sup.ps().is_empty());
    let log = env.log_text("web");
    assert!(log.contains(&format!("listening on {port}")), "{log}");
    assert!(log.contains("req /env"), "{log}");
    assert!(log.contains("[ferry] stopped"), "{log}");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_never_passing_times_out_and_stops_the_process() {
    let env = Env::new();
    let sup = env.supervisor();
    let port = free_port();
    let mut spec = env.server(port);
    spec.env.insert("STATUS".into(), "503".into());
    let handle = sup.start(spec).await.expect("start");
    let pid = handle.pid();
    let started = Instant::now();
    let err = sup
        .wait_healthy(&handle, Duration::from_secs(2))
        .await
        .expect_err("never healthy");
    assert_eq!(err.code(), "health-timeout");
    assert!(err.to_string().contains("status 503"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(handle.status(), Status::Stopped);
    assert!(is_gone(pid));
    assert!(!env.state_file("web").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exiting_at_once_is_exited_early_with_the_log_tail() {
    let env = Env::new();
    let sup = env.supervisor();
    let spec = env.spec(
        "web",
        "echo 'Error: Cannot find module express' >&2; exit 3",
        free_port(),
    );
    let handle = sup.start(spec).await.expect("start");
    let err = sup
        .wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect_err("exits");
    assert_eq!(err.code(), "exited-early");
    match &err {
        ferry_run::RunError::ExitedEarly {
            status, log_tail, ..
        } => {
            assert_eq!(status, "exited with code 3 at start");
            assert!(
                log_tail
                    .iter()
                    .any(|l| l.contains("Cannot find module express")),
                "{log_tail:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(handle.status(), Status::Stopped);
    // Stopped for good: no restart happens later.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(handle.status(), Status::Stopped);
    assert_eq!(handle.restarts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_process_is_restarted_and_healthy_within_two_seconds() {
    let env = Env::new();
    let sup = env.supervisor();
    let port = free_port();
    let mut spec = env.server(port);
    spec.restart.reset_after = Duration::from_millis(300);
    let handle = sup.start(spec).await.expect("start");
    sup.wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect("healthy");
    let old = handle.pid();
    let mut rx = handle.subscribe();
    rx.borrow_and_update();

    let killed = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &old.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let s = wait_status(&mut rx, Duration::from_secs(2), |s| {
        matches!(s, Status::Restarting { .. })
    })
    .await;
    assert_eq!(s, Status::Restarting { attempt: 1 });
    wait_status(&mut rx, Duration::from_secs(2), |s| *s == Status::Healthy).await;
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "{:?}",
        killed.elapsed()
    );
    assert_eq!(get(port, "/").0, 200);
    assert_ne!(handle.pid(), old);
    assert_eq!(handle.restarts(), 1);
    let last_exit = handle.last_exit().expect("last exit");
    assert!(
        last_exit.starts_with("killed by SIGKILL after "),
        "{last_exit}"
    );
    assert_eq!(sup.recorded()[0].pid, handle.pid());
    let log = env.log_text("web");
    assert!(
        log.contains(&format!(
            "[ferry] {last_exit}; restarting in 0.5 s (attempt 1)"
        )),
        "{log}"
    );

    // Healthy for longer than `reset_after`: the next crash starts the backoff afresh.
    tokio::time::sleep(Duration::from_millis(400)).await;
    rx.borrow_and_update();
    std::process::Command::new("kill")
        .args(["-9", &handle.pid().to_string()])
        .status()
        .expect("kill");
    let s = wait_status(&mut rx, Duration::from_secs(2), |s| {
        matches!(s, Status::Restarting { .. })
    })
    .await;
    assert_eq!(s, Status::Restarting { attempt: 1 });
    wait_status(&mut rx, Duration::from_secs(2), |s| *s == Status::Healthy).await;
    assert_eq!(handle.restarts(), 2);
    sup.stop(&handle, Duration::from_secs(5))
        .await
        .expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_is_detected_and_not_restarted() {
    let env = Env::new();
    let sup = env.supervisor();
    let mut spec = env.spec("web", "echo crashing; exit 1", free_port());
    spec.restart = RestartPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        crash_loop_exits: 4,
        crash_loop_window: Duration::from_secs(30),
        ..RestartPolicy::default()
    };
    let handle = sup.start(spec).await.expect("start");
    let mut rx = handle.subscribe();
    wait_status(&mut rx, Duration::from_secs(5), |s| *s == Status::CrashLoop).await;
    assert_eq!(handle.restarts(), 3);
    assert!(!env.state_file("web").exists());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(handle.status(), Status::CrashLoop);
    assert_eq!(handle.restarts(), 3);
    assert!(
        env.log_text("web")
            .contains("[ferry] exited with code 1 at start (4 times in 30 s); crash loop")
    );
    assert_eq!(sup.ps()[0].status, Status::CrashLoop);
    // The port is free for another process once the loop is declared.
    sup.stop(&handle, Duration::from_secs(1))
        .await
        .expect("stop");
    assert_eq!(handle.status(), Status::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ignored_means_sigkill_after_grace_for_the_whole_group() {
    let env = Env::new();
    let sup = env.supervisor();
    let spec = env.spec(
        "worker",
        "trap '' TERM; sleep 1000 & echo \"child $!\"; wait; wait",
        free_port(),
    );
    let handle = sup.start(spec).await.expect("start");
    let leader = handle.pid();
    let mut child = 0u32;
    wait_for("the child's pid in the log", Duration::from_secs(5), || {
        let log = env.log_text("worker");
        if let Some(line) = log.lines().find(|l| l.starts_with("child ")) {
            child = line[6..].trim().parse().expect("pid");
            true
        } else {
            false
        }
    })
    .await;
    assert_eq!(group_members(leader), {
        let mut v = vec![leader, child];
        v.sort();
        v
    });

    let grace = Duration::from_millis(400);
    let started = Instant::now();
    sup.stop(&handle, grace).await.expect("stop");
    let took = started.elapsed();
    assert!(took >= grace, "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(is_gone(leader));
    assert!(is_gone(child));
    assert!(group_members(leader).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_refused() {
    let env = Env::new();
    let sup = env.supervisor();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let err = sup.start(env.server(port)).await.expect_err("taken");
    assert_eq!(err.code(), "port-taken");
    assert!(!env.state_file("web").exists());
    drop(listener);

    // A port owned by a supervised process is refused too, before anything binds it.
    let handle = sup.start(env.server(port)).await.expect("start");
    let err = sup
        .start(env.spec("other", "sleep 10", port))
        .await
        .expect_err("owned");
    assert_eq!(err.code(), "port-taken");
    assert!(err.to_string().contains("shop/web@r1"), "{err}");
    let err = sup
        .start(env.server(free_port()))
        .await
        .expect_err("same process twice");
    assert_eq!(err.code(), "already-running");
    sup.stop(&handle, Duration::from_secs(5))
        .await
        .expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_output_stays_under_the_log_cap_with_secrets_masked() {
    let env = Env::new();
    let sup = env.supervisor();
    let mut spec = env.spec(
        "noisy",
        "yes 'a log line with the token hunter2-secret-value inside'",
        free_port(),
    );
    spec.log = LogPolicy {
        max_file_bytes: 64 * 1024,
        files: 3,
        ..LogPolicy::default()
    };
    spec.redact = vec!["hunter2-secret-value".into()];
    let handle = sup.start(spec).await.expect("start");
    // Several megabytes go through in this time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut total = 0;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(env.log_dir()).expect("logs").flatten() {
        let len = entry.metadata().expect("meta").len();
        assert!(len <= 64 * 1024, "{len}");
        total += len;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(names, ["noisy.log", "noisy.log.1", "noisy.log.2"]);
    assert!(total <= 3 * 64 * 1024);
    let text = std::fs::read_to_string(env.log_dir().join("noisy.log.1")).expect("read");
    assert!(text.contains("with the token *** inside"));
    assert!(!text.contains("hunter2"));
    sup.stop(&handle, Duration::from_secs(2))
        .await
        .expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_supervisor_adopts_a_live_process() {
    let env = Env::new();
    let port = free_port();
    let first = env.supervisor();
    let handle = first.start(env.server(port)).await.expect("start");
    first
        .wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect("healthy");
    let pid = handle.pid();
    // ferry "crashes": the supervisor goes without stopping anything.
    drop(first);
    drop(handle);
    assert_eq!(get(port, "/").0, 200);

    let second = env.supervisor();
    let recorded = second.recorded();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].pid, pid);
    assert_eq!(recorded[0].liveness(), Liveness::Alive);
    // Starting it afresh instead would make two owners of the port.
    let err = second.start(env.server(port)).await.expect_err("recorded");
    assert_eq!(err.code(), "already-running");

    let adopted = second
        .adopt(&recorded[0], env.server(port))
        .await
        .expect("adopt");
    second
        .wait_healthy(&adopted, Duration::from_secs(10))
        .await
        .expect("healthy");
    assert_eq!(adopted.pid(), pid);
    assert!(second.ps()[0].adopted);
    // Its output still reaches the log.
    get(port, "/after-adoption");
    wait_for(
        "the adopted process's log line",
        Duration::from_secs(5),
        || env.log_text("web").contains("req /after-adoption"),
    )
    .await;

    second
        .stop(&adopted, Duration::from_secs(5))
        .await
        .expect("stop");
    assert!(is_gone(pid));
    assert!(second.recorded().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_process_that_dies_is_restarted() {
    let env = Env::new();
    let port = free_port();
    let first = env.supervisor();
    let handle = first.start(env.server(port)).await.expect("start");
    first
        .wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect("healthy");
    drop(first);
    let second = env.supervisor();
    let recorded = second.recorded();
    let adopted = second
        .adopt(&recorded[0], env.server(port))
        .await
        .expect("adopt");
    second
        .wait_healthy(&adopted, Duration::from_secs(10))
        .await
        .expect("healthy");
    let mut rx = adopted.subscribe();
    rx.borrow_and_update();
    std::process::Command::new("kill")
        .args(["-9", &recorded[0].pid.to_string()])
        .status()
        .expect("kill");
    wait_status(&mut rx, Duration::from_secs(3), |s| {
        matches!(s, Status::Restarting { .. })
    })
    .await;
    wait_status(&mut rx, Duration::from_secs(3), |s| *s == Status::Healthy).await;
    assert_ne!(adopted.pid(), recorded[0].pid);
    assert!(!second.ps()[0].adopted);
    second
        .stop(&adopted, Duration::from_secs(5))
        .await
        .expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_supervisor_kills_an_orphan() {
    let env = Env::new();
    let port = free_port();
    let first = env.supervisor();
    let handle = first
        .start(env.spec(
            "web",
            "trap '' TERM; sleep 1000 & exec python3 server.py",
            port,
        ))
        .await
        .expect("start");
    first
        .wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect("healthy");
    let pgid = handle.pid();
    assert_eq!(group_members(pgid).len(), 2);
    drop(first);

    let second = env.supervisor();
    let recorded = second.recorded();
    assert_eq!(recorded.len(), 1);
    let outcome = second
        .kill_orphan(&recorded[0], Duration::from_millis(500))
        .await
        .expect("kill");
    assert_eq!(outcome, Orphan::Killed);
    assert!(group_members(pgid).is_empty());
    assert!(second.recorded().is_empty());
    assert!(!env.state_dir().join("shop-r1-web.fifo").exists());
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port free again");
    // Again: nothing left.
    assert_eq!(recorded[0].liveness(), Liveness::Gone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_pid_is_neither_adopted_nor_killed() {
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    std::fs::create_dir_all(env.state_dir()).expect("state dir");
    let mut stranger = std::process::Command::new("sleep")
        .arg("30")
        .process_group(0)
        .spawn()
        .expect("sleep");
    let pid = stranger.id();
    let port = free_port();
    let record = Recorded {
        version: 1,
        app: "shop".into(),
        release: "r1".into(),
        name: "web".into(),
        pid,
        pgid: pid,
        port,
        started_at: 1,
        start_ticks: 1, // not the stranger's start time
        boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .expect("boot id")
            .trim()
            .into(),
        command: "exec python3 server.py".into(),
    };
    std::fs::write(
        env.state_file("web"),
        serde_json::to_vec(&record).expect("json"),
    )
    .expect("write record");

    let sup = env.supervisor();
    let recorded = sup.recorded();
    assert_eq!(recorded, vec![record]);
    assert!(matches!(recorded[0].liveness(), Liveness::Reused(_)));
    let err = sup
        .adopt(&recorded[0], env.server(port))
        .await
        .expect_err("reused");
    assert_eq!(err.code(), "pid-reused");
    let outcome = sup
        .kill_orphan(&recorded[0], Duration::from_millis(200))
        .await
        .expect("kill_orphan");
    assert_eq!(outcome, Orphan::PidReused);
    assert!(
        stranger.try_wait().expect("try_wait").is_none(),
        "the stranger was killed"
    );
    assert!(sup.recorded().is_empty());
    stranger.kill().expect("kill");
    stranger.wait().expect("wait");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_checks_turn_a_healthy_process_unhealthy_and_back() {
    let env = Env::new();
    let sup = env.supervisor();
    let mut spec = env.server(free_port());
    spec.health.interval = Duration::from_millis(100);
    spec.health.failures = 2;
    spec.health.path = "/healthz".into();
    let handle = sup.start(spec).await.expect("start");
    sup.wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect("healthy");
    let mut rx = handle.subscribe();
    std::fs::write(env.path().join("status"), "500").expect("write");
    wait_status(&mut rx, Duration::from_secs(3), |s| *s == Status::Unhealthy).await;
    assert_eq!(handle.restarts(), 0, "unhealthy is reported, not restarted");
    std::fs::write(env.path().join("status"), "404").expect("write");
    wait_status(&mut rx, Duration::from_secs(3), |s| *s == Status::Healthy).await;
    assert!(
        env.log_text("web")
            .contains("[ferry] unhealthy: status 500")
    );
    assert!(env.log_text("web").contains("req /healthz"));
    sup.stop(&handle, Duration::from_secs(5))
        .await
        .expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_bind_the_command_and_a_limit_that_cannot_be_set_fails_clearly() {
    let env = Env::new();
    let sup = env.supervisor();
    let mut spec = env.spec(
        "limited",
        "exec python3 -c \"import resource as r, time; print('limits', *(r.getrlimit(x)[0] for x in (r.RLIMIT_NOFILE, r.RLIMIT_DATA, r.RLIMIT_CPU)), flush=True); time.sleep(30)\"",
        free_port(),
    );
    spec.limits.open_files = Some(123);
    spec.limits.memory_bytes = Some(512 << 20);
    spec.limits.cpu_seconds = Some(77);
    let handle = sup.start(spec).await.expect("start");
    wait_for("the limits line", Duration::from_secs(5), || {
        env.log_text("limited").contains("limits ")
    })
    .await;
    let log = env.log_text("limited");
    assert!(
        log.contains(&format!("limits 123 {} 77", 512u64 << 20)),
        "{log}"
    );
    sup.stop(&handle, Duration::from_secs(1))
        .await
        .expect("stop");

    let mut spec = env.spec("unlimited", "exec python3 server.py", free_port());
    spec.limits.open_files = Some(1 << 40);
    let handle = sup.start(spec).await.expect("start");
    let err = sup
        .wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect_err("limit refused");
    assert_eq!(err.code(), "exited-early");
    let text = err.to_string();
    assert!(text.contains("exited with code 125 at start"), "{text}");
    assert!(text.contains("ferry: cannot set ulimit -n"), "{text}");
}

/// The server holds these futures across `tokio::spawn`: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(sup: &Supervisor, handle: &Handle, recorded: &Recorded, spec: ProcessSpec) {
    fn send<T: Send>(_: &T) {}
    send(&sup.start(spec.clone()));
    send(&sup.wait_healthy(handle, Duration::ZERO));
    send(&sup.stop(handle, Duration::ZERO));
    send(&sup.stop_all(Duration::ZERO));
    send(&sup.adopt(recorded, spec));
    send(&sup.kill_orphan(recorded, Duration::ZERO));
    send(sup);
    send(handle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_working_folder_is_a_spawn_error_that_leaves_nothing() {
    let env = Env::new();
    let sup = env.supervisor();
    let mut spec = env.server(free_port());
    spec.cwd = env.path().join("not-there");
    let err = sup.start(spec).await.expect_err("no cwd");
    assert_eq!(err.code(), "spawn-failed");
    assert!(sup.recorded().is_empty());
    assert!(!env.state_dir().join("shop-r1-web.fifo").exists());
    assert!(sup.ps().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_an_old_handle_again_leaves_a_new_start_alone() {
    let env = Env::new();
    let sup = env.supervisor();
    let port = free_port();
    let old = sup.start(env.server(port)).await.expect("start");
    sup.stop(&old, Duration::from_secs(5)).await.expect("stop");
    let new = sup.start(env.server(port)).await.expect("start again");
    sup.stop(&old, Duration::from_secs(5))
        .await
        .expect("stopping twice is a no-op");
    assert_eq!(new.status(), Status::Starting);
    assert_eq!(sup.recorded().len(), 1);
    assert_eq!(sup.recorded()[0].pid, new.pid());
    sup.wait_healthy(&new, Duration::from_secs(10))
        .await
        .expect("healthy");
    sup.stop_all(Duration::from_secs(5))
        .await
        .expect("stop all");
    assert_eq!(new.status(), Status::Stopped);
    assert!(sup.recorded().is_empty());
}
