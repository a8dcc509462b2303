//! The Base44 acceptance suite against the real server: `ferry up` deploys
//! `tests/base44-sdk/app` (entity schemas, no build), then the Node suite in `tests/base44-sdk`
//! drives it with the real `@base44/sdk` 0.8.50 and 0.1.2 (installed by `scripts/test`), once
//! with the embedded SQLite and once with a throwaway PostgreSQL cluster as the app's database
//! (`FERRY_BASE44_DATABASE_URL`). Mail is read back through `ferry outbox --json`, admins are
//! made with `ferry base44 admin`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const APP: &str = "sdk-suite";
const APP_ID: &str = "b24009b9b375185f150b9587";

fn ferry(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env("FERRY_HOME", home)
        .env("NO_COLOR", "1")
        .output()
        .expect("ferry runs")
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Single-quoted for `sh`.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn suite_dir() -> PathBuf {
    let dir = ferry_test::workspace_root().join("tests/base44-sdk");
    assert!(
        dir.join("node_modules/@base44/sdk").exists(),
        "the Base44 suite needs its npm packages: run `scripts/test` (it runs `npm ci` in tests/base44-sdk)"
    );
    dir
}

/// Deploys the suite's app into a fresh home (with `database_url` when given, else the
/// embedded SQLite) and runs the Node suite against it.
fn run_suite(database_url: Option<&str>) {
    let suite = suite_dir();
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let app_dir = suite.join("app");
    let app_dir = app_dir.to_str().expect("utf-8");
    let up = ferry(
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
    );
    ok(&up, "ferry up");
    let report: serde_json::Value = serde_json::from_slice(&up.stdout).expect("json report");
    assert_eq!(report["app"], APP);
    if let Some(url) = database_url {
        let set = ferry(
            &home,
            &[
                "env",
                "set",
                "--app",
                APP,
                &format!("FERRY_BASE44_DATABASE_URL={url}"),
            ],
        );
        ok(&set, "ferry env set");
        // Same release, new settings: the backend moves to the new database.
        ok(&ferry(&home, &["deploy", app_dir]), "ferry deploy");
    }
    let url = report["url"].as_str().expect("url");
    let port = url
        .trim_end_matches('/')
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .expect("port");
    let bin = sh_quote(env!("CARGO_BIN_EXE_ferry"));
    let node = Command::new("node")
        .args(["--test", "--test-concurrency=1"])
        .args(
            std::fs::read_dir(&suite)
                .expect("suite dir")
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".test.mjs")),
        )
        .current_dir(&suite)
        .env("FERRY_HOME", &home)
        .env("FERRY_URL", format!("http://127.0.0.1:{port}"))
        .env("BASE44_APP_ID", APP_ID)
        .env("OUTBOX_CMD", format!("{bin} outbox --app {APP} --json"))
        .env("ADMIN_CMD", format!("{bin} base44 admin --app {APP}"))
        // integrations.test.mjs sets the app's LLM endpoint and redeploys.
        .env("FERRY_BIN", env!("CARGO_BIN_EXE_ferry"))
        .env("FERRY_APP", APP)
        .env("FERRY_APP_DIR", app_dir)
        .output()
        .expect("node runs");
    let down = ferry(&home, &["down"]);
    let stdout = String::from_utf8_lossy(&node.stdout);
    assert!(
        node.status.success(),
        "the @base44/sdk suite failed ({}):\n{stdout}\n{}",
        database_url.map_or("sqlite", |_| "postgres"),
        String::from_utf8_lossy(&node.stderr)
    );
    // The suite really ran: node's summary counts its tests.
    let passed = stdout
        .lines()
        .find_map(|l| l.trim_start_matches(['#', ' ']).strip_prefix("pass "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(passed >= 20, "only {passed} tests passed:\n{stdout}");
    ok(&down, "ferry down");
}

#[test]
fn the_real_sdk_suite_passes_on_sqlite() {
    run_suite(None);
}

#[test]
fn the_real_sdk_suite_passes_on_postgres() {
    if ferry_test::pg::skip_if_unavailable("the_real_sdk_suite_passes_on_postgres") {
        return;
    }
    let cluster = ferry_test::pg::Cluster::start().expect("postgres cluster");
    cluster.create_database("base44").expect("create database");
    run_suite(Some(&cluster.url("base44")));
}
