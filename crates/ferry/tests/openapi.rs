//! The control API's OpenAPI 3.1 document (`GET /api/openapi.json`) against a real `ferry serve`:
//! served on both listeners without a token; every documented operation is routed and no other
//! method of a documented path is; `openapi-spec-validator` (PyPI) validates it; schemathesis
//! (PyPI) runs a bounded number of generated requests against the TCP listener with an admin
//! token and finds no 5xx and no answer that contradicts the document.
//!
//! Python packages go into a virtualenv under the test's temp dir; pip's downloads are cached in
//! `$TMPDIR/ferry-test-pip-cache`. `FERRY_SCHEMATHESIS_SEED` and `FERRY_SCHEMATHESIS_EXAMPLES`
//! change the run (defaults: seed 1, 25 examples per operation).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;
use serde_json::{Value, json};

/// One HTTP/1.1 exchange: (status, JSON body or Null).
fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: ferry\r\nconnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    stream
        .write_all(body.unwrap_or_default().as_bytes())
        .expect("write");
    let (status, _, body) = common::split_answer(&common::read_raw(stream));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn local(env: &Env, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let s = UnixStream::connect(env.home.join("ferry.sock")).expect("socket");
    let text = body.map(|b| b.to_string());
    exchange(s, method, path, None, text.as_deref())
}

fn remote(
    control: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let s = std::net::TcpStream::connect(control).expect("control listener");
    exchange(s, method, path, token, body)
}

/// Runs `command`, killing it past `limit`: (success, stdout + stderr).
fn run(command: &mut Command, limit: Duration) -> (bool, String) {
    let out = tempfile::NamedTempFile::new().expect("log file");
    let log = out.reopen().expect("log file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let started = Instant::now();
    let ok = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.success();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    let text = if started.elapsed() > limit {
        format!("{text}\n[killed after {limit:?}]")
    } else {
        text
    };
    (ok, text)
}

/// A virtualenv with `packages`, under `dir`.
fn venv(dir: &Path, packages: &[&str]) -> PathBuf {
    let venv = dir.join("venv");
    let (ok, out) = run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        Duration::from_secs(120),
    );
    assert!(
        ok,
        "python3 -m venv failed (on Debian: apt-get install python3-venv):\n{out}"
    );
    let cache = std::env::temp_dir().join("ferry-test-pip-cache");
    let (ok, out) = run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg("--cache-dir")
            .arg(&cache)
            .args(packages),
        Duration::from_secs(600),
    );
    assert!(ok, "pip install {packages:?} failed:\n{out}");
    venv
}

/// A concrete path for a documented one: each `{param}` replaced.
fn concrete(path: &str, app: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{app}" => app.to_string(),
            "{hash}" => "0".repeat(64),
            s if s.starts_with('{') => "probe".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "PATCH"];

#[test]
fn the_openapi_document_matches_the_routes_validates_and_survives_schemathesis() {
    let started = Instant::now();
    let env = Env::new();
    let _server = env.serve();
    let control = env.control();

    // The document, on both listeners, without a token.
    let (status, doc) = local(&env, "GET", "/api/openapi.json", None);
    assert_eq!(status, 200, "{doc}");
    let (status, over_tcp) = remote(&control, None, "GET", "/api/openapi.json", None);
    assert_eq!(status, 200, "{over_tcp}");
    assert_eq!(doc, over_tcp);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    // `/api/v1` itself still wants one.
    let (status, err) = remote(&control, None, "GET", "/api/v1/apps", None);
    assert_eq!(status, 401, "{err}");
    assert_eq!(err["code"], "unauthenticated");

    // An organisation with an app that has a live release and an env value, and its admin.
    let (status, out) = local(&env, "POST", "/api/v1/orgs", Some(json!({"name": "acme"})));
    assert_eq!(status, 200, "{out}");
    let (status, out) = local(
        &env,
        "POST",
        "/api/v1/apps",
        Some(json!({"name": "web", "org": "acme"})),
    );
    assert_eq!(status, 200, "{out}");
    let site = env.app.join("web");
    std::fs::create_dir_all(&site).expect("mkdir");
    std::fs::write(
        site.join("ferry.toml"),
        "version = 1\nname = \"web\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"static\"\ninstall = \"\"\nbuild = \"\"\noutput = \".\"\n",
    )
    .expect("write");
    std::fs::write(site.join("index.html"), "<h1>web</h1>\n").expect("write");
    let (code, _, err) = env.ferry(&["deploy", "--json", site.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = env.ferry(&["env", "set", "--app", "web", "GREETING=hello"]);
    assert_eq!(code, 0, "{err}");
    let (status, out) = local(
        &env,
        "POST",
        "/api/v1/tokens",
        Some(json!({"org": "acme", "name": "schemathesis", "scope": "admin"})),
    );
    assert_eq!(status, 200, "{out}");
    let token = out["token"].as_str().expect("token").to_string();

    // The routes against the document: every documented operation is routed (whatever it
    // answers, it is not the router's `no-route` or `method-not-allowed`), and every other
    // method of a documented path is refused by the router. A body that is not JSON keeps
    // the handlers that take one from doing anything.
    let paths = doc["paths"].as_object().expect("paths");
    let mut probed = 0;
    for (path, item) in paths {
        let documented: Vec<String> = item
            .as_object()
            .expect("path item")
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        let target = concrete(path, "web");
        for method in METHODS {
            let body = matches!(method, "POST" | "PUT" | "PATCH").then_some("{");
            let (status, answer) = remote(&control, Some(&token), method, &target, body);
            let routed = !matches!(
                answer["code"].as_str(),
                Some("no-route" | "method-not-allowed")
            );
            if documented.iter().any(|m| m == method) {
                assert!(
                    routed && status != 0,
                    "{method} {path} is documented but not routed: {status} {answer}"
                );
                probed += 1;
            } else {
                assert_eq!(
                    (status, answer["code"].as_str()),
                    (405, Some("method-not-allowed")),
                    "{method} {path} is routed but not documented: {answer}"
                );
            }
        }
    }
    assert!(probed >= 25, "{probed} operations");
    let (status, answer) = remote(&control, Some(&token), "GET", "/api/v1/nothing", None);
    assert_eq!((status, answer["code"].as_str()), (404, Some("no-route")));

    // The document validates (openapi-spec-validator), then schemathesis.
    let dir = tempfile::tempdir().expect("tmp");
    let python = venv(
        dir.path(),
        &["schemathesis>=4,<5", "openapi-spec-validator>=0.7"],
    );
    let doc_file = dir.path().join("openapi.json");
    std::fs::write(&doc_file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let (ok, out) = run(
        Command::new(python.join("bin/openapi-spec-validator")).arg(&doc_file),
        Duration::from_secs(120),
    );
    assert!(ok, "the document does not validate:\n{out}");
    let installed = Instant::now();

    let seed = std::env::var("FERRY_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let examples = std::env::var("FERRY_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let report = dir.path().join("report");
    let (ok, out) = run(
        Command::new(python.join("bin/schemathesis"))
            .arg("run")
            .arg(format!("http://{control}/api/openapi.json"))
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--max-examples", &examples, "--seed", &seed])
            // Stopping the server ends the run, and revoking tokens would revoke the run's own
            // (schemathesis reuses ids from `GET /api/v1/tokens`).
            .args(["--exclude-operation-id", "shutdown"])
            .args(["--exclude-operation-id", "revoke_token"])
            // The token is the `--header`: generated `Authorization` values (or none) would
            // only be failed authentications, which get the address throttled (429).
            .args(["--generation-with-security-parameters", "false"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--workers", "2", "--request-timeout", "30"])
            .args(["--suppress-health-check", "all"])
            .args(["--report", "junit", "--report-dir"])
            .arg(&report)
            .env("NO_COLOR", "1")
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(dir.path()),
        Duration::from_secs(300),
    );
    eprintln!(
        "schemathesis: {:.0?} (setup {:.0?}, pip {:.0?})\n{}",
        installed.elapsed(),
        started.elapsed() - installed.elapsed(),
        installed.duration_since(started),
        out.lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(ok, "schemathesis found problems:\n{out}");
    // The server is still up and answering.
    let (status, _) = remote(&control, Some(&token), "GET", "/api/v1/status", None);
    assert_eq!(status, 200);
}
