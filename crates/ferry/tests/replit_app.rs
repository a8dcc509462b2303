//! The Replit-template example (`examples/replit-app`: Express + Vite + React, and the
//! template's `const port = 5000; server.listen({ port, host: "0.0.0.0", reusePort: true })`)
//! deployed from detection alone, with npm from the registry (`scripts/test` keeps npm's cache
//! in the run's temp dir). ferry patches the build copy so the server listens on `$PORT`
//! (docs/server-apps.md, "Apps that ignore PORT"): the deploy says so, the page and the API
//! answer through the edge, a second release switches blue/green while a client keeps
//! requesting with no failed request, and the two releases run on two ports, neither 5000.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Env, bin, need_node, wait_for};
use serde_json::Value;

/// The welcome message of `server/storage.ts`, which the second release changes.
const WELCOME: &str = "Welcome to the message board!";

/// Copies the example's sources (not its `node_modules` or `dist`) into `to`.
fn copy_example(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "node_modules" || name == "dist" {
            continue;
        }
        let kind = entry.file_type().expect("type");
        if kind.is_dir() {
            copy_example(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

/// `ferry args…` with the env's home and npm's cache where `scripts/test` puts it.
fn ferry(env: &Env, args: &[&str]) -> (i32, Value, String) {
    let cache = std::env::var_os("npm_config_cache").unwrap_or_else(|| {
        std::env::temp_dir()
            .join("ferry-test-npm-cache")
            .into_os_string()
    });
    let out = Command::new(bin())
        .args(args)
        .env("FERRY_HOME", &env.home)
        .env("NO_COLOR", "1")
        .env("npm_config_cache", cache)
        .output()
        .expect("ferry runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ferry deploy --json` of the app folder: the report.
fn deploy(env: &Env) -> Value {
    let (code, doc, err) = ferry(env, &["deploy", "--json", env.app.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "ferry deploy failed:\n{err}\n{doc}");
    doc
}

/// `GET path` on the edge `edge` for `host`, from any thread: (status, `x-ferry-release`, body).
fn get(edge: &str, host: &str, path: &str) -> (u16, Option<String>, String) {
    let Ok(mut s) = std::net::TcpStream::connect(edge) else {
        return (0, None, "cannot connect".into());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let head = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    if s.write_all(head.as_bytes()).is_err() {
        return (0, None, "cannot write".into());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let lower = head.to_ascii_lowercase();
    let body = if lower.contains("transfer-encoding: chunked") {
        common::dechunk(body)
    } else {
        body.to_string()
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let release = lower.lines().find_map(|l| {
        l.strip_prefix("x-ferry-release:")
            .map(|v| v.trim().to_string())
    });
    (status, release, body)
}

/// The deploy's warning about the patched file, if any.
fn patch_note(report: &Value) -> Option<String> {
    report["warnings"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|w| w.contains("server/index.ts") && w.contains("PORT"))
        .map(str::to_string)
}

#[test]

fn the_replit_template_deploys_blue_green_on_ferrys_port() {
    need_node();
    let env = Env::new();
    let example = ferry_test::workspace_root().join("examples/replit-app");
    copy_example(&example, &env.app);
    let index = std::fs::read_to_string(env.app.join("server/index.ts")).expect("read");
    assert!(
        index.contains("const port = 5000;") && index.contains("reusePort: true"),
        "the example keeps the template's fixed port"
    );
    let mut server = env.serve();

    // v1: detected (no ferry.toml), built with npm, patched in the build copy only.
    let v1 = deploy(&env);
    let v1_id = v1["release_id"].as_str().expect("release id").to_string();
    let note = patch_note(&v1).unwrap_or_else(|| panic!("no note on the patch: {v1}"));
    assert!(note.contains("build copy"), "{note}");
    assert_eq!(
        std::fs::read_to_string(env.app.join("server/index.ts")).expect("read"),
        index,
        "the owner's files are never patched"
    );
    let app = v1["app"].as_str().expect("app").to_string();
    server.host = format!("{app}.localhost");

    // The page (and a client route, through the server's SPA fallback) and the API.
    let (status, release, body) = server.get("/");
    assert_eq!(status, 200, "{body}");
    assert_eq!(release.as_deref(), Some(v1_id.as_str()));
    assert!(
        body.contains("<div id=\"root\"></div>") && body.contains("/assets/"),
        "{body}"
    );
    let (status, _, body) = server.get("/some/client/route");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<div id=\"root\"></div>"), "{body}");
    let (status, release, body) = server.get("/api/messages");
    assert_eq!(status, 200, "{body}");
    assert_eq!(release.as_deref(), Some(v1_id.as_str()));
    assert!(body.contains(WELCOME), "{body}");
    let (status, _, body) = server.request(
        "POST",
        "/api/messages",
        Some((
            "application/json",
            r#"{"author":"test","text":"posted through ferry"}"#,
        )),
    );
    assert_eq!(status, 201, "{body}");
    assert!(
        server
            .get("/api/messages")
            .2
            .contains("posted through ferry")
    );

    // v2 while a client keeps requesting: no request fails across the switch.
    let v2_text = "Welcome to release two!";
    let storage = env.app.join("server/storage.ts");
    let source = std::fs::read_to_string(&storage).expect("read");
    assert!(source.contains(WELCOME), "the example's welcome text moved");
    std::fs::write(&storage, source.replace(WELCOME, v2_text)).expect("write");
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let edge = server.edge.clone();
        let host = server.host.clone();
        std::thread::spawn(move || {
            let (mut ok, mut failed, mut seen) = (0u32, Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let (status, release, body) = get(&edge, &host, "/api/messages");
                if status == 200 && body.contains("Welcome") {
                    ok += 1;
                } else {
                    failed.push(format!("{status} {release:?} {body}"));
                }
                if let Some(r) = release
                    && !seen.contains(&r)
                {
                    seen.push(r);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (ok, failed, seen)
        })
    };
    let v2 = deploy(&env);
    let v2_id = v2["release_id"].as_str().expect("release id").to_string();
    assert_ne!(v1_id, v2_id, "a new release");
    assert!(patch_note(&v2).is_some(), "v2 is patched too: {v2}");
    wait_for("v2 serves", Duration::from_secs(10), || {
        let (_, release, body) = server.get("/api/messages");
        release.as_deref() == Some(v2_id.as_str()) && body.contains(v2_text)
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let (ok, failed, seen) = load.join().expect("the client thread");
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
    assert!(
        seen.contains(&v1_id) && seen.contains(&v2_id),
        "the client saw the switch: {seen:?}"
    );

    // Both releases run (v2 live, v1 warm), each on a port of its own, neither the template's.
    let (code, ps, err) = ferry(&env, &["ps", "--json", "--app", &app]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(ps["live"].as_str(), Some(v2_id.as_str()), "{ps}");
    let port_of = |release: &str| {
        ps["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .find(|p| p["release"].as_str() == Some(release))
            .and_then(|p| p["port"].as_u64())
            .unwrap_or_else(|| panic!("release {release} is listed with a port: {ps}"))
    };
    let (p1, p2) = (port_of(&v1_id), port_of(&v2_id));
    assert_ne!(p1, p2, "{ps}");
    assert!(p1 != 5000 && p2 != 5000, "{ps}");
    drop(server);
}
