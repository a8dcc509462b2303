//! Server units through the real binary and a real server: a Node HTTP server (no npm
//! packages, so offline) deployed as releases that run as supervised processes behind the
//! edge's proxy — blue/green switches, a warm previous release rolled back to at once, a
//! release that fails its health check never receiving traffic, a killed backend restarted, and
//! ferry itself killed with SIGKILL and restarted adopting the live processes.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, alive, bin, need_node, wait_for};
use serde_json::Value;

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

#[test]
fn server_units_run_switch_roll_back_recover() {
    need_node();
    let env = Env::new();
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
    assert!(doc.get("cold_start_ms").is_none(), "v1 was warm: {doc}");
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

#[test]
fn a_release_dying_after_its_switch_is_rolled_back_automatically() {
    need_node();
    let env = Env::new();
    let server = env.serve_with(&[("FERRY_WATCH_SECS", "30")]);
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
    need_node();
    let env = Env::new();
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
    assert!(
        ps["limits"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "ps says how limits apply: {ps}"
    );
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

/// An app bound to `port` whatever `PORT` says, in two places (so no single binding can be
/// patched), its port also named by `.replit`.
fn write_fixed_port_app(dir: &Path, version: &str, port: u16) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("package.json"),
        "{\"name\":\"srv\",\"private\":true,\"scripts\":{\"start\":\"node server.js\"}}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("server.js"),
        format!(
            "const http = require('http');\nconst port = {port};\nhttp.createServer((req, res) => res.end('{version} ' + req.url)).listen(port, '127.0.0.1');\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("admin.js"),
        format!("require('http').createServer((q, s) => s.end('admin')).listen({port});\n"),
    )
    .expect("write");
    std::fs::write(
        dir.join(".replit"),
        format!("run = \"npm start\"\n\n[[ports]]\nlocalPort = {port}\nexternalPort = 80\n"),
    )
    .expect("write");
}

#[test]
fn a_fixed_port_app_deploys_stop_start_with_its_downtime_measured() {
    need_node();
    let env = Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    write_fixed_port_app(&env.app, "v1", port);
    // inspect says what the deploy will do before anything runs.
    let (code, report, err) = env.ferry(&["inspect", "--json", env.app.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    let finding = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "fixed-port")
        .unwrap_or_else(|| panic!("a fixed-port finding: {report}"))
        .clone();
    assert!(
        finding.to_string().contains("stop-start"),
        "it says the deploy is stop-start: {finding}"
    );

    let server = env.serve();
    let v1 = env.deploy().expect("v1 deploys");
    assert!(
        v1.get("downtime_ms").is_none(),
        "a first deploy stops nothing: {v1}"
    );
    assert_eq!(server.get("/").2, "v1 /");
    write_fixed_port_app(&env.app, "v2", port);
    let v2 = env.deploy().expect("v2 deploys stop-start");
    let down = v2["downtime_ms"].as_u64().unwrap_or_else(|| panic!("{v2}"));
    assert!(down > 0 && down < 30_000, "{v2}");
    assert!(
        v2["warnings"].to_string().contains("stop-start"),
        "the deploy says why: {v2}"
    );
    assert_eq!(server.get("/").2, "v2 /");
    // Never two owners of the port: v1 is gone, not warm.
    let v1_id = v1["release_id"].as_str().expect("id");
    let v2_id = v2["release_id"].as_str().expect("id");
    let recorded = env.recorded();
    assert!(recorded.iter().all(|(r, _)| r != v1_id), "{recorded:?}");
    let (code, ps, err) = env.ferry(&["ps", "--json", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    let rows = ps["processes"].as_array().expect("processes");
    assert!(
        rows.iter()
            .all(|p| p["release"] == v2_id && p["port"].as_u64() == Some(u64::from(port))),
        "{ps}"
    );
    let (code, _, err) = env.ferry(&["down"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_rollback_outside_the_warm_window_is_a_timed_health_gated_start() {
    need_node();
    let env = Env::new();
    let server = env.serve_with(&[("FERRY_WARM_SECS", "0")]);
    write_app(&env.app, "v1", false);
    let v1 = env.deploy().expect("v1 deploys");
    let v1_id = v1["release_id"].as_str().expect("id").to_string();
    write_app(&env.app, "v2", false);
    env.deploy().expect("v2 deploys");
    wait_for(
        "v1's processes stop (no warm window)",
        Duration::from_secs(45),
        || env.recorded().iter().all(|(r, _)| *r != v1_id),
    );
    let (code, doc, err) = env.ferry(&["rollback", "--json", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["release_id"].as_str(), Some(v1_id.as_str()), "{doc}");
    let cold = doc["cold_start_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("{doc}"));
    assert!(cold > 0 && cold < 60_000, "{doc}");
    assert_eq!(server.get("/").2, "v1 / srv.localhost");
    let (code, text, err) = env.ferry(&["rollback", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.as_str().is_some_and(|t| t.contains("not warm")),
        "the human output says so: {text}"
    );
    let (code, _, err) = env.ferry(&["down"]);
    assert_eq!(code, 0, "{err}");
}
