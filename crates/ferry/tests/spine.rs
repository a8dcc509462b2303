//! The spine end to end through the real binary and a real server process: deploy, serve,
//! SPA fallback, skew protection, rollback/promote, unchanged redeploys, restarts, crash
//! failpoints (SIGKILL mid-deploy) and encrypted env values. Hermetic: the app is generated
//! here and built by `sh`, no network.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// A generated single-page app whose build names its asset after `VERSION`.
fn write_app(dir: &Path, version: u32) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        "version = 1\nname = \"spa\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"static\"\ninstall = \"\"\nbuild = \"sh build.sh\"\noutput = \"dist\"\nspa = true\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("build.sh"),
        "set -e\nrm -rf dist\nmkdir -p dist/assets\nv=$(cat VERSION)\nprintf 'console.log(\"v%s\")' \"$v\" > dist/assets/app-$v.js\nprintf '<!doctype html><title>v%s</title><script type=\"module\" src=\"/assets/app-%s.js\"></script><h1>v%s</h1>' \"$v\" \"$v\" \"$v\" > dist/index.html\necho built v$v\n",
    )
    .expect("write");
    std::fs::write(dir.join("VERSION"), version.to_string()).expect("write");
}

struct Home {
    _dir: tempfile::TempDir,
    home: PathBuf,
    app: PathBuf,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path().join("home");
        let app = dir.path().join("spa-app");
        Home {
            _dir: dir,
            home,
            app,
        }
    }

    fn ferry(&self, args: &[&str]) -> (i32, Value, String) {
        let out = Command::new(bin())
            .args(args)
            .env("FERRY_HOME", &self.home)
            .env("NO_COLOR", "1")
            .env_remove("FERRY_FAILPOINT")
            .output()
            .expect("ferry runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json = serde_json::from_str(&stdout).unwrap_or(Value::String(stdout));
        (
            out.status.code().unwrap_or(-1),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn deploy(&self) -> Value {
        let app = self.app.to_str().expect("utf-8");
        let (code, doc, err) = self.ferry(&["deploy", "--json", app]);
        assert_eq!(code, 0, "deploy failed: {err}\n{doc}");
        doc
    }

    fn serve(&self, failpoint: Option<&str>) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
        ])
        .env("FERRY_HOME", &self.home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        match failpoint {
            Some(f) => cmd.env("FERRY_FAILPOINT", f),
            None => cmd.env_remove("FERRY_FAILPOINT"),
        };
        // Owned by a `Server` at once: a failed start still kills and reaps it (Drop).
        let mut server = Server {
            child: cmd.spawn().expect("server starts"),
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
                server.edge = info["edge"].as_str().expect("edge address").to_string();
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Server {
    child: Child,
    edge: String,
}

impl Server {
    fn get(&self, path: &str) -> (u16, Option<String>, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.edge).expect("edge answers");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nhost: spa.localhost\r\nconnection: close\r\n\r\n"
        )
        .expect("write");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let release = head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-ferry-release:")
                .map(|v| v.trim().to_string())
        });
        (status, release, body.to_string())
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_exit(mut self, within: Duration) {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server should have died at its failpoint");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn deploy_serves_rolls_back_and_promotes() {
    let h = Home::new();
    let server = h.serve(None);
    write_app(&h.app, 1);
    let v1 = h.deploy();
    let id1 = v1["release_id"].as_str().expect("id").to_string();
    assert!(v1["new_blobs"].as_u64().expect("count") >= 2);

    let (status, release, body) = server.get("/");
    assert_eq!((status, release.as_deref()), (200, Some(id1.as_str())));
    assert!(body.contains("<h1>v1</h1>"));
    assert_eq!(server.get("/assets/app-1.js").0, 200);
    let (status, _, body) = server.get("/tasks/42/edit");
    assert_eq!(status, 200, "client routes fall back to index.html");
    assert!(body.contains("<h1>v1</h1>"));
    let (status, release, _) = server.get("/assets/nope.js");
    assert_eq!(
        (status, release.as_deref()),
        (404, Some(id1.as_str())),
        "assets never fall back"
    );
    assert_eq!(server.get("/../../etc/passwd").0, 400);

    write_app(&h.app, 2);
    let v2 = h.deploy();
    let id2 = v2["release_id"].as_str().expect("id").to_string();
    assert_ne!(id1, id2);
    assert_eq!(v2["previous"].as_str(), Some(id1.as_str()));
    let (_, release, body) = server.get("/");
    assert_eq!(release.as_deref(), Some(id2.as_str()));
    assert!(body.contains("<h1>v2</h1>"));
    let (status, release, _) = server.get("/assets/app-1.js");
    assert_eq!(
        (status, release.as_deref()),
        (200, Some(id1.as_str())),
        "skew protection keeps old assets"
    );

    let (code, rolled, err) = h.ferry(&["rollback", "--json", "--app", "spa"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rolled["release_id"].as_str(), Some(id1.as_str()));
    assert_eq!(rolled["previous"].as_str(), Some(id2.as_str()));
    assert!(rolled["elapsed_ms"].as_f64().is_some());
    assert_eq!(server.get("/").1.as_deref(), Some(id1.as_str()));

    let (code, _, err) = h.ferry(&["promote", "--json", "--app", "spa", &id2]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(server.get("/").1.as_deref(), Some(id2.as_str()));

    let (code, list, _) = h.ferry(&["releases", "--json", "--app", "spa"]);
    assert_eq!(code, 0);
    assert_eq!(list["live"]["release_id"].as_str(), Some(id2.as_str()));
    assert_eq!(list["releases"].as_array().map(Vec::len), Some(2));
    let (code, verified, _) = h.ferry(&["releases", "verify", "--json", "--app", "spa"]);
    assert_eq!(code, 0);
    assert_eq!(verified["problems"].as_array().map(Vec::len), Some(0));

    let (code, _, err) = h.ferry(&["promote", "--app", "spa", "r000000000000"]);
    assert_eq!(code, 2, "unknown release: {err}");
    server.kill();
}

#[test]
fn an_unchanged_redeploy_builds_nothing_and_stores_nothing() {
    let h = Home::new();
    let _server = h.serve(None);
    write_app(&h.app, 7);
    let first = h.deploy();
    assert_eq!(first["build_cached"], false);
    let again = h.deploy();
    assert_eq!(again["release_id"], first["release_id"]);
    assert_eq!(again["new_blobs"], 0);
    assert_eq!(again["new_bytes"], 0);
    assert_eq!(again["build_cached"], true);
    assert_eq!(again["switched"], false);
}

#[test]
fn a_restarted_server_serves_the_last_live_release() {
    let h = Home::new();
    let server = h.serve(None);
    write_app(&h.app, 1);
    let id1 = h.deploy()["release_id"].as_str().expect("id").to_string();
    write_app(&h.app, 2);
    h.deploy();
    let (code, _, err) = h.ferry(&["rollback", "--app", "spa"]);
    assert_eq!(code, 0, "{err}");
    server.kill();
    let server = h.serve(None);
    assert_eq!(server.get("/").1.as_deref(), Some(id1.as_str()));
}

#[test]
fn a_deploy_killed_at_any_failpoint_never_serves_a_half_written_release() {
    // (failpoint, the release that must serve after the restart: 1 = the old, 2 = the new)
    for (failpoint, expect) in [
        ("after-blobs", 1),
        ("after-manifest", 1),
        ("after-state", 2),
        ("after-pointer", 2),
    ] {
        let h = Home::new();
        let server = h.serve(None);
        write_app(&h.app, 1);
        let id1 = h.deploy()["release_id"].as_str().expect("id").to_string();
        server.kill();

        let dying = h.serve(Some(failpoint));
        write_app(&h.app, 2);
        let (code, _, _) = h.ferry(&["deploy", "--json", h.app.to_str().expect("utf-8")]);
        assert_ne!(
            code, 0,
            "{failpoint}: the deploy cannot succeed when the server dies"
        );
        dying.wait_exit(Duration::from_secs(10));

        let server = h.serve(None);
        let (status, release, body) = server.get("/");
        assert_eq!(status, 200, "{failpoint}");
        let want_body = format!("<h1>v{expect}</h1>");
        assert!(
            body.contains(&want_body),
            "{failpoint}: served {release:?}: {body}"
        );
        if expect == 1 {
            assert_eq!(release.as_deref(), Some(id1.as_str()), "{failpoint}");
        }
        let (code, verified, _) = h.ferry(&["releases", "verify", "--json", "--app", "spa"]);
        assert_eq!(code, 0, "{failpoint}: {verified}");
        let (code, _, err) = h.ferry(&["gc"]);
        assert_eq!(code, 0, "{failpoint}: {err}");
        let (code, verified, _) = h.ferry(&["releases", "verify", "--json", "--app", "spa"]);
        assert_eq!(code, 0, "{failpoint}: gc removed a live blob: {verified}");
        assert_eq!(
            server.get(&format!("/assets/app-{expect}.js")).0,
            200,
            "{failpoint}"
        );

        // A redeploy after the crash completes and serves v2.
        let v2 = h.deploy();
        assert_eq!(
            server.get("/").1.as_deref(),
            v2["release_id"].as_str(),
            "{failpoint}"
        );
        server.kill();
    }
}

#[test]
fn env_values_are_encrypted_and_never_listed() {
    let h = Home::new();
    let _server = h.serve(None);
    write_app(&h.app, 1);
    h.deploy();
    let (code, _, err) = h.ferry(&[
        "env",
        "set",
        "--app",
        "spa",
        "STRIPE_SECRET_KEY=sk_live_EnvTestValue12345678",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, list, _) = h.ferry(&["env", "list", "--json", "--app", "spa"]);
    assert_eq!(code, 0);
    let vars = list["vars"].as_array().expect("vars");
    assert_eq!(vars.len(), 1, "{list}");
    assert_eq!(vars[0]["name"], "STRIPE_SECRET_KEY", "{list}");
    assert_eq!(vars[0]["scope"], "both", "{list}");
    assert!(!list.to_string().contains("sk_live_EnvTestValue"));
    let (_, text, _) = h.ferry(&["env", "list", "--app", "spa"]);
    assert!(!text.to_string().contains("sk_live_EnvTestValue"));
    let db = std::fs::read(h.home.join("ferry.db")).expect("db");
    let wal = std::fs::read(h.home.join("ferry.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(20).any(|w| w == b"sk_live_EnvTestValue"),
            "plaintext secret in the database"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.home.join("secret.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
    let (code, _, err) = h.ferry(&["env", "set", "--app", "spa", "bad name=1"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = h.ferry(&["env", "unset", "--app", "spa", "STRIPE_SECRET_KEY"]);
    assert_eq!(code, 0);
    let (_, list, _) = h.ferry(&["env", "list", "--json", "--app", "spa"]);
    assert_eq!(list["vars"], serde_json::json!([]));
}

#[test]
fn up_starts_a_daemon_and_down_stops_it() {
    let h = Home::new();
    write_app(&h.app, 3);
    let app = h.app.to_str().expect("utf-8");
    let (code, doc, err) = h.ferry(&[
        "up",
        "--json",
        app,
        "--listen",
        "127.0.0.1:0",
        "--control-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        doc["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://spa.localhost:")),
        "{doc}"
    );
    let (code, status, _) = h.ferry(&["status", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(status["running"], true);
    assert_eq!(status["apps"][0]["live"], doc["release_id"]);
    let (code, _, err) = h.ferry(&["down"]);
    assert_eq!(code, 0, "{err}");
    let (_, status, _) = h.ferry(&["status", "--json"]);
    assert_eq!(status["running"], false);
}

#[test]
fn a_failed_build_changes_nothing_live() {
    let h = Home::new();
    let server = h.serve(None);
    write_app(&h.app, 1);
    let id1 = h.deploy()["release_id"].as_str().expect("id").to_string();
    std::fs::write(
        h.app.join("build.sh"),
        "echo compiling; echo 'error: something broke' >&2; exit 3\n",
    )
    .expect("write");
    let (code, _, err) = h.ferry(&["deploy", h.app.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("something broke"),
        "the last log lines are shown: {err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(server.get("/").1.as_deref(), Some(id1.as_str()));
}
