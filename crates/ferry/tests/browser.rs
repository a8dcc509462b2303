//! A new user's first run: `ferry up` on the Lovable-shaped example builds the real Vite app
//! with npm (from the registry; `scripts/test` keeps npm's cache in the run's temp dir) and
//! serves it; headless Chromium (playwright-core driving the system chromium) loads it,
//! follows a client-side route, reloads there, opens a deep link, and sees no console error.
//! Needs what `scripts/test` installs: chromium and tests/browser/node_modules.

use std::process::Command;

#[test]
fn ferry_up_serves_the_lovable_example_to_a_real_browser() {
    let root = ferry_test::workspace_root();
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser test needs chromium and playwright-core: run `scripts/test` (it installs both)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let example = root.join("examples/lovable-todo");
    let ferry = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .env("FERRY_HOME", &home)
            .env("NO_COLOR", "1")
            .output()
            .expect("ferry runs")
    };
    let up = ferry(&[
        "up",
        "--json",
        example.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
        "--control-listen",
        "127.0.0.1:0",
    ]);
    let stderr = String::from_utf8_lossy(&up.stderr).into_owned();
    assert!(
        up.status.success(),
        "ferry up failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&up.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&up.stdout).expect("json report");
    let url = report["url"].as_str().expect("url").to_string();
    let release = report["release_id"].as_str().expect("release").to_string();
    assert_eq!(report["app"], "lovable-todo");

    let node = Command::new("node")
        .arg(browser_dir.join("spa.mjs"))
        .arg(&url)
        .arg(&release)
        .current_dir(&browser_dir)
        .output()
        .expect("node runs");
    let down = ferry(&["down"]);
    assert!(
        node.status.success(),
        "browser check failed:\n{}\n{}",
        String::from_utf8_lossy(&node.stdout),
        String::from_utf8_lossy(&node.stderr)
    );
    assert!(down.status.success());
}
