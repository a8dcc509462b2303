//! Broken apps against the real supervisor: a start command that exits at once, a port already
//! taken, a process that ignores SIGTERM, a process writing gigabytes of logs. Each must end in
//! a clear status and bounded resources. Real `sh` and `node` processes, loopback only.

use std::time::{Duration, Instant};

mod common;

use common::{Sandbox, free_port, group_members, wait_for};
use ferry_run::{LogPolicy, RestartPolicy, Status, Supervisor};

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
        Self {
            sandbox: Sandbox::new("broken"),
        }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).expect("write script");
    }

    /// Every log file's text, oldest first.
    fn all_logs(&self, name: &str) -> String {
        let mut out = String::new();
        for suffix in [".2", ".1", ""] {
            let path = self.log_dir().join(format!("{name}.log{suffix}"));
            out.push_str(&String::from_utf8_lossy(
                &std::fs::read(path).unwrap_or_default(),
            ));
        }
        out
    }

    /// Files left in the state folder (records, pipes).
    fn state_files(&self) -> Vec<String> {
        std::fs::read_dir(self.state_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Bytes in the log folder, every file counted.
    fn log_bytes_on_disk(&self) -> u64 {
        std::fs::read_dir(self.log_dir())
            .expect("log dir")
            .flatten()
            .map(|e| e.metadata().expect("meta").len())
            .sum()
    }
}

fn node_available() -> bool {
    let found = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: `node` is not installed");
    }
    found
}

/// This process's resident memory, from `/proc/self/status`.
fn own_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse::<u64>().ok())
        .expect("kB")
        * 1024
}

/// CPU time this process has used (user + system), from `/proc/self/stat`.
fn own_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let fields: Vec<&str> = stat[stat.rfind(')').expect(")") + 2..]
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second).
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// A blocking `GET /` with a short timeout; the status, or why there is none.
fn get(port: u16) -> Result<u16, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    )
    .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    s.read_to_end(&mut text).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&text);
    text.get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))
}

/// Starts a command that dies at once and checks what `wait_healthy` says about it.
async fn exits_at_once(command: &str, code: i32, tail_has: &str) {
    let env = Env::new();
    let sup = env.supervisor();
    let port = free_port();
    let started = Instant::now();
    let handle = sup
        .start(env.spec("web", command, port))
        .await
        .expect("start");
    let pid = handle.pid();
    let err = sup
        .wait_healthy(&handle, Duration::from_secs(30))
        .await
        .expect_err("it exits");
    let took = started.elapsed();
    eprintln!("`{command}` failed its start in {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(err.code(), "exited-early");
    let text = err.to_string();
    assert!(
        text.contains(&format!("(exited with code {code}")),
        "{text}"
    );
    assert!(text.contains(" at start)"), "{text}");
    assert!(text.contains(tail_has), "{text}");
    match &err {
        ferry_run::RunError::ExitedEarly { log_tail, .. } => {
            assert!(
                log_tail.iter().any(|l| l.contains(tail_has)),
                "{log_tail:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The owner sees the same through the handle.
    let last = handle.last_exit().expect("last exit");
    assert!(
        last.starts_with(&format!("exited with code {code}")) && last.ends_with(" at start"),
        "{last}"
    );
    // Nothing is left: no process, no record, no pipe, no entry, the port free.
    assert_eq!(handle.status(), Status::Stopped);
    assert!(group_members(pid).is_empty());
    assert!(env.state_files().is_empty(), "{:?}", env.state_files());
    assert!(sup.ps().is_empty());
    assert!(sup.recorded().is_empty());
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port free");
    // And nothing restarts it later.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(handle.restarts(), 0);
    assert_eq!(handle.status(), Status::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_exiting_at_once_fails_fast_with_its_code_and_log() {
    exits_at_once(
        "echo 'Error: Cannot find module express' >&2; exit 3",
        3,
        "Cannot find module express",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_fails_fast_naming_it() {
    exits_at_once("no-such-binary-xyz --port $PORT", 127, "no-such-binary-xyz").await;
    // The shell's own words reach the owner ("sh: 1: no-such-binary-xyz: not found" with dash,
    // "sh: no-such-binary-xyz: command not found" with bash).
    let env = Env::new();
    let sup = env.supervisor();
    let handle = sup
        .start(env.spec("web", "no-such-binary-xyz", free_port()))
        .await
        .expect("start");
    let err = sup
        .wait_healthy(&handle, Duration::from_secs(30))
        .await
        .expect_err("it exits");
    let text = err.to_string();
    assert!(text.contains("(command not found)"), "{text}");
    assert!(text.contains("no-such-binary-xyz: "), "{text}");
    assert!(text.contains("not found"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_says_how_and_how_often() {
    let env = Env::new();
    let sup = env.supervisor();
    let mut spec = env.spec("web", "echo 'boom'; exit 3", free_port());
    spec.restart = RestartPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        crash_loop_exits: 3,
        crash_loop_window: Duration::from_secs(10),
        ..RestartPolicy::default()
    };
    let handle = sup.start(spec).await.expect("start");
    let mut rx = handle.subscribe();
    tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|s| *s == Status::CrashLoop),
    )
    .await
    .expect("crash loop in time")
    .expect("open");
    let last = handle.last_exit().expect("last exit");
    assert_eq!(last, "exited with code 3 at start (3 times in 10 s)");
    let ps = sup.ps();
    assert_eq!(ps[0].status.to_string(), "crash-loop");
    assert_eq!(ps[0].last_exit.as_deref(), Some(last.as_str()));
    let log = env.all_logs("web");
    assert!(
        log.contains("[ferry] exited with code 3 at start (3 times in 10 s); crash loop"),
        "{log}"
    );
    assert!(env.state_files().is_empty(), "{:?}", env.state_files());
    sup.stop(&handle, Duration::from_secs(1))
        .await
        .expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_refused_naming_the_port_and_its_owner() {
    let env = Env::new();
    let sup = env.supervisor();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let err = sup
        .start(env.spec("web", "exec sleep 30", port))
        .await
        .expect_err("taken");
    assert_eq!(err.code(), "port-taken");
    let text = err.to_string();
    assert!(text.starts_with(&format!("port {port} is taken")), "{text}");
    // The owner is this test process (best effort: found through /proc/net/tcp and the
    // processes' open sockets, which ferry can read for its own user's processes).
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    match &err {
        ferry_run::RunError::PortTaken { port: p, by } => {
            assert_eq!(*p, port);
            assert!(by.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.hint().contains(&port.to_string()));
    // Nothing was spawned or recorded.
    assert!(env.state_files().is_empty(), "{:?}", env.state_files());
    assert!(sup.ps().is_empty());
    assert!(!env.log_dir().join("web.log").exists());
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_ignoring_sigterm_is_killed_after_the_grace_group_and_all() {
    let env = Env::new();
    let sup = env.supervisor();
    // `trap '' TERM` is inherited by every `sleep` the loop starts.
    let handle = sup
        .start(env.spec(
            "stubborn",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
            free_port(),
        ))
        .await
        .expect("start");
    let pgid = handle.pid();
    wait_for("a child sleep", Duration::from_secs(5), || {
        group_members(pgid).len() >= 2
    })
    .await;

    let grace = Duration::from_secs(1);
    let started = Instant::now();
    let report = sup.stop_and_report(&handle, grace).await.expect("stop");
    let took = started.elapsed();
    assert!(report.forced, "SIGKILL was needed: {report:?}");
    assert!(report.was_running);
    assert!(took >= grace, "{took:?}");
    assert!(took < grace + Duration::from_millis(1500), "{took:?}");
    assert!(group_members(pgid).is_empty(), "{:?}", group_members(pgid));
    assert_eq!(handle.status(), Status::Stopped);
    assert!(env.state_files().is_empty());
    let log = env.all_logs("stubborn");
    assert!(
        log.contains("[ferry] stopped with SIGKILL: SIGTERM was ignored for 1 s"),
        "{log}"
    );
    eprintln!("sh ignoring SIGTERM: stopped in {took:?} with grace {grace:?}");

    // A process that honours SIGTERM needs no SIGKILL.
    let handle = sup
        .start(env.spec("polite", "exec sleep 30", free_port()))
        .await
        .expect("start");
    let report = sup
        .stop_and_report(&handle, Duration::from_secs(5))
        .await
        .expect("stop");
    assert!(!report.forced, "{report:?}");
    assert!(report.took < Duration::from_secs(1), "{report:?}");
    // Stopping again reports that nothing ran.
    let again = sup
        .stop_and_report(&handle, Duration::from_secs(5))
        .await
        .expect("stop again");
    assert!(!again.was_running && !again.forced, "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_process_ignoring_sigterm_is_killed_after_the_grace_with_its_children() {
    if !node_available() {
        return;
    }
    let env = Env::new();
    env.write(
        "stubborn.js",
        r#"
const { spawn } = require('child_process');
const child = spawn('sh', ['-c', "trap '' TERM; exec sleep 1000"], { stdio: 'inherit' });
process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
console.log('child ' + child.pid);
setInterval(() => {}, 1000);
"#,
    );
    let sup = env.supervisor();
    let handle = sup
        .start(env.spec("node", "exec node stubborn.js", free_port()))
        .await
        .expect("start");
    let pgid = handle.pid();
    let mut child = 0u32;
    wait_for("the child's pid", Duration::from_secs(10), || {
        let log = env.all_logs("node");
        match log.lines().find_map(|l| l.strip_prefix("child ")) {
            Some(pid) => {
                child = pid.trim().parse().expect("pid");
                true
            }
            None => false,
        }
    })
    .await;
    assert!(group_members(pgid).contains(&child));

    let grace = Duration::from_millis(800);
    let started = Instant::now();
    let report = sup.stop_and_report(&handle, grace).await.expect("stop");
    let took = started.elapsed();
    assert!(report.forced, "{report:?}");
    assert!(
        took >= grace && took < grace + Duration::from_millis(1500),
        "{took:?}"
    );
    assert!(group_members(pgid).is_empty());
    assert!(
        !std::path::Path::new(&format!("/proc/{child}")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            stat.contains(") Z")
        }
    );
    let log = env.all_logs("node");
    assert!(log.contains("ignoring SIGTERM"), "{log}");
    assert!(log.contains("[ferry] stopped with SIGKILL"), "{log}");
    eprintln!("node ignoring SIGTERM: stopped in {took:?} with grace {grace:?}");
}

/// Floods the log for a few seconds and checks disk, memory and the notes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gigabytes_of_output_keep_the_log_and_ferry_bounded() {
    let env = Env::new();
    let sup = env.supervisor();
    let mut spec = env.spec(
        "flood",
        &format!("exec yes '{}'", "x".repeat(100)),
        free_port(),
    );
    let policy = LogPolicy {
        max_file_bytes: 256 * 1024,
        files: 3,
        ..LogPolicy::default()
    };
    spec.log = policy;
    let rss_before = own_rss_bytes();
    let cpu_before = own_cpu_time();
    let handle = sup.start(spec).await.expect("start");
    let mut max_on_disk = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        max_on_disk = max_on_disk.max(env.log_bytes_on_disk());
    }
    let ps = sup.ps();
    let rss_after = own_rss_bytes();
    let cpu = own_cpu_time() - cpu_before;
    let report = sup
        .stop_and_report(&handle, Duration::from_secs(2))
        .await
        .expect("stop");
    assert!(!report.forced);
    max_on_disk = max_on_disk.max(env.log_bytes_on_disk());

    let cap = policy.max_file_bytes * u64::from(policy.files);
    let received = ps[0].log_bytes;
    let dropped = ps[0].log_dropped_bytes;
    eprintln!(
        "flood: {received} bytes of output in 5 s, {dropped} dropped; at most {max_on_disk} bytes on disk (cap {cap}); ferry RSS {} -> {} KiB; ferry CPU {cpu:?}",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(received > 50 << 20, "only {received} bytes went through");
    assert!(max_on_disk <= cap + 4096, "{max_on_disk} > {cap}");
    assert!(
        rss_after < rss_before + (64 << 20),
        "RSS {rss_before} -> {rss_after}"
    );
    assert!(dropped > 0);
    let log = env.all_logs("flood");
    assert!(log.contains(" bytes of output dropped"), "no drop note");
    assert!(log.contains("[ferry] log rotated"), "no rotation note");
    // Lines stay whole: every line is the process's line or one of ferry's notes, but for
    // the last one before the stop (`yes` was killed in the middle of a line).
    let line = "x".repeat(100);
    let lines: Vec<&str> = log.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let last_words = lines
            .get(i + 1)
            .is_some_and(|next| next.starts_with("[ferry] stopped"));
        assert!(
            *l == line || l.starts_with("[ferry] ") || last_words,
            "torn line {l:?} before {:?}",
            lines.get(i + 1)
        );
    }
}

/// An HTTP server that also floods its log keeps answering its health checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_server_flooding_its_log_keeps_being_served() {
    if !node_available() {
        return;
    }
    let env = Env::new();
    env.write(
        "flood.js",
        r#"
// An HTTP server logging ~20 MB/s: 500 lines of 200 bytes every 5 ms, one console.log each.
const http = require('http');
const line = 'y'.repeat(199);
let served = 0;
http.createServer((req, res) => { served++; res.end('ok ' + served); })
  .listen(Number(process.env.PORT), '127.0.0.1', () => {
    console.log('listening');
    setInterval(() => { for (let i = 0; i < 500; i++) console.log(line); }, 5);
  });
"#,
    );
    let sup = env.supervisor();
    let port = free_port();
    let mut spec = env.spec("web", "exec node flood.js", port);
    spec.log = LogPolicy {
        max_file_bytes: 256 * 1024,
        files: 3,
        ..LogPolicy::default()
    };
    spec.health.interval = Duration::from_millis(200);
    let rss_before = own_rss_bytes();
    let handle = sup.start(spec).await.expect("start");
    sup.wait_healthy(&handle, Duration::from_secs(10))
        .await
        .expect("healthy");
    let mut rx = handle.subscribe();
    rx.borrow_and_update();
    let until = Instant::now() + Duration::from_secs(5);
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    while Instant::now() < until {
        let asked = Instant::now();
        let status = tokio::task::spawn_blocking(move || get(port))
            .await
            .expect("join");
        assert_eq!(
            status,
            Ok(200),
            "{:?}, last exit {:?}, log tail {:?}",
            handle.status(),
            handle.last_exit(),
            handle.log_tail()
        );
        slowest = slowest.max(asked.elapsed());
        answered += 1;
        assert_eq!(handle.status(), Status::Healthy);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !rx.has_changed().expect("open"),
        "status changed: {:?}",
        handle.status()
    );
    let ps = sup.ps();
    let rss_after = own_rss_bytes();
    sup.stop(&handle, Duration::from_secs(2))
        .await
        .expect("stop");
    let on_disk = env.log_bytes_on_disk();
    eprintln!(
        "node flood: {answered} requests answered (slowest {slowest:?}); {} bytes of output, {} dropped; {on_disk} bytes on disk; ferry RSS {} -> {} KiB",
        ps[0].log_bytes,
        ps[0].log_dropped_bytes,
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(answered >= 20);
    assert!(ps[0].log_bytes > 20 << 20, "{}", ps[0].log_bytes);
    assert!(ps[0].log_dropped_bytes > 0);
    assert!(on_disk <= 3 * 256 * 1024 + 4096);
    assert!(rss_after < rss_before + (64 << 20));
}

/// With cgroup v2 offered, a process runs in its own cgroup with its limits, and a fork bomb
/// stops at `pids.max`; without it, the log says which limits are not enforced and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_use_a_cgroup_when_offered_and_say_so_when_not() {
    let env = Env::new();
    let sup = env.supervisor();
    let support = sup.cgroup_support();
    let mut spec = env.spec(
        "web",
        "cat /proc/self/cgroup; echo forking; for i in $(seq 40); do sleep 30 & done; wait",
        free_port(),
    );
    spec.limits.memory_bytes = Some(256 << 20);
    spec.limits.processes = Some(10);
    spec.limits.cpu_percent = Some(50);
    let handle = sup.start(spec).await.expect("start");
    wait_for("the script to fork", Duration::from_secs(10), || {
        env.all_logs("web").contains("forking")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = env.all_logs("web");
    if !support.usable {
        eprintln!("cgroup limits not tested here: {}", support.reason);
        assert!(
            support.reason.starts_with("not usable: "),
            "{}",
            support.reason
        );
        assert!(
            log.contains(&format!(
                "[ferry] limits: rlimits: data 268435456 bytes; processes and cpu_percent not enforced without cgroup v2 (cgroup {})",
                support.reason
            )),
            "{log}"
        );
        assert!(sup.ps()[0].cgroup.is_none());
        sup.stop(&handle, Duration::from_secs(2))
            .await
            .expect("stop");
        return;
    }
    let ps = sup.ps();
    let dir = ps[0].cgroup.clone().expect("a cgroup");
    assert!(dir.ends_with("ferry/broken-r1-web"), "{}", dir.display());
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .expect("cgroup file")
            .trim()
            .to_owned()
    };
    assert_eq!(read("memory.max"), (256u64 << 20).to_string());
    assert_eq!(read("pids.max"), "10");
    assert_eq!(read("cpu.max"), "50000 100000");
    // The process is inside, and its forks stopped at the limit.
    let relative = log
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("its cgroup line");
    assert!(relative.ends_with("/ferry/broken-r1-web"), "{relative}");
    assert!(read("pids.current").parse::<u64>().expect("count") <= 10);
    let after = &log[log.find("forking").expect("forking") + "forking".len()..];
    assert!(
        after.to_lowercase().contains("fork"),
        "no fork failure: {log}"
    );
    assert!(log.contains("[ferry] limits: cgroup "), "{log}");
    assert!(read("memory.current").parse::<u64>().is_ok());
    // (The shell may have died of its failed forks and be waiting for its restart.)
    sup.stop(&handle, Duration::from_secs(2))
        .await
        .expect("stop");
    assert!(!dir.exists(), "the cgroup was not removed");
}

#[test]
fn a_supervisor_without_cgroups_says_so() {
    let env = Env::new();
    let support = Supervisor::without_cgroups(env.state_dir()).cgroup_support();
    assert!(!support.usable);
    assert!(support.reason.starts_with("not usable: turned off"));
}
