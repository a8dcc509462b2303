//! Base44 backend functions end to end: `ferry up` deploys `tests/base44-sdk/functions-app`
//! (two functions under `base44/functions/`), first with no Deno (the deploy warns, a call
//! answers 503 with the hint), then with the Deno `scripts/test` installs from npm
//! (`tests/deno`), a 3 s call limit and a 64 MiB heap; `tests/base44-sdk/functions.test.mjs`
//! then calls the functions with the real `@base44/sdk` 0.8.50 (`base44.functions.invoke`)
//! while the functions use `npm:@base44/sdk@0.8.20` inside Deno.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const APP: &str = "fn-suite";
const APP_ID: &str = "f00dfeed0000c0ffee000044";

fn ferry(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env("FERRY_HOME", home)
        .env("NO_COLOR", "1")
        .output()
        .expect("ferry runs")
}

fn ok(out: &Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The Deno `scripts/test` installs (`npm ci` in tests/deno).
fn deno() -> PathBuf {
    let bin = ferry_test::workspace_root().join("tests/deno/node_modules/.bin/deno");
    assert!(
        bin.exists(),
        "the functions test needs Deno from npm: run `scripts/test` (it runs `npm ci` in tests/deno)"
    );
    bin
}

/// `POST path` with a JSON body on the edge for the app: (status, body).
fn post(port: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {APP}.localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Processes whose command line mentions `needle` (read from /proc).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) && text.contains("deno") {
            found.push(text);
        }
    }
    found
}

#[test]
fn functions_run_under_deno_with_the_callers_identity_and_limits() {
    let deno = deno();
    let suite = ferry_test::workspace_root().join("tests/base44-sdk");
    assert!(
        suite.join("node_modules/@base44/sdk").exists(),
        "run `scripts/test` (it runs `npm ci` in tests/base44-sdk)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let app_dir = suite.join("functions-app");
    let app_dir = app_dir.to_str().expect("utf-8");
    let up = ok(
        &ferry(
            &home,
            &[
                "up",
                "--json",
                app_dir,
                "--listen",
                "127.0.0.1:0",
                "--control-listen",
                "127.0.0.1:0",
            ],
        ),
        "ferry up",
    );
    assert_eq!(up["app"], APP);
    let port = up["url"]
        .as_str()
        .and_then(|u| u.trim_end_matches('/').rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .expect("port");
    let call = format!("/api/apps/{APP_ID}/functions/notes");

    // No Deno: the deploy warns (it does not fail) and a call answers 503 with the hint.
    ok(
        &ferry(
            &home,
            &["env", "set", "--app", APP, "FERRY_DENO=/nonexistent/deno"],
        ),
        "ferry env set",
    );
    let report = ok(
        &ferry(&home, &["deploy", "--json", app_dir]),
        "ferry deploy",
    );
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("cannot run") && warnings.contains("FERRY_DENO"),
        "{warnings}"
    );
    let (status, body) = post(&port, &call, "{}");
    assert_eq!(status, 503, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["code"], "deno-missing");
    assert_eq!(answer["function"], "notes");
    assert!(
        answer["hint"]
            .as_str()
            .is_some_and(|h| h.contains("npm i -g deno") && h.contains("FERRY_DENO")),
        "{answer}"
    );

    // With Deno, a 3 s limit and a 64 MiB heap: the packages are fetched at deploy.
    ok(
        &ferry(
            &home,
            &[
                "env",
                "set",
                "--app",
                APP,
                &format!("FERRY_DENO={}", deno.display()),
                "FERRY_FUNCTIONS_TIMEOUT_SECS=3",
                "FERRY_FUNCTIONS_MEMORY_MIB=64",
            ],
        ),
        "ferry env set",
    );
    let report = ok(
        &ferry(&home, &["deploy", "--json", app_dir]),
        "ferry deploy",
    );
    assert!(
        !report["warnings"].to_string().contains("cannot run"),
        "{report}"
    );
    assert!(
        home.join("cache/deno/npm/registry.npmjs.org/@base44/sdk/0.8.20")
            .is_dir(),
        "the deploy fetched the function's npm imports into Deno's cache"
    );

    let bin = sh_quote(env!("CARGO_BIN_EXE_ferry"));
    let node = Command::new("node")
        .args(["--test", "--test-concurrency=1", "functions.test.mjs"])
        .current_dir(&suite)
        .env("FERRY_HOME", &home)
        .env("FUNCTIONS_APP", "1")
        .env("FERRY_URL", format!("http://127.0.0.1:{port}"))
        .env("BASE44_APP_ID", APP_ID)
        .env("OUTBOX_CMD", format!("{bin} outbox --app {APP} --json"))
        .env("ADMIN_CMD", format!("{bin} base44 admin --app {APP}"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&node.stdout);
    let passed = stdout
        .lines()
        .find_map(|l| l.trim_start_matches(['#', ' ']).strip_prefix("pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let logs = ferry(
        &home,
        &["logs", "--app", APP, "--process", "fn.limits", "--json"],
    );
    let running = processes_mentioning(home.to_str().expect("utf-8"));
    let down = ferry(&home, &["down"]);
    assert!(
        node.status.success(),
        "functions.test.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&node.stderr)
    );
    assert!(passed >= 11, "only {passed} tests passed:\n{stdout}");
    assert!(
        !running.is_empty(),
        "the functions ran as Deno processes of this home"
    );
    // The functions' output is in `ferry logs`, the out-of-memory death included.
    let logs = ok(&logs, "ferry logs");
    assert_eq!(logs["process"], "fn.limits");
    assert!(
        logs["lines"].to_string().contains("out of memory"),
        "{logs}"
    );
    ok(&down, "ferry down");
    // `ferry down` stops the function processes too.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(home.to_str().expect("utf-8")).is_empty()
        && std::time::Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        processes_mentioning(home.to_str().expect("utf-8")).is_empty(),
        "function processes outlived the server"
    );
}
