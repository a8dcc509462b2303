//! What the end-to-end tests of server apps share: a `FERRY_HOME` with an app folder, the real
//! `ferry` binary run against it, and a real `ferry serve` stopped gracefully when dropped.
#![allow(dead_code)] // each test file uses its own part of it

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `ferry` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// Panics with a clear message when Node.js is missing (the server-app tests need it).
pub fn need_node() {
    if Command::new("node").arg("--version").output().is_err() {
        panic!("the server-app tests need node (Node.js 20)");
    }
}

/// A running `ferry serve`.
pub struct Server {
    /// The server process.
    pub child: Child,
    /// Its edge address (`127.0.0.1:port`).
    pub edge: String,
    /// The `Host` header `get` sends (`<app>.localhost`).
    pub host: String,
}

impl Drop for Server {
    /// A graceful stop first (SIGTERM: the server stops its apps' processes, so no test leaves
    /// any running), SIGKILL after 15 s. A crash test kills the server itself beforehand.
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
    /// `GET path` on the edge for [`Server::host`]: (status, `x-ferry-release`, body).
    pub fn get(&self, path: &str) -> (u16, Option<String>, String) {
        self.request("GET", path, None)
    }

    /// One request with `connection: close` and an optional body: (status, `x-ferry-release`,
    /// body; a chunked body is decoded).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
    ) -> (u16, Option<String>, String) {
        edge_request(&self.edge, &self.host, method, path, body)
    }
}

/// One request to the edge at `edge` for `host`, with `connection: close` and an optional
/// (content type, body): (status, `x-ferry-release`, body; a chunked body is decoded).
pub fn edge_request(
    edge: &str,
    host: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> (u16, Option<String>, String) {
    let mut s = std::net::TcpStream::connect(edge).expect("edge answers");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    if let Some((content_type, text)) = body {
        head.push_str(&format!(
            "content-type: {content_type}\r\ncontent-length: {}\r\n",
            text.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    if let Some((_, text)) = body {
        s.write_all(text.as_bytes()).expect("write");
    }
    let raw = read_raw(s);
    let (status, head, body) = split_answer(&raw);
    let lower = head.to_ascii_lowercase();
    (
        status,
        lower.lines().find_map(|l| {
            l.strip_prefix("x-ferry-release:")
                .map(|v| v.trim().to_string())
        }),
        body,
    )
}

/// The payload of a chunked body.
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The whole answer read from `stream` (asked with `connection: close`), as lossy UTF-8.
pub fn read_raw(mut stream: impl Read) -> String {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

/// A raw HTTP/1.1 answer split: (status or 0, head, body; a chunked body is decoded).
pub fn split_answer(raw: &str) -> (u16, &str, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// A temporary `FERRY_HOME` (`home`) and app folder (`app`).
pub struct Env {
    _dir: tempfile::TempDir,
    /// `FERRY_HOME`.
    pub home: PathBuf,
    /// The app's source folder (created by the test).
    pub app: PathBuf,
}

impl Env {
    /// Empty folders in a fresh temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        Env {
            home: dir.path().join("home"),
            app: dir.path().join("app"),
            _dir: dir,
        }
    }

    /// Runs `ferry args…` with this home: (exit code, stdout as JSON or as a string, stderr).
    pub fn ferry(&self, args: &[&str]) -> (i32, Value, String) {
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

    /// `ferry deploy --json <app>`: the report, or stderr and stdout on failure.
    pub fn deploy(&self) -> Result<Value, String> {
        let (code, doc, err) = self.ferry(&["deploy", "--json", self.app.to_str().expect("utf-8")]);
        if code == 0 {
            Ok(doc)
        } else {
            Err(format!("{err}\n{doc}"))
        }
    }

    /// `ferry serve` on free loopback ports, ready to answer, for the app `srv`.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// `ferry serve` with extra environment (e.g. the warm and watch windows), ready to answer.
    pub fn serve_with(&self, vars: &[(&str, &str)]) -> Server {
        let mut command = Command::new(bin());
        command
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
            .stderr(Stdio::null());
        for (k, v) in vars {
            command.env(k, v);
        }
        let mut server = Server {
            child: command.spawn().expect("server starts"),
            edge: String::new(),
            host: "srv.localhost".into(),
        };
        wait_for("the server starts", Duration::from_secs(30), || {
            let ready =
                std::os::unix::net::UnixStream::connect(self.home.join("ferry.sock")).is_ok();
            let info: Option<Value> = std::fs::read_to_string(self.home.join("server.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            match (ready, info) {
                (true, Some(info))
                    if info["pid"].as_u64() == Some(u64::from(server.child.id())) =>
                {
                    server.edge = info["edge"].as_str().expect("edge").to_string();
                    true
                }
                _ => false,
            }
        });
        server
    }

    /// The running server's `server.json`.
    pub fn server_info(&self) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.home.join("server.json")).expect("server.json"),
        )
        .expect("json")
    }

    /// The running server's control listener address (`server.json`'s `control`).
    pub fn control(&self) -> String {
        self.server_info()["control"]
            .as_str()
            .expect("control")
            .to_string()
    }

    /// `ferry db pull` of a Base44 export folder `dir/export` holding two `Task` records into
    /// SQLite at `dir/pulled.sqlite3` (panics when the pull fails): the target file.
    pub fn pull_task_export(&self, dir: &std::path::Path) -> PathBuf {
        let export = dir.join("export");
        std::fs::create_dir_all(&export).expect("mkdir");
        std::fs::write(
            export.join("task.json"),
            r#"[{"id": "t1", "title": "ship it"}, {"id": "t2", "title": "test it"}]"#,
        )
        .expect("write");
        let target = dir.join("pulled.sqlite3");
        let out = Command::new(bin())
            .args(["db", "pull", "--json", "--from"])
            .arg(format!("base44-export:{}", export.display()))
            .arg("--to")
            .arg(format!("sqlite://{}", target.display()))
            .env("FERRY_HOME", &self.home)
            .env("NO_COLOR", "1")
            .output()
            .expect("ferry runs");
        assert!(
            out.status.success(),
            "the pull failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        target
    }

    /// The recorded processes: (release, pid).
    pub fn recorded(&self) -> Vec<(String, u32)> {
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

/// The arguments of `ferry up --json <app>` with the edge and the control listener on free
/// loopback ports.
pub fn up_args(app: &str) -> [&str; 7] {
    [
        "up",
        "--json",
        app,
        "--listen",
        "127.0.0.1:0",
        "--control-listen",
        "127.0.0.1:0",
    ]
}

/// The edge's port in the `url` (`http://host:port/`) of `ferry up --json`'s report.
pub fn up_port(report: &Value) -> Option<u16> {
    report["url"]
        .as_str()?
        .trim_end_matches('/')
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Polls `ok` every 50 ms; panics naming `what` past `within`.
pub fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
