//! Server units through the real binary and a real server: a Node HTTP server (no npm
//! packages, so offline) deployed as releases that run as supervised processes behind the
//! edge's proxy — blue/green switches, a warm previous release rolled back to at once, a
//! release that fails its health check never receiving traffic, a killed backend restarted, and
//! ferry itself killed with SIGKILL and restarted adopting the live processes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// The app: `server.js` answers `<version> <path>` and `/healthz`; `broken` exits at once.
fn write_app(dir: &Path, version: &str, broken: bool) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        "version = 1\nname = \"srv\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"server\"\ninstall = \"\"\nbuild = \"\"\n\n[[unit.process]]\nname = \"web\"\ncommand = \"node server.js\"\nhealth = \"/healthz\"\n",
    )
    .expect("write");
    let body = if broken {
        "process.exit(3);\n".to_string()
    } else {
        format!(
            "const http = require('http');\nhttp.createServer((req, res) => {{\n  res.setHeader('content-type', 'text/plain');\n  res.end(req.url === '/healthz' ? 'ok' : '{version} ' + req.url + ' ' + (req.headers['x-forwarded-host'] || ''));\n}}).listen(Number(process.env.PORT), '127.0.0.1');\n"
        )
    };
    std::fs::write(dir.join("server.js"), body).expect("write");
    // A link, as every `node_modules/.bin` holds: uploaded as a link, never read through.
    let link = dir.join("main.js");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("server.js", &link).expect("link");
    }
    std::fs::write(
        dir.join("package.json"),
        "{\"name\":\"srv\",\"private\":true}\n",
    )
    .expect("write");
}

struct Server {
    child: Child,
    edge: String,
}

impl Drop for Server {
    /// A graceful stop first (SIGTERM: the server stops its apps' processes, so no test leaves
    /// any running), SIGKILL after 15 s. The crash test kills the server itself beforehand.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", "--", &self.child.id().to_string()])
                .status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn get(&self, path: &str) -> (u16, Option<String>, String) {
        let mut s = std::net::TcpStream::connect(&self.edge).expect("edge answers");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nhost: srv.localhost\r\nconnection: close\r\n\r\n"
        )
        .expect("write");
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let lower = head.to_ascii_lowercase();
        (
            head.split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            lower.lines().find_map(|l| {
                l.strip_prefix("x-ferry-release:")
                    .map(|v| v.trim().to_string())
            }),
            body.to_string(),
        )
    }
}

struct Env {
    _dir: tempfile::TempDir,
    home: PathBuf,
    app: PathBuf,
}

impl Env {
    fn ferry(&self, args: &[&str]) -> (i32, Value, String) {
        let out = Command::new(bin())
            .args(args)
            .env("FERRY_HOME", &self.home)
            .env("NO_COLOR", "1")
            .output()
            .expect("ferry runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn deploy(&self) -> Result<Value, String> {
        let (code, doc, err) = self.ferry(&["deploy", "--json", self.app.to_str().expect("utf-8")]);
        if code == 0 {
            Ok(doc)
        } else {
            Err(format!("{err}\n{doc}"))
        }
    }

    fn serve(&self) -> Server {
        let mut server = Server {
            child: Command::new(bin())
                .args([
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                    "--control-listen",
                    "127.0.0.1:0",
                ])
                .env("FERRY_HOME", &self.home)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("server starts"),
            edge: String::new(),
        };
        let started = Instant::now();
        loop {
            let ready =
                std::os::unix::net::UnixStream::connect(self.home.join("ferry.sock")).is_ok();
            let info: Option<Value> = std::fs::read_to_string(self.home.join("server.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            if let (true, Some(info)) = (ready, info)
                && info["pid"].as_u64() == Some(u64::from(server.child.id()))
            {
                server.edge = info["edge"].as_str().expect("edge").to_string();
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The recorded processes: (release, pid).
    fn recorded(&self) -> Vec<(String, u32)> {
        let dir = self.home.join("run/state");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            // Only the records: the folder also holds each process's log pipe.
            if entry.path().extension().is_none_or(|e| e != "json") {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(entry.path())
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && let (Some(r), Some(p)) = (v["release"].as_str(), v["pid"].as_u64())
            {
                out.push((r.to_string(), p as u32));
            }
        }
        out.sort();
        out
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn server_units_run_switch_roll_back_recover() {
    if Command::new("node").arg("--version").output().is_err() {
        panic!("the server-unit test needs node (Node.js 20)");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let env = Env {
        home: dir.path().join("home"),
        app: dir.path().join("app"),
        _dir: dir,
    };
    write_app(&env.app, "v1", false);
    let server = env.serve();
    let v1 = env.deploy().expect("v1 deploys");
    let v1_id = v1["release_id"].as_str().expect("id").to_string();
    let (status, release, body) = server.get("/hello?x=1");
    assert_eq!(status, 200, "{body}");
    assert_eq!(release.as_deref(), Some(v1_id.as_str()));
    assert_eq!(
        body, "v1 /hello?x=1 srv.localhost",
        "proxied, with X-Forwarded-Host"
    );
    // The release's files are never served as files.
    assert_eq!(server.get("/server.js").2, "v1 /server.js srv.localhost");

    // Blue/green: v2 serves, v1 stays warm; a rollback is a pointer move.
    write_app(&env.app, "v2", false);
    let v2 = env.deploy().expect("v2 deploys");
    let v2_id = v2["release_id"].as_str().expect("id").to_string();
    assert_eq!(server.get("/").2, "v2 / srv.localhost");
    assert_eq!(
        env.recorded().len(),
        2,
        "v1 is still warm: {:?}",
        env.recorded()
    );
    let started = Instant::now();
    let (code, doc, err) = env.ferry(&["rollback", "--json", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    let (_, release, body) = server.get("/");
    let took = started.elapsed();
    assert_eq!(release.as_deref(), Some(v1_id.as_str()), "{doc}");
    assert_eq!(body, "v1 / srv.localhost");
    assert!(
        took < Duration::from_secs(2),
        "rollback to a warm release took {took:?}"
    );

    // A release whose process exits at once never receives traffic.
    write_app(&env.app, "v3", true);
    let refused = env.deploy().expect_err("a broken release is refused");
    assert!(
        refused.contains("health") || refused.contains("exited"),
        "{refused}"
    );
    let (_, release, _) = server.get("/");
    assert_eq!(release.as_deref(), Some(v1_id.as_str()));

    // A backend killed with SIGKILL is restarted and serving again within 2 s.
    let pid = env
        .recorded()
        .into_iter()
        .find(|(r, _)| *r == v1_id)
        .map(|(_, p)| p)
        .expect("v1 recorded");
    assert!(pid > 1, "a real process group: {pid}");
    // `--`: the negative number is a process group, never an option (`kill -1` is everyone).
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pid}")])
        .status();
    let killed = Instant::now();
    wait_for("the backend restarted", Duration::from_secs(5), || {
        server.get("/").2 == "v1 / srv.localhost"
    });
    assert!(
        killed.elapsed() < Duration::from_secs(3),
        "{:?}",
        killed.elapsed()
    );

    // ferry itself killed with SIGKILL: the live processes are adopted, the rest stopped.
    let before = env.recorded();
    let live_pid = before
        .iter()
        .find(|(r, _)| *r == v1_id)
        .map(|(_, p)| *p)
        .expect("v1 recorded");
    let other_pid = before.iter().find(|(r, _)| *r == v2_id).map(|(_, p)| *p);
    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    drop(server);
    let server = env.serve();
    assert_eq!(server.get("/").2, "v1 / srv.localhost");
    assert!(
        alive(live_pid),
        "the live process was adopted, not restarted"
    );
    assert!(
        env.recorded()
            .iter()
            .any(|(r, p)| *r == v1_id && *p == live_pid),
        "{:?}",
        env.recorded()
    );
    if let Some(pid) = other_pid {
        wait_for(
            "the warm release's orphan is stopped",
            Duration::from_secs(15),
            || !alive(pid),
        );
    }
    let (code, _, err) = env.ferry(&["down"]);
    assert_eq!(code, 0, "{err}");
    wait_for(
        "processes stop with the server",
        Duration::from_secs(15),
        || !alive(live_pid),
    );
    drop(server);
}

/// `ferry serve` with extra environment (the watch and warm windows), ready to answer.
fn serve_with(env: &Env, vars: &[(&str, &str)]) -> Server {
    let mut command = Command::new(bin());
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
        ])
        .env("FERRY_HOME", &env.home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in vars {
        command.env(k, v);
    }
    let mut server = Server {
        child: command.spawn().expect("server starts"),
        edge: String::new(),
    };
    wait_for("the server starts", Duration::from_secs(30), || {
        let ready = std::os::unix::net::UnixStream::connect(env.home.join("ferry.sock")).is_ok();
        let info: Option<Value> = std::fs::read_to_string(env.home.join("server.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        match (ready, info) {
            (true, Some(info)) if info["pid"].as_u64() == Some(u64::from(server.child.id())) => {
                server.edge = info["edge"].as_str().expect("edge").to_string();
                true
            }
            _ => false,
        }
    });
    server
}

#[test]
fn a_release_dying_after_its_switch_is_rolled_back_automatically() {
    if Command::new("node").arg("--version").output().is_err() {
        panic!("the server-unit test needs node (Node.js 20)");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let env = Env {
        home: dir.path().join("home"),
        app: dir.path().join("app"),
        _dir: dir,
    };
    let server = serve_with(&env, &[("FERRY_WATCH_SECS", "30")]);
    write_app(&env.app, "v1", false);
    let v1 = env.deploy().expect("v1 deploys");
    let v1_id = v1["release_id"].as_str().expect("id").to_string();
    assert_eq!(server.get("/").2, "v1 / srv.localhost");

    // v2 passes its health check, then exits 1 s after every start.
    write_app(&env.app, "v2", false);
    let healthy = std::fs::read_to_string(env.app.join("server.js")).expect("read");
    std::fs::write(
        env.app.join("server.js"),
        format!("{healthy}setTimeout(() => process.exit(1), 1000);\n"),
    )
    .expect("write");
    let v2 = env
        .deploy()
        .expect("v2 passes its health check and goes live");
    let v2_id = v2["release_id"].as_str().expect("id").to_string();
    let switched = Instant::now();
    let (_, release, _) = server.get("/");
    assert_eq!(release.as_deref(), Some(v2_id.as_str()), "v2 went live");

    // Within the watch window, v1 serves again: a rollback by ferry, v2's processes gone.
    let mut v2_pids = std::collections::BTreeSet::new();
    wait_for("v1 is live again", Duration::from_secs(15), || {
        v2_pids.extend(
            env.recorded()
                .into_iter()
                .filter(|(r, _)| *r == v2_id)
                .map(|(_, p)| p),
        );
        server.get("/").1.as_deref() == Some(v1_id.as_str())
    });
    let took = switched.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "rolled back {took:?} after the switch"
    );
    assert_eq!(server.get("/").2, "v1 / srv.localhost");
    let (code, doc, err) = env.ferry(&["releases", "--json", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        doc["live"]["release_id"].as_str(),
        Some(v1_id.as_str()),
        "{doc}"
    );
    let last = &doc["activations"]
        .as_array()
        .expect("activations")
        .iter()
        .max_by_key(|a| a["at"].as_u64().unwrap_or(0))
        .expect("an activation")
        .clone();
    assert_eq!(last["action"], "rollback", "{doc}");
    assert_eq!(last["by"], "ferry", "{doc}");
    assert_eq!(last["release_id"].as_str(), Some(v1_id.as_str()), "{doc}");
    assert_eq!(
        last["previous_release_id"].as_str(),
        Some(v2_id.as_str()),
        "{doc}"
    );
    wait_for(
        "v2's processes are stopped",
        Duration::from_secs(15),
        || env.recorded().iter().all(|(r, _)| *r != v2_id) && v2_pids.iter().all(|p| !alive(*p)),
    );
    assert!(!v2_pids.is_empty(), "v2 ran");
    // v1 keeps serving (it is not abandoned in turn).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(server.get("/").2, "v1 / srv.localhost");

    let live_pid = env
        .recorded()
        .into_iter()
        .find(|(r, _)| *r == v1_id)
        .map(|(_, p)| p)
        .expect("v1 recorded");
    let (code, _, err) = env.ferry(&["down"]);
    assert_eq!(code, 0, "{err}");
    wait_for(
        "processes stop with the server",
        Duration::from_secs(15),
        || !alive(live_pid),
    );
    drop(server);
}

/// An app that logs: a normal line and the secret `API_TOKEN` at start, then every request.
fn write_logging_app(dir: &Path, version: &str) {
    write_app(dir, version, false);
    std::fs::write(
        dir.join("server.js"),
        format!(
            "const http = require('http');\nconsole.log('starting {version}');\nconsole.log('token is ' + process.env.API_TOKEN);\nhttp.createServer((req, res) => {{\n  if (req.url !== '/healthz') console.log('hit ' + req.url);\n  res.end(req.url === '/healthz' ? 'ok' : '{version}');\n}}).listen(Number(process.env.PORT), '127.0.0.1');\n"
        ),
    )
    .expect("write");
}

#[test]
fn ps_and_logs_show_processes_and_masked_logs() {
    if Command::new("node").arg("--version").output().is_err() {
        panic!("the server-unit test needs node (Node.js 20)");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let env = Env {
        home: dir.path().join("home"),
        app: dir.path().join("app"),
        _dir: dir,
    };
    let server = env.serve();
    // A secret needs the app: deploy once, set it, deploy the release that logs it.
    write_logging_app(&env.app, "v1");
    let v1 = env.deploy().expect("v1 deploys");
    let v1_id = v1["release_id"].as_str().expect("id").to_string();
    let secret = "tok-9f8e7d6c5b4a";
    let (code, _, err) = env.ferry(&["env", "set", "--app", "srv", &format!("API_TOKEN={secret}")]);
    assert_eq!(code, 0, "{err}");
    write_logging_app(&env.app, "v2");
    let v2 = env.deploy().expect("v2 deploys");
    let v2_id = v2["release_id"].as_str().expect("id").to_string();
    assert_eq!(server.get("/").2, "v2");

    // ps: the live process healthy on its port, the previous release warm.
    let (code, ps, err) = env.ferry(&["ps", "--json", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ps["live"].as_str(), Some(v2_id.as_str()), "{ps}");
    let rows = ps["processes"].as_array().expect("processes");
    let live = rows
        .iter()
        .find(|p| p["release"].as_str() == Some(v2_id.as_str()))
        .unwrap_or_else(|| panic!("the live process is listed: {ps}"));
    assert_eq!(live["name"], "web", "{ps}");
    assert_eq!(live["status"], "healthy", "{ps}");
    assert_eq!(live["live"], true, "{ps}");
    assert!(live["pid"].as_u64().unwrap_or(0) > 1, "{ps}");
    let port = live["port"].as_u64().expect("port");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port as u16)).expect("its port answers");
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.ends_with("ok"), "{answer}");
    let warm = rows
        .iter()
        .find(|p| p["release"].as_str() == Some(v1_id.as_str()))
        .unwrap_or_else(|| panic!("the warm process is listed: {ps}"));
    assert_eq!(warm["live"], false, "{ps}");
    let (code, table, err) = env.ferry(&["ps", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    let table = table.as_str().map(str::to_string).unwrap_or_default();
    assert!(
        table.contains("live") && table.contains("warm") && table.contains("healthy"),
        "{table}"
    );

    // logs: the normal line, the secret masked; the default is the live release.
    let (code, logs, err) = env.ferry(&["logs", "--json", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = logs["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(lines.contains(&"starting v2"), "{logs}");
    assert!(lines.contains(&"token is ***"), "{logs}");
    assert!(!logs.to_string().contains(secret), "{logs}");
    assert_eq!(logs["release"].as_str(), Some(v2_id.as_str()));
    let (code, old, err) = env.ferry(&[
        "logs",
        "--json",
        "--app",
        "srv",
        "--release",
        &v1_id,
        "--lines",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    // The last 3 lines (with ferry's `[ferry] healthy` note): the deploy's probe was v1's
    // first request.
    let old: Vec<&str> = old["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(old.len(), 3, "{old:?}");
    assert!(old.contains(&"token is undefined"), "{old:?}");
    assert_eq!(old.last(), Some(&"hit /"), "{old:?}");

    // --follow prints only the lines written since, one JSON object each.
    let mut follow = Command::new(bin())
        .args(["logs", "--json", "--follow", "--app", "srv", "--lines", "1"])
        .env("FERRY_HOME", &env.home)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferry logs --follow runs");
    let stdout = follow.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the last line");
    server.get("/followed");
    let next = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a new line");
    let _ = follow.kill();
    let _ = follow.wait();
    let first: Value = serde_json::from_str(&first).expect("a JSON line");
    let next: Value = serde_json::from_str(&next).expect("a JSON line");
    assert_eq!(first["line"], "hit /", "{first}");
    assert_eq!(next["line"], "hit /followed", "{next}");

    // An unknown process (or an unsafe name) is bad input.
    let (code, _, err) = env.ferry(&["logs", "--app", "srv", "--process", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no process `nope`") && err.contains("web"),
        "{err}"
    );
    let (code, _, err) = env.ferry(&["logs", "--app", "srv", "--process", "../web"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a valid process name"), "{err}");

    let (code, _, err) = env.ferry(&["down"]);
    assert_eq!(code, 0, "{err}");
    drop(server);
}
